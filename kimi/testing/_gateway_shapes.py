"""The API's answers reshaped as each gateway sends them (kimi-api.md §10).

- OpenRouter: ``reasoning`` instead of ``reasoning_content``, ``provider`` and
  ``native_finish_reason`` on replies and chunks, the usage at the top level of the last
  chunk with ``cost`` and token details, and ``: OPENROUTER PROCESSING`` comments first.
- Cloudflare: ``reasoning`` (K2.6); on the native ``/ai/run`` endpoint a reply in the
  ``{"result", "success", "errors", "messages"}`` envelope and a stream of old-style
  ``{"response": "..."}`` chunks.
- AIMLAPI: ``meta.usage`` (``credits_used``, ``usd_spent``) beside the usage.
- Every gateway: its own model id in replies, and no reasoning when the request's own
  thinking switch turned it off.

Pure functions over a `Plan`; error answers and bytes that are not one JSON event each
pass through unchanged.
"""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any, Callable

from ._plan import Plan

PROCESSING = b": OPENROUTER PROCESSING\n\n"
_UPSTREAM = "Moonshot AI"
# kimi-k2.6's dollars per token (kimi-api.md §9): what the gateways' cost fields report.
_PROMPT_RATE, _OUTPUT_RATE = 0.95e-6, 4.00e-6


def thinking_off(gateway: str, request: Any) -> bool:
    """Whether the request turned thinking off in the gateway's own field."""
    if not isinstance(request, dict):
        return False
    if gateway == "openrouter":
        reasoning = request.get("reasoning")
        return isinstance(reasoning, dict) and reasoning.get("enabled") is False
    if gateway == "siliconflow":
        return request.get("enable_thinking") is False
    if gateway in ("cloudflare", "cloudflare-native"):
        return "reasoning_effort" in request and request["reasoning_effort"] is None
    thinking = request.get("thinking")
    return isinstance(thinking, dict) and thinking.get("type") == "disabled"


def _cost(usage: dict[str, Any]) -> float:
    prompt, completion = usage.get("prompt_tokens", 0), usage.get("completion_tokens", 0)
    return round(prompt * _PROMPT_RATE + completion * _OUTPUT_RATE, 10)


def _reasoning(part: dict[str, Any], off: bool, rename: bool) -> None:
    """A message's or delta's reasoning dropped, renamed ``reasoning``, or kept."""
    if "reasoning_content" not in part:
        return
    text = part.pop("reasoning_content")
    if not off:
        part["reasoning" if rename else "reasoning_content"] = text


def _choices(obj: dict[str, Any], part: str, off: bool, rename: bool, native_finish: bool) -> None:
    for choice in obj.get("choices") or []:
        if isinstance(choice.get(part), dict):
            _reasoning(choice[part], off, rename)
        if native_finish and choice.get("finish_reason") is not None:
            choice["native_finish_reason"] = choice["finish_reason"]


def _openrouter_usage(usage: dict[str, Any]) -> dict[str, Any]:
    return {
        **usage,
        "cost": _cost(usage),
        "prompt_tokens_details": {"cached_tokens": usage.get("cached_tokens", 0)},
        "completion_tokens_details": {"reasoning_tokens": 0},
    }


def _body(gateway: str, body: dict[str, Any], model: str, off: bool) -> dict[str, Any]:
    rename = gateway != "siliconflow" and gateway != "aimlapi"
    _choices(body, "message", off, rename, gateway == "openrouter")
    if gateway == "aimlapi":
        usage = body.get("usage") or {}
        credits = 2 * usage.get("total_tokens", 0)
        body["meta"] = {"usage": {"credits_used": credits, "usd_spent": _cost(usage)}}
        return body
    body["model"] = model
    if gateway == "openrouter":
        body["provider"] = _UPSTREAM
        if isinstance(body.get("usage"), dict):
            body["usage"] = _openrouter_usage(body["usage"])
    if gateway == "cloudflare-native":
        return {"result": body, "success": True, "errors": [], "messages": []}
    return body


def _chunk(gateway: str, chunk: dict[str, Any], model: str, off: bool) -> dict[str, Any] | None:
    """The chunk as the gateway streams it; None to leave it out."""
    if gateway == "cloudflare-native":
        return _response_chunk(chunk)
    rename = gateway != "siliconflow" and gateway != "aimlapi"
    _choices(chunk, "delta", off, rename, gateway == "openrouter")
    if gateway == "aimlapi":
        return chunk
    chunk["model"] = model
    if gateway == "openrouter":
        chunk["provider"] = _UPSTREAM
        for choice in chunk.get("choices") or []:
            if isinstance(choice.get("usage"), dict):
                chunk["usage"] = choice.pop("usage")
        if isinstance(chunk.get("usage"), dict):
            chunk["usage"] = _openrouter_usage(chunk["usage"])
    return chunk


def _response_chunk(chunk: dict[str, Any]) -> dict[str, Any] | None:
    """An old Workers AI chunk: ``{"response": <content>}``, usage on the last."""
    choices = chunk.get("choices") or []
    delta = choices[0].get("delta") if choices else None
    usage = chunk.get("usage") or (choices[0].get("usage") if choices else None)
    content = delta.get("content") if isinstance(delta, dict) else None
    if usage:
        return {"response": content or "", "usage": usage}
    if content is None:
        return None
    return {"response": content}


def _event(piece: bytes, change: Callable[[dict[str, Any]], dict[str, Any] | None]) -> bytes:
    """One ``data: {...}`` event changed; anything else as it was."""
    if not (piece.startswith(b"data: {") and piece.endswith(b"\n\n")) or b"\n\n" in piece[:-2]:
        return piece
    try:
        obj = json.loads(piece[6:])
    except ValueError:
        return piece
    if not isinstance(obj, dict) or "error" in obj:
        return piece
    changed = change(obj)
    if changed is None:
        return b""
    return b"data: " + json.dumps(changed, ensure_ascii=False, separators=(",", ":")).encode("utf-8") + b"\n\n"


def reshape(gateway: str, plan: Plan, request: Any) -> Plan:
    """The Plan of a 200 chat answer as `gateway` sends it (see the module's text)."""
    if plan.status != 200:
        return plan
    model = request.get("model") if isinstance(request, dict) else None
    model = model if isinstance(model, str) else ""
    off = thinking_off(gateway, request)
    if plan.body is not None:
        try:
            body = json.loads(plan.body)
        except ValueError:
            return plan
        if not isinstance(body, dict) or "choices" not in body:
            return plan
        text = json.dumps(_body(gateway, body, model, off), ensure_ascii=False)
        return replace(plan, body=text.encode("utf-8"))
    if not isinstance(plan.pieces, list):
        return plan
    changed = [_event(p, lambda chunk: _chunk(gateway, chunk, model, off)) for p in plan.pieces]
    pieces = [p for p in changed if p]
    # A scripted cut (disconnect_after, stall_after) still falls after the same events.
    limit = None if plan.limit is None else sum(1 for p in changed[: plan.limit] if p)
    if gateway == "openrouter":
        pieces = [PROCESSING, PROCESSING, *pieces]
        limit = None if limit is None else limit + 2
    return replace(plan, pieces=pieces, limit=limit)
