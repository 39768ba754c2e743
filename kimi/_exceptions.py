"""The exceptions kimi raises, from C and from Python alike.

    KimiError
    ├── APIError                    what came (or failed to come) from the API
    │   ├── APIConnectionError      no complete response came (DNS, connect,
    │   │   │                       TLS, reset)
    │   │   ├── APITimeoutError     a time limit passed (``limit`` says which)
    │   │   └── CertificateError    the TLS certificate check failed
    │   ├── APIResponseValidationError  a complete reply the client refused
    │   │                           (too big, not JSON, oversized headers):
    │   │                           never retried, the server produced it
    │   └── APIStatusError          the server answered with a non-2xx status
    │       ├── BadRequestError             400
    │       │   ├── InvalidRequestError         invalid_request_error
    │       │   └── ContentFilterError          content_filter
    │       ├── AuthenticationError         401
    │       ├── PermissionDeniedError       403
    │       ├── NotFoundError               404
    │       │   └── ResourceNotFoundError       resource_not_found_error
    │       │       └── ModelNotFoundError      ... naming a model
    │       ├── ConflictError               409
    │       ├── UnprocessableEntityError    422
    │       ├── RateLimitError              429
    │       │   ├── EngineOverloadedError       engine_overloaded_error
    │       │   ├── RateLimitReachedError       rate_limit_reached_error
    │       │   └── QuotaExceededError          exceeded_current_quota_error
    │       └── InternalServerError         5xx
    │           └── ServerError                 server_error
    ├── StreamError             a stream broke: cut off before [DONE], a
    │                           malformed event, or an error event
    ├── LimitExceededError      the client's own token limits (kimi.Limits)
    │                           cannot admit a request: it was not sent
    ├── BatchFailedError        a batch job failed as a whole (its input
    │                           refused); ``errors`` names the lines
    ├── BatchRequestError       one request of a batch never ran (the job
    │                           expired or was cancelled first)
    └── ToolLoopError           run_tools made max_steps requests and the
                                model still called tools

Each carries what helps (status, the server's message, type and code, the
request or trace id) and never the API key.
"""

from __future__ import annotations

# typing is only for type checkers: importing it would double kimi's import
# time.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = [
    "KimiError",
    "BatchFailedError",
    "BatchRequestError",
    "APIError",
    "APIConnectionError",
    "APITimeoutError",
    "CertificateError",
    "APIResponseValidationError",
    "APIStatusError",
    "BadRequestError",
    "AuthenticationError",
    "PermissionDeniedError",
    "NotFoundError",
    "RateLimitError",
    "InternalServerError",
    "ConflictError",
    "UnprocessableEntityError",
    "InvalidRequestError",
    "ContentFilterError",
    "ResourceNotFoundError",
    "ModelNotFoundError",
    "EngineOverloadedError",
    "RateLimitReachedError",
    "QuotaExceededError",
    "ServerError",
    "StreamError",
    "LimitExceededError",
    "TruncatedWarning",
    "ToolLoopError",
]


class KimiError(Exception):
    """Root of every error kimi raises."""

    # create(continue_on_length=N), not streaming: when a later piece's request
    # fails, the answer so far (a ChatCompletion cut by "length").
    partial: Any = None

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __reduce__(self) -> tuple[Any, ...]:
        # Pickle by state, not by constructor arguments, so errors raised in
        # process-pool, Dask or Ray workers travel back whole.
        return (_restore, (type(self), self.args, self.__dict__))


def _restore(cls: "type[KimiError]", args: tuple[Any, ...], state: dict[str, Any]) -> "KimiError":
    exc = cls.__new__(cls)
    Exception.__init__(exc, *args)
    exc.__dict__.update(state)
    return exc


class APIError(KimiError):
    """Base of the errors about the API's answer or its absence (connection,
    refused reply, status), as in openai-python."""


class APIConnectionError(APIError):
    """No valid response came: DNS, connect, TLS, a reset, a bad body."""

    curl_code: int | None = None
    status_code: int | None = None
    offset: int = 0

    def __init__(self, message: str = "connection error") -> None:
        super().__init__(message)


class APITimeoutError(APIConnectionError):
    """A time limit passed: ``limit`` is ``"connect"``, ``"read"`` (silence between
    bytes), ``"event"`` (silence between a stream's data events) or ``"total"``."""

    limit: str | None = None

    def __init__(self, message: str = "request timed out") -> None:
        super().__init__(message)


class CertificateError(APIConnectionError):
    """The server's TLS certificate could not be verified (or the client's own
    certificate is unusable); retrying would not help."""


class APIResponseValidationError(APIError):
    """A complete reply arrived and the client refused it: larger than
    ``max_body_bytes``, empty or not JSON, or with an oversized header block.  It is
    never retried, since the server already produced (and billed) it."""

    status_code: int | None = None
    curl_code: int | None = None
    offset: int = 0

    def __init__(self, message: str = "invalid response") -> None:
        super().__init__(message)


class APIStatusError(APIError):
    """The server answered with a non-2xx status.

    ``type`` and ``code`` come from the error body, whatever its shape
    (Moonshot's ``{"error": {"type", "message"}}``, a proxy's ``{"success":
    false, "error": {"code", "message"}, "trace_id"}``, Cloudflare's
    ``errors`` list, FastAPI's ``detail``, OpenRouter's, LiteLLM's, plain
    text); ``request_id`` from the body or the response headers;
    ``retry_after`` is the wait the server asked for (``Retry-After``,
    ``retry-after-ms`` or "try again after N seconds"), in seconds, or None.
    The body is read and the echoed API key redacted in the C core.
    """

    def __init__(
        self,
        message: str,
        *,
        status_code: int,
        body: Any = None,
        type: str | None = None,
        code: str | int | None = None,
        request_id: str | None = None,
        headers: dict[str, str] | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.body = body
        self.type = type
        self.code = code
        self.request_id = request_id
        self.headers = headers or {}
        self.retry_after = retry_after

    @property
    def rate_limit(self) -> Any:
        """The ``X-RateLimit-*`` headers of the reply (``kimi.RateLimitInfo``)."""
        from ._raw import RateLimitInfo

        return RateLimitInfo(self.headers)


class BadRequestError(APIStatusError):
    """400: the request is invalid (also content_filter rejections)."""


class AuthenticationError(APIStatusError):
    """401: missing, wrong or expired API key."""


class PermissionDeniedError(APIStatusError):
    """403: the key may not use this API or model."""


class NotFoundError(APIStatusError):
    """404: unknown model or resource."""


class RateLimitError(APIStatusError):
    """429: rate limited, engine overloaded, or quota exhausted
    (``type == "exceeded_current_quota_error"`` is not worth retrying)."""


class InternalServerError(APIStatusError):
    """5xx: the server or a gateway failed."""


class ConflictError(APIStatusError):
    """409: the request conflicts with the resource's state."""


class UnprocessableEntityError(APIStatusError):
    """422: the request was well-formed but not acceptable (FastAPI-style
    gateways answer bad fields so)."""


# The API's error types (its ``error.type``) as classes, each under the class
# of the status the platform sends it with.  The C core picks the class from
# the status and the type together.


class InvalidRequestError(BadRequestError):
    """400 ``invalid_request_error``: a bad field, a prompt over the context,
    a file problem.  Not retried."""


class ContentFilterError(BadRequestError):
    """400 ``content_filter``: the request was judged high risk.  Not retried."""


class ResourceNotFoundError(NotFoundError):
    """404 ``resource_not_found_error``: an unknown model, file or batch."""


class ModelNotFoundError(ResourceNotFoundError):
    """404 ``resource_not_found_error`` naming a model ("Not found the model
    ..."): the id is wrong or retired, or the key may not use it."""


class EngineOverloadedError(RateLimitError):
    """429 ``engine_overloaded_error``: retried with backoff, and every sender
    of the client pauses."""


class RateLimitReachedError(RateLimitError):
    """429 ``rate_limit_reached_error``: the account's concurrency, RPM, TPM or
    TPD; retried after the wait the server names, every sender pausing."""


class QuotaExceededError(RateLimitError):
    """429 ``exceeded_current_quota_error``: the account is out of balance or
    suspended.  Never retried: waiting does not help."""


class ServerError(InternalServerError):
    """500 ``server_error``: retried with backoff."""


class StreamError(KimiError):
    """A stream broke: it ended before ``data: [DONE]``, carried a malformed
    event, or carried an error object (kept in ``body``, with its ``type``,
    ``code`` and ``request_id`` read as for ``APIStatusError``)."""

    body: Any = None
    type: str | None = None
    code: str | int | None = None
    request_id: str | None = None
    curl_code: int | None = None
    status_code: int | None = None
    offset: int = 0

    def __init__(self, message: str = "stream error") -> None:
        super().__init__(message)


class LimitExceededError(KimiError):
    """The client's ``kimi.Limits`` cannot admit a request, so it was not sent:
    its tokens exceed ``tpm`` or ``tpd`` on their own, or the last 24 hours'
    tokens leave no room for it today.  ``limit`` is ``"tpm"`` or ``"tpd"``,
    ``tokens`` what the request counts (prompt estimate plus its completion
    budget), ``retry_after`` the seconds until it would fit, or None for never."""

    limit: str | None = None
    tokens: int = 0
    retry_after: float | None = None

    def __init__(self, message: str = "limit exceeded") -> None:
        super().__init__(message)


class BatchFailedError(KimiError):
    """A batch job failed as a whole: the platform refused its input file (a
    line not in the batch format, a duplicate ``custom_id``, two models, ...).
    ``batch`` is the last ``Batch`` seen; ``errors`` its error entries, each
    with ``line`` (1-based), ``code`` and ``message``."""

    def __init__(self, message: str, batch: Any = None, errors: list[Any] | None = None) -> None:
        super().__init__(message)
        self.batch = batch
        self.errors = errors or []


class BatchRequestError(KimiError):
    """One request of a batch was never run: the job expired
    (``code == "batch_expired"``) or was cancelled (``"batch_cancelled"``)
    first, or its line is missing from the job's output.  ``custom_id`` names
    the request."""

    def __init__(self, message: str, code: str | None = None, custom_id: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.custom_id = custom_id


class ToolLoopError(KimiError):
    """``chat.run_tools`` made ``max_steps`` requests and the model still called
    tools.  The calls of the last step were run and answered, so ``messages`` (the
    transcript) can be sent again to go on; ``records`` are the audit records so
    far, ``reply`` the last reply (the one with the calls)."""

    def __init__(self, message: str, messages: list[Any] | None = None, records: list[Any] | None = None,
                 reply: Any = None) -> None:
        super().__init__(message)
        self.messages = messages if messages is not None else []
        self.records = records if records is not None else []
        self.reply = reply


class TruncatedWarning(UserWarning):
    """A reply was cut by its token budget (``finish_reason: "length"``) and not
    continued: pass ``continue_on_length=N`` to ``create()``, or raise
    ``max_completion_tokens``.  Given once per client and route; an empty content
    (the reasoning used the whole budget) says how much to raise it."""
