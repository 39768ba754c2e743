"""Partial Mode and the completion budget, as the default answer obeys them.

Partial Mode (kimi-api.md §5): a request whose last message is an assistant message with
``"partial": true`` asks the model to go on from that text; the reply *omits* the prefix,
so the client joins the two. The default answer is a fixed text for a given conversation,
so going on from a prefix of it gives the rest of that same text, and a reply cut at
``max_completion_tokens`` and continued from what it said ends exactly as the whole
answer would have. A continuation does not think again: it carries no reasoning.

The budget: reasoning comes first and counts against ``max_completion_tokens`` (or the
older ``max_tokens``), then content; what does not fit is cut with
``finish_reason: "length"``, tokens counted by `_tokens.text_tokens`. A budget spent on
reasoning leaves the content empty, as the platform's thinking models do.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from ._tokens import text_tokens

_CAPS = ("max_completion_tokens", "max_tokens")


def partial_prefix(request: Any) -> str | None:
    """The text the reply must go on from: the content of a last ``partial`` assistant
    message, or None when the request is not in Partial Mode."""
    messages = request.get("messages") if isinstance(request, dict) else None
    if not isinstance(messages, list) or not messages:
        return None
    last = messages[-1]
    if not isinstance(last, dict) or last.get("role") != "assistant" or last.get("partial") is not True:
        return None
    content = last.get("content")
    return content if isinstance(content, str) else ""


def continued(text: str, prefix: str) -> str:
    """What follows `prefix` in `text`: `text` after the longest end of `prefix` that
    begins it (all of `prefix` when the answer so far is resent; the part after the
    caller's own opening words when those were sent first), else all of `text`."""
    for start in range(len(prefix)):
        if text.startswith(prefix[start:]):
            return text[len(prefix) - start :]
    return text


def completion_budget(request: Any) -> int | None:
    """The request's cap on completion tokens, or None when it sets none."""
    if not isinstance(request, dict):
        return None
    for cap in _CAPS:
        value = request.get(cap)
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            return value
    return None


def cut_to_tokens(text: str, tokens: int) -> str:
    """The longest start of `text` that counts at most `tokens` tokens."""
    low, high = 0, len(text)
    while low < high:
        middle = (low + high + 1) // 2
        if text_tokens(text[:middle]) <= tokens:
            low = middle
        else:
            high = middle - 1
    return text[:low]


class Generated(NamedTuple):
    """One choice as the model 'wrote' it within the budget."""

    reasoning: str | None
    content: str
    finish_reason: str
    tokens: int


def within_budget(reasoning: str | None, content: str, budget: int | None) -> Generated:
    """Reasoning then content, cut where `budget` runs out (``"length"``), else whole."""
    thought = text_tokens(reasoning or "")
    said = text_tokens(content)
    if budget is None or thought + said <= budget:
        return Generated(reasoning, content, "stop", thought + said)
    if thought >= budget:
        return Generated(cut_to_tokens(reasoning or "", budget), "", "length", budget)
    return Generated(reasoning, cut_to_tokens(content, budget - thought), "length", budget)
