"""Type stubs for kimi._core, the C extension."""

from typing import Any, Callable, Iterator

from ._models import ChatCompletion, ChatCompletionChunk

curl_version: str
cjson_version: str
MAX_EVENT_DEFAULT: int
MAX_BODY_DEFAULT: int
DIALECT_REASONING: int
DIALECT_ENVELOPE: int
DIALECT_CF_CODES: int

class Request:
    """One HTTP request, checked once; timeouts in seconds (None: no limit)."""

    stream: bool
    url: str
    def __init__(
        self,
        method: str,
        url: str,
        headers: tuple[str, ...],
        body: bytes | None = None,
        stream: bool = False,
        connect: float | None = None,
        read: float | None = None,
        event: float | None = None,
        total: float | None = None,
        verify: bool = True,
        ca_file: str | None = None,
        ca_dir: str | None = None,
        cert_file: str | None = None,
        key_file: str | None = None,
        secret: str | None = None,
        result_class: type | None = None,
        chunk_class: type | None = None,
        budget: int = 0,
        form: tuple[tuple[str, str | None, str | None, bytes | None, str | None], ...] | None = None,
        dialect: int = 0,
        /,
    ) -> None: ...

class Limiter:
    """One client's account limits (0: none), shared by all its calls."""

    def __init__(self, concurrency: int = 0, rpm: int = 0, tpm: int = 0, tpd: int = 0) -> None: ...
    def pause(self, seconds: float, /) -> None: ...
    def waited(self, seconds: float, /) -> None: ...
    def snapshot(self) -> tuple[int, int, int, int, float, float]: ...

class Meter:
    """One client's usage totals per model; a derived client's meter counts into its
    parent's too."""

    def __init__(self, parent: Meter | None = None) -> None: ...
    def snapshot(self) -> list[tuple[str, int, int, int, int, int, int, int, int, float]]:
        """[(model, requests, prompt, cached, completion, reasoning, priced_prompt,
        priced_cached, priced_completion, reported_cost)]"""
    def reset(self) -> None: ...

class Client:
    """Transfer lanes shared by the calls of one kimi.Kimi; limiter admits each call,
    meter counts each reply, notice is called with (model, empty, completion_tokens)
    for a chat reply or stream cut by its token budget (finish_reason "length")."""

    idle_lanes: int
    def __init__(
        self,
        max_idle_lanes: int = 8,
        max_event: int = 0,
        max_body: int = 0,
        limiter: Limiter | None = None,
        meter: Meter | None = None,
        notice: Callable[[str, bool, int | None], None] | None = None,
    ) -> None: ...
    def send(self, request: Request, total: float | None = None, /) -> Any: ...

class Stream:
    """A streamed chat completion.

    Iterate for ``ChatCompletionChunk`` objects; ``text()`` switches to
    content strings; ``final()`` reads the rest and returns the assembled
    ``ChatCompletion``.  A context manager; ``close()`` aborts the transfer.
    """

    status_code: int
    headers: dict[str, str]
    closed: bool
    route: str | None
    def __iter__(self) -> Iterator[Any]: ...
    def __next__(self) -> ChatCompletionChunk: ...
    def text(self) -> Iterator[str]: ...
    def final(self) -> ChatCompletion: ...
    def close(self) -> None: ...
    def __enter__(self) -> "Stream": ...
    def __exit__(self, *exc: object) -> None: ...

PENDING: object
"""What a read of an AsyncExchange returns while it waits: await its wait()."""

class AsyncExchange:
    """One request on a Reactor: poll or read, and on PENDING await wait()."""

    status_code: int
    headers: dict[str, str]
    closed: bool
    def poll(self) -> Any: ...
    def next(self) -> Any: ...
    def next_text(self) -> Any: ...
    def final(self) -> Any: ...
    def wait(self) -> Any: ...
    def close(self) -> None: ...

class Reactor:
    """One client's transfers on one asyncio loop, on libcurl's socket interface."""

    loop: Any
    active: int
    closed: bool
    def __init__(self, client: Client, loop: Any, /) -> None: ...
    def start(self, request: Request, total: float | None = None, /) -> AsyncExchange | float | None: ...
    def wait_slot(self) -> Any: ...
    def close(self) -> None: ...

class Runner:
    """Many requests on one lane's multi handle, stepped with the GIL released."""

    def __init__(self, client: Client, /) -> None: ...
    def __len__(self) -> int: ...
    def start(self, request: Request, key: Any, total: float | None = None, /) -> float | bool | None: ...
    def step(self, timeout: float, /) -> list[tuple[Any, Any, BaseException | None]]: ...
    def close(self) -> None: ...

OUTCOME_NO_RESPONSE: int
OUTCOME_CERTIFICATE: int
OUTCOME_REJECTED: int
OUTCOME_STATUS: int

def retry_delay(
    outcome: int,
    status: int,
    type: str | None,
    code: str | int | None,
    retry_after: float | None,
    attempt: int,
    max_retries: int,
    jitter: float,
) -> float | None:
    """Seconds to wait before the next attempt, or None to stop (the core's rule)."""

def parse(data: bytes, cls: type, /) -> Any:
    """One JSON document built as replies are, objects as cls; ValueError if not JSON."""

def status_error(status: int, body: bytes, /) -> Exception:
    """The APIStatusError a reply with this status and error body would raise."""
