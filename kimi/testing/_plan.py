"""`render()`: turn a `Reply` and the parsed request into a `Plan` of bytes to write.

The request decides what a reply leaves open: the model, streaming or not, ``n`` choices
and the ``stream_options.include_usage`` chunk.

A Plan is either a Content-Length body or a sequence of pieces sent as HTTP chunks, plus
how the body ends (cleanly, abruptly, or by stalling). No sockets here; see `_response.py`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any, Literal

from ._budget import completion_budget, continued, partial_prefix, within_budget
from ._chunks import bulk_pieces, chat_body, chat_events
from ._replies import BodySpec, BulkSpec, ChatSpec, EchoSpec, NoResponseSpec, RawSpec, Reply

Ending = Literal["end", "abort", "stall"]
#: The largest ``n`` (choices per request) the API accepts (kimi-api.md §2).
MAX_CHOICES = 5
_FRAMING = ("content-length", "transfer-encoding")


@dataclass
class Plan:
    """Bytes for one response. `body` set: Content-Length; else `pieces` are chunked.

    `delay` seconds pass between pieces. After `limit` pieces (or all of them) the body
    ends as `ending` says: "end" writes the chunked terminator, "abort" closes the
    connection without it, "stall" sends nothing more until the server closes.
    `respond=False` skips the status line and headers too (then only `ending` applies).
    """

    status: int
    headers: list[tuple[str, str]]
    body: bytes | None = None
    pieces: Iterable[bytes] = ()
    delay: float = 0.0
    limit: int | None = None
    ending: Ending = "end"
    respond: bool = True


def _merge(defaults: list[tuple[str, str]], extra: Mapping[str, str]) -> list[tuple[str, str]]:
    names = {k.lower() for k in extra}
    kept = [(k, v) for k, v in defaults if k.lower() not in names]
    return kept + [(k, v) for k, v in extra.items() if k.lower() not in _FRAMING]


def _sse_headers() -> list[tuple[str, str]]:
    return [("Content-Type", "text/event-stream"), ("Cache-Control", "no-cache")]


def _request_model(request: Any) -> str:
    if isinstance(request, dict) and isinstance(request.get("model"), str):
        return str(request["model"])
    return "kimi-k2.6"


def _wants_stream(request: Any) -> bool:
    return isinstance(request, dict) and request.get("stream") is True


def last_user_content(request: Any) -> str:
    """The text of the request's last user message that has any: a string content as
    sent, or its text parts joined by spaces; "" when there is none."""
    messages = request.get("messages") if isinstance(request, dict) else None
    for message in reversed(messages if isinstance(messages, list) else []):
        if not isinstance(message, dict) or message.get("role") != "user":
            continue
        content = message.get("content")
        if isinstance(content, list):
            texts = [
                p.get("text", "")
                for p in content
                if isinstance(p, dict) and p.get("type") == "text"
            ]
            content = " ".join(t for t in texts if isinstance(t, str))
        if isinstance(content, str) and content.strip():
            return content
    return ""


def _last_user_text(request: Any) -> str:
    """`last_user_content` on one line and at most 200 characters, for quoting."""
    text = " ".join(last_user_content(request).split())
    return text if len(text) <= 200 else text[:199] + "…"


def is_choice_count(n: Any) -> bool:
    """Whether `n` is an acceptable ``n`` (choices per request): an int 1..MAX_CHOICES."""
    return isinstance(n, int) and not isinstance(n, bool) and 1 <= n <= MAX_CHOICES


def choice_count(request: Any) -> int:
    """The request's ``n`` (how many choices to answer with); 1 when absent or out of range.

    The handler has already refused a chat request whose ``n`` is not 1..MAX_CHOICES."""
    n = request.get("n") if isinstance(request, dict) else None
    return n if is_choice_count(n) else 1


def _wants_usage_chunk(request: Any) -> bool:
    """Whether the request sets ``stream_options.include_usage`` to true."""
    options = request.get("stream_options") if isinstance(request, dict) else None
    return isinstance(options, dict) and options.get("include_usage") is True


def _resolve_placement(spec: ChatSpec, request: Any) -> ChatSpec:
    """`spec` with an ``"auto"`` usage placement made concrete for this request: in the
    choice, plus the top-level usage chunk when the request asks for include_usage."""
    if spec.usage_placement != "auto":
        return spec
    return replace(spec, usage_placement="both" if _wants_usage_chunk(request) else "choice")


def echo_chats(spec: EchoSpec, request: Any) -> list[ChatSpec]:
    """The ChatSpecs of the default answer for this request, one per choice.

    With one choice the content quotes the user; with N each begins ``"Answer i of N: "``,
    so every choice has content of its own. Usage counts the text of all choices. Partial
    Mode and ``max_completion_tokens`` are obeyed as `_budget.py` says.
    """
    said = _last_user_text(request)
    quoted = f"“{said}”" if said else "nothing in particular"
    reasoning = f"The user asks {quoted}. This is the local test server, so I'll answer briefly."
    content = (
        f"You said {quoted}. This answer comes from kimi.testing, a local stand-in for the "
        "Kimi API, so no tokens were spent. Script replies with server.script() to test "
        "anything else."
    )
    n = choice_count(request)
    contents = [content] if n == 1 else [f"Answer {i} of {n}: {content}" for i in range(1, n + 1)]
    prefix = partial_prefix(request)
    thought: str | None = reasoning
    if prefix is not None:
        thought, contents = None, [continued(text, prefix) for text in contents]
    budget = completion_budget(request)
    written = [within_budget(thought, text, budget) for text in contents]
    prompt = max(1, len(json.dumps(request, ensure_ascii=False)) // 4)
    if all(w.finish_reason == "stop" for w in written):
        completion = max(1, sum(len(thought or "") + len(text) for text in contents) // 4)
    else:
        completion = sum(w.tokens for w in written)
    usage = {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }
    base = Reply.chat(content=content, usage=usage).spec
    assert isinstance(base, ChatSpec)
    base = replace(base, delay=spec.delay, chunk_size=spec.chunk_size)
    return [
        replace(base, content=w.content, reasoning=w.reasoning, finish_reason=w.finish_reason)
        for w in written
    ]


def _chat_plan(choices: list[ChatSpec], reply: Reply, request: Any) -> Plan:
    """The Plan of a chat answer with one ChatSpec per choice (see `chat_events`)."""
    choices = [_resolve_placement(spec, request) for spec in choices]
    spec = choices[0]
    model = spec.model or _request_model(request)
    if spec.mode == "auto" and not _wants_stream(request):
        body = json.dumps(chat_body(choices, model), ensure_ascii=False).encode("utf-8")
        return Plan(200, _merge([("Content-Type", "application/json")], reply.headers), body=body)
    ending: Ending = "end"
    limit = None
    if spec.disconnect_after is not None:
        ending, limit = "abort", spec.disconnect_after
    elif spec.stall_after is not None:
        ending, limit = "stall", spec.stall_after
    pieces = chat_events(choices, model)
    return Plan(
        200,
        _merge(_sse_headers(), reply.headers),
        pieces=pieces,
        delay=spec.delay,
        limit=limit,
        ending=ending,
    )


def error_plan(status: int, type_: str, message: str) -> Plan:
    """A Moonshot-shaped error body ``{"error": {"type", "message"}}`` with Content-Length."""
    return render(Reply.error(status, Reply.moonshot_error(type_, message)), None)


def invalid_plan(message: str) -> Plan:
    """The API's 400 ``invalid_request_error`` with `message`."""
    return error_plan(400, "invalid_request_error", message)


def not_found_plan(message: str) -> Plan:
    """The API's 404 ``resource_not_found_error`` with `message`."""
    return error_plan(404, "resource_not_found_error", message)


def json_plan(body: Any) -> Plan:
    """A 200 answer of one JSON body."""
    return render(Reply.json(body), None)


def render(reply: Reply, request: Any) -> Plan:
    """The Plan for `reply` answering `request` (the parsed JSON body, or None)."""
    spec = reply.spec
    if isinstance(spec, EchoSpec):
        return _chat_plan(echo_chats(spec, request), reply, request)
    if isinstance(spec, ChatSpec):
        return _chat_plan([spec] * choice_count(request), reply, request)
    if isinstance(spec, BodySpec):
        return Plan(
            spec.status,
            _merge([("Content-Type", spec.content_type)], reply.headers),
            body=spec.body,
        )
    if isinstance(spec, RawSpec):
        headers = _merge([("Content-Type", spec.content_type)], reply.headers)
        ending: Ending = "abort" if spec.close else "end"
        return Plan(spec.status, headers, pieces=spec.chunks, delay=spec.delay, ending=ending)
    if isinstance(spec, BulkSpec):
        model = spec.model or _request_model(request)
        pieces = bulk_pieces(spec, model, include_usage=_wants_usage_chunk(request))
        return Plan(200, _merge(_sse_headers(), reply.headers), pieces=pieces)
    if isinstance(spec, NoResponseSpec):
        return Plan(0, [], ending="stall" if spec.stall else "abort", respond=False)
    raise TypeError(f"render: unknown reply spec {type(spec).__name__}")
