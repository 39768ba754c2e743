"""`KimiServer`: a Kimi-compatible HTTP server on a loopback port, for tests and benchmarks.

It serves from a daemon thread over real sockets (HTTP/1.1, keep-alive, chunked SSE).
Thread-safe: scripts may be queued and records read from any thread while it serves.
"""

from __future__ import annotations

import ipaddress
import socket
import threading
import time
from types import TracebackType

from ._handler import LoopbackHTTPServer
from ._replies import Reply
from ._state import RecordedRequest, ServerState

_POLL = 0.05
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
    ``GET /v1/models/{id}``, ``GET /v1/users/me/balance``.

    ::

        with KimiServer(api_key="sk-test") as server:
            server.script(Reply.chat("Hi"), Reply.error(429))
            ...  # point a client at server.base_url

    - `api_key`: required as ``Authorization: Bearer <key>`` on every request (401
      otherwise); None accepts any request.
    - `delay`: seconds between events of the default reply (`Reply.echo`).
    - `default`: the reply used when no script is queued (settable later as `.default`).

    Chat requests are validated (JSON object, `model`, non-empty `messages`, ``n`` absent
    or 1..5; 400 ``invalid_request_error`` otherwise) before a reply is taken. Replies come
    from `script_for(path)` queues first, then (chat only) the `script` queue, then
    `default`. Chat replies follow the request as the API does: ``n`` choices (indexes
    0..n-1), and with ``"stream_options": {"include_usage": true}`` a last
    ``"choices": []`` chunk with top-level usage before ``data: [DONE]``.
    ``GET /v1/models/{id}`` answers the listed model object, or a 404
    ``resource_not_found_error`` "Not found the model {id} or Permission denied".
    """

    def __init__(
        self,
        api_key: str | None = "sk-test",
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        delay: float = 0.02,
        default: Reply | None = None,
    ) -> None:
        self._address = loopback_address(host)
        self._port = port
        self._initial_default = default if default is not None else Reply.echo(delay=delay)
        self._state = ServerState(api_key, self._initial_default)
        self._httpd: LoopbackHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._closed = False

    # Lifecycle ---------------------------------------------------------------------
    def start(self) -> KimiServer:
        """Bind the port and serve from a daemon thread. Returns self."""
        if self._closed:
            raise RuntimeError("KimiServer.start: the server was closed")
        if self._httpd is not None:
            raise RuntimeError("KimiServer.start: already started")
        host, family = self._address
        httpd = LoopbackHTTPServer((host, self._port), family, self._state)
        self._httpd = httpd
        self._thread = threading.Thread(
            target=httpd.serve_forever,
            kwargs={"poll_interval": _POLL},
            name=f"kimi.testing-{self.port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def close(self) -> None:
        """Stop serving, end stalled and dripping replies, cut open connections.

        Returns promptly (well under a second) even while replies are stalled.
        Idempotent.
        """
        if self._closed:
            return
        self._closed = True
        self._state.stop.set()
        httpd = self._httpd
        if httpd is None:
            return
        httpd.shutdown()
        threads = httpd.cut_connections()
        httpd.server_close()
        deadline = time.monotonic() + _JOIN_BUDGET
        for thread in [t for t in (self._thread,) if t is not None] + threads:
            thread.join(max(0.0, deadline - time.monotonic()))

    def __enter__(self) -> KimiServer:
        if self._httpd is None:
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
        """Drop queued replies and recorded requests; set `default` (None: the one the
        server was created with). The connection count is kept."""
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
    def api_key(self) -> str | None:
        """The key required as ``Authorization: Bearer <key>``; None means no check."""
        return self._state.api_key

    @property
    def host(self) -> str:
        return self._address[0]

    @property
    def port(self) -> int:
        """The bound port (after `start`)."""
        if self._httpd is None:
            raise RuntimeError("KimiServer.port: the server is not started")
        return int(self._httpd.server_address[1])

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:<port>/v1`` (after `start`)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/v1"

    def __repr__(self) -> str:
        where = self.base_url if self._httpd is not None else "not started"
        state = "closed" if self._closed else "open"
        return f"<KimiServer {where} {state}>"
