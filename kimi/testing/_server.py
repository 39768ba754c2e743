"""`KimiServer`: a Kimi-compatible HTTP server on a loopback port, for tests and benchmarks.

It serves from one daemon thread running an asyncio loop (`_loop.py`) over real sockets
(HTTP/1.1, keep-alive, chunked SSE), thousands of connections at once. Thread-safe:
scripts may be queued, records and counters read, and `start`/`close` called from any
thread while it serves.
"""

from __future__ import annotations

import ipaddress
import socket
import threading
from types import TracebackType
from typing import Any

from ._account import BATCH_TIMING, MAX_FILE_BYTES, MAX_FILES, AccountSettings
from ._clock import Clock
from ._gateways import GATEWAYS, base_path
from ._loop import ServingLoop, listening_socket
from ._replies import Reply
from ._state import RecordedRequest, ServerState, checked_latency

_JOIN_BUDGET = 1.0


def loopback_address(host: str) -> tuple[str, socket.AddressFamily]:
    """(address to bind, family) for a loopback `host`; ValueError for anything else."""
    name = "127.0.0.1" if host == "localhost" else host
    try:
        address = ipaddress.ip_address(name)
    except ValueError:
        raise ValueError(f"kimi.testing: host must be a loopback address, got {host!r}") from None
    if not address.is_loopback:
        raise ValueError(f"kimi.testing: host must be a loopback address, got {host!r}")
    family = socket.AF_INET6 if address.version == 6 else socket.AF_INET
    return str(address), family


class KimiServer:
    """A local Kimi API: ``POST /v1/chat/completions``, ``GET /v1/models``,
    ``GET /v1/models/{id}``, ``GET /v1/users/me/balance``,
    ``POST /v1/tokenizers/estimate-token-count``, the files endpoints (``POST/GET
    /v1/files``, ``GET/DELETE /v1/files/{id}``, ``GET /v1/files/{id}/content``) and the
    batch endpoints (``POST/GET /v1/batches``, ``GET /v1/batches/{id}``,
    ``POST /v1/batches/{id}/cancel``).

    ::

        with KimiServer(api_key="sk-test") as server:
            server.script(Reply.chat("Hi"), Reply.error(429))
            ...  # point a client at server.base_url

    - `api_key`: required as ``Authorization: Bearer <key>`` on every request (401
      otherwise); None accepts any request.
    - `delay`: seconds between events of the default reply (`Reply.echo`).
    - `default`: the reply used when no script is queued (settable later as `.default`).
    - `latency`: seconds of service time waited before each reply starts (settable later
      as `.latency`); connections wait it side by side, not one after another.
    - `clock`: what every ``created_at`` and batch timeline reads; None is wall time, a
      `ManualClock` lets a test move time itself (`.clock`).
    - `max_file_bytes` (default 100 MiB), `max_files` (default 1000): an upload larger
      than the one, or beyond the other files stored, gets a 400.
    - `batch_timing`: ``(validate_s, run_s, finalize_s)``, the clock seconds a batch
      spends validating, in progress and finalizing (default 0.05, 0.2, 0.05).

    Chat requests are validated (JSON object, `model`, non-empty `messages`, ``n`` absent
    or 1..5, ``max_completion_tokens``/``max_tokens`` within the model's context length;
    400 ``invalid_request_error`` otherwise) before a reply is taken. Replies come from
    `script_for(path)` queues first, then (chat only) the `script` queue, then `default`
    or (other paths) the built-in answer. Chat replies follow the request as the API
    does: ``n`` choices (indexes 0..n-1), and with ``"stream_options":
    {"include_usage": true}`` a last ``"choices": []`` chunk with top-level usage before
    ``data: [DONE]``. ``GET /v1/models/{id}`` answers the listed model object, or a 404
    ``resource_not_found_error`` "Not found the model {id} or Permission denied".

    The platform endpoints behave as kimi-api.md §7 describes. An upload (multipart
    ``file`` and ``purpose``) streams to a temporary directory the server removes on
    `close`, never whole into memory, and is recorded with an empty body; its
    FileObject comes back. ``/content`` gives a ``file-extract`` file's extraction JSON
    (``content``, ``file_type``, ``filename``, ``title``, ``type``), any other file's raw
    bytes. A batch runs its JSONL input through the chat route's own checks, answering
    each valid request with a completion whose content is its last user message; it
    moves through its statuses on `clock` when read (see `_batches.py`), and its
    results land as files of purpose ``batch_output``. `files` and `batches` show
    copies of what is stored; `reset` drops them. Token estimates follow a rule simple
    enough to count by hand (see `_tokens.py`).

    `gateway` ("openrouter", "siliconflow", "cloudflare", "cloudflare-native",
    "aimlapi") shows that gateway's face instead (`_gateways.py`): its paths under its
    base path (`base_url`), its model ids (another id gets its 400), its key check and
    error bodies, and its reply shapes (`_gateway_shapes.py`: OpenRouter's comments,
    ``reasoning``, ``provider``, ``native_finish_reason`` and usage ``cost``;
    Cloudflare's ``reasoning``, and on ``/ai/run`` its envelope and ``{"response"}``
    chunks; AIMLAPI's ``meta``). Scripts apply as to the API; error replies go out as
    scripted.

    `in_flight` and `max_in_flight` count requests being answered (from the head read to
    the reply written), so a test can prove a client never exceeds a concurrency limit.
    """

    def __init__(
        self,
        api_key: str | None = "sk-test",
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        delay: float = 0.02,
        default: Reply | None = None,
        latency: float = 0.0,
        clock: Clock | None = None,
        max_file_bytes: int = MAX_FILE_BYTES,
        max_files: int = MAX_FILES,
        batch_timing: tuple[float, float, float] = BATCH_TIMING,
        gateway: str | None = None,
    ) -> None:
        self._address = loopback_address(host)
        self._port = port
        self._initial_default = default if default is not None else Reply.echo(delay=delay)
        account = AccountSettings.checked(clock, max_file_bytes, max_files, batch_timing)
        self._state = ServerState(api_key, self._initial_default, latency, account)
        if gateway is not None:
            if gateway not in GATEWAYS:
                raise ValueError(f"KimiServer: gateway must be one of {', '.join(GATEWAYS)}, got {gateway!r}")
            self._state.gateway = gateway
        self._lifecycle = threading.Lock()
        self._serving: ServingLoop | None = None
        self._bound_port: int | None = None
        self._closed = False

    # Lifecycle ---------------------------------------------------------------------
    def start(self) -> KimiServer:
        """Bind the port and serve from a daemon thread. Returns self once it accepts."""
        with self._lifecycle:
            if self._closed:
                raise RuntimeError("KimiServer.start: the server was closed")
            if self._serving is not None:
                raise RuntimeError("KimiServer.start: already started")
            host, family = self._address
            sock = listening_socket(host, family, self._port)
            port = int(sock.getsockname()[1])
            serving = ServingLoop(sock, self._state, name=f"kimi.testing-{port}")
            serving.start()
            self._serving, self._bound_port = serving, port
        return self

    def close(self) -> None:
        """Stop serving, end stalled and dripping replies, cut open connections, join the
        serving thread.

        Returns promptly (well under a second) even while replies are stalled.
        Idempotent.
        """
        with self._lifecycle:
            if self._closed:
                return
            self._closed = True
            if self._serving is not None:
                self._serving.stop(_JOIN_BUDGET)
            self._state.files.close()

    def __enter__(self) -> KimiServer:
        with self._lifecycle:
            started = self._serving is not None
        if not started:
            self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # Scripting ---------------------------------------------------------------------
    def script(self, *replies: Reply) -> None:
        """Queue replies (FIFO) for the next ``POST /v1/chat/completions`` requests."""
        self._state.script(replies)

    def script_for(self, path: str, *replies: Reply) -> None:
        """Queue replies for requests to `path` (e.g. ``"/v1/models"``; no query string),
        any method; they take precedence over `script` and the built-in answers."""
        self._state.script_for(path, replies)

    def reset(self, default: Reply | None = None) -> None:
        """Drop queued replies, recorded requests, stored files and batches; set `default`
        (None: the one the server was created with). The connection count is kept."""
        self._state.reset(default if default is not None else self._initial_default)

    @property
    def default(self) -> Reply:
        """The reply used when no script is queued."""
        return self._state.default

    @default.setter
    def default(self, reply: Reply) -> None:
        if not isinstance(reply, Reply):
            raise TypeError(f"KimiServer.default: expected Reply, got {type(reply).__name__}")
        self._state.default = reply

    @property
    def latency(self) -> float:
        """Seconds waited before each reply starts (0: none)."""
        return self._state.latency

    @latency.setter
    def latency(self, seconds: float) -> None:
        self._state.latency = checked_latency(seconds)

    @property
    def pending(self) -> int:
        """How many scripted replies are still queued."""
        return self._state.pending()

    # Observation ---------------------------------------------------------------------
    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request received, in arrival order (the live list; appended under a lock)."""
        return self._state.requests

    @property
    def connections(self) -> int:
        """How many TCP connections the server has accepted."""
        return self._state.connections

    @property
    def in_flight(self) -> int:
        """How many requests are being answered now: head read, reply not yet written."""
        return self._state.in_flight

    @property
    def max_in_flight(self) -> int:
        """The most requests in flight at once since start or `reset_counters`."""
        return self._state.max_in_flight

    def reset_counters(self) -> None:
        """Count `max_in_flight` afresh from now (from the requests in flight now)."""
        self._state.reset_counters()

    @property
    def clock(self) -> Clock:
        """The clock of every platform timestamp and batch timeline (`ManualClock` or
        wall time)."""
        return self._state.clock

    @property
    def files(self) -> dict[str, dict[str, Any]]:
        """Copies of the stored FileObjects by id, oldest first (uploads and batch
        results); changing them changes nothing on the server."""
        return self._state.files.snapshot()

    @property
    def batches(self) -> dict[str, dict[str, Any]]:
        """Copies of the batch objects by id, oldest first, as a retrieve would answer
        now (reading them moves batches along their timelines, as a retrieve does)."""
        return self._state.batches.snapshot()

    @property
    def api_key(self) -> str | None:
        """The key required as ``Authorization: Bearer <key>``; None means no check."""
        return self._state.api_key

    @property
    def host(self) -> str:
        return self._address[0]

    @property
    def port(self) -> int:
        """The bound port (after `start`)."""
        if self._bound_port is None:
            raise RuntimeError("KimiServer.port: the server is not started")
        return self._bound_port

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:<port>/v1`` (after `start`); with a `gateway`, the
        gateway's base path instead (Cloudflare's with an ``{account_id}`` field, which
        the client fills from ``CLOUDFLARE_ACCOUNT_ID``)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        gateway = self._state.gateway
        return f"http://{host}:{self.port}" + ("/v1" if gateway is None else base_path(gateway))

    def __repr__(self) -> str:
        where = self.base_url if self._bound_port is not None else "not started"
        state = "closed" if self._closed else "open"
        return f"<KimiServer {where} {state}>"
