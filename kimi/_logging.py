"""The ``kimi`` logger: one INFO line per call, DEBUG details, through the standard
``logging`` module.  Not a handler or a configuration: records go wherever the
program's logging sends them (``KIMI_LOG`` is the one shortcut, below).

What is logged, and what never is:

- INFO, one line per call once it is over: ``POST /chat/completions 200 in 412 ms
  (request id abc, 1 retry)``; a stream's line when it opens (status, time to the
  headers); a failure's line (``failed in 812 ms: 429 RateLimitError
  rate_limit_reached_error``) once no retry is left.  Failures are INFO, not WARNING:
  the exception reaches the caller anyway, and a warning would also be printed by
  Python's last-resort handler in programs that never set up logging.  The path is
  the API's (``/chat/completions``), relative to ``base_url``: no host, no query.
- DEBUG: each retry's wait, the request's headers (``Authorization`` and other
  credential headers shown as ``<redacted>``) and body size, the response's headers.
- Only with ``log_bodies=True`` on the client, at DEBUG: the JSON request body, the
  reply (not a stream's chunks: those are read by the caller), a failure's message and
  error body.  Without it no prompt, reply text or tool argument reaches a record: a
  status error's message quotes the server, which may quote the prompt, so it stays
  out too.
- Never the API key: what comes from the server was redacted by the C core (each run
  of 8 or more characters that also occurs in the key); DEBUG lines, which also show
  the caller's own headers and bodies, go through `redact`, the same rule in Python.

Cost: this module imports nothing; the clients ask ``"logging" in sys.modules`` before
calling `start`: if no one imported logging, no handler can exist.  After that,
``Logger.isEnabledFor`` (cached by logging) decides; a call that is not logged costs
those two checks.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Iterable

import os
import sys
import time

__all__ = ["start", "start_map", "redact", "request_id", "parse_header_block", "configure_from_environment"]

NAME = "kimi"
DEBUG = 10
INFO = 20
REDACTED = "<redacted>"
# As KIMI_REDACT_MIN in ext/core/redact.h: no run this long of the key survives.
REDACT_MIN = 8
# Where a request id may be, in the order the C core reads them for errors
# (ext/core/apierror.c), so a success and a failure name the same header.
REQUEST_ID_HEADERS = ("x-request-id", "msh-request-id", "x-litellm-call-id", "request-id", "x-trace-id", "cf-ray")
# Headers whose values are credentials, whoever set them.
SECRET_HEADERS = frozenset(("authorization", "proxy-authorization", "x-api-key", "api-key", "cookie", "set-cookie"))
LEVELS = {"info": INFO, "debug": DEBUG}
FORMAT = "%(asctime)s.%(msecs)03d kimi %(levelname)s %(message)s"
DATE_FORMAT = "%H:%M:%S"

_logger: Any = None


def _kimi_logger() -> Any:
    """logging.getLogger("kimi"), looked up once: getLogger takes logging's lock."""
    global _logger
    if _logger is None:
        import logging

        _logger = logging.getLogger(NAME)
    return _logger


def start(client: Any, shape: tuple[Any, ...]) -> _Call | None:
    """The log of one call of client (a request shape, see kimi/_resources.py), or None
    when the kimi logger would drop its INFO line.  Only called once logging is imported."""
    logger = _logger or _kimi_logger()
    if not logger.isEnabledFor(INFO):
        return None
    return _Call(logger, client, shape)


def start_map(client: Any) -> _MapLog | None:
    """The log of one map of client, or None when INFO is off (checked once per map, so
    its items then cost a test of None each)."""
    logger = _kimi_logger()
    if not logger.isEnabledFor(INFO):
        return None
    return _MapLog(logger, client)


# -- the lines of one call ---------------------------------------------------



# The paths that hold nothing a server chose.
_FIXED_PATHS = frozenset(
    {"/chat/completions", "/models", "/users/me/balance", "/files", "/batches", "/tokenizers/estimate-token-count"}
)

class _Call:
    """One call on its way: what its lines say (method, path, the client's settings)
    and when it began.  Lines are made only for the levels that are enabled."""

    __slots__ = ("logger", "client", "head", "stream", "started")

    def __init__(self, logger: Any, client: Any, shape: tuple[Any, ...], label: str = "") -> None:
        self.logger = logger
        self.client = client
        path = shape[1]
        if path not in _FIXED_PATHS:
            # It holds an id the server chose (a file's, a batch's): redacted once,
            # as everything else a server sends is.
            path = redact(path, client.api_key)
        self.head = f"{label}{shape[0]} {path}"
        self.stream = shape[3]
        self.started = time.perf_counter()
        if logger.isEnabledFor(DEBUG):
            self._request_details(shape)

    def _emit(self, level: int, text: str) -> None:
        # Pre-formatted, without args: nothing else of the call travels in the record.
        # An INFO line is made of the shape's method and path, numbers, and what the
        # core took from the response, redacted there already: the whole key is
        # checked for (cheap); DEBUG lines also show the caller's own headers and
        # bodies, which no one redacted yet.
        key = self.client.api_key
        if level < INFO:
            text = redact(text, key)
        elif key in text:
            text = text.replace(key, REDACTED)
        self.logger.log(level, text)

    def _request_details(self, shape: tuple[Any, ...]) -> None:
        method, path, body, stream, _result, _chunk, extra_headers, _timeout = shape
        from ._base_client import _json_encoder

        payload = None if body is None else _json_encoder().encode(body)
        accept = "text/event-stream" if stream else "application/json"
        lines = self.client._headers(accept, extra_headers, payload is not None)
        size = 0 if payload is None else len(payload.encode("utf-8"))
        self._emit(DEBUG, f"{self.head} request headers {_shown(_header_lines(lines))}, body {size} bytes")
        if payload is not None and self.client.log_bodies:
            self._emit(DEBUG, f"{self.head} request body {payload}")

    def succeeded(self, result: Any, retries: int) -> None:
        """The call returned result (a reply, or a stream that opened) after retries."""
        took = _ms(time.perf_counter() - self.started)
        status, headers = _response_of(result, self.stream)
        if self.logger.isEnabledFor(DEBUG):
            if headers:
                self._emit(DEBUG, f"{self.head} {status} response headers {_shown(headers.items())}")
            if self.client.log_bodies and not self.stream:
                self._emit(DEBUG, f"{self.head} {status} reply {_json(result.to_dict())}")
        opened = "stream opened " if self.stream else ""
        self._emit(INFO, f"{self.head} {status} {opened}in {took} ({_id_text(request_id(headers))}, {_retries(retries)})")

    def attempt_failed(self, exc: BaseException, attempt: int, delay: float | None) -> None:
        """Attempt number attempt (0 the first) raised exc; delay is the wait before
        the next one, or None when exc is the call's outcome."""
        if delay is not None:
            if self.logger.isEnabledFor(DEBUG):
                total = self.client.max_retries
                self._emit(DEBUG, f"{self.head} retrying in {delay:.2f} s after {_describe(exc)} "
                                  f"(retry {attempt + 1} of {total})")
            return
        took = _ms(time.perf_counter() - self.started)
        if self.logger.isEnabledFor(DEBUG):
            self._failure_details(exc)
        rid = getattr(exc, "request_id", None)
        self._emit(INFO, f"{self.head} failed in {took}: {_describe(exc)} ({_id_text(rid)}, {_retries(attempt)})")

    def _failure_details(self, exc: BaseException) -> None:
        headers = getattr(exc, "headers", None)
        if headers:
            self._emit(DEBUG, f"{self.head} {exc.status_code} response headers {_shown(headers.items())}")
        if self.client.log_bodies and _quotes_server(exc):
            self._emit(DEBUG, f"{self.head} error {exc}")
            body = getattr(exc, "body", None)
            if body is not None:
                self._emit(DEBUG, f"{self.head} error body {body if isinstance(body, str) else _json(body)}")


def _describe(exc: BaseException) -> str:
    """'503 InternalServerError server_error', or for a failure without a server's
    words 'APIConnectionError: <message from libcurl or the core>'."""
    name = type(exc).__name__
    status = getattr(exc, "status_code", None)
    if _quotes_server(exc):
        kind = getattr(exc, "type", None) or getattr(exc, "code", None)
        text = f"{status} {name}" if status else name
        return f"{text} {kind}" if kind else text
    return f"{status} {name}: {exc}" if status else f"{name}: {exc}"


def _quotes_server(exc: BaseException) -> bool:
    """Whether exc's message is made of what the server said (its error message)."""
    from ._exceptions import APIStatusError, StreamError

    return isinstance(exc, (APIStatusError, StreamError))


def _ms(seconds: float) -> str:
    ms = seconds * 1000.0
    return f"{ms:.1f} ms" if ms < 10 else f"{ms:.0f} ms"


def _retries(n: int) -> str:
    return "1 retry" if n == 1 else f"{n} retries"


def _id_text(rid: str | None) -> str:
    return f"request id {rid}" if rid else "no request id"


def _json(data: Any) -> str:
    import json

    return json.dumps(data, ensure_ascii=False, separators=(",", ":"), default=str)


# -- responses and headers ---------------------------------------------------


def _response_of(result: Any, stream: bool) -> tuple[int, dict[str, str]]:
    """(status, headers with lower-case names) of what a call returned: a stream
    carries both; a reply its ``_response`` (status, raw header block, and the route
    once a routed client named it) when the core attached one, else (200, no headers)."""
    if stream:
        return result.status_code, result.headers
    response = getattr(result, "_response", None)
    if not response:
        return 200, {}
    return response[0], parse_header_block(response[1])


def parse_header_block(raw: bytes | str) -> dict[str, str]:
    """The fields of a raw header block (status lines included, as libcurl keeps
    them), lower-case names, the first of a repeated name kept; a later status line
    (after a 100 Continue, a redirect) starts over."""
    text = raw.decode("latin-1") if isinstance(raw, (bytes, bytearray)) else str(raw)
    fields: dict[str, str] = {}
    for line in text.split("\n"):
        line = line.rstrip("\r")
        if line.startswith("HTTP/"):
            fields = {}
            continue
        name, colon, value = line.partition(":")
        if colon and name and name == name.strip():
            fields.setdefault(name.lower(), value.strip())
    return fields


def request_id(headers: dict[str, str]) -> str | None:
    """The request id among headers (lower-case names), as the core reads it for errors."""
    for name in REQUEST_ID_HEADERS:
        value = headers.get(name)
        if value:
            return value
    return None


def _header_lines(lines: Iterable[str]) -> list[tuple[str, str]]:
    """A request's header lines (libcurl's form: "Name: value", "Name:" removes,
    "Name;" sends empty) as (name, value) pairs."""
    pairs = []
    for line in lines:
        name, colon, value = line.partition(":")
        if not colon:
            name, value = line.rstrip(";"), ""
        pairs.append((name, value.strip()))
    return pairs


def _shown(pairs: Iterable[tuple[str, str]]) -> str:
    """Headers as a dict literal, credentials replaced by <redacted>."""
    shown = {name: REDACTED if name.lower() in SECRET_HEADERS else value for name, value in pairs}
    return repr(shown)


def redact(text: str, secret: str) -> str:
    """text with every run of REDACT_MIN or more characters that also occurs in
    secret replaced by <redacted> (runs that touch give one), as the C core redacts
    what a server echoes.  A secret shorter than REDACT_MIN is left alone, as there."""
    if len(secret) < REDACT_MIN:
        return text
    windows = {secret[i : i + REDACT_MIN] for i in range(len(secret) - REDACT_MIN + 1)}
    spans = []
    for window in windows:
        at = text.find(window)
        while at >= 0:
            spans.append((at, at + REDACT_MIN))
            at = text.find(window, at + 1)
    if not spans:
        return text
    spans.sort()
    pieces = []
    kept = 0        # text[:kept] is dealt with
    run_start, run_end = spans[0]
    for begin, end in spans[1:]:
        if begin <= run_end:        # overlapping or touching: one run
            run_end = max(run_end, end)
            continue
        pieces += (text[kept:run_start], REDACTED)
        kept = run_end
        run_start, run_end = begin, end
    pieces += (text[kept:run_start], REDACTED, text[run_end:])
    return "".join(pieces)


# -- maps --------------------------------------------------------------------


class _MapLog:
    """One map's lines: the sync map's attempts (run by the map itself, not by the
    client's ``_request``) as calls labelled ``map item N:``, and one summary line
    when the map ends.  The async map's items go through ``AsyncKimi._request``,
    which logs each; here they are only counted."""

    __slots__ = ("logger", "client", "calls", "ok", "failed", "started")

    def __init__(self, logger: Any, client: Any) -> None:
        self.logger = logger
        self.client = client
        self.calls: dict[int, _Call] = {}
        self.ok = 0
        self.failed = 0
        self.started = time.perf_counter()

    def sending(self, index: int, shape: tuple[Any, ...]) -> None:
        """Item index is about to be sent for the first time (the sync map)."""
        self.calls[index] = _Call(self.logger, self.client, shape, f"map item {index}: ")

    def attempt_over(self, index: int, reply: Any, exc: BaseException | None, attempt: int,
                     delay: float | None) -> None:
        """An attempt of item index ended; delay as for ``_Call.attempt_failed``."""
        call = self.calls.get(index) if delay is not None else self.calls.pop(index, None)
        if call is None:
            return
        if exc is None:
            call.succeeded(reply, attempt)
        else:
            call.attempt_failed(exc, attempt, delay)

    def counted(self, failed: bool) -> None:
        if failed:
            self.failed += 1
        else:
            self.ok += 1

    def close(self, early: bool) -> None:
        took = time.perf_counter() - self.started
        done = self.ok + self.failed
        stopped = ", stopped early" if early else ""
        self.logger.info(f"map: {done} results in {took:.2f} s ({self.ok} ok, {self.failed} failed{stopped})")


# -- KIMI_LOG ----------------------------------------------------------------


def configure_from_environment() -> None:
    """``KIMI_LOG=info`` or ``debug``: a stderr handler on the kimi logger at that
    level, unless the logger already has a handler (the program's setup wins).  Any
    other value is ignored with one line on stderr: a typo should not stop a program,
    nor go unnoticed."""
    value = os.environ.get("KIMI_LOG", "").strip()
    if not value:
        return
    level = LEVELS.get(value.lower())
    if level is None:
        sys.stderr.write(f"kimi: ignoring KIMI_LOG={value!r} (use info or debug)\n")
        return
    import logging

    logger = _kimi_logger()
    if logger.handlers:
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(FORMAT, DATE_FORMAT))
    logger.addHandler(handler)
    logger.setLevel(level)


configure_from_environment()
