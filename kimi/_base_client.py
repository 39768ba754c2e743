"""What every kimi client shares: configuration, its checks, headers and the shaping of
one request into a ``kimi._core.Request``.

The clients (kimi/_client.py) differ only in the loop that waits between attempts; a
request is shaped here once, and the retry decision is the core's (one rule for every
driver).  Nothing here does I/O.
"""

from __future__ import annotations

import os
import time

# typing is only for type checkers: importing it would double kimi's import time.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Mapping, Sequence, Union

    TimeoutTypes = Union[float, int, "Timeout"]

from . import _core
from ._exceptions import KimiError, RateLimitError
from ._limits import Limits, LimitsState, completion_budget
from ._version import __version__

__all__ = ["BaseClient", "Timeout", "DEFAULT_BASE_URL", "DEFAULT_TIMEOUT"]

DEFAULT_BASE_URL = "https://api.moonshot.ai/v1"
DEFAULT_MAX_RETRIES = 2
_LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "::1", "[::1]")
_USER_AGENT = f"kimi-python/{__version__} libcurl/{_core.curl_version}"
# Larger limits only defer the failure to the first request.
_MAX_LIMIT = 2**62
# RFC 9110 token characters: what a header name may be made of.
_TOKEN = frozenset("!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")


class Timeout:
    """How long a call may wait, in seconds (None: no limit).

    - ``read`` bounds every silence between bytes, sent or received.
    - ``connect`` bounds connecting (and the TLS handshake); default: ``read``.
    - ``event`` bounds the silence between a stream's data events; comments such as
      ``: keep-alive`` do not count.  Default: ``read``.
    - ``total`` bounds the whole call, retries and their waits included.  Default: none.

    A plain number ``x`` means ``Timeout(read=x)``.  Each expiry raises
    ``APITimeoutError`` whose ``limit`` names the one that fired.
    """

    __slots__ = ("read", "connect", "event", "total", "_resolved")

    def __init__(
        self,
        read: float | None = 600.0,
        *,
        connect: float | None = None,
        event: float | None = None,
        total: float | None = None,
    ) -> None:
        self.read = _seconds("read", read)
        self.connect = _seconds("connect", connect)
        self.event = _seconds("event", event)
        self.total = _seconds("total", total)
        self._resolved = self._limits()

    def __setattr__(self, name: str, value: Any) -> None:
        if hasattr(self, "_resolved"):
            raise AttributeError("Timeout is immutable; make a new one")
        object.__setattr__(self, name, value)

    def _limits(self) -> tuple[float | None, float | None, float | None, float | None]:
        """(connect, read, event, total) with the defaults applied."""
        connect = self.read if self.connect is None else self.connect
        event = self.read if self.event is None else self.event
        return connect, self.read, event, self.total

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Timeout):
            return NotImplemented
        return self._state() == other._state()

    __hash__ = None  # type: ignore[assignment]

    def _state(self) -> tuple[float | None, ...]:
        return (self.read, self.connect, self.event, self.total)

    def __reduce__(self) -> tuple[Any, ...]:
        return (_timeout_from_state, self._state())

    def __repr__(self) -> str:
        return (
            f"Timeout(read={self.read!r}, connect={self.connect!r}, event={self.event!r}, "
            f"total={self.total!r})"
        )


def time_left(total: float | None, deadline: float | None) -> float | None:
    """What is left of a call's total timeout; APITimeoutError once it is spent."""
    if deadline is None:
        return None
    left = deadline - time.monotonic()
    if left <= 0:
        from ._exceptions import APITimeoutError

        exc = APITimeoutError(f"timed out: the call was still running for {total:.1f} s (the total timeout)")
        exc.limit = "total"
        raise exc
    return left


def _timeout_from_state(read: Any, connect: Any, event: Any, total: Any) -> Timeout:
    return Timeout(read, connect=connect, event=event, total=total)


def _seconds(name: str, value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise ValueError(f"timeout: {name} must be a number of seconds > 0 or None, got {value!r}")
    if value != value or value == float("inf"):
        raise ValueError(f"timeout: {name} must be finite, got {value!r}")
    return float(value)


DEFAULT_TIMEOUT = Timeout(600.0)


def as_timeout(value: Any) -> Timeout:
    """A Timeout from a Timeout or a number of seconds (the read limit)."""
    if isinstance(value, Timeout):
        return value
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"timeout must be a number of seconds or a kimi.Timeout, got {value!r}")
    return Timeout(value)


class Form:
    """A multipart body (kimi/_files.py): the parts the core's MIME upload sends,
    each ``(name, filename, content_type, data, path)`` with one of data or path."""

    __slots__ = ("parts",)

    def __init__(self, parts: tuple[tuple[Any, ...], ...]) -> None:
        self.parts = parts


class CutNotice:
    """What the core calls with (model, empty, completion_tokens) when a reply is cut
    by its token budget: a ``kimi.TruncatedWarning``, once per client and route
    (kimi/_partial.py, imported on the first cut)."""

    __slots__ = ("route", "told")

    def __init__(self, route: str) -> None:
        self.route = route
        self.told: set[bool] = set()

    def __call__(self, model: str, empty: bool, tokens: int | None) -> None:
        from ._partial import tell_cut

        tell_cut(self, model, empty, tokens)


class resource:
    """A client's resource made on first use (``client.files``, ``client.batches``):
    their modules are imported only by the programs that use them, which keeps
    ``import kimi`` fast."""

    def __init__(self, module: str, name: str) -> None:
        self.module = module
        self.name = name
        self.attr = name

    def __set_name__(self, owner: type, attr: str) -> None:
        self.attr = attr

    def __get__(self, client: Any, owner: type | None = None) -> Any:
        if client is None:
            return self
        import importlib

        value = getattr(importlib.import_module(self.module), self.name)(client)
        client.__dict__[self.attr] = value      # found before this descriptor from now on
        return value


class BaseClient:
    """Configuration and request shaping for `Kimi` (and the clients that follow).

    Arguments are checked here, so the C core receives checked values; the client
    pickles to this configuration, never to live connections.
    """

    def __init__(
        self,
        api_key: str | None = None,
        base_url: str | None = None,
        timeout: TimeoutTypes = DEFAULT_TIMEOUT,
        max_retries: int = DEFAULT_MAX_RETRIES,
        default_headers: Mapping[str, str | None] | None = None,
        *,
        allow_http: bool = False,
        verify: bool | str = True,
        cert: str | tuple[str, str] | None = None,
        max_event_bytes: int | None = None,
        max_body_bytes: int | None = None,
        limits: Limits | None = None,
        defaults: Mapping[str, Any] | None = None,
        check_models: bool = False,
        log_bodies: bool = False,
        provider: str | None = None,
        fallbacks: Sequence[str | BaseClient] | None = None,
    ) -> None:
        # The default route (Moonshot's API) is the fast path: nothing of
        # kimi/_providers.py is imported or run for it.
        self._translate: Any = None
        self._dialect = 0
        self._route_headers: Any = None
        if provider is None or provider == "moonshot":
            key = api_key if api_key is not None else os.environ.get("MOONSHOT_API_KEY")
            if not key:
                raise KimiError(
                    "Kimi: no API key: pass api_key=... or set the MOONSHOT_API_KEY environment variable"
                )
            url = base_url or os.environ.get("KIMI_BASE_URL") or DEFAULT_BASE_URL
        else:
            from ._providers import provider_of

            route = provider_of(provider)
            key = api_key if api_key is not None else os.environ.get(route.key_env)
            if not key:
                raise KimiError(
                    f"Kimi: no API key for provider {provider!r}: pass api_key=... or set the "
                    f"{route.key_env} environment variable"
                )
            url = route.url(base_url)
            if route.translates:
                self._translate = route.translate
            self._dialect = route.dialect
            self._route_headers = route.route_headers()
        #: The name of this client's route (``kimi.providers``): "moonshot" by default.
        self.provider = provider or "moonshot"
        self._provider = provider
        if not isinstance(key, str):
            raise TypeError("Kimi: api_key must be a str")
        check_header_value("Authorization", key)
        if not isinstance(allow_http, bool):
            raise TypeError("Kimi: allow_http must be a bool")
        self.base_url = check_base_url(url, allow_http)
        self.timeout = timeout
        if isinstance(max_retries, bool) or not isinstance(max_retries, int) or max_retries < 0:
            raise ValueError("Kimi: max_retries must be an int >= 0")
        self.max_retries = max_retries
        self._header_cache: dict[tuple[str, bool], tuple[str, ...]] = {}
        self.default_headers = default_headers
        self.allow_http = allow_http
        self._verify = verify
        self._cert = cert
        self._tls = tls_options(verify, cert)
        self.max_event_bytes = check_limit("max_event_bytes", max_event_bytes)
        self.max_body_bytes = check_limit("max_body_bytes", max_body_bytes)
        if limits is None:
            limits = Limits()
        if not isinstance(limits, Limits):
            raise TypeError(f"Kimi: limits must be a kimi.Limits or None, got {limits!r}")
        self._limits = limits
        self._counts_tokens = bool(limits.tpm or limits.tpd)
        # One per client, kept across close(): every call, map and task of the
        # client is admitted by it, and a rate-limit 429 pauses them all.
        self._limiter = _core.Limiter(*(v or 0 for v in limits._state()))
        # The usage totals, counted by the core as replies settle (kimi/_usage.py).
        self._meter = _core.Meter()
        # Told by the core of every reply cut by its token budget.
        self._notice = CutNotice(self.provider)
        self._defaults = check_defaults(defaults)
        if not isinstance(check_models, bool):
            raise TypeError("Kimi: check_models must be a bool")
        self.check_models = check_models
        self._model_ids: Any = None     # (fetched at, frozenset of ids), for check_models
        if not isinstance(log_bodies, bool):
            raise TypeError("Kimi: log_bodies must be a bool")
        # Message contents reach the kimi logger (at DEBUG) only when asked for.
        self.log_bodies = log_bodies
        self.__api_key = key
        self._core_client: Any = None
        # fallbacks= as given (names stay names): what the client's config, its
        # pickle and with_options rebuild the routes from.
        self._fallback_spec: tuple[Any, ...] = ()
        self._fallbacks = self._fallback_clients(fallbacks)
        # Replies say which route answered unless the client is the default route alone.
        self._routed = self.provider != "moonshot" or bool(self._fallbacks)
        self._bind_resources()

    def _routes(self) -> tuple[Any, ...]:
        """The clients of the routes a request may go to, in turn."""
        return (self, *self._fallbacks)

    def _fall_back_or_raise(self, client: Any, exc: Exception) -> None:
        """After the retries of one route failed with exc: return to try the next
        route, or raise exc (the last route's, or a failure another route would not
        mend: kimi/_providers.py's falls_back)."""
        from ._providers import falls_back

        last = self._fallbacks[-1] if self._fallbacks else self
        if client is last or not falls_back(exc):
            raise exc

    def _fallback_clients(self, fallbacks: Any) -> tuple[Any, ...]:
        """The clients of the routes tried after this one: a name of kimi.providers
        (its key from its environment variable, its own headers, this client's other
        settings and usage totals), or a client (of the other kind: made this kind, sharing its
        limits; its usage is its own)."""
        if fallbacks is None:
            return ()
        if isinstance(fallbacks, (str, bytes)) or not hasattr(fallbacks, "__iter__"):
            raise TypeError("Kimi: fallbacks must be a list of provider names or clients")
        clients = []
        spec = tuple(fallbacks)
        for route in spec:
            if isinstance(route, BaseClient):
                clients.append(route if type(route) is type(self) else route._twin(type(self)))
            elif isinstance(route, str):
                from ._providers import provider_of

                var = provider_of(route).key_env
                if not os.environ.get(var):
                    raise KimiError(
                        f"Kimi: fallbacks: no API key for provider {route!r}: set the {var} environment "
                        f"variable, or pass a client (kimi.Kimi(provider={route!r}, api_key=...))"
                    )
                config = self._config()
                # Another host: not this route's key, URL or headers (a header may
                # carry a secret of this host's).
                for own in ("api_key", "base_url", "default_headers", "limits", "check_models", "fallbacks"):
                    del config[own]
                config["provider"] = route
                client = type(self)(**config)
                client._meter = self._meter
                clients.append(client)
            else:
                raise TypeError(f"Kimi: fallbacks: {route!r} is neither a provider name nor a client")
        self._fallback_spec = spec
        return tuple(clients)

    def _bind_resources(self) -> None:
        """Attach the client's resources (chat, models, ...): the subclass's part."""

    @property
    def api_key(self) -> str:
        return self.__api_key

    # Settings that requests are shaped from once: setting one checks it and
    # drops what was made from the old value.

    @property
    def timeout(self) -> Timeout:
        return self._timeout

    @timeout.setter
    def timeout(self, value: TimeoutTypes) -> None:
        self._timeout = as_timeout(value)

    @property
    def default_headers(self) -> Mapping[str, str | None]:
        """Read-only: set a new mapping (or use with_options) to change it."""
        return self._default_headers

    @default_headers.setter
    def default_headers(self, value: Mapping[str, str | None] | None) -> None:
        from types import MappingProxyType

        self._default_headers = MappingProxyType(check_headers(value))
        self._header_cache.clear()

    @property
    def verify(self) -> bool | str:
        return self._verify

    @verify.setter
    def verify(self, value: bool | str) -> None:
        self._tls = tls_options(value, self._cert)
        self._verify = value

    @property
    def cert(self) -> str | tuple[str, str] | None:
        return self._cert

    @cert.setter
    def cert(self, value: str | tuple[str, str] | None) -> None:
        self._tls = tls_options(self._verify, value)
        self._cert = value

    def _twin(self, cls: type) -> Any:
        """A client of class cls with these settings and these very limits and
        usage totals: the same client, waiting another way."""
        twin = cls(**self._config())
        twin._limiter = self._limiter
        twin._share_meter(self._meter)
        twin._notice = self._notice
        return twin

    def _share_meter(self, meter: Any) -> None:
        """Count into meter from now on, and so do the routes named in fallbacks=
        (part of this client; a client given as a route keeps its own)."""
        self._meter = meter
        for client, route in zip(self._fallbacks, self._fallback_spec):
            if isinstance(route, str):
                client._meter = meter

    def _derive(self, changes: dict[str, Any]) -> Any:
        """with_options: a client of the same class with some settings changed.
        On the same account (key and base URL unchanged) it shares this client's
        limits.  A route (``defaults`` given) keeps its own usage totals, which
        count into this client's too; any other derived client shares this one's."""
        config = self._config()
        unknown = sorted(set(changes) - set(config))
        if unknown:
            raise TypeError(f"with_options: unknown setting(s) {', '.join(unknown)}")
        if changes.get("defaults") is not None and self._defaults:
            changes["defaults"] = {**self._defaults, **check_defaults(changes["defaults"])}
        if "provider" in changes and (changes["provider"] or "moonshot") != self.provider:
            # Another route: its own key and URL, unless given; never this one's key.
            config.pop("api_key")
            config.pop("base_url")
        config.update(changes)
        derived = type(self)(**config)
        if derived.api_key == self.api_key and derived.base_url == self.base_url:
            derived._limiter = self._limiter
        derived._share_meter(_core.Meter(self._meter) if "defaults" in changes else self._meter)
        return derived

    @property
    def usage(self) -> Any:
        """A snapshot of the client's running totals (``kimi.UsageTotals``): replies,
        prompt, cached, completion and reasoning tokens, and their cost in US
        dollars, over every thread, task and map of the client (and of clients
        derived from it with ``with_options``)."""
        from ._usage import UsageTotals

        return UsageTotals(self._meter.snapshot())

    def reset_usage(self) -> None:
        """Start the usage totals from zero (a parent client keeps its own)."""
        self._meter.reset()

    @property
    def limits(self) -> LimitsState:
        """A snapshot of the client's limits and what they count right now."""
        return LimitsState(self._limits, self._limiter.snapshot())

    def _config(self) -> dict[str, Any]:
        return {
            "api_key": self.__api_key,
            "base_url": self.base_url,
            "timeout": self.timeout,
            "max_retries": self.max_retries,
            "default_headers": dict(self.default_headers),
            "allow_http": self.allow_http,
            "verify": self.verify,
            "cert": self.cert,
            "max_event_bytes": self.max_event_bytes,
            "max_body_bytes": self.max_body_bytes,
            "limits": self._limits,
            "defaults": dict(self._defaults) if self._defaults else None,
            "check_models": self.check_models,
            "log_bodies": self.log_bodies,
            "provider": self._provider,
            "fallbacks": list(getattr(self, "_fallback_spec", ())) or None,
        }

    def __getstate__(self) -> dict[str, Any]:
        return self._config()

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(**state)  # type: ignore[misc]

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(base_url={self.base_url!r}, api_key=<hidden>, "
            f"timeout={self.timeout!r}, max_retries={self.max_retries!r})"
        )

    def _core(self) -> Any:
        core = self._core_client
        if core is None:
            core = _core.Client(
                max_event=self.max_event_bytes or 0,
                max_body=self.max_body_bytes or 0,
                limiter=self._limiter,
                meter=self._meter,
                notice=self._notice,
            )
            self._core_client = core
        return core

    # -- shaping one request ---------------------------------------------

    def _headers(self, accept: str, extra: Mapping[str, str | None] | None, has_body: bool) -> tuple[str, ...]:
        """The header lines of a request; those without extra headers are made once."""
        if not extra:
            key = (accept, has_body)
            lines = self._header_cache.get(key)
            if lines is None:
                lines = self._header_cache[key] = self._merged_headers(accept, None, has_body)
            return lines
        return self._merged_headers(accept, check_headers(extra), has_body)

    def _merged_headers(
        self, accept: str, extra: Mapping[str, str | None] | None, has_body: bool
    ) -> tuple[str, ...]:
        merged: dict[str, str | None] = {
            "Authorization": f"Bearer {self.__api_key}",
            "Accept": accept,
            "User-Agent": _USER_AGENT,
        }
        if has_body:
            merged["Content-Type"] = "application/json"
        if self._route_headers:
            _merge_headers(merged, self._route_headers)
        _merge_headers(merged, self.default_headers)
        if extra:
            _merge_headers(merged, extra)
        return tuple(_header_line(name, value) for name, value in merged.items())

    def _build_request(self, shape: tuple[Any, ...]) -> tuple[Any, Timeout]:
        """The core Request for one call's shape (kimi/_resources.py: method, path,
        body, stream, result_class, chunk_class, extra_headers, timeout), and the
        timeouts it runs under.  A gateway's route rewrites the shape first, and its
        replies are read in its dialect."""
        if self._translate is not None:
            shape = self._translate(shape)
        method, path, body, stream, result_class, chunk_class, extra_headers, timeout = shape
        payload = form = None
        if body.__class__ is Form:
            form = body.parts
        elif body is not None:
            try:
                payload = _json_encoder().encode(body).encode("utf-8")
            except (TypeError, ValueError) as exc:
                raise TypeError(f"{path}: request body is not JSON-serialisable: {exc}") from None
        accept = "text/event-stream" if stream else "application/json"
        limits = self._timeout if timeout is None else as_timeout(timeout)
        connect, read, event, _total = limits._resolved
        # Positional, in the order of _core.Request's signature: this runs for
        # every call, and keyword parsing costs more than the rest of it.
        request = _core.Request(
            method,
            self.base_url + path,
            self._headers(accept, extra_headers, payload is not None),
            payload,
            stream,
            connect,
            read,
            event,
            None,
            *self._tls,
            self.__api_key,
            result_class,
            chunk_class,
            completion_budget(body) if self._counts_tokens and form is None else 0,
            *(() if form is None and not self._dialect else (form, self._dialect)),
        )
        return request, limits

    def _prepare(self, shape: tuple[Any, ...], started: float | None = None) -> tuple[Any, float | None, float | None]:
        """(the core Request, the call's total timeout, its deadline) for a request
        shape (see kimi/_resources.py): what both clients' retry loops start from.
        The deadline counts from started (a fallback route's: the call's start)."""
        request, limits = self._build_request(shape)
        total = limits.total
        if total is None:
            return request, None, None
        return request, total, (time.monotonic() if started is None else started) + total

    def _next_delay(self, exc: Exception, attempt: int, deadline: float | None) -> float | None:
        """The wait before the next attempt, or None when there is none (the retry
        rule said stop, or the wait would pass the call's deadline)."""
        delay = self._retry_delay(exc, attempt)
        if delay is None or (deadline is not None and time.monotonic() + delay >= deadline):
            return None
        return delay

    def _retry_delay(self, exc: Exception, attempt: int) -> float | None:
        """Seconds before the next attempt after exc, or None to stop.  A 429 that
        names the account's limits pauses every sender of the client that long,
        not just this one."""
        delay = retry_delay(exc, attempt, self.max_retries)
        if isinstance(exc, RateLimitError) and exc.type in ("rate_limit_reached_error", "engine_overloaded_error"):
            pause = delay if delay is not None else exc.retry_after
            if pause:
                self._limiter.pause(min(pause, 3600.0))
        return delay


_ENCODER: Any = None


def _json_encoder() -> Any:
    """One compact JSON encoder for every request body (json.dumps with options
    would build a new one per call), made on first use so import stays fast."""
    global _ENCODER
    if _ENCODER is None:
        import json

        _ENCODER = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    return _ENCODER


# -- checks ------------------------------------------------------------------


def check_base_url(url: Any, allow_http: bool) -> str:
    if not isinstance(url, str):
        raise TypeError("Kimi: base_url must be a str")
    check_header_value("base_url", url)
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError as exc:
        raise ValueError(f"Kimi: base_url is not a valid URL ({exc}): {url!r}") from None
    if parts.scheme not in ("http", "https") or not host:
        raise ValueError(f"Kimi: base_url must be an http(s) URL, got {url!r}")
    if "@" in parts.netloc:
        # The key goes in a header; credentials in the URL would be sent as well, and
        # shown in every message that names the URL.
        raise ValueError("Kimi: base_url must not carry credentials (user:password@); pass api_key")
    if parts.scheme == "http" and not allow_http and host not in _LOOPBACK_HOSTS:
        raise ValueError(
            f"Kimi: refusing plain http:// to {host!r} (the API key would travel "
            "unencrypted); use https:// or pass allow_http=True"
        )
    return url.rstrip("/")


def check_defaults(defaults: Any) -> dict[str, Any]:
    """Body fields a client's chat calls start from: a dict with str keys, which
    must not be the call's own arguments."""
    if defaults is None:
        return {}
    if not isinstance(defaults, dict) or not all(isinstance(k, str) for k in defaults):
        raise TypeError(f"Kimi: defaults must be a dict of body fields, got {defaults!r}")
    clash = sorted(set(defaults) & {"messages", "stream"})
    if clash:
        raise ValueError(f"Kimi: defaults cannot set {', '.join(clash)} (each call gives its own)")
    return dict(defaults)


def check_limit(name: str, value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= _MAX_LIMIT:
        raise ValueError(f"Kimi: {name} must be an int from 1 to 2**62, got {value!r}")
    return value


def check_header_value(name: str, value: str) -> None:
    if "\r" in value or "\n" in value or "\0" in value:
        raise ValueError(f"header {name!r}: value contains CR, LF or NUL")


def check_headers(headers: Mapping[str, str | None] | None) -> dict[str, str | None]:
    """Headers as given, checked: names are HTTP tokens, values str (None removes a
    header, "" sends it empty) without CR, LF or NUL."""
    checked: dict[str, str | None] = {}
    for name, value in (headers or {}).items():
        if not isinstance(name, str):
            raise TypeError("headers: names must be str")
        if not name or not _TOKEN.issuperset(name):
            raise ValueError(f"header name {name!r} is not valid (an HTTP token)")
        if value is not None:
            if not isinstance(value, str):
                raise TypeError(f"header {name!r}: value must be a str or None")
            check_header_value(name, value)
        checked[name] = value
    return checked


def _merge_headers(into: dict[str, str | None], extra: Mapping[str, str | None]) -> None:
    """Later headers replace earlier ones of the same name, whatever its case."""
    for name, value in extra.items():
        lower = name.lower()
        for old in [k for k in into if k.lower() == lower]:
            del into[old]
        into[name] = value


def _header_line(name: str, value: str | None) -> str:
    # libcurl's conventions: "Name:" removes a header (its own ones too), "Name;" sends
    # an empty value.
    if value is None:
        return f"{name}:"
    if value == "":
        return f"{name};"
    return f"{name}: {value}"


def tls_options(verify: Any, cert: Any) -> tuple[bool, str | None, str | None, str | None, str | None]:
    """The TLS arguments of a core Request: (verify, ca_file, ca_dir, cert_file,
    key_file).  ``verify=True`` honours ``SSL_CERT_FILE`` and ``SSL_CERT_DIR`` when set,
    as httpx does."""
    ca_file = ca_dir = None
    if verify is True:
        ca_file = os.environ.get("SSL_CERT_FILE") or None
        ca_dir = os.environ.get("SSL_CERT_DIR") or None
    elif isinstance(verify, (str, os.PathLike)):
        path = os.fspath(verify)
        if os.path.isdir(path):
            ca_dir = path
        elif os.path.isfile(path):
            ca_file = path
        else:
            raise ValueError(f"Kimi: verify={path!r}: no such CA bundle file or directory")
    elif verify is not False:
        raise TypeError("Kimi: verify must be True, False or the path of a CA bundle")
    cert_file, key_file = _cert_files(cert)
    return verify is not False, ca_file, ca_dir, cert_file, key_file


def _cert_files(cert: Any) -> tuple[str | None, str | None]:
    if cert is None:
        return None, None
    if isinstance(cert, (str, os.PathLike)):
        files = (os.fspath(cert), None)
    elif isinstance(cert, tuple) and len(cert) == 2 and all(isinstance(c, (str, os.PathLike)) for c in cert):
        files = (os.fspath(cert[0]), os.fspath(cert[1]))
    else:
        raise TypeError('Kimi: cert must be "client.pem" or ("cert.pem", "key.pem")')
    for path in files:
        if path is not None and not os.path.isfile(path):
            raise ValueError(f"Kimi: cert: no such file {path!r}")
    return files


# -- retries -----------------------------------------------------------------


def retry_delay(exc: Exception, attempt: int, max_retries: int) -> float | None:
    """Seconds to wait before the next attempt, or None to raise `exc` now.  The
    decision is the core's (ext/core/retry.c), one rule for every client."""
    from ._exceptions import APIConnectionError, APIResponseValidationError, APIStatusError, CertificateError

    if isinstance(exc, APIStatusError):
        outcome = _core.OUTCOME_STATUS
        facts = (exc.status_code, exc.type, exc.code, exc.retry_after)
    elif isinstance(exc, CertificateError):
        outcome, facts = _core.OUTCOME_CERTIFICATE, (0, None, None, None)
    elif isinstance(exc, APIResponseValidationError):
        outcome, facts = _core.OUTCOME_REJECTED, (0, None, None, None)
    elif isinstance(exc, APIConnectionError):
        outcome, facts = _core.OUTCOME_NO_RESPONSE, (0, None, None, None)
    else:
        return None
    import random

    return _core.retry_delay(outcome, *facts, attempt, max_retries, random.random())
