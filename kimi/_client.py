"""kimi.Kimi: the synchronous client, and its one loop that waits between attempts.

Configuration, checks and request shaping live in kimi/_base_client.py; the HTTP, SSE
and JSON work in the C core (kimi._core).  A client may be shared by threads (each call
takes its own transfer lane) and pickles to its configuration.
"""

from __future__ import annotations

# typing is only for type checkers: importing it would double kimi's import time.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


import sys
import time

from . import _logging
from ._base_client import DEFAULT_BASE_URL, BaseClient, resource, time_left
from ._exceptions import KimiError
from ._resources import Chat, Models, Tokenizers, Users

__all__ = ["Kimi", "DEFAULT_BASE_URL"]

_modules = sys.modules


class Kimi(BaseClient):
    """A client for the Kimi (Moonshot AI) API and gateways that serve it.

    ``api_key`` defaults to ``$MOONSHOT_API_KEY``; ``base_url`` to ``$KIMI_BASE_URL``,
    else ``https://api.moonshot.ai/v1``.  ``timeout`` is seconds of silence allowed
    between bytes, or a ``kimi.Timeout`` (read, connect, event, total); it never cuts a
    long stream that keeps talking.  Failed attempts are retried up to ``max_retries``
    times when no complete response came (connection failures, timeouts) or the status
    says so (408, 409, 429 except an exhausted quota, 5xx), with exponential backoff
    and jitter, honouring ``Retry-After`` up to 60 s; a stream is never retried once it
    was handed to you, and a complete reply is never asked for twice.  Plain
    ``http://`` is accepted for loopback hosts only, unless ``allow_http=True``.
    ``verify`` (True, False or a CA bundle path) and ``cert`` (a PEM path or a
    ``(cert, key)`` pair) set up TLS.  Calls are logged on the ``kimi`` logger
    (kimi/_logging.py); ``log_bodies=True`` adds request and reply bodies at DEBUG.
    """

    files = resource("kimi._files", "Files")
    batches = resource("kimi._batches", "Batches")

    def _bind_resources(self) -> None:
        self.chat = Chat(self)
        self.models = Models(self)
        self.users = Users(self)
        self.tokenizers = Tokenizers(self)

    def with_options(self, **changes: Any) -> "Kimi":
        """A derived client with some settings changed (the constructor's names).

        ``defaults={"max_completion_tokens": 1024}`` makes a route whose chat calls
        start from those body fields (added to this client's own defaults) and
        keeps its own ``usage``, which counts into this client's too (routes nest
        at most 8 deep).  On the same key and base URL the two share their
        limits; a client derived without ``defaults`` shares this one's usage."""
        return self._derive(changes)

    def as_async(self) -> Any:
        """A ``kimi.AsyncKimi`` with this client's settings that shares its limits:
        one account, one set of windows, so this client's threads and maps and the
        twin's tasks are admitted together (and a rate-limit 429 pauses them all)."""
        from ._async_client import AsyncKimi

        return self._twin(AsyncKimi)

    def close(self) -> None:
        """Drop idle connections (open streams keep theirs until closed)."""
        self._core_client = None

    def __enter__(self) -> "Kimi":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _via_routes(self, shape: tuple[Any, ...]) -> Any:
        """This route's attempts, then each fallback's while the last one failed in a
        way another route may not (kimi/_providers.py: falls_back); the result names
        the route that answered."""
        from ._providers import mark_route

        started = time.monotonic()      # the total timeout spans every route
        for client in self._routes():
            try:
                return mark_route(client._request(shape, True, started), client.provider)
            except KimiError as exc:
                self._fall_back_or_raise(client, exc)
        raise AssertionError("unreachable: the last route raises")

    def _request(self, shape: tuple[Any, ...], route_alone: bool = False, started: float | None = None) -> Any:
        """The attempts of one call on this client's route; with a provider or
        fallbacks (unless ``route_alone``), through ``_via_routes``; the total
        timeout counts from ``started`` (the call's start) when given."""
        if self._routed and not route_alone:
            return self._via_routes(shape)
        request, total, deadline = self._prepare(shape, started)
        # Without the logging module no handler can exist: no log, at no cost.
        log = _logging.start(self, shape) if "logging" in _modules else None
        attempt = 0
        while True:
            left = None if deadline is None else time_left(total, deadline)
            try:
                result = self._core().send(request, left)
            except KimiError as exc:
                delay = self._next_delay(exc, attempt, deadline)
                if log is not None:
                    log.attempt_failed(exc, attempt, delay)
                if delay is None:
                    raise
            else:
                if log is not None:
                    log.succeeded(result, attempt)
                return result
            time.sleep(delay)
            attempt += 1
