"""kimi.Kimi: configuration, request building, retries.

The client checks arguments and sets defaults so the C core receives
checked values; the core (kimi._core) does the HTTP, SSE and JSON work.  A
client may be shared by threads (each call takes its own transfer lane) and
pickles to its configuration, never to live connections.
"""

from __future__ import annotations

import os

# typing is only for type checkers: importing it would double kimi's import
# time.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Mapping


from . import _core
from ._exceptions import APIConnectionError, APIStatusError, KimiError
from ._resources import Chat, Models, Users
from ._version import __version__

__all__ = ["Kimi", "DEFAULT_BASE_URL"]

DEFAULT_BASE_URL = "https://api.moonshot.ai/v1"
DEFAULT_TIMEOUT = 600.0
DEFAULT_MAX_RETRIES = 2
_LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "::1", "[::1]")
_RETRY_STATUSES = frozenset({408, 409, 429})
_MAX_RETRY_DELAY = 8.0
_USER_AGENT = f"kimi-python/{__version__} libcurl/{_core.curl_version}"


class Kimi:
    """A client for the Kimi (Moonshot AI) API and gateways that serve it.

    ``api_key`` defaults to ``$MOONSHOT_API_KEY``; ``base_url`` to
    ``$KIMI_BASE_URL``, else ``https://api.moonshot.ai/v1``.  ``timeout``
    (seconds) bounds connecting and every silence between received bytes,
    not the length of a long stream.  Failed attempts are retried up to
    ``max_retries`` times (connection failures, 408, 409, 429 except an
    exhausted quota, 5xx) with exponential backoff and jitter, honouring
    ``Retry-After``; a stream is never retried once it was handed to you.
    Plain ``http://`` is accepted for loopback hosts only, unless
    ``allow_http=True``.
    """

    def __init__(
        self,
        api_key: str | None = None,
        base_url: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        max_retries: int = DEFAULT_MAX_RETRIES,
        default_headers: Mapping[str, str] | None = None,
        *,
        allow_http: bool = False,
        max_event_bytes: int | None = None,
        max_body_bytes: int | None = None,
    ) -> None:
        key = api_key if api_key is not None else os.environ.get("MOONSHOT_API_KEY")
        if not key:
            raise KimiError(
                "Kimi: no API key: pass api_key=... or set the MOONSHOT_API_KEY environment variable"
            )
        if not isinstance(key, str):
            raise TypeError("Kimi: api_key must be a str")
        _check_header_value("Authorization", key)
        url = base_url or os.environ.get("KIMI_BASE_URL") or DEFAULT_BASE_URL
        self.base_url = _check_base_url(url, allow_http)
        self.timeout = _check_timeout(timeout)
        if not isinstance(max_retries, int) or max_retries < 0:
            raise ValueError("Kimi: max_retries must be an int >= 0")
        self.max_retries = max_retries
        self.default_headers = _check_headers(default_headers)
        self.allow_http = allow_http
        self.max_event_bytes = _check_limit("max_event_bytes", max_event_bytes)
        self.max_body_bytes = _check_limit("max_body_bytes", max_body_bytes)
        self.__api_key = key
        self._core_client: Any = None
        self.chat = Chat(self)
        self.models = Models(self)
        self.users = Users(self)

    @property
    def api_key(self) -> str:
        return self.__api_key

    def with_options(self, **changes: Any) -> "Kimi":
        """A new client with some settings changed (same names as the
        constructor); the two share nothing."""
        config = self._config()
        config.update(changes)
        return Kimi(**config)

    def _config(self) -> dict[str, Any]:
        return {
            "api_key": self.__api_key,
            "base_url": self.base_url,
            "timeout": self.timeout,
            "max_retries": self.max_retries,
            "default_headers": dict(self.default_headers),
            "allow_http": self.allow_http,
            "max_event_bytes": self.max_event_bytes,
            "max_body_bytes": self.max_body_bytes,
        }

    def __getstate__(self) -> dict[str, Any]:
        return self._config()

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(**state)  # type: ignore[misc]

    def __repr__(self) -> str:
        return f"Kimi(base_url={self.base_url!r}, api_key=<hidden>, timeout={self.timeout!r}, max_retries={self.max_retries!r})"

    def close(self) -> None:
        """Drop idle connections (open streams keep theirs until closed)."""
        self._core_client = None

    def __enter__(self) -> "Kimi":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the request path ------------------------------------------------

    def _core(self) -> Any:
        core = self._core_client
        if core is None:
            core = _core.Client(max_event=self.max_event_bytes or 0, max_body=self.max_body_bytes or 0)
            self._core_client = core
        return core

    def _headers(self, accept: str, extra: Mapping[str, str] | None) -> tuple[str, ...]:
        merged = {
            "Authorization": f"Bearer {self.__api_key}",
            "Accept": accept,
            "User-Agent": _USER_AGENT,
        }
        merged.update(self.default_headers)
        if extra:
            merged.update(_check_headers(extra))
        return tuple(f"{k}: {v}" for k, v in merged.items())

    def _request(
        self,
        method: str,
        path: str,
        *,
        body: Mapping[str, Any] | None = None,
        stream: bool = False,
        result_class: type | None = None,
        chunk_class: type | None = None,
        extra_headers: Mapping[str, str] | None = None,
        timeout: float | None = None,
    ) -> Any:
        url = self.base_url + path
        accept = "text/event-stream" if stream else "application/json"
        headers = self._headers(accept, extra_headers)
        payload = None
        if body is not None:
            import json

            try:
                payload = json.dumps(body, ensure_ascii=False, allow_nan=False).encode("utf-8")
            except (TypeError, ValueError) as exc:
                raise TypeError(f"{path}: request body is not JSON-serialisable: {exc}") from None
            headers += ("Content-Type: application/json",)
        wait = self.timeout if timeout is None else _check_timeout(timeout)
        attempt = 0
        while True:
            try:
                return self._core().request(
                    method, url, headers, payload, stream, wait, wait, result_class, chunk_class, self.__api_key
                )
            except APIStatusError as exc:
                exc._redact(self.__api_key)   # a 401 may echo the key back
                if attempt >= self.max_retries or not _should_retry(exc):
                    raise
                delay = _retry_delay(attempt, exc.retry_after)
            except APIConnectionError:
                if attempt >= self.max_retries:
                    raise
                delay = _retry_delay(attempt, None)
            import time

            time.sleep(delay)
            attempt += 1


def _should_retry(exc: APIStatusError) -> bool:
    if exc.status_code == 429:
        return exc.type != "exceeded_current_quota_error" and exc.code != "used_up"
    return exc.status_code in _RETRY_STATUSES or exc.status_code >= 500


def _retry_delay(attempt: int, retry_after: float | None) -> float:
    """Retry-After when the server gave a sane one, else 0.5 s doubling per
    attempt (capped at 8 s) with up to 25% jitter."""
    if retry_after is not None and 0 < retry_after <= 60:
        return retry_after
    import random

    delay = min(0.5 * 2**attempt, _MAX_RETRY_DELAY)
    return delay * (1 - 0.25 * random.random())


def _check_base_url(url: str, allow_http: bool) -> str:
    if not isinstance(url, str):
        raise TypeError("Kimi: base_url must be a str")
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"Kimi: base_url must be an http(s) URL, got {url!r}")
    if parts.scheme == "http" and not allow_http and parts.hostname not in _LOOPBACK_HOSTS:
        raise ValueError(
            f"Kimi: refusing plain http:// to {parts.hostname!r} (the API key would travel "
            "unencrypted); use https:// or pass allow_http=True"
        )
    _check_header_value("base_url", url)
    return url.rstrip("/")


def _check_timeout(timeout: Any) -> float:
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not timeout > 0:
        raise ValueError(f"timeout must be a number of seconds > 0, got {timeout!r}")
    return float(timeout)


def _check_limit(name: str, value: int | None) -> int | None:
    if value is not None and (not isinstance(value, int) or value <= 0):
        raise ValueError(f"Kimi: {name} must be a positive int")
    return value


def _check_header_value(name: str, value: str) -> None:
    if "\r" in value or "\n" in value or "\0" in value:
        raise ValueError(f"header {name!r}: value contains CR, LF or NUL")


def _check_headers(headers: Mapping[str, str] | None) -> dict[str, str]:
    checked: dict[str, str] = {}
    for name, value in (headers or {}).items():
        if not isinstance(name, str) or not isinstance(value, str):
            raise TypeError("headers: names and values must be str")
        if not name or any(c in name for c in ":\r\n\0 "):
            raise ValueError(f"header name {name!r} is not valid")
        _check_header_value(name, value)
        checked[name] = value
    return checked
