"""What came with a reply besides its body: status, headers, the request id and the
account's rate-limit headers, and ``with_raw_response``, as openai-python offers them.

The C core keeps each non-streaming reply's status and header block on the result
(``_response``, not a field); the mappings here are made from it only when read.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Iterator, Mapping

from ._logging import parse_header_block, request_id

__all__ = ["Headers", "RateLimitInfo", "RawResponse", "RawResponses", "AsyncRawResponses"]


class Headers:
    """Response headers as a read-only mapping whose names ignore case; the first of
    repeated headers wins."""

    __slots__ = ("_items",)

    def __init__(self, items: Mapping[str, str] | None = None) -> None:
        self._items = {k.lower(): v for k, v in (items or {}).items()}

    @classmethod
    def from_block(cls, block: bytes) -> "Headers":
        headers = cls()
        headers._items = parse_header_block(block)
        return headers

    def __getitem__(self, name: str) -> str:
        return self._items[name.lower()]

    def get(self, name: str, default: Any = None) -> Any:
        return self._items.get(name.lower(), default)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def items(self) -> Any:
        return self._items.items()

    def keys(self) -> Any:
        return self._items.keys()

    def values(self) -> Any:
        return self._items.values()

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Headers):
            return self._items == other._items
        if isinstance(other, dict):
            return self._items == {k.lower(): v for k, v in other.items()}
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Headers({self._items!r})"


def _number(text: str) -> float | None:
    """An ASCII decimal number ("12", "1.5", ".5"), or None."""
    whole, _, fraction = text.partition(".")
    digits = whole + fraction
    if not digits or not digits.isascii() or not digits.isdigit():
        return None
    return float(text)


def _seconds(value: str | None) -> float | None:
    """A reset time as seconds: "12", "1.5", or a duration such as "6m0s", "20ms";
    None for anything else (a server's header never raises here)."""
    text = "" if value is None else value.strip()
    if not text:
        return None
    plain = _number(text)
    if plain is not None:
        return plain if plain < 1e12 else None
    total, number = 0.0, ""
    units = (("ms", 0.001), ("h", 3600.0), ("m", 60.0), ("s", 1.0))
    while text:
        if text[0] in "0123456789.":
            number += text[0]
            text = text[1:]
            continue
        for unit, scale in units:
            if text.startswith(unit) and number:
                amount = _number(number)
                if amount is None:
                    return None
                total += amount * scale
                number, text = "", text[len(unit):]
                break
        else:
            return None
    return total if not number and total < 1e12 else None


def _int(value: str | None) -> int | None:
    text = None if value is None else value.strip()
    return int(text) if text and text.isascii() and text.isdigit() else None


class RateLimitInfo:
    """The account's rate-limit headers, where the server sends them: ``limit``,
    ``remaining`` and ``reset`` (seconds) from ``X-RateLimit-Limit / -Remaining /
    -Reset``, the same per requests and tokens from the ``-Requests`` / ``-Tokens``
    forms, and ``raw``, every ``x-ratelimit-*`` header as sent."""

    __slots__ = ("limit", "remaining", "reset", "limit_requests", "remaining_requests", "reset_requests",
                 "limit_tokens", "remaining_tokens", "reset_tokens", "raw")

    def __init__(self, headers: Any) -> None:
        raw = {k.lower(): v for k, v in headers.items() if k.lower().startswith("x-ratelimit-")}
        self.raw = raw
        self.limit = _int(raw.get("x-ratelimit-limit"))
        self.remaining = _int(raw.get("x-ratelimit-remaining"))
        self.reset = _seconds(raw.get("x-ratelimit-reset"))
        self.limit_requests = _int(raw.get("x-ratelimit-limit-requests"))
        self.remaining_requests = _int(raw.get("x-ratelimit-remaining-requests"))
        self.reset_requests = _seconds(raw.get("x-ratelimit-reset-requests"))
        self.limit_tokens = _int(raw.get("x-ratelimit-limit-tokens"))
        self.remaining_tokens = _int(raw.get("x-ratelimit-remaining-tokens"))
        self.reset_tokens = _seconds(raw.get("x-ratelimit-reset-tokens"))

    def __bool__(self) -> bool:
        return bool(self.raw)

    def __repr__(self) -> str:
        shown = ", ".join(f"{k}={getattr(self, k)!r}" for k in self.__slots__[:-1] if getattr(self, k) is not None)
        return f"RateLimitInfo({shown})"


def request_id_of(headers: Any) -> str | None:
    """The request id among the headers, read as the core reads it for errors."""
    return request_id(headers)


def response_of(obj: Any) -> tuple[int | None, Headers]:
    """(status, headers) a result came with; (None, empty) when it kept none."""
    kept = getattr(obj, "_response", None)
    if kept is None:
        headers = getattr(obj, "headers", None)     # a Stream has its headers
        status = getattr(obj, "status_code", None)
        return status, Headers(headers) if isinstance(headers, dict) else Headers()
    return kept[0], Headers.from_block(kept[1])


class RawResponse:
    """A call's reply with what came with it: ``status_code``, ``headers``,
    ``request_id``, ``rate_limit``, ``elapsed`` (seconds), and ``parse()`` for the
    object the call returns."""

    __slots__ = ("_parsed", "status_code", "headers", "elapsed")

    def __init__(self, parsed: Any, elapsed: float) -> None:
        self._parsed = parsed
        self.status_code, self.headers = response_of(parsed)
        self.elapsed = elapsed

    def parse(self) -> Any:
        return self._parsed

    @property
    def request_id(self) -> str | None:
        return request_id_of(self.headers)

    @property
    def rate_limit(self) -> RateLimitInfo:
        return RateLimitInfo(self.headers)

    def __repr__(self) -> str:
        return f"<RawResponse status_code={self.status_code} {type(self._parsed).__name__}>"


class RawResponses:
    """``resource.with_raw_response``: the resource's calls, each returning a
    ``RawResponse`` instead of the parsed object."""

    __slots__ = ("_resource",)

    def __init__(self, resource: Any) -> None:
        self._resource = resource

    def _method(self, name: str) -> Any:
        """The resource's call of that name, if it answers with one reply: lists
        that page by themselves, maps, jobs and round trips have no one response."""
        method = getattr(self._resource, name)
        if not callable(method) or name.startswith("_"):
            raise AttributeError(name)
        if name in getattr(self._resource, "_not_raw", ()):
            raise AttributeError(
                f"{type(self._resource).__name__}.{name} makes many requests (or none): it has no raw response"
            )
        return method

    def __getattr__(self, name: str) -> Any:
        method = self._method(name)

        def call(*args: Any, **kwargs: Any) -> RawResponse:
            import time

            began = time.monotonic()
            parsed = method(*args, **kwargs)
            return RawResponse(parsed, time.monotonic() - began)

        return call


class AsyncRawResponses(RawResponses):
    """``with_raw_response`` of an AsyncKimi resource: awaitable calls."""

    __slots__ = ()

    def __getattr__(self, name: str) -> Any:
        method = self._method(name)

        async def call(*args: Any, **kwargs: Any) -> RawResponse:
            import time

            began = time.monotonic()
            parsed = await method(*args, **kwargs)
            return RawResponse(parsed, time.monotonic() - began)

        return call
