"""`Reply`: an immutable description of one scripted HTTP answer of the local server.

A Reply only says *what* to send; `_plan.py` turns it into bytes for one request and
`_response.py` writes them. Replies are reusable: ids and timestamps are made per request.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Literal

from ._fixtures import API_ERRORS, DEFAULT_USAGE, error_type_for

UsagePlacement = Literal["auto", "choice", "top", "both", "none"]
_PLACEMENTS = ("auto", "choice", "top", "both", "none")


@dataclass(frozen=True)
class ToolCall:
    """One tool call of a chat reply; `arguments` is the JSON text the model 'wrote'."""

    id: str
    name: str
    arguments: str
    type: str = "function"


@dataclass(frozen=True)
class ChatSpec:
    """A chat completion answer, sent as SSE or JSON (see `Reply.chat`)."""

    content: str | None
    reasoning: str | None
    tool_calls: tuple[ToolCall, ...]
    finish_reason: str
    usage: Mapping[str, Any] | None
    usage_placement: UsagePlacement
    model: str | None
    chunk_size: int
    delay: float
    include_done: bool
    disconnect_after: int | None
    stall_after: int | None
    role_chunk: bool
    mode: Literal["auto", "stream"]


@dataclass(frozen=True)
class EchoSpec:
    """The default answer: short reasoning plus content quoting the user's last message."""

    delay: float
    chunk_size: int


@dataclass(frozen=True)
class BodySpec:
    """A complete body sent with Content-Length (errors and plain JSON answers)."""

    status: int
    body: bytes
    content_type: str


@dataclass(frozen=True)
class RawSpec:
    """Exact byte chunks, each written as one HTTP chunk and flushed."""

    status: int
    chunks: tuple[bytes, ...]
    content_type: str
    delay: float
    close: bool


@dataclass(frozen=True)
class BulkSpec:
    """A long content stream written in ~64 KB batches (benchmarks)."""

    n_chunks: int
    text: str
    model: str | None


@dataclass(frozen=True)
class NoResponseSpec:
    """No status line at all: hang up at once, or stay silent until the server closes."""

    stall: bool


Spec = ChatSpec | EchoSpec | BodySpec | RawSpec | BulkSpec | NoResponseSpec
JsonBody = Mapping[str, Any] | Sequence[Any] | bytes | str | None


def _headers(headers: Mapping[str, str] | None) -> Mapping[str, str]:
    return MappingProxyType(dict(headers or {}))


def _dumps(obj: Any) -> bytes:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def _tool_call(raw: Mapping[str, Any] | ToolCall) -> ToolCall:
    if isinstance(raw, ToolCall):
        return raw
    args = raw.get("arguments", "")
    if not isinstance(args, str):
        args = json.dumps(args, ensure_ascii=False)
    return ToolCall(
        id=str(raw["id"]),
        name=str(raw["name"]),
        arguments=args,
        type=str(raw.get("type", "function")),
    )


def _check_status(status: int) -> None:
    if not 100 <= status <= 599:
        raise ValueError(f"status must be 100..599, got {status}")


def _check_count(name: str, value: int | None) -> None:
    if value is not None and value < 0:
        raise ValueError(f"{name} must be >= 0, got {value}")


@dataclass(frozen=True)
class Reply:
    """One scripted answer. Build it with a classmethod; `headers` are added to the response.

    Replies are immutable and reusable. User headers replace the server's defaults of the
    same name, except the framing headers (Content-Length, Transfer-Encoding), which the
    server always sets itself.
    """

    spec: Spec
    headers: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))

    @classmethod
    def chat(
        cls,
        content: str | None = "Hello!",
        reasoning: str | None = None,
        tool_calls: Sequence[Mapping[str, Any] | ToolCall] | None = None,
        finish_reason: str | None = None,
        usage: Mapping[str, Any] | None = DEFAULT_USAGE,
        usage_placement: UsagePlacement = "auto",
        model: str | None = None,
        chunk_size: int = 8,
        delay: float = 0.0,
        include_done: bool = True,
        disconnect_after: int | None = None,
        stall_after: int | None = None,
        role_chunk: bool = True,
        headers: Mapping[str, str] | None = None,
    ) -> Reply:
        """A normal answer: SSE if the request has ``"stream": true``, else one JSON body.

        Stream order (kimi-api.md §4): role, `reasoning` pieces, `content` pieces, then each
        tool call (first fragment with id/type/name and ``arguments: ""``, then argument
        pieces), then ``{"index":0,"delta":{},"finish_reason":...}``, then ``data: [DONE]``.
        Text is split into `chunk_size` Python characters per event.

        A request with ``"n": N`` (1..5) gets N choices, indexes 0..N-1, each carrying this
        same scripted message; a stream interleaves their events (one choice per chunk,
        index 0, 1, ... in turn), then sends each choice's final chunk, with the usage on
        the last one.

        - `tool_calls`: dicts ``{"id", "name", "arguments"}`` (arguments a JSON string; a
          dict/list is dumped for you; optional ``"type"``, e.g. ``"builtin_function"``).
        - `finish_reason`: default ``"tool_calls"`` when tool calls are given, else ``"stop"``.
        - `usage`: ``None`` sends no usage. `usage_placement`: ``"auto"`` (default) does
          what the API does: usage in the final choice, plus, when the request has
          ``"stream_options": {"include_usage": true}``, one more chunk with
          ``"choices": []`` and top-level usage before [DONE]. The others ignore the
          request: ``"choice"`` only in the final choice, ``"top"`` only the extra chunk,
          ``"both"`` both, ``"none"`` none.
        - `model`: the request's model unless given.
        - `role_chunk`: True sends a first chunk ``{"role":"assistant","content":""}`` of
          its own (recorded Moonshot traffic); False puts the role in the first piece (§11).
        - `delay`: seconds between events. `disconnect_after=N`: N events, then the
          connection closes without [DONE] or the chunked terminator. `stall_after=N`: N
          events, then silence until the server closes. `include_done=False`: end the body
          cleanly without [DONE].
        """
        return cls._chat(locals(), "auto")

    @classmethod
    def stream(
        cls,
        content: str | None = "Hello!",
        reasoning: str | None = None,
        tool_calls: Sequence[Mapping[str, Any] | ToolCall] | None = None,
        finish_reason: str | None = None,
        usage: Mapping[str, Any] | None = DEFAULT_USAGE,
        usage_placement: UsagePlacement = "auto",
        model: str | None = None,
        chunk_size: int = 8,
        delay: float = 0.0,
        include_done: bool = True,
        disconnect_after: int | None = None,
        stall_after: int | None = None,
        role_chunk: bool = True,
        headers: Mapping[str, str] | None = None,
    ) -> Reply:
        """Like `Reply.chat`, but always sent as SSE, whatever the request's ``stream``."""
        return cls._chat(locals(), "stream")

    @classmethod
    def _chat(cls, a: dict[str, Any], mode: Literal["auto", "stream"]) -> Reply:
        if a["chunk_size"] < 1:
            raise ValueError(f"chunk_size must be >= 1, got {a['chunk_size']}")
        if a["usage_placement"] not in _PLACEMENTS:
            raise ValueError(f"usage_placement must be one of {_PLACEMENTS}")
        if a["disconnect_after"] is not None and a["stall_after"] is not None:
            raise ValueError("give disconnect_after or stall_after, not both")
        _check_count("disconnect_after", a["disconnect_after"])
        _check_count("stall_after", a["stall_after"])
        calls = tuple(_tool_call(c) for c in a["tool_calls"] or ())
        finish = a["finish_reason"] or ("tool_calls" if calls else "stop")
        usage = a["usage"]
        spec = ChatSpec(
            content=a["content"],
            reasoning=a["reasoning"],
            tool_calls=calls,
            finish_reason=finish,
            usage=None if usage is None else MappingProxyType(dict(usage)),
            usage_placement=a["usage_placement"],
            model=a["model"],
            chunk_size=a["chunk_size"],
            delay=float(a["delay"]),
            include_done=a["include_done"],
            disconnect_after=a["disconnect_after"],
            stall_after=a["stall_after"],
            role_chunk=a["role_chunk"],
            mode=mode,
        )
        return cls(spec, _headers(a["headers"]))

    @classmethod
    def echo(cls, delay: float = 0.02, chunk_size: int = 8) -> Reply:
        """The server's default: brief reasoning, then a few sentences quoting the user's
        last message; streamed (with `delay` between events) when the request asks.

        Usage follows the request as `chat`'s ``"auto"`` placement does. With ``"n": N``
        each choice gets its own content: ``"Answer i of N: "`` before the quote."""
        if chunk_size < 1:
            raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
        return cls(EchoSpec(delay=float(delay), chunk_size=chunk_size))

    @classmethod
    def error(
        cls, status: int, body: JsonBody = None, headers: Mapping[str, str] | None = None
    ) -> Reply:
        """An error answer with Content-Length.

        `body`: a dict/list is sent as JSON, bytes raw, str as UTF-8 text; None sends the
        Moonshot shape ``{"error": {"type", "message"}}`` with the type the kimi-api.md §8
        table gives for `status`. See `moonshot_error` and `proxy_error` for other shapes;
        ``{"error": "plain string"}`` is just a dict.
        """
        _check_status(status)
        if body is None:
            body = cls.moonshot_error(*error_type_for(status))
        return cls.json(body, status=status, headers=headers)

    @classmethod
    def api_error(
        cls, type: str, message: str | None = None, headers: Mapping[str, str] | None = None
    ) -> Reply:
        """The platform's answer for one error type of kimi-api.md §8 (``content_filter``,
        ``rate_limit_reached_error``, ``exceeded_current_quota_error``, ...): its status
        and the Moonshot body with `message`, or the type's typical message."""
        if type not in API_ERRORS:
            raise ValueError(f"Reply.api_error: unknown error type {type!r}; known: {', '.join(API_ERRORS)}")
        status, typical = API_ERRORS[type]
        return cls.error(status, cls.moonshot_error(type, message or typical), headers=headers)

    @classmethod
    def json(
        cls, body: JsonBody, status: int = 200, headers: Mapping[str, str] | None = None
    ) -> Reply:
        """Any complete body with Content-Length (dict/list as JSON, bytes raw, str UTF-8)."""
        _check_status(status)
        content_type = "application/json"
        if isinstance(body, bytes):
            data = body
        elif isinstance(body, str):
            data = body.encode("utf-8")
            content_type = "text/plain; charset=utf-8"
        else:
            data = _dumps(body)
        return cls(BodySpec(status=status, body=data, content_type=content_type), _headers(headers))

    @classmethod
    def raw(
        cls,
        chunks: Sequence[bytes],
        status: int = 200,
        headers: Mapping[str, str] | None = None,
        content_type: str = "text/event-stream",
        delay: float = 0.0,
        close: bool = False,
    ) -> Reply:
        """Write exactly these byte chunks, each as one HTTP chunk, flushed, `delay` apart.

        For split UTF-8, comments, malformed JSON, mid-stream error events, BOMs, CR line
        ends, huge events. `close=True` closes the connection abruptly after the chunks
        (no chunked terminator).
        """
        _check_status(status)
        data = tuple(bytes(c) for c in chunks)
        spec = RawSpec(status, data, content_type, float(delay), bool(close))
        return cls(spec, _headers(headers))

    @classmethod
    def bulk(cls, n_chunks: int, text: str = "tok ", model: str | None = None) -> Reply:
        """`n_chunks` identical content chunks (the first also carries the role), then a
        final chunk with usage and [DONE]; pre-encoded and written in ~64 KB batches.

        Always one choice, whatever the request's ``n``; with ``include_usage`` a
        ``"choices": []`` usage chunk comes before [DONE], as in `chat`."""
        _check_count("n_chunks", n_chunks)
        return cls(BulkSpec(n_chunks=n_chunks, text=text, model=model))

    @classmethod
    def no_response(cls, stall: bool = False) -> Reply:
        """Send no response at all: close the connection right after reading the request
        (a connection error for the client), or with `stall=True` stay silent until the
        client hangs up or the server closes (a timeout before the headers)."""
        return cls(NoResponseSpec(stall=bool(stall)))

    @staticmethod
    def moonshot_error(type: str, message: str, **extra: Any) -> dict[str, Any]:
        """``{"error": {"type", "message", **extra}}`` (extra e.g. ``code``, ``param``)."""
        return {"error": {"type": type, "message": message, **extra}}

    @staticmethod
    def proxy_error(code: str, message: str, trace_id: str = "t-1") -> dict[str, Any]:
        """The proxy shape ``{"success": false, "error": {"code", "message"}, "trace_id"}``."""
        return {"success": False, "error": {"code": code, "message": message}, "trace_id": trace_id}
