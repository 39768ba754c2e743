"""The API's resources as the OpenAI SDK names them: client.chat.completions,
client.models, and Kimi's own client.users (balance), for Kimi and AsyncKimi.

Each request is shaped once, by a function here that both clients' methods call: the
sync method hands the shape to ``Kimi._request``, the async one awaits
``AsyncKimi._request`` with the same shape.
"""

from __future__ import annotations

from . import _models

# typing is only for type checkers: importing it would double kimi's import
# time.  At run time each @overload stub is simply replaced by the next def.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Iterable, Iterator, Literal, Mapping, overload

    from ._async_client import AsyncKimi, AsyncStream
    from ._client import Kimi
    from ._core import Stream
    from ._map import AsyncMap, MapResult
else:

    def overload(func):  # noqa: D103
        return func

__all__ = [
    "Chat",
    "Completions",
    "Models",
    "Users",
    "AsyncChat",
    "AsyncCompletions",
    "AsyncModels",
    "AsyncUsers",
]


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
) -> Shape:
    """The request of chat.completions.create, checked, as the client's
    ``_request`` takes it (see ``Shape``)."""
    if not isinstance(model, str) or not model:
        raise ValueError("chat.completions.create: model must be a non-empty str")
    if isinstance(messages, (str, bytes, dict)) or not hasattr(messages, "__iter__"):
        raise TypeError("chat.completions.create: messages must be a list of message dicts")
    messages = list(messages)
    if not messages:
        raise ValueError("chat.completions.create: messages must not be empty")
    if not isinstance(stream, bool):
        raise TypeError("chat.completions.create: stream must be a bool")
    body: dict[str, Any] = {"model": model, "messages": messages}
    body.update((k, v) for k, v in params.items() if v is not None)
    if stream:
        body["stream"] = True
    if extra_body:
        body.update(extra_body)
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


def shape_balance(extra_headers: Mapping[str, str] | None, timeout: Any) -> Shape:
    return ("GET", "/users/me/balance", None, False, _models.BalanceResponse, None, extra_headers, timeout)


def balance_of(reply: Any) -> _models.Balance:
    data = reply.data
    if data is None:
        from ._exceptions import APIConnectionError

        raise APIConnectionError(f"users.balance: the reply has no data: {reply.to_dict()!r}")
    return data


class Completions:
    """POST /chat/completions."""

    def __init__(self, client: "Kimi") -> None:
        self._client = client

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
        **params: Any,
    ) -> Any:
        """Create a chat completion.

        Body fields of the API (``max_completion_tokens``, ``thinking``,
        ``tools``, ``tool_choice``, ``response_format``, ``stop``,
        ``stream_options``, ...) are keyword arguments; a field passed as
        None is left out.  ``extra_body`` adds or overrides raw fields (for
        gateway-specific ones); ``extra_headers`` adds headers; ``timeout``
        overrides the client's for this call.

        Returns a ``ChatCompletion``, or with ``stream=True`` a ``Stream``
        of ``ChatCompletionChunk`` objects.
        """
        return self._client._request(shape_chat(model, messages, stream, extra_body, extra_headers, timeout, params))

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


class Models:
    """GET /models."""

    def __init__(self, client: "Kimi") -> None:
        self._client = client

    def list(
        self, *, extra_headers: Mapping[str, str] | None = None, timeout: float | None = None
    ) -> _models.ModelList:
        """The models this key may use, as a ``ModelList`` (iterable)."""
        return self._client._request(shape_models_list(extra_headers, timeout))


class Users:
    """GET /users/me/balance."""

    def __init__(self, client: "Kimi") -> None:
        self._client = client

    def balance(
        self, *, extra_headers: Mapping[str, str] | None = None, timeout: float | None = None
    ) -> _models.Balance:
        """The account balance: ``available_balance``, ``voucher_balance``,
        ``cash_balance`` (USD on api.moonshot.ai)."""
        return balance_of(self._client._request(shape_balance(extra_headers, timeout)))


class AsyncCompletions:
    """POST /chat/completions, awaitable."""

    def __init__(self, client: "AsyncKimi") -> None:
        self._client = client

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
        **params: Any,
    ) -> Any:
        """As ``Kimi.chat.completions.create``, awaited: a ``ChatCompletion``, or with
        ``stream=True`` an ``AsyncStream`` (``async for chunk in stream``)."""
        return await self._client._request(shape_chat(model, messages, stream, extra_body, extra_headers, timeout, params))

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


class AsyncModels:
    """GET /models, awaitable."""

    def __init__(self, client: "AsyncKimi") -> None:
        self._client = client

    async def list(
        self, *, extra_headers: Mapping[str, str] | None = None, timeout: float | None = None
    ) -> _models.ModelList:
        """The models this key may use, as a ``ModelList`` (iterable)."""
        return await self._client._request(shape_models_list(extra_headers, timeout))


class AsyncUsers:
    """GET /users/me/balance, awaitable."""

    def __init__(self, client: "AsyncKimi") -> None:
        self._client = client

    async def balance(
        self, *, extra_headers: Mapping[str, str] | None = None, timeout: float | None = None
    ) -> _models.Balance:
        """The account balance (see ``Kimi.users.balance``)."""
        return balance_of(await self._client._request(shape_balance(extra_headers, timeout)))
