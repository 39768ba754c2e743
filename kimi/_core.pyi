"""Type stubs for kimi._core, the C extension."""

from typing import Any, Iterator

from ._models import ChatCompletion, ChatCompletionChunk

curl_version: str
cjson_version: str
MAX_EVENT_DEFAULT: int
MAX_BODY_DEFAULT: int

class Client:
    """Transfer lanes shared by the calls of one kimi.Kimi."""

    idle_lanes: int
    def __init__(self, max_idle_lanes: int = 8, max_event: int = 0, max_body: int = 0) -> None: ...
    def request(
        self,
        method: str,
        url: str,
        headers: tuple[str, ...],
        body: bytes | None,
        stream: bool,
        idle_timeout: float,
        connect_timeout: float,
        result_class: type | None,
        chunk_class: type | None,
        secret: str | None,
        /,
    ) -> Any: ...

class Stream:
    """A streamed chat completion.

    Iterate for ``ChatCompletionChunk`` objects; ``text()`` switches to
    content strings; ``final()`` reads the rest and returns the assembled
    ``ChatCompletion``.  A context manager; ``close()`` aborts the transfer.
    """

    status_code: int
    headers: dict[str, str]
    closed: bool
    def __iter__(self) -> Iterator[Any]: ...
    def __next__(self) -> ChatCompletionChunk: ...
    def text(self) -> Iterator[str]: ...
    def final(self) -> ChatCompletion: ...
    def close(self) -> None: ...
    def __enter__(self) -> "Stream": ...
    def __exit__(self, *exc: object) -> None: ...
