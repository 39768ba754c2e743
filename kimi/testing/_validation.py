"""Whether a request body is acceptable: JSON parsing and the chat request's checks.

One set of checks for every place a chat request is judged — the live
``POST /v1/chat/completions`` route and each line of a batch — so a batch line fails
exactly as the same request would live. Pure functions; the error plans are `_plan.py`'s.
"""

from __future__ import annotations

import json
from typing import Any

from ._fixtures import context_length
from ._plan import MAX_CHOICES, is_choice_count
from ._thinking import thinking_problem
from ._web_search import web_search_problem

#: What `parse_json` returns for an empty or non-JSON body (None is valid JSON).
NO_JSON = object()
_CAPS = ("max_completion_tokens", "max_tokens")


def parse_json(body: bytes) -> Any:
    """The parsed body, or `NO_JSON` when it is empty or not UTF-8 JSON."""
    if not body.strip():
        return NO_JSON
    try:
        return json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return NO_JSON


def prompt_problem(parsed: Any) -> str | None:
    """Why a body naming a model and its messages is invalid, or None: a JSON object with
    a `model` and a non-empty `messages` array (chat and the token estimate share it)."""
    if parsed is NO_JSON:
        return "Invalid request: the request body is not valid JSON"
    if not isinstance(parsed, dict):
        return "Invalid request: the request body must be a JSON object"
    model = parsed.get("model")
    if not isinstance(model, str) or not model:
        return "Invalid request: field 'model' is required"
    messages = parsed.get("messages")
    if not isinstance(messages, list) or not messages:
        return "Invalid request: field 'messages' is required and must be a non-empty array"
    return None


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def chat_problem(parsed: Any) -> str | None:
    """Why a chat request body is invalid, or None when it is acceptable.

    Beyond `prompt_problem`: ``n`` absent or 1..5, neither ``max_completion_tokens``
    nor ``max_tokens`` above the model's context length (the platform's message), the
    builtin $web_search's rules (`_web_search.py`), and the thinking models' rules
    (`_thinking.py`)."""
    problem = prompt_problem(parsed)
    if problem is not None:
        return problem
    n = parsed.get("n")
    if n is not None and not is_choice_count(n):
        return f"Invalid request: n must be an integer from 1 to {MAX_CHOICES}, got {json.dumps(n)}"
    limit = context_length(parsed["model"])
    if any(_is_number(parsed.get(cap)) and parsed[cap] > limit for cap in _CAPS):
        return f"Invalid request: Your request exceeded model token limit: {limit}"
    return web_search_problem(parsed) or thinking_problem(parsed)
