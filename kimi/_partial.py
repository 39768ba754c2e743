"""Partial Mode and truncation: ``prefill``, ``continue_on_length``, ``resume`` and
``kimi.TruncatedWarning``.

Partial Mode (kimi-api.md §5): the last message is an assistant message with
``"partial": true`` and the model goes on from its text, which the reply omits.  Three
uses of it for ``chat.completions.create``:

- ``prefill="..."`` starts the answer with those words; the reply's content includes
  them, streaming or not.
- ``continue_on_length=N``: a reply cut by ``finish_reason: "length"`` is asked to go on
  from what it said, up to N times; contents and reasoning are joined, usage summed,
  and a stream reads as one stream.
- ``resume=N`` (streams): a connection that breaks after content started is picked up
  the same way, from what was received.

A ``length`` finish is never silent: without ``continue_on_length`` (or when it runs
out) a ``TruncatedWarning`` is given, once per client and route (the core tells the
client's ``CutNotice`` of every cut reply; the pieces of a continuation are quiet).

A ``Continuation`` is the shared part: it shapes each piece's request and folds what
comes back.  The sync and async code around it (``run_sync``, ``PartialStream``, and
their async twins) only wait.
"""

from __future__ import annotations

import contextvars
import json
import threading

from . import _core, _models
from ._exceptions import APITimeoutError, KimiError, StreamError, TruncatedWarning
from ._resources import shape_chat

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Iterator

__all__ = ["tell_cut", "caller", "outside", "continuation", "Continuation", "run_sync", "run_async"]

# Set while a continuation's pieces run: their cuts are the continuation's to judge.
_quiet: contextvars.ContextVar[bool] = contextvars.ContextVar("kimi_partial_quiet", default=False)

# The frame a cut's warning names when the stack does not lead to the caller: an async
# map's item runs in a task of its own, so kimi/_map.py sets the frame iterating the map.
caller: contextvars.ContextVar[Any] = contextvars.ContextVar("kimi_partial_caller", default=None)

# The budget thinking models are advised to have (kimi-api.md §2).
_THINKING_BUDGET = 16_000


def tell_cut(notice: Any, model: str, empty: bool, tokens: int | None) -> None:
    """A reply was cut: a ``TruncatedWarning``, unless a continuation's piece (which
    the continuation judges) or already told by this client (``notice``, a
    ``CutNotice``) for this route; an empty content is told once more, as its advice
    differs.  A warning the filters turn into an error is raised for every cut."""
    if _quiet.get() or empty in notice.told:
        return
    import warnings

    warning = TruncatedWarning(truncation_message(model, empty, tokens, notice.route))
    frame = caller.get() or outside()
    if frame is None:
        warnings.warn(warning, stacklevel=2)
    else:   # as warnings.warn does for the frame it names
        names = frame.f_globals
        registry = names.setdefault("__warningregistry__", {})
        warnings.warn_explicit(warning, TruncatedWarning, frame.f_code.co_filename, frame.f_lineno,
                               names.get("__name__"), registry, names)
    # Told only once it was given: a warning turned into an error raises each time.
    notice.told.add(empty)


def outside() -> Any:
    """The first frame outside the kimi package (None: none is): the warning names the
    caller's line, whichever of kimi's calls it came through."""
    import os
    import sys

    package = os.path.dirname(__file__) + os.sep
    frame = sys._getframe(1)
    while frame is not None and frame.f_code.co_filename.startswith(package):
        frame = frame.f_back
    return frame


def truncation_message(model: str, empty: bool, tokens: int | None, route: str) -> str:
    used = f"{tokens:,} completion tokens" if tokens is not None else "the completion budget"
    if empty:
        advice = max(_THINKING_BUDGET, 2 * tokens) if tokens else _THINKING_BUDGET
        return (
            f"{model or 'the model'} ({route}): the reply's content is empty with "
            f"finish_reason 'length': its reasoning used {used}.  Raise "
            f"max_completion_tokens (to {advice:,} or more), or turn thinking off."
        )
    return (
        f"{model or 'the model'} ({route}): the reply was cut at {used} (finish_reason "
        "'length').  Pass continue_on_length=N to have it continued, or raise "
        "max_completion_tokens.  (Told once per client.)"
    )


def _count(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"chat.completions.create: {name} must be an int >= 0, got {value!r}")
    return value


def checked_partial(
    prefill: Any, prefill_name: Any, continue_on_length: Any, resume: Any, stream: Any, choices: Any
) -> tuple[str, str | None, int, int]:
    """The Partial Mode arguments of a create() call, checked."""
    if prefill is not None and (not isinstance(prefill, str) or not prefill):
        raise ValueError("chat.completions.create: prefill must be a non-empty str (the answer's first words)")
    if prefill_name is not None:
        if prefill is None:
            raise ValueError("chat.completions.create: prefill_name names the speaker of a prefill; give prefill too")
        if not isinstance(prefill_name, str) or not prefill_name:
            raise ValueError("chat.completions.create: prefill_name must be a non-empty str")
    limit = _count("continue_on_length", continue_on_length)
    again = _count("resume", resume)
    if again and stream is not True:
        raise ValueError("chat.completions.create: resume applies to streams (stream=True)")
    if (limit or again) and choices not in (None, 1):
        raise ValueError("chat.completions.create: continue_on_length and resume need n=1 (one answer to continue)")
    return prefill or "", prefill_name, limit, again


def continuation(
    client: Any,
    model: str,
    messages: Any,
    stream: Any,
    extra_body: Any,
    extra_headers: Any,
    timeout: Any,
    params: dict[str, Any],
    partial: tuple[Any, Any, Any, Any],
) -> Continuation:
    """The Continuation of one create() call, its arguments checked."""
    choices = (extra_body or {}).get("n", params.get("n", (client._defaults or {}).get("n")))
    checked = checked_partial(*partial, stream, choices)
    if isinstance(messages, (str, bytes, dict)) or not hasattr(messages, "__iter__"):
        raise TypeError("chat.completions.create: messages must be a list of message dicts")
    return Continuation(client, model, messages, stream, extra_body, extra_headers, timeout, params, checked)


# What a stream's piece may end in that resume= picks up from.
_BREAKS = (StreamError, APITimeoutError)


def broken(exc: BaseException) -> bool:
    """Whether a stream's failure is its connection's: a break or a silence, not an
    error the server sent in the stream (``body``: its answer) nor the call's total
    timeout (the caller's time is up)."""
    if isinstance(exc, StreamError):
        return exc.body is None
    return isinstance(exc, APITimeoutError) and exc.limit != "total"


def _sum_into(total: dict[str, Any], usage: dict[str, Any]) -> None:
    """Add one piece's usage to the total: numbers summed, nested details too, other
    fields the latest."""
    for key, value in usage.items():
        if isinstance(value, bool) or value is None:
            total[key] = value
        elif isinstance(value, (int, float)) and isinstance(total.get(key, 0), (int, float)):
            total[key] = total.get(key, 0) + value
        elif isinstance(value, dict) and isinstance(total.get(key, {}), dict):
            _sum_into(total.setdefault(key, {}), value)
        else:
            total[key] = value


class Continuation:
    """One create() call in Partial Mode: the request of each piece, and the pieces
    folded into one reply."""

    def __init__(
        self,
        client: Any,
        model: str,
        messages: Any,
        stream: bool,
        extra_body: Any,
        extra_headers: Any,
        timeout: Any,
        params: dict[str, Any],
        partial: tuple[str, str | None, int, int],
    ) -> None:
        self.client = client
        self.request = (model, list(messages), stream, extra_body, extra_headers, timeout, params, client._defaults)
        self.prefix, self.name, self.limit, self.resume = partial
        self.content: list[str] = [self.prefix] if self.prefix else []
        self.reasoning: list[str] = []
        self.usage: dict[str, Any] | None = None
        self.continued = 0
        self.resumed = 0
        # A stream's state: the piece being read, what it said, how it ended.
        self.piece = 0
        self.piece_usage: dict[str, Any] | None = None
        self.piece_said = False
        self.piece_calls = False
        self.piece_finish: str | None = None
        self.going_on = False
        self.prefix_shown: set[int] = set()
        self.stream_id: str | None = None

    # -- the requests ----------------------------------------------------------

    def shape(self) -> tuple[Any, ...]:
        """The next piece's request: the conversation, plus what the answer has said so
        far as the partial assistant message."""
        model, messages, stream, extra_body, extra_headers, timeout, params, defaults = self.request
        said = "".join(self.content)
        if said:
            partial: dict[str, Any] = {"role": "assistant", "content": said, "partial": True}
            if self.name:
                partial["name"] = self.name
            messages = [*messages, partial]
        return shape_chat(model, messages, stream, extra_body, extra_headers, timeout, params, defaults)

    def _add_usage(self, usage: dict[str, Any]) -> None:
        """One piece's usage counted into the answer's."""
        if self.usage is None:
            self.usage = {}
        _sum_into(self.usage, usage)

    def _summed(self) -> Any:
        return None if self.usage is None else _core.parse(json.dumps(self.usage).encode(), _models.Usage)

    def _told(self, model: Any, empty: bool, usage: Any) -> None:
        """The continuation is over and still cut: told as any cut reply is."""
        tokens = usage.get("completion_tokens") if isinstance(usage, _models.KimiObject) else None
        self.client._notice(model if isinstance(model, str) else "", empty, tokens if isinstance(tokens, int) else None)

    # -- a reply in pieces --------------------------------------------------------

    def fold(self, reply: Any) -> bool:
        """Take one piece's reply; True when another piece is to be asked for."""
        if not (self.limit or self.resume):
            return False
        choices = reply.choices or []
        choice = choices[0] if choices else None
        message = choice.message if choice is not None else None
        if message is None:
            return False
        said = message.content or ""
        self.content.append(said)
        self.reasoning.append(message.reasoning_content or message.get("reasoning") or "")
        if isinstance(reply.usage, _models.KimiObject):
            self._add_usage(reply.usage.to_dict())
        cut = choice.finish_reason == "length"
        if cut and said and not message.tool_calls and self.continued < self.limit:
            self.continued += 1
            return True
        return False

    def result(self, reply: Any) -> Any:
        """The last piece's reply, made the whole: the prefill and the pieces' contents
        joined, their reasoning too, usage summed; a cut that was not continued is
        told."""
        choices = reply.choices or []
        cut = next((c for c in choices if c.finish_reason == "length"), None)
        if cut is not None:
            message = cut.message
            empty = message is None or not (message.content or message.tool_calls)
        self._joined(reply)
        if cut is not None:
            self._told(reply.model, empty, reply.usage)
        return reply

    def _joined(self, reply: Any) -> None:
        """The last piece's reply (or assembled stream) made the whole answer: with a
        prefill alone each choice begins with it; a continued answer's first choice
        gets the pieces' contents and reasoning joined; the usage is summed."""
        choices = reply.choices or []
        if not (self.limit or self.resume):
            for choice in choices:
                if choice.message is not None:
                    choice.message.__dict__["content"] = self.prefix + (choice.message.content or "")
        elif choices and choices[0].message is not None:
            message = choices[0].message
            message.__dict__["content"] = "".join(self.content)
            thought = "".join(self.reasoning)
            if thought:
                message.__dict__["reasoning_content"] = thought
        if self.usage is not None:
            reply.__dict__["usage"] = self._summed()

    def refused(self, exc: BaseException, last: Any) -> None:
        """A later piece's request failed: its error carries the answer so far (``last``
        the piece before, the contents joined, usage summed) as ``partial``."""
        if isinstance(exc, KimiError):
            exc.partial = self.result(last)

    # -- a stream in pieces -------------------------------------------------------

    def take(self, chunk: Any) -> Any:
        """One chunk of the piece being read, as the caller sees it (None: not shown):
        the prefill before the first content, the later pieces' role and intermediate
        endings left out, the usage summed."""
        if self.stream_id is None:
            self.stream_id = chunk.id
        elif chunk.__dict__.get("id") is not None:
            chunk.__dict__["id"] = self.stream_id
        shown = False
        for choice in chunk.choices or []:
            delta = choice.delta
            fields = delta.__dict__ if delta is not None else {}
            if self.piece and "role" in fields:
                del fields["role"]
            content = fields.get("content")
            if content:
                self.piece_said = True
                if choice.index == 0:
                    self.content.append(content)
            thought = fields.get("reasoning_content") or fields.get("reasoning")
            if thought and choice.index == 0:
                self.reasoning.append(thought)
            if fields.get("tool_calls"):
                self.piece_calls = True
            if choice.finish_reason is not None and choice.index == 0:
                self.piece_finish = choice.finish_reason
                self.going_on = self._goes_on()
            self._show_prefix(choice, fields, content)
            if choice.usage is not None:
                choice.__dict__["usage"] = self._piece_usage(choice.usage)
            shown = shown or choice.finish_reason is not None or any(v not in (None, "") for v in fields.values())
        if chunk.usage is not None:
            chunk.__dict__["usage"] = self._piece_usage(chunk.usage)
        if self.going_on:
            return None     # this piece's ending: the answer goes on
        if not shown and chunk.choices and chunk.usage is None:
            return None     # a later piece's role chunk, now empty
        return chunk

    def _show_prefix(self, choice: Any, fields: dict[str, Any], content: Any) -> None:
        """The prefill rides on its choice's first content (or its ending)."""
        if not self.prefix or choice.index in self.prefix_shown:
            return
        if content or choice.finish_reason is not None:
            self.prefix_shown.add(choice.index)
            fields["content"] = self.prefix + (content or "")

    def _piece_usage(self, usage: Any) -> Any:
        """The usage to show: this piece's added to the earlier pieces'."""
        self.piece_usage = usage.to_dict()
        if self.usage is None:
            return usage
        total: dict[str, Any] = {}
        _sum_into(total, self.usage)        # a copy: nested details are new dicts
        _sum_into(total, self.piece_usage)
        return _core.parse(json.dumps(total).encode(), _models.Usage)

    def _goes_on(self) -> bool:
        return (
            self.piece_finish == "length"
            and self.piece_said
            and not self.piece_calls
            and self.continued < self.limit
        )

    def ended(self) -> bool:
        """The piece read to its end; True when the answer goes on in another."""
        going_on = self.going_on
        if going_on:
            self.continued += 1
        self._next_piece()
        return going_on

    def broke(self, exc: BaseException) -> bool:
        """The piece's connection broke (or went silent past the read or event
        timeout); True when the answer is picked up where it stopped (content had
        started, no tool call was being streamed, and the piece had not ended short of
        a continuation)."""
        if self.resumed >= self.resume or not broken(exc):
            return False
        if not "".join(self.content[1 if self.prefix else 0 :]) or self.piece_calls:
            return False
        if self.piece_finish is not None and not self.going_on:
            return False    # it had ended: going on would write past its end
        self.resumed += 1
        self.piece_usage = None     # a broken piece's usage is never known
        self._next_piece()
        return True

    def _next_piece(self) -> None:
        if self.piece_usage is not None:
            self._add_usage(self.piece_usage)
        self.piece += 1
        self.piece_usage = None
        self.piece_said = self.piece_calls = self.going_on = False
        self.piece_finish = None

    def stream_result(self, last: Any) -> Any:
        """The whole answer from the last piece's assembled reply."""
        self._joined(last)
        if self.stream_id is not None:
            last.__dict__["id"] = self.stream_id
        return last

    def stream_over(self, whole: Any) -> None:
        """The answer (``stream_result``) ended: a cut that was not continued is told,
        with the summed usage; empty when nothing but the prefill was said."""
        cut = next((c for c in whole.choices or [] if c.finish_reason == "length"), None)
        if cut is not None:
            message = cut.message
            said = (message.content or "")[len(self.prefix) :] if message is not None else ""
            self._told(whole.model, not said and not (message is not None and message.tool_calls), whole.usage)


# -- sync ------------------------------------------------------------------------


class _Pieces:
    """What a stream in Partial Mode has, sync or async: the piece being read, and
    what describes it."""

    def __init__(self, plan: Continuation, first: Any) -> None:
        self._plan = plan
        self._inner = first
        self._text = False
        self._over = False
        self._final: Any = None
        self._failure: Exception | None = None
        self._reading = threading.Lock()     # sync: one thread reads at a time

    @property
    def status_code(self) -> int:
        return self._inner.status_code

    @property
    def headers(self) -> Any:
        return self._inner.headers

    @property
    def closed(self) -> bool:
        return self._inner.closed

    @property
    def route(self) -> str | None:
        """The route (``kimi.providers``) the piece being read opened on, as
        ``Stream.route``."""
        return self._inner.route

    def text(self) -> Any:
        """Yield content strings only (the prefill first)."""
        self._text = True
        return self

    def _shown(self, chunk: Any) -> Any:
        """What the caller gets of a chunk: the chunk, or after ``text()`` its content
        as ``Stream.text()`` gives it (the first choice's: index 0; with n > 1 a chunk
        may carry another), None when it has none."""
        if not self._text:
            return chunk
        for choice in chunk.choices or ():
            if choice.index == 0:
                return (choice.delta.content or None) if choice.delta is not None else None
        return None

    def _failed(self, exc: BaseException) -> None:
        """The stream ended by exc (a piece broken past resuming, a later piece's
        request refused, an interrupt): no piece is asked for after it, and final()
        raises it again, as ``Stream.final()`` does."""
        self._over = True
        if isinstance(exc, Exception) and self._final is None:
            self._failure = exc

    def _whole(self) -> Any:
        if self._failure is not None:
            raise self._failure
        if self._final is None:
            raise StreamError("final: the stream was closed before data: [DONE]")
        return self._final

    def __repr__(self) -> str:
        return f"<{type(self).__name__} piece={self._plan.piece} closed={self.closed}>"


def run_sync(plan: Continuation) -> Any:
    """create() in Partial Mode, sync: a reply, or a PartialStream."""
    token = _quiet.set(True)
    try:
        first = plan.client._request(plan.shape())
        if plan.request[2]:
            return PartialStream(plan, first)
        while plan.fold(first):
            try:
                following = plan.client._request(plan.shape())
            except BaseException as exc:
                plan.refused(exc, first)
                raise
            first = following
    finally:
        _quiet.reset(token)
    return plan.result(first)


class PartialStream(_Pieces):
    """A stream in Partial Mode: the chunks of every piece as one stream (see
    ``kimi.Stream``): iterate it, ``text()``, ``final()``, ``close()``, ``with``."""

    def __iter__(self) -> Iterator[Any]:
        return self

    def __next__(self) -> Any:
        while True:
            shown = self._shown(self._next_chunk())
            if shown is not None:
                return shown

    def _next_chunk(self) -> Any:
        if not self._reading.acquire(blocking=False):
            raise RuntimeError("stream: already being read by another thread")
        try:
            return self._read()
        except StopIteration:
            raise
        except BaseException as exc:
            self._failed(exc)
            self._inner.close()
            raise
        finally:
            self._reading.release()

    def _read(self) -> Any:
        plan = self._plan
        while not self._over:
            token = _quiet.set(True)
            try:
                chunk = next(self._inner)
            except StopIteration:
                chunk = None
                if self._over:
                    break       # closed meanwhile (by another thread): it just ends
                if plan.ended():
                    self._ask()
                    continue
            except _BREAKS as exc:
                if not plan.broke(exc):
                    raise
                self._inner.close()
                self._ask()
                continue
            finally:
                _quiet.reset(token)
            if chunk is None:
                self._finish()
                break
            shown = plan.take(chunk)
            if shown is not None:
                return shown
        raise StopIteration

    def _ask(self) -> None:
        """The next piece's stream; closed at once when close() came meanwhile."""
        self._inner = self._plan.client._request(self._plan.shape())
        if self._over:
            self._inner.close()

    def _finish(self) -> None:
        self._over = True
        self._final = self._plan.stream_result(self._inner.final())
        self._plan.stream_over(self._final)

    def final(self) -> Any:
        """Read what is left and return the whole answer as one ``ChatCompletion``."""
        for _ in self._chunks():
            pass
        return self._whole()

    def _chunks(self) -> Iterator[Any]:
        while True:
            try:
                yield self._next_chunk()
            except StopIteration:
                return

    def close(self) -> None:
        self._over = True
        self._inner.close()

    def __enter__(self) -> PartialStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()



# -- async -----------------------------------------------------------------------


async def run_async(plan: Continuation) -> Any:
    """create() in Partial Mode, awaited: a reply, or an AsyncPartialStream."""
    token = _quiet.set(True)
    try:
        first = await plan.client._request(plan.shape())
        if plan.request[2]:
            return AsyncPartialStream(plan, first)
        while plan.fold(first):
            try:
                following = await plan.client._request(plan.shape())
            except BaseException as exc:
                plan.refused(exc, first)
                raise
            first = following
    finally:
        _quiet.reset(token)
    return plan.result(first)


class AsyncPartialStream(_Pieces):
    """A stream in Partial Mode for ``async for`` (see ``PartialStream``)."""

    def __aiter__(self) -> AsyncPartialStream:
        return self

    async def __anext__(self) -> Any:
        while True:
            shown = self._shown(await self._next_chunk())
            if shown is not None:
                return shown

    async def _next_chunk(self) -> Any:
        try:
            return await self._read()
        except StopAsyncIteration:
            raise
        except BaseException as exc:
            self._failed(exc)
            await self._inner.close()
            raise

    async def _read(self) -> Any:
        plan = self._plan
        while not self._over:
            token = _quiet.set(True)
            try:
                chunk = await self._inner.__anext__()
            except StopAsyncIteration:
                chunk = None
                if self._over:
                    break       # closed meanwhile (by another task): it just ends
                if plan.ended():
                    await self._ask()
                    continue
            except _BREAKS as exc:
                if not plan.broke(exc):
                    raise
                await self._inner.close()
                await self._ask()
                continue
            finally:
                _quiet.reset(token)
            if chunk is None:
                await self._finish()
                break
            shown = plan.take(chunk)
            if shown is not None:
                return shown
        raise StopAsyncIteration

    async def _ask(self) -> None:
        """The next piece's stream; closed at once when close() came meanwhile."""
        self._inner = await self._plan.client._request(self._plan.shape())
        if self._over:
            await self._inner.close()

    async def _finish(self) -> None:
        self._over = True
        self._final = self._plan.stream_result(await self._inner.final())
        self._plan.stream_over(self._final)

    async def final(self) -> Any:
        """Read what is left and return the whole answer as one ``ChatCompletion``."""
        while True:
            try:
                await self._next_chunk()
            except StopAsyncIteration:
                return self._whole()

    async def close(self) -> None:
        self._over = True
        await self._inner.close()

    async def __aenter__(self) -> AsyncPartialStream:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()
