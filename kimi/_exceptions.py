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
    └── StreamError             a stream broke: cut off before [DONE], a
                                malformed event, or an error event

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

    def _redact(self, secret: str) -> None:
        """Replace a secret the server echoed (an API key) everywhere in the
        exception's text and body."""
        self.args = tuple(_scrub(a, secret) for a in self.args)
        for name, value in list(self.__dict__.items()):
            self.__dict__[name] = _scrub(value, secret)


_REDACTED = "<redacted>"


def _scrub(value: Any, secret: str) -> Any:
    if isinstance(value, str):
        return value.replace(secret, _REDACTED)
    if isinstance(value, bytes):
        return value.replace(secret.encode(), _REDACTED.encode())
    if isinstance(value, dict):
        return {k: _scrub(v, secret) for k, v in value.items()}
    if isinstance(value, list):
        return [_scrub(v, secret) for v in value]
    return value


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

    ``type`` and ``code`` come from the error body (Moonshot's
    ``{"error": {"type", "message"}}`` or a proxy's ``{"success": false,
    "error": {"code", "message"}, "trace_id"}``); ``request_id`` from the
    body's trace id or the response headers.
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
    ) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.body = body
        self.type = type
        self.code = code
        self.request_id = request_id
        self.headers = headers or {}

    @property
    def retry_after(self) -> float | None:
        """Seconds the server asked to wait (Retry-After, retry-after-ms, or
        "please try again after N seconds" in the message), if any."""
        return _retry_after(self.headers, self.message)


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
    event, or carried an error object (kept in ``body``)."""

    body: Any = None
    curl_code: int | None = None
    status_code: int | None = None
    offset: int = 0

    def __init__(self, message: str = "stream error") -> None:
        super().__init__(message)

    @property
    def type(self) -> str | None:
        return _field(self.body, "type")

    @property
    def code(self) -> str | int | None:
        return _field(self.body, "code")


def _field(body: Any, name: str) -> Any:
    return body.get(name) if isinstance(body, dict) else None


_STATUS_CLASSES: dict[int, type[APIStatusError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    429: RateLimitError,
}

_REQUEST_ID_HEADERS = ("x-request-id", "request-id", "x-trace-id", "msh-request-id", "cf-ray")


def _status_error(status: int, raw: bytes, headers: dict[str, str]) -> APIStatusError:
    """Build the exception for a non-2xx response (called by the C core)."""
    import json

    body: Any = None
    text = raw.decode("utf-8", "replace")
    try:
        body = json.loads(text) if text else None
    except ValueError:
        body = text
    message, type_, code, trace_id = _parse_error_body(body)
    request_id = trace_id or next((headers[h] for h in _REQUEST_ID_HEADERS if h in headers), None)
    if message is None:
        message = text.strip()[:500] or "no error message"
    detail = f"HTTP {status}"
    if type_ or code:
        detail += f" {type_ or code}"
    full = f"{detail}: {message}"
    if request_id:
        full += f" (request id {request_id})"
    cls = _STATUS_CLASSES.get(status) or (InternalServerError if status >= 500 else APIStatusError)
    return cls(
        full,
        status_code=status,
        body=body,
        type=type_,
        code=code,
        request_id=request_id,
        headers=headers,
    )


def _parse_error_body(body: Any) -> tuple[str | None, str | None, Any, str | None]:
    """(message, type, code, trace id) from the Moonshot, proxy, OpenRouter
    and Cloudflare error shapes."""
    if not isinstance(body, dict):
        return None, None, None, None
    trace_id = body.get("trace_id") or body.get("request_id")
    error = body.get("error")
    if isinstance(error, str):
        return error, None, None, trace_id
    if isinstance(error, dict):
        return (
            _str_or_none(error.get("message")),
            _str_or_none(error.get("type")),
            error.get("code"),
            trace_id or _str_or_none(error.get("request_id")),
        )
    errors = body.get("errors")
    if isinstance(errors, list) and errors and isinstance(errors[0], dict):
        first = errors[0]
        return _str_or_none(first.get("message")), None, first.get("code"), trace_id
    return _str_or_none(body.get("message")), None, body.get("code"), trace_id


def _str_or_none(value: Any) -> str | None:
    return None if value is None else str(value)


def _retry_after(headers: dict[str, str], message: str) -> float | None:
    ms = headers.get("retry-after-ms")
    if ms is not None:
        try:
            return float(ms) / 1000.0
        except ValueError:
            pass
    value = headers.get("retry-after")
    if value is not None:
        try:
            return float(value)
        except ValueError:
            from email.utils import parsedate_to_datetime
            import time

            try:
                return parsedate_to_datetime(value).timestamp() - time.time()
            except (TypeError, ValueError, OverflowError):
                pass
    import re

    found = re.search(r"try again after (\d+(?:\.\d+)?) ?s", message)
    return float(found.group(1)) if found else None
