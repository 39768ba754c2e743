"""The API's resources as the OpenAI SDK names them: client.chat.completions,
client.models, and Kimi's own client.users (balance), for Kimi and AsyncKimi.

Each request is shaped once, by a function here that both clients' methods call: the
sync method hands the shape to ``Kimi._request``, the async one awaits
``AsyncKimi._request`` with the same shape.
"""

from __future__ import annotations

import time

from . import _models
from ._rules import check_request, thinking_field

# typing is only for type checkers: importing it would double kimi's import
# time.  At run time each @overload stub is simply replaced by the next def.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Iterable, Iterator, Literal, Mapping, overload

    from ._async_client import AsyncKimi, AsyncStream
    from ._client import Kimi
    from ._core import Stream
    from ._map import AsyncMap, MapResult
    from ._tools import ToolRun
else:

    def overload(func):  # noqa: D103
        return func

__all__ = [
    "Chat",
    "Completions",
    "Models",
    "Users",
    "Tokenizers",
    "AsyncChat",
    "AsyncCompletions",
    "AsyncModels",
    "AsyncUsers",
    "AsyncTokenizers",
]


class Resource:
    """What every resource of a Kimi has: its client, and ``with_raw_response``."""

    def __init__(self, client: Any) -> None:
        self._client = client

    @property
    def with_raw_response(self) -> Any:
        """The same calls, each returning a ``RawResponse`` (``status_code``,
        ``headers``, ``request_id``, ``rate_limit``, ``parse()``)."""
        from ._raw import RawResponses

        return RawResponses(self)


class AsyncResource(Resource):
    """What every resource of an AsyncKimi has (see ``Resource``)."""

    @property
    def with_raw_response(self) -> Any:
        """The same calls, awaitable, each returning a ``RawResponse``."""
        from ._raw import AsyncRawResponses

        return AsyncRawResponses(self)


# create()'s Partial Mode arguments (kimi/_partial.py), not body fields.
_PARTIAL = frozenset({"prefill", "prefill_name", "continue_on_length", "resume"})


def refuse_partial(params: Mapping[str, Any]) -> None:
    """A map item or batch line is one request: Partial Mode, which may take several,
    is create()'s alone."""
    if not _PARTIAL.isdisjoint(params):
        raise TypeError(
            f"{', '.join(sorted(_PARTIAL.intersection(params)))}: Partial Mode is for "
            "chat.completions.create (not map items or batch lines)"
        )

# A request's shape: (method, path, body, stream, result_class, chunk_class,
# extra_headers, timeout).  A tuple: it is made for every call.
Shape = tuple


def shape_chat(
    model: Any,
    messages: Any,
    stream: Any,
    extra_body: Mapping[str, Any] | None,
    extra_headers: Mapping[str, str] | None,
    timeout: Any,
    params: Mapping[str, Any],
    defaults: Mapping[str, Any] | None = None,
) -> Shape:
    """The request of chat.completions.create, checked, as the client's
    ``_request`` takes it (see ``Shape``).  ``defaults`` (the client's
    ``with_options(defaults=...)``) are body fields the call starts from."""
    if not isinstance(model, str) or not model:
        raise ValueError("chat.completions.create: model must be a non-empty str")
    if isinstance(messages, (str, bytes, dict)) or not hasattr(messages, "__iter__"):
        raise TypeError("chat.completions.create: messages must be a list of message dicts")
    messages = list(messages)
    if not messages:
        raise ValueError("chat.completions.create: messages must not be empty")
    if not isinstance(stream, bool):
        raise TypeError("chat.completions.create: stream must be a bool")
    body: dict[str, Any] = {**defaults, "model": model, "messages": messages} if defaults else {"model": model, "messages": messages}
    body.update((k, v) for k, v in params.items() if v is not None)
    if stream:
        body["stream"] = True
    if extra_body:
        body.update(extra_body)
    thinking = body.get("thinking")
    if thinking is not None and thinking.__class__ is not dict:
        body["thinking"] = thinking_field(thinking)
    check_request(body)
    return (
        "POST",
        "/chat/completions",
        body,
        stream,
        _models.ChatCompletion,
        _models.ChatCompletionChunk,
        extra_headers,
        timeout,
    )


def shape_models_list(extra_headers: Mapping[str, str] | None, timeout: Any) -> Shape:
    return ("GET", "/models", None, False, _models.ModelList, None, extra_headers, timeout)


def shape_model(model: Any, extra_headers: Mapping[str, str] | None, timeout: Any) -> Shape:
    if not isinstance(model, str) or not model:
        raise ValueError("models.retrieve: model must be a non-empty str")
    from urllib.parse import quote

    return ("GET", "/models/" + quote(model, safe=""), None, False, _models.Model, None, extra_headers, timeout)


def shape_token_count(
    model: Any, messages: Any, extra_body: Mapping[str, Any] | None, extra_headers: Mapping[str, str] | None, timeout: Any
) -> Shape:
    if not isinstance(model, str) or not model:
        raise ValueError("tokenizers.estimate_token_count: model must be a non-empty str")
    if isinstance(messages, (str, bytes, dict)) or not hasattr(messages, "__iter__"):
        raise TypeError("tokenizers.estimate_token_count: messages must be a list of message dicts")
    body: dict[str, Any] = {"model": model, "messages": list(messages)}
    if extra_body:
        body.update(extra_body)
    path = "/tokenizers/estimate-token-count"
    return ("POST", path, body, False, _models.TokenCountResponse, None, extra_headers, timeout)


def _is_count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def token_count_of(reply: Any) -> Any:
    """The TokenCount of a reply: ``{"data": {"total_tokens"}}``, or the count at the
    top level (the wrapper is not settled)."""
    data = reply.data
    if isinstance(data, _models.TokenCount) and _is_count(data.total_tokens):
        return data
    total = reply.__dict__.get("total_tokens")
    if _is_count(total):
        return _models.TokenCount(total_tokens=total)
    from ._exceptions import APIResponseValidationError

    raise APIResponseValidationError(f"tokenizers.estimate_token_count: no total_tokens in {reply.to_dict()!r}")


# How long a client trusts its list of model ids (check_models, models.check):
# ids are retired and added, but not from one minute to the next.
MODEL_LIST_LIFETIME = 60.0


def cached_models(client: Any) -> dict[str, Any] | None:
    """The client's model list by id, if fetched less than a lifetime ago."""
    cached = client._model_ids
    if cached is not None and time.monotonic() - cached[0] < MODEL_LIST_LIFETIME:
        return cached[1]
    return None


def keep_models(client: Any, listing: Any) -> dict[str, Any]:
    models = {m.id: m for m in listing if isinstance(m, _models.Model) and isinstance(m.id, str)}
    client._model_ids = (time.monotonic(), models)
    return models


def checked_model(model: Any, models: dict[str, Any]) -> Any:
    """The Model listed under id ``model``, or ModelNotFoundError naming the
    closest ids the key may use."""
    found = models.get(model)
    if found is not None:
        return found
    import difflib

    from ._exceptions import ModelNotFoundError

    close = difflib.get_close_matches(str(model), list(models), n=3, cutoff=0.5)
    hint = f"; did you mean {', '.join(map(repr, close))}?" if close else f"; available: {', '.join(sorted(models)) or 'none'}"
    exc = ModelNotFoundError(
        f"model {model!r} is not among the models this key may use{hint}",
        status_code=404,
        type="resource_not_found_error",
    )
    exc.model = model
    exc.suggestions = close
    return exc


def shape_balance(extra_headers: Mapping[str, str] | None, timeout: Any) -> Shape:
    return ("GET", "/users/me/balance", None, False, _models.BalanceResponse, None, extra_headers, timeout)


def balance_of(reply: Any) -> _models.Balance:
    data = reply.data
    if not isinstance(data, _models.Balance):
        from ._exceptions import APIResponseValidationError

        raise APIResponseValidationError(f"users.balance: the reply has no balance: {reply.to_dict()!r}"[:300])
    return data


class Completions(Resource):
    """POST /chat/completions."""

    _not_raw = frozenset({"map"})

    @overload
    def create(
        self,
        *,
        model: str,
        messages: Iterable[Mapping[str, Any]],
        stream: Literal[False] = ...,
        extra_body: Mapping[str, Any] | None = ...,
        extra_headers: Mapping[str, str] | None = ...,
        timeout: float | None = ...,
        prefill: str | None = ...,
        prefill_name: str | None = ...,
        continue_on_length: int = ...,
        resume: int = ...,
        **params: Any,
    ) -> _models.ChatCompletion: ...

    @overload
    def create(
        self,
        *,
        model: str,
        messages: Iterable[Mapping[str, Any]],
        stream: Literal[True],
        extra_body: Mapping[str, Any] | None = ...,
        extra_headers: Mapping[str, str] | None = ...,
        timeout: float | None = ...,
        prefill: str | None = ...,
        prefill_name: str | None = ...,
        continue_on_length: int = ...,
        resume: int = ...,
        **params: Any,
    ) -> "Stream": ...

    def create(
        self,
        *,
        model: str,
        messages: Iterable[Mapping[str, Any]],
        stream: bool = False,
        extra_body: Mapping[str, Any] | None = None,
        extra_headers: Mapping[str, str] | None = None,
        timeout: float | None = None,
        prefill: str | None = None,
        prefill_name: str | None = None,
        continue_on_length: int = 0,
        resume: int = 0,
        **params: Any,
    ) -> Any:
        """Create a chat completion.

        Body fields of the API (``max_completion_tokens``, ``thinking``,
        ``tools``, ``tool_choice``, ``response_format``, ``stop``,
        ``stream_options``, ...) are keyword arguments; a field passed as
        None is left out.  ``extra_body`` adds or overrides raw fields (for
        gateway-specific ones); ``extra_headers`` adds headers; ``timeout``
        overrides the client's for this call.

        Partial Mode: ``prefill="..."`` starts the answer with those words
        (``prefill_name`` names the speaker) and the reply's content includes
        them; ``continue_on_length=N`` continues a reply cut by
        ``finish_reason: "length"`` up to N times, joining contents and
        reasoning and summing usage; ``resume=N`` picks a stream up where its
        connection broke, once content had started (never during a tool
        call).  A cut reply that is not continued gives a
        ``kimi.TruncatedWarning``.

        Returns a ``ChatCompletion``, or with ``stream=True`` a ``Stream``
        of ``ChatCompletionChunk`` objects (a ``PartialStream``, which reads
        the same, in Partial Mode).
        """
        if self._client.check_models:
            self._client.models.check(model)
        if prefill is None and not continue_on_length and not resume and prefill_name is None:
            return self._client._request(
                shape_chat(model, messages, stream, extra_body, extra_headers, timeout, params, self._client._defaults)
            )
        from ._partial import continuation, run_sync

        partial = (prefill, prefill_name, continue_on_length, resume)
        return run_sync(continuation(self._client, model, messages, stream, extra_body, extra_headers, timeout, params, partial))

    def map(
        self,
        requests: Iterable[Mapping[str, Any]],
        *,
        concurrency: int = 64,
        ordered: bool = True,
        return_exceptions: bool = True,
        progress: bool = False,
    ) -> Iterator[MapResult]:
        """Run many ``create()`` calls at once on one connection pool: ``requests`` is an
        iterable (read lazily) of dicts of ``create()`` arguments (not streaming).

        Yields ``MapResult(index, request, response, error)`` in input order
        (``ordered=True``) or as they finish; at most ``concurrency`` are in flight,
        each retried on its own as ``create()`` would be.  A failed item is a result
        with ``error`` set; with ``return_exceptions=False`` the first failure is raised
        once the transfers in flight are cancelled.  ``progress=True`` shows a tqdm bar
        when tqdm is installed, else a counter line on stderr.
        """
        from ._map import Plan, run_map

        return run_map(Plan(self._client, requests, concurrency, ordered, return_exceptions, progress))


class Chat:
    """client.chat: holds ``completions``."""

    def __init__(self, client: "Kimi") -> None:
        self.completions = Completions(client)

    def run_tools(
        self,
        *,
        model: str,
        messages: Iterable[Mapping[str, Any]],
        tools: Iterable[Any],
        allow: Any = None,
        max_steps: int = 10,
        tool_timeout: float = 30.0,
        confirm: Any = None,
        audit: Any = None,
        stream: bool = False,
        **create_params: Any,
    ) -> ToolRun:
        """Ask the model, run the tool calls of its reply, send the results back, and
        ask again until a reply calls no tool: a ``kimi.ToolRun`` with ``reply`` (the
        final ``ChatCompletion``), ``messages`` (the transcript: the input, every
        assistant turn with its tool calls and ``reasoning_content``, every tool
        result) and ``records`` (one ``kimi.ToolRecord`` per call).

        - ``tools``: ``@kimi.tool`` functions (sync or async), ``(schema, callable)``
          pairs, ``kimi.builtin("$web_search")`` (answered with its arguments, as the
          platform requires; thinking is turned off for it where it is on by default,
          and a request for thinking with it is refused).
        - ``allow``: None (every tool), a collection of names, or ``allow(call) ->
          bool`` asked before each call; ``confirm(call) -> bool`` is asked before each
          call of a tool with ``effects=True`` (without ``confirm`` those calls are
          refused).  ``call`` has ``name``, ``arguments``, ``id``, ``step``.  Both answer
          True or False (anything else is a TypeError) and are not awaited here.
        - Each call runs on a daemon thread of its own for at most ``tool_timeout``
          seconds; past it the model is told of the timeout and the thread is left to
          finish (it cannot be stopped).  The calls of one reply run in order.
        - A refused, unconfirmed, failing, timed-out or unknown call, or one whose
          arguments are not JSON or do not fit the signature, or any call of a reply cut
          at its token limit (finish_reason "length"; none is run), is answered to the model
          as ``{"error": "..."}`` and recorded; the loop goes on.  (A failing call: its
          tool raised an Exception; KeyboardInterrupt and SystemExit are raised out.)
        - ``audit(record)`` receives each record as it is made.  What ``allow``,
          ``confirm`` or ``audit`` raise is raised out of ``run_tools`` (a policy that
          fails stops the loop).
        - After ``max_steps`` requests whose replies still call tools:
          ``kimi.ToolLoopError`` (with the transcript and records so far).
        - ``stream=True``: every step is streamed; ``run.stream`` is the final step's
          (a ``kimi.ToolStream``: the chunks read to decide first, then the rest;
          ``final()``); ``run.reply`` and the last turn of ``run.messages`` are filled
          in once it is read.

        Other keyword arguments go to every ``chat.completions.create`` call.
        """
        from ._tools import run_tools

        return run_tools(self.completions, model, messages, tools, allow, max_steps, tool_timeout, confirm,
                         audit, stream, create_params)


class Models(Resource):
    """GET /models."""

    _not_raw = frozenset({"check"})

    def list(
        self, *, extra_headers: Mapping[str, str] | None = None, timeout: float | None = None
    ) -> _models.ModelList:
        """The models this key may use, as a ``ModelList`` (iterable)."""
        return self._client._request(shape_models_list(extra_headers, timeout))

    def retrieve(
        self, model: str, *, extra_headers: Mapping[str, str] | None = None, timeout: float | None = None
    ) -> _models.Model:
        """One model (``context_length``, ``supports_image_in``, ...); NotFoundError
        when the key may not use it."""
        return self._client._request(shape_model(model, extra_headers, timeout))

    def _listed(self) -> dict[str, Any]:
        """The model list by id: the client's copy, fetched again once a minute."""
        models = cached_models(self._client)
        return models if models is not None else keep_models(self._client, self.list())

    def check(self, model: str) -> _models.Model:
        """The listed Model with id ``model``, or ``ModelNotFoundError`` (a
        ``NotFoundError``) naming the closest ids; the list is fetched once a minute
        at most per client."""
        found = checked_model(model, self._listed())
        if isinstance(found, Exception):
            raise found
        return found


class Tokenizers(Resource):
    """POST /tokenizers/estimate-token-count."""

    def estimate_token_count(
        self,
        *,
        model: str,
        messages: Iterable[Mapping[str, Any]],
        extra_body: Mapping[str, Any] | None = None,
        extra_headers: Mapping[str, str] | None = None,
        timeout: float | None = None,
    ) -> _models.TokenCount:
        """The platform's count of the prompt tokens of these messages (images
        counted as the platform counts them): ``.total_tokens``."""
        shape = shape_token_count(model, messages, extra_body, extra_headers, timeout)
        return token_count_of(self._client._request(shape))


class Users(Resource):
    """GET /users/me/balance."""

    def balance(
        self, *, extra_headers: Mapping[str, str] | None = None, timeout: float | None = None
    ) -> _models.Balance:
        """The account balance: ``available_balance``, ``voucher_balance``,
        ``cash_balance`` (USD on api.moonshot.ai)."""
        return balance_of(self._client._request(shape_balance(extra_headers, timeout)))


class AsyncCompletions(AsyncResource):
    """POST /chat/completions, awaitable."""

    _not_raw = frozenset({"map"})

    @overload
    async def create(
        self,
        *,
        model: str,
        messages: Iterable[Mapping[str, Any]],
        stream: Literal[False] = ...,
        extra_body: Mapping[str, Any] | None = ...,
        extra_headers: Mapping[str, str] | None = ...,
        timeout: float | None = ...,
        prefill: str | None = ...,
        prefill_name: str | None = ...,
        continue_on_length: int = ...,
        resume: int = ...,
        **params: Any,
    ) -> _models.ChatCompletion: ...

    @overload
    async def create(
        self,
        *,
        model: str,
        messages: Iterable[Mapping[str, Any]],
        stream: Literal[True],
        extra_body: Mapping[str, Any] | None = ...,
        extra_headers: Mapping[str, str] | None = ...,
        timeout: float | None = ...,
        prefill: str | None = ...,
        prefill_name: str | None = ...,
        continue_on_length: int = ...,
        resume: int = ...,
        **params: Any,
    ) -> "AsyncStream": ...

    async def create(
        self,
        *,
        model: str,
        messages: Iterable[Mapping[str, Any]],
        stream: bool = False,
        extra_body: Mapping[str, Any] | None = None,
        extra_headers: Mapping[str, str] | None = None,
        timeout: float | None = None,
        prefill: str | None = None,
        prefill_name: str | None = None,
        continue_on_length: int = 0,
        resume: int = 0,
        **params: Any,
    ) -> Any:
        """As ``Kimi.chat.completions.create``, awaited: a ``ChatCompletion``, or with
        ``stream=True`` an ``AsyncStream`` (``async for chunk in stream``)."""
        if self._client.check_models:
            await self._client.models.check(model)
        if prefill is None and not continue_on_length and not resume and prefill_name is None:
            return await self._client._request(
                shape_chat(model, messages, stream, extra_body, extra_headers, timeout, params, self._client._defaults)
            )
        from ._partial import continuation, run_async

        partial = (prefill, prefill_name, continue_on_length, resume)
        return await run_async(
            continuation(self._client, model, messages, stream, extra_body, extra_headers, timeout, params, partial)
        )

    def map(
        self,
        requests: Iterable[Mapping[str, Any]],
        *,
        concurrency: int = 64,
        ordered: bool = True,
        return_exceptions: bool = True,
        progress: bool = False,
    ) -> AsyncMap:
        """As ``Kimi.chat.completions.map``, as an async iterator:
        ``async for result in client.chat.completions.map(requests): ...``."""
        from ._map import AsyncMap, Plan

        return AsyncMap(Plan(self._client, requests, concurrency, ordered, return_exceptions, progress))


class AsyncChat:
    """client.chat of AsyncKimi: holds ``completions``."""

    def __init__(self, client: "AsyncKimi") -> None:
        self.completions = AsyncCompletions(client)

    async def run_tools(
        self,
        *,
        model: str,
        messages: Iterable[Mapping[str, Any]],
        tools: Iterable[Any],
        allow: Any = None,
        max_steps: int = 10,
        tool_timeout: float = 30.0,
        confirm: Any = None,
        audit: Any = None,
        stream: bool = False,
        **create_params: Any,
    ) -> ToolRun:
        """As ``Kimi.chat.run_tools``, awaited: async tools run as tasks under
        ``asyncio.wait_for``, sync ones on a thread of their own, awaited; ``allow``,
        ``confirm`` and ``audit`` may return awaitables.  With ``stream=True``,
        ``run.stream`` is a ``kimi.AsyncToolStream`` (``async for``, ``await final()``).
        """
        from ._tools import run_tools_async

        return await run_tools_async(self.completions, model, messages, tools, allow, max_steps, tool_timeout,
                                     confirm, audit, stream, create_params)


class AsyncModels(AsyncResource):
    """GET /models, awaitable."""

    _not_raw = frozenset({"check"})

    async def list(
        self, *, extra_headers: Mapping[str, str] | None = None, timeout: float | None = None
    ) -> _models.ModelList:
        """The models this key may use, as a ``ModelList`` (iterable)."""
        return await self._client._request(shape_models_list(extra_headers, timeout))

    async def retrieve(
        self, model: str, *, extra_headers: Mapping[str, str] | None = None, timeout: float | None = None
    ) -> _models.Model:
        """One model (see ``Kimi.models.retrieve``)."""
        return await self._client._request(shape_model(model, extra_headers, timeout))

    async def _listed(self) -> dict[str, Any]:
        models = cached_models(self._client)
        return models if models is not None else keep_models(self._client, await self.list())

    async def check(self, model: str) -> _models.Model:
        """The listed Model, or ModelNotFoundError (see ``Kimi.models.check``)."""
        found = checked_model(model, await self._listed())
        if isinstance(found, Exception):
            raise found
        return found


class AsyncTokenizers(AsyncResource):
    """POST /tokenizers/estimate-token-count, awaitable."""

    async def estimate_token_count(
        self,
        *,
        model: str,
        messages: Iterable[Mapping[str, Any]],
        extra_body: Mapping[str, Any] | None = None,
        extra_headers: Mapping[str, str] | None = None,
        timeout: float | None = None,
    ) -> _models.TokenCount:
        """The platform's count of the prompt tokens (see ``Kimi.tokenizers``)."""
        shape = shape_token_count(model, messages, extra_body, extra_headers, timeout)
        return token_count_of(await self._client._request(shape))


class AsyncUsers(AsyncResource):
    """GET /users/me/balance, awaitable."""

    async def balance(
        self, *, extra_headers: Mapping[str, str] | None = None, timeout: float | None = None
    ) -> _models.Balance:
        """The account balance (see ``Kimi.users.balance``)."""
        return balance_of(await self._client._request(shape_balance(extra_headers, timeout)))
