"""The exceptions kimi raises, from C and from Python alike.

    KimiError
    ├── APIConnectionError      no complete response came (DNS, connect,
    │   │                       TLS, reset)
    │   ├── APITimeoutError     a time limit passed (``limit`` says which)
    │   └── CertificateError    the TLS certificate check failed
    ├── APIResponseValidationError  a complete reply the client refused (too
    │                           big, not JSON, oversized headers): never
    │                           retried, the server already produced it
    ├── APIStatusError          the server answered with a non-2xx status
    │   ├── BadRequestError             400
    │   ├── AuthenticationError         401
    │   ├── PermissionDeniedError       403
    │   ├── NotFoundError               404
    │   ├── RateLimitError              429
    │   └── InternalServerError         5xx
    ├── StreamError             a stream broke: cut off before [DONE], a
    │                           malformed event, or an error event
    └── LimitExceededError      the client's own token limits (kimi.Limits)
                                cannot admit a request: it was not sent

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
    "StreamError",
    "LimitExceededError",
]


class KimiError(Exception):
    """Root of every error kimi raises."""

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


class APIConnectionError(KimiError):
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


class APIResponseValidationError(KimiError):
    """A complete reply arrived and the client refused it: larger than
    ``max_body_bytes``, empty or not JSON, or with an oversized header block.  It is
    never retried, since the server already produced (and billed) it."""

    status_code: int | None = None
    curl_code: int | None = None
    offset: int = 0

    def __init__(self, message: str = "invalid response") -> None:
        super().__init__(message)


class APIStatusError(KimiError):
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
