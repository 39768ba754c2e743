"""kimi.AsyncKimi: the asyncio client, and its one loop that waits.

Requests are shaped exactly as for ``Kimi`` (kimi/_base_client.py, kimi/_resources.py)
and run on libcurl's multi socket interface wired to the running loop
(``kimi._core.Reactor``): sockets are watched with ``add_reader`` / ``add_writer``,
libcurl's timer with ``call_soon`` / ``call_later``.  No thread is started.  Each await
here is on a future the reactor resolves; everything else - parsing, errors, the retry
decision, the limits - is the same C code the sync client runs.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, AsyncIterator, Mapping

    from ._models import ChatCompletion, ChatCompletionChunk

import sys
import time

from . import _core, _logging
from ._base_client import DEFAULT_BASE_URL, BaseClient, resource, time_left
from ._exceptions import APITimeoutError, KimiError
from ._resources import AsyncChat, AsyncModels, AsyncTokenizers, AsyncUsers

__all__ = ["AsyncKimi", "AsyncStream", "DEFAULT_BASE_URL"]

_PENDING = _core.PENDING
_modules = sys.modules


class AsyncKimi(BaseClient):
    """The asyncio client: the same arguments, resources, errors, retries and limits as
    ``kimi.Kimi``, awaited.

    ::

        async with kimi.AsyncKimi() as client:
            reply = await client.chat.completions.create(model="kimi-k2.6", messages=msgs)

    It runs on whichever loop is running when a call is made (a notebook's included),
    never starts one, and can be shared by any number of tasks of that loop.
    Cancelling a task mid-request or mid-stream removes its transfer and frees the
    connection.
    """

    files = resource("kimi._files", "AsyncFiles")
    batches = resource("kimi._batches", "AsyncBatches")

    def _bind_resources(self) -> None:
        self.chat = AsyncChat(self)
        self.models = AsyncModels(self)
        self.users = AsyncUsers(self)
        self.tokenizers = AsyncTokenizers(self)
        self._reactor_for: Any = None
        self._closed = False

    def with_options(self, **changes: Any) -> "AsyncKimi":
        """A derived client with some settings changed (see ``Kimi.with_options``)."""
        return self._derive(changes)

    def as_sync(self) -> Any:
        """A ``kimi.Kimi`` with this client's settings that shares its limits (see
        ``Kimi.as_async``): for the sync ``map`` from a notebook, say."""
        from ._client import Kimi

        return self._twin(Kimi)

    def _reactor(self) -> Any:
        """The reactor of the running loop, made on the first call in that loop."""
        if self._closed:
            raise RuntimeError("AsyncKimi: the client is closed (make another, or use with_options)")
        import asyncio  # here, not at the top: asyncio would triple kimi's import time

        loop = asyncio.get_running_loop()
        reactor = self._reactor_for
        if reactor is None or reactor.loop is not loop or reactor.closed:
            if reactor is not None and reactor.loop.is_closed():
                reactor.close()     # its loop is gone: give its lane back
            reactor = self._reactor_for = _core.Reactor(self._core(), loop)
        return reactor

    async def close(self) -> None:
        """End the client's open requests and streams (they raise
        ``APIConnectionError`` / ``StreamError``) and let go of the loop; later calls
        raise ``RuntimeError``."""
        self._closed = True
        reactor, self._reactor_for = self._reactor_for, None
        if reactor is not None:
            reactor.close()
        self._core_client = None

    async def __aenter__(self) -> "AsyncKimi":
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def _via_routes(self, shape: tuple[Any, ...]) -> Any:
        """As ``Kimi._via_routes``, awaited."""
        from ._providers import mark_route

        started = time.monotonic()      # the total timeout spans every route
        for client in self._routes():
            try:
                return mark_route(await client._request(shape, True, started), client.provider)
            except KimiError as exc:
                self._fall_back_or_raise(client, exc)
        raise AssertionError("unreachable: the last route raises")

    async def _request(self, shape: tuple[Any, ...], route_alone: bool = False, started: float | None = None) -> Any:
        """As ``Kimi._request``, awaited."""
        if self._routed and not route_alone:
            return await self._via_routes(shape)
        request, total, deadline = self._prepare(shape, started)
        log = _logging.start(self, shape) if "logging" in _modules else None
        attempt = 0
        while True:
            left = None if deadline is None else time_left(total, deadline)
            try:
                result = await self._send(request, left, deadline)
            except KimiError as exc:
                delay = self._next_delay(exc, attempt, deadline)
                if self._closed:
                    delay = None
                if log is not None:
                    log.attempt_failed(exc, attempt, delay)
                if delay is None:
                    raise
            else:
                if log is not None:
                    log.succeeded(result, attempt)
                return result
            await _sleep(delay)
            attempt += 1

    async def _send(self, request: Any, total: float | None, deadline: float | None) -> Any:
        """One attempt: admitted by the client's limits, then run on the reactor."""
        exchange = await self._start(request, total, deadline)
        result = await _read(exchange, exchange.poll)
        if result is True:
            return AsyncStream(exchange)
        return result

    async def _start(self, request: Any, total: float | None, deadline: float | None) -> Any:
        reactor = self._reactor()
        began = None
        while True:
            started = reactor.start(request, total)
            if started is None:
                await reactor.wait_slot()       # every easy handle is busy
                continue
            if started.__class__ is not float:
                if began is not None:
                    self._limiter.waited(time.monotonic() - began)
                return started
            if began is None:
                began = time.monotonic()
            if deadline is not None and time.monotonic() + started >= deadline:
                self._limiter.waited(time.monotonic() - began)
                exc = APITimeoutError("timed out: the call waited for the client's limits until its total timeout")
                exc.limit = "total"
                raise exc
            await _sleep(started)


async def _read(exchange: Any, read: Any) -> Any:
    """read() of an exchange, awaiting its wait() while it says PENDING.  However
    the wait ends badly (cancelled, failed), the transfer is closed at once and its
    connection freed; the end of a stream (StopAsyncIteration) is no failure."""
    try:
        value = read()
        while value is _PENDING:
            await exchange.wait()
            value = read()
    except StopAsyncIteration:
        raise
    except BaseException:
        exchange.close()
        raise
    return value


async def _sleep(seconds: float) -> None:
    import asyncio

    await asyncio.sleep(seconds)


class AsyncStream:
    """A streamed chat completion for ``async for``: ``ChatCompletionChunk`` objects, or
    content strings after ``text()``; ``await final()`` gives the assembled
    ``ChatCompletion``.  ``async with stream:`` closes it (freeing the connection) however
    the block ends; so does cancelling a task that is reading it.  ``route`` names the
    route it opened on (None from a client of the default route alone)."""

    __slots__ = ("_exchange", "_text", "route")

    def __init__(self, exchange: Any) -> None:
        self._exchange = exchange
        self._text = False
        self.route: str | None = None

    @property
    def status_code(self) -> int:
        return self._exchange.status_code

    @property
    def headers(self) -> dict[str, str]:
        return self._exchange.headers

    @property
    def closed(self) -> bool:
        return self._exchange.closed

    def __aiter__(self) -> "AsyncStream":
        return self

    async def __anext__(self) -> ChatCompletionChunk | str:
        exchange = self._exchange
        return await _read(exchange, exchange.next_text if self._text else exchange.next)

    def text(self) -> AsyncIterator[str]:
        """Yield content strings only (``async for text in stream.text()``)."""
        self._text = True
        return self  # type: ignore[return-value]

    async def final(self) -> ChatCompletion:
        """Read what is left and return the assembled ``ChatCompletion``."""
        return await _read(self._exchange, self._exchange.final)

    async def close(self) -> None:
        """Abort the transfer and free the connection."""
        self._exchange.close()

    async def __aenter__(self) -> "AsyncStream":
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._exchange.close()

    def __repr__(self) -> str:
        return f"<AsyncStream status={self.status_code} closed={self.closed}>"
