"""chat.completions.map: many requests at once, results as values.

The plan (which item starts next, the ordered window, retries, progress, when to stop)
is one class shared by both clients.  What differs is the loop that waits: the sync
map runs every transfer on one multi handle with ``kimi._core.Runner`` (the C run
driver, GIL released while it waits); the async map runs one task per request in
flight on the client's reactor.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, AsyncIterator, Iterable, Iterator, Mapping

import heapq
import sys
import time

from . import _core, _logging
from ._exceptions import InvalidRequestError, KimiError, ModelNotFoundError
from ._resources import checked_model, refuse_partial, shape_chat

__all__ = ["MapResult", "Plan", "run_map", "AsyncMap"]

# Results an ordered map keeps waiting behind a slow item, per request in flight:
# beyond that it starts no new item until the slow one is done (memory stays flat).
_WINDOW_PER_SLOT = 4
_CREATE_ARGS = ("model", "messages", "stream", "extra_body", "extra_headers", "timeout")


class MapResult:
    """One item of a map: ``index`` in the input, the ``request`` dict it came from,
    and either ``response`` (a ``ChatCompletion``) or ``error`` (the exception
    ``create()`` would have raised, retries spent)."""

    __slots__ = ("index", "request", "response", "error")

    def __init__(self, index: int, request: Any, response: Any, error: BaseException | None) -> None:
        self.index = index
        self.request = request
        self.response = response
        self.error = error

    def __iter__(self) -> Iterator[Any]:
        return iter((self.index, self.request, self.response, self.error))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, MapResult):
            return NotImplemented
        return tuple(self) == tuple(other)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        outcome = f"error={self.error!r}" if self.error is not None else f"response={self.response!r}"
        return f"MapResult(index={self.index}, {outcome})"


class _Item:
    """One input on its way: its shape, and (sync map) its attempts."""

    __slots__ = ("index", "params", "shape", "request", "attempt", "deadline", "total", "route")

    def __init__(self, index: int, params: Any, shape: tuple[Any, ...]) -> None:
        self.index = index
        self.params = params
        self.shape = shape
        self.request: Any = None
        self.attempt = 0
        self.deadline: float | None = None
        self.total: float | None = None
        self.route = 0      # (sync map) 0: the client's route; i: its fallbacks[i - 1]


def _check(concurrency: Any, ordered: Any, return_exceptions: Any, progress: Any) -> None:
    if isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1:
        raise ValueError(f"map: concurrency must be an int >= 1, got {concurrency!r}")
    for name, value in (("ordered", ordered), ("return_exceptions", return_exceptions), ("progress", progress)):
        if not isinstance(value, bool):
            raise TypeError(f"map: {name} must be a bool, got {value!r}")


def _shape(params: Any, defaults: Any) -> tuple[Any, ...]:
    """A request dict (create()'s arguments) as the client's request shape."""
    if not isinstance(params, dict):
        raise TypeError(f"map: each request must be a dict of create() arguments, got {type(params).__name__}")
    if params.get("stream"):
        raise ValueError("map: requests cannot stream (drop stream=True)")
    rest = {k: v for k, v in params.items() if k not in _CREATE_ARGS}
    refuse_partial(rest)
    return shape_chat(
        params.get("model"),
        params.get("messages"),
        False,
        params.get("extra_body"),
        params.get("extra_headers"),
        params.get("timeout"),
        rest,
        defaults,
    )


class _Progress:
    """A tqdm bar when tqdm is installed, else a counter line on stderr (at most ten
    updates a second); nothing when off."""

    def __init__(self, enabled: bool, total: int | None, desc: str = "map") -> None:
        self._bar: Any = None
        self._desc = desc
        self._on = enabled
        self._total = total
        self._done = 0
        self._failed = 0
        self._shown = 0.0
        if enabled:
            try:
                from tqdm.auto import tqdm
            except ImportError:
                return
            self._bar = tqdm(total=total, unit="req", desc=desc)

    def set_total(self, total: int) -> None:
        self._total = total
        if self._bar is not None:
            self._bar.total = total
            self._bar.refresh()

    def update(self, failed: bool, count: int = 1) -> None:
        if not self._on or count <= 0:
            return
        self._done += count
        self._failed += count if failed else 0
        if self._bar is not None:
            self._bar.update(count)
            if failed:
                self._bar.set_postfix(failed=self._failed, refresh=False)
            return
        now = time.monotonic()
        if now - self._shown >= 0.1:
            self._shown = now
            self._line()

    def _line(self) -> None:
        total = f"/{self._total}" if self._total is not None else ""
        sys.stderr.write(f"\r{self._desc}: {self._done}{total} done, {self._failed} failed")
        sys.stderr.flush()

    def close(self) -> None:
        if not self._on:
            return
        if self._bar is not None:
            self._bar.close()
        else:
            self._line()
            sys.stderr.write("\n")
        self._on = False


class Plan:
    """What both maps share: the lazy input, the ordered window, per-item retries
    (sync), the results in the order they are due, and the first failure to raise
    when ``return_exceptions`` is off."""

    def __init__(
        self,
        client: Any,
        requests: Iterable[Mapping[str, Any]],
        concurrency: int,
        ordered: bool,
        return_exceptions: bool,
        progress: bool,
    ) -> None:
        _check(concurrency, ordered, return_exceptions, progress)
        self.client = client
        self.concurrency = concurrency
        self.ordered = ordered
        self.return_exceptions = return_exceptions
        total = len(requests) if hasattr(requests, "__len__") else None  # type: ignore[arg-type]
        self._inputs = iter(requests)
        self._next_index = 0
        self.exhausted = False
        self._window = concurrency * _WINDOW_PER_SLOT
        self._next_out = 0
        self._buffer: dict[int, MapResult] = {}
        self._ready: list[MapResult] = []
        self._retries: list[tuple[float, int, _Item]] = []
        self.live = 0
        self.failure: BaseException | None = None
        self.progress = _Progress(progress, total)
        self.log = _logging.start_map(client) if "logging" in sys.modules else None
        # check_models: the model list by id, filled before the first item starts.
        self.models: dict[str, Any] | None = None

    def _shape(self, params: Any) -> tuple[Any, ...]:
        shape = _shape(params, self.client._defaults)
        if self.models is not None:
            found = checked_model(shape[2]["model"], self.models)
            if isinstance(found, Exception):
                raise found
        return shape

    def more(self) -> bool:
        return self.live > 0 or bool(self._retries) or not self.exhausted

    def take(self) -> _Item | None:
        """The next item to start: a retry that is due, else the next input (unless
        the ordered window is full), or None."""
        if self._retries and self._retries[0][0] <= time.monotonic():
            self.live += 1
            return heapq.heappop(self._retries)[2]
        while not self.exhausted:
            if self.ordered and self._next_index - self._next_out >= self._window:
                return None
            try:
                params = next(self._inputs)
            except StopIteration:
                self.exhausted = True
                return None
            index = self._next_index
            self._next_index += 1
            try:
                item = _Item(index, params, self._shape(params))
            except (TypeError, ValueError, ModelNotFoundError, InvalidRequestError) as exc:
                self._record(index, params, None, exc)
                continue
            self.live += 1
            return item
        return None

    def retry_due_in(self, default: float) -> float:
        if not self._retries:
            return default
        return max(0.0, min(default, self._retries[0][0] - time.monotonic()))

    def finish(self, item: _Item, reply: Any, exc: BaseException | None, retry: bool) -> None:
        """An attempt of item is over; with retry, a retryable failure goes back on
        the timer heap as create() would wait."""
        self.live -= 1
        route = self.client._routes()[item.route] if retry else self.client
        if exc is not None and retry and isinstance(exc, KimiError):
            delay = route._retry_delay(exc, item.attempt)
            if delay is not None and (item.deadline is None or time.monotonic() + delay < item.deadline):
                if self.log is not None:
                    self.log.attempt_over(item.index, reply, exc, item.attempt, delay)
                item.attempt += 1
                heapq.heappush(self._retries, (time.monotonic() + delay, item.index, item))
                return
            if self._fall_back(item, exc):
                return
        if reply is not None and retry and self.client._routed:
            from ._providers import mark_route

            mark_route(reply, route.provider)
        if self.log is not None:
            self.log.attempt_over(item.index, reply, exc, item.attempt, None)
        self._record(item.index, item.params, reply, exc)

    def _fall_back(self, item: _Item, exc: KimiError) -> bool:
        """(sync map) After the retries of an item's route: on to the next route,
        as create() goes (kimi/_providers.py: falls_back), within the same total
        timeout.  The async map's items go through create()'s own loop."""
        fallbacks = self.client._fallbacks
        if item.route >= len(fallbacks):
            return False
        from ._providers import falls_back

        if not falls_back(exc):
            return False
        route = fallbacks[item.route]
        item.route += 1
        item.request, _ = route._build_request(item.shape)
        item.attempt = 0
        heapq.heappush(self._retries, (time.monotonic(), item.index, item))
        return True

    def _record(self, index: int, params: Any, reply: Any, exc: BaseException | None) -> None:
        result = MapResult(index, params, reply, exc)
        self.progress.update(exc is not None)
        if self.log is not None:
            self.log.counted(exc is not None)
        if exc is not None and not self.return_exceptions and self.failure is None:
            self.failure = exc
        if not self.ordered:
            self._ready.append(result)
            return
        self._buffer[index] = result
        while self._next_out in self._buffer:
            self._ready.append(self._buffer.pop(self._next_out))
            self._next_out += 1

    def results(self) -> list[MapResult]:
        """The results due now, in the order they are yielded; raises the first
        failure instead when return_exceptions is off."""
        if self.failure is not None:
            raise self.failure
        ready, self._ready = self._ready, []
        return ready

    def close(self) -> None:
        """The map is over (done, left or failed): end the progress display and
        log the summary line."""
        self.progress.close()
        if self.log is not None:
            self.log.close(early=self.more())


def run_map(plan: Plan) -> Iterator[MapResult]:
    """The sync map (see Completions.map): a generator, so nothing starts before the
    first result is asked for; leaving it (break, close, an exception) cancels what is
    in flight."""
    client = plan.client
    if client.check_models:
        plan.models = client.models._listed()
    runner = _core.Runner(client._core())
    items: dict[int, _Item] = {}
    held: _Item | None = None      # taken, but not admitted yet
    try:
        while plan.more() or held is not None:
            wait = 1.0
            while len(items) < plan.concurrency:
                item = held if held is not None else plan.take()
                if item is None:
                    break
                held = None
                if item.request is None:
                    item.request, limits = client._build_request(item.shape)
                    item.total = limits.total
                    if limits.total is not None:
                        item.deadline = time.monotonic() + limits.total
                    if plan.log is not None:
                        plan.log.sending(item.index, item.shape)
                left = None if item.deadline is None else max(item.deadline - time.monotonic(), 0.001)
                try:
                    started = runner.start(item.request, item.index, left)
                except KimiError as exc:    # refused by the client's limits
                    plan.finish(item, None, exc, retry=False)
                    continue
                if started is None:
                    items[item.index] = item
                    continue
                held = item                 # the limits say wait, or the lane is full
                if started is not False:
                    wait = started
                break
            for result in plan.results():
                yield result
            if not items and held is None and not plan.more():
                break
            for index, reply, exc in runner.step(plan.retry_due_in(wait)):
                plan.finish(items.pop(index), reply, exc, retry=True)
            for result in plan.results():
                yield result
    finally:
        runner.close()
        plan.close()


class AsyncMap:
    """The async map: ``async for result in client.chat.completions.map(requests)``.
    At most ``concurrency`` requests run at once as tasks of the running loop, each
    retried as ``create()`` is; cancelling the iteration cancels them."""

    def __init__(self, plan: Plan) -> None:
        self._plan = plan
        self._iterator: AsyncIterator[MapResult] | None = None

    def __aiter__(self) -> AsyncIterator[MapResult]:
        if self._iterator is None:
            self._iterator = self._run()
        return self._iterator

    async def _run(self) -> AsyncIterator[MapResult]:
        import asyncio

        plan = self._plan
        client = plan.client
        if client.check_models:
            plan.models = await client.models._listed()
        from ._partial import caller, outside

        done: asyncio.Queue[tuple[_Item, Any, BaseException | None]] = asyncio.Queue()
        tasks: set[asyncio.Task[None]] = set()
        iterating = outside()       # the line a cut reply's warning names

        async def one(item: _Item) -> None:
            caller.set(iterating)   # this task's own context
            try:
                reply = await client._request(item.shape)
            except Exception as exc:    # a failed item is a result
                done.put_nowait((item, None, exc))
            else:
                done.put_nowait((item, reply, None))

        try:
            while plan.more():
                # plan.live, not len(tasks): a finished task leaves the set only when
                # its done callback runs, and a done.get() that finds the queue full
                # does not let the loop run it; counting tasks, this loop could spin.
                while plan.live < plan.concurrency:
                    item = plan.take()
                    if item is None:
                        break
                    task = asyncio.ensure_future(one(item))
                    tasks.add(task)
                    task.add_done_callback(tasks.discard)
                for result in plan.results():
                    yield result
                if plan.live == 0:
                    continue
                item, reply, exc = await done.get()
                plan.finish(item, reply, exc, retry=False)
                while not done.empty():
                    plan.finish(*done.get_nowait(), retry=False)
                for result in plan.results():
                    yield result
        finally:
            for task in list(tasks):
                task.cancel()
            if tasks:
                await asyncio.gather(*tasks, return_exceptions=True)
            plan.close()
