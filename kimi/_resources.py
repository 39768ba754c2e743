"""The API's resources as the OpenAI SDK names them: client.chat.completions,
client.models, and Kimi's own client.users (balance).

Each method shapes one request and hands it to the client's request path.
"""

from __future__ import annotations

from . import _models

# typing is only for type checkers: importing it would double kimi's import
# time.  At run time each @overload stub is simply replaced by the next def.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Iterable, Literal, Mapping, overload

    from ._client import Kimi
    from ._core import Stream
else:

    def overload(func):  # noqa: D103
        return func

__all__ = ["Chat", "Completions", "Models", "Users"]


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
        return self._client._request(
            "POST",
            "/chat/completions",
            body=body,
            stream=stream,
            result_class=_models.ChatCompletion,
            chunk_class=_models.ChatCompletionChunk,
            extra_headers=extra_headers,
            timeout=timeout,
        )


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
        return self._client._request(
            "GET", "/models", result_class=_models.ModelList, extra_headers=extra_headers, timeout=timeout
        )


class Users:
    """GET /users/me/balance."""

    def __init__(self, client: "Kimi") -> None:
        self._client = client

    def balance(
        self, *, extra_headers: Mapping[str, str] | None = None, timeout: float | None = None
    ) -> _models.Balance:
        """The account balance: ``available_balance``, ``voucher_balance``,
        ``cash_balance`` (USD on api.moonshot.ai)."""
        reply = self._client._request(
            "GET",
            "/users/me/balance",
            result_class=_models.BalanceResponse,
            extra_headers=extra_headers,
            timeout=timeout,
        )
        data = reply.data
        if data is None:
            from ._exceptions import APIConnectionError

            raise APIConnectionError(f"users.balance: the reply has no data: {reply.to_dict()!r}")
        return data
