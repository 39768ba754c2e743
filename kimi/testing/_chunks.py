"""Chat completion bodies and SSE events built from `ChatSpec`s (one per choice) or a `BulkSpec`.

Pure functions: Python objects in, `dict`s or encoded `data: ...` events out. Text is split
by Python characters and JSON is dumped with ensure_ascii=False, so UTF-8 is on the wire.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Iterator, Mapping, Sequence
from itertools import zip_longest
from typing import Any

from ._replies import BulkSpec, ChatSpec

DONE_EVENT = b"data: [DONE]\n\n"
BULK_BATCH = 64 * 1024


def completion_id() -> str:
    """A fresh ``chatcmpl-`` id with 24 hex digits."""
    return "chatcmpl-" + secrets.token_hex(12)


def sse(obj: Any) -> bytes:
    """One SSE event: ``data: <compact JSON>`` and a blank line, UTF-8."""
    text = json.dumps(obj, ensure_ascii=False, separators=(",", ":"))
    return b"data: " + text.encode("utf-8") + b"\n\n"


def split(text: str, size: int) -> list[str]:
    """`text` in pieces of at most `size` characters (never splits a code point)."""
    return [text[i : i + size] for i in range(0, len(text), size)]


def _message(spec: ChatSpec) -> dict[str, Any]:
    """The assistant message of one non-streaming choice."""
    message: dict[str, Any] = {"role": "assistant", "content": spec.content}
    if spec.reasoning is not None:
        message["reasoning_content"] = spec.reasoning
    if spec.tool_calls:
        message["tool_calls"] = [
            {"id": c.id, "type": c.type, "function": {"name": c.name, "arguments": c.arguments}}
            for c in spec.tool_calls
        ]
    return message


def chat_body(
    choices: Sequence[ChatSpec], model: str, created: int | None = None
) -> dict[str, Any]:
    """The non-streaming ``chat.completion`` object (kimi-api.md §3).

    One choice per spec, its index the spec's position; the usage is the first spec's.
    `created` defaults to now (a batch passes its server clock's reading).
    """
    body: dict[str, Any] = {
        "id": completion_id(),
        "object": "chat.completion",
        "created": int(time.time()) if created is None else created,
        "model": model,
        "choices": [
            {"index": index, "message": _message(spec), "finish_reason": spec.finish_reason}
            for index, spec in enumerate(choices)
        ],
    }
    usage = choices[0].usage
    if usage is not None and choices[0].usage_placement != "none":
        body["usage"] = dict(usage)
    return body


def _deltas(spec: ChatSpec) -> list[dict[str, Any]]:
    """Every non-final delta in stream order: role, reasoning, content, tool calls."""
    n = spec.chunk_size
    deltas: list[dict[str, Any]] = []
    if spec.role_chunk:
        deltas.append({"role": "assistant", "content": ""})
    deltas += [{"reasoning_content": p} for p in split(spec.reasoning or "", n)]
    deltas += [{"content": p} for p in split(spec.content or "", n)]
    for index, call in enumerate(spec.tool_calls):
        first = {"name": call.name, "arguments": ""}
        deltas.append(
            {"tool_calls": [{"index": index, "id": call.id, "type": call.type, "function": first}]}
        )
        for piece in split(call.arguments, n):
            deltas.append({"tool_calls": [{"index": index, "function": {"arguments": piece}}]})
    if not spec.role_chunk and deltas:
        deltas[0] = {"role": "assistant", **deltas[0]}
    return deltas


def _chunk_base(model: str) -> dict[str, Any]:
    """The fields every chunk of one stream repeats: id, object, created, model."""
    return {
        "id": completion_id(),
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": model,
    }


def _usage_chunk(base: Mapping[str, Any], usage: Mapping[str, Any]) -> bytes:
    """The ``"choices": []`` chunk with top-level usage that precedes [DONE]."""
    return sse({**base, "choices": [], "usage": dict(usage)})


def chat_events(choices: Sequence[ChatSpec], model: str) -> list[bytes]:
    """The whole SSE body of a streamed chat reply (§4), one encoded event per item.

    One choice per spec, its index the spec's position. Their deltas are interleaved
    (index 0, 1, ... in turn, one choice per chunk), then each choice's final chunk
    follows in index order; the usage rides on the last of them. Usage, its placement and
    the ending come from the first spec. A placement of ``"auto"`` must be resolved first.
    """
    first = choices[0]
    base = _chunk_base(model)
    deltas = [_deltas(spec) for spec in choices]
    events = [
        sse({**base, "choices": [{"index": index, "delta": delta, "finish_reason": None}]})
        for row in zip_longest(*deltas)
        for index, delta in enumerate(row)
        if delta is not None
    ]
    placement = first.usage_placement if first.usage is not None else "none"
    last = len(choices) - 1
    for index, spec in enumerate(choices):
        # With role_chunk=False and nothing to say, the role rides on the final chunk.
        final_delta: dict[str, Any] = {} if deltas[index] else {"role": "assistant"}
        final: dict[str, Any] = {
            "index": index,
            "delta": final_delta,
            "finish_reason": spec.finish_reason,
        }
        if index == last and placement in ("choice", "both"):
            final["usage"] = dict(first.usage or {})
        events.append(sse({**base, "choices": [final]}))
    if placement in ("top", "both"):
        events.append(_usage_chunk(base, first.usage or {}))
    if first.include_done:
        events.append(DONE_EVENT)
    return events


def bulk_usage(n_chunks: int) -> Mapping[str, int]:
    """Usage for a bulk stream: one completion token per chunk."""
    return {"prompt_tokens": 12, "completion_tokens": n_chunks, "total_tokens": 12 + n_chunks}


def bulk_pieces(spec: BulkSpec, model: str, include_usage: bool = False) -> Iterator[bytes]:
    """A bulk stream as a few large pieces: the role chunk, then identical content events
    repeated into ~64 KB batches (encoded once), then the final chunk (usage in the
    choice), with `include_usage` a ``"choices": []`` usage chunk, and [DONE]."""
    base = _chunk_base(model)
    if spec.n_chunks > 0:
        first = {"role": "assistant", "content": spec.text}
        yield sse({**base, "choices": [{"index": 0, "delta": first, "finish_reason": None}]})
        event = sse(
            {
                **base,
                "choices": [{"index": 0, "delta": {"content": spec.text}, "finish_reason": None}],
            }
        )
        per_batch = max(1, BULK_BATCH // len(event))
        batch = event * per_batch
        full, rest = divmod(spec.n_chunks - 1, per_batch)
        for _ in range(full):
            yield batch
        if rest:
            yield event * rest
    usage = bulk_usage(spec.n_chunks)
    final = {"index": 0, "delta": {}, "finish_reason": "stop", "usage": dict(usage)}
    ending = sse({**base, "choices": [final]})
    if include_usage:
        ending += _usage_chunk(base, usage)
    yield ending + DONE_EVENT
