"""The 400s the platform gives its thinking models (kimi-api.md §2), as the server gives them.

kimi-k2.6 and kimi-k2.5 fix their sampling: temperature 1 with thinking on and 0.6 with it
off, ``top_p`` 0.95, ``n`` 1, penalties 0; kimi-k2-thinking always thinks. With thinking
on, an assistant turn that made tool calls must carry its ``reasoning_content``, and
``tool_choice`` may not force a call. The server's own table, written from the platform's
documentation and its observed messages; the client's checks (kimi/_rules.py) are tested
against it, not the other way round. Pure functions.
"""

from __future__ import annotations

from typing import Any

#: Models whose thinking the ``thinking`` object turns on (the default) and off.
TOGGLED = frozenset({"kimi-k2.6", "kimi-k2.5"})
#: Models that always think.
ALWAYS = frozenset({"kimi-k2-thinking"})
#: The fixed sampling of the toggled models: field -> its only value.
_FIXED = {"top_p": 0.95, "n": 1, "presence_penalty": 0, "frequency_penalty": 0}


def thinking_on(request: dict[str, Any]) -> bool:
    """Whether the request's model thinks for this request."""
    model = request.get("model")
    if model in ALWAYS:
        return True
    if model not in TOGGLED:
        return False
    thinking = request.get("thinking")
    return not (isinstance(thinking, dict) and thinking.get("type") == "disabled")


def _fixed_sampling_problem(request: dict[str, Any]) -> str | None:
    temperature = request.get("temperature")
    only = 1 if thinking_on(request) else 0.6
    if temperature is not None and temperature != only:
        return f"invalid temperature: only {only} is allowed for this model"
    for name, value in _FIXED.items():
        sent = request.get(name)
        if sent is not None and sent != value:
            return f"invalid {name}: only {value} is allowed for this model"
    return None


def _tool_turn_problem(messages: list[Any]) -> str | None:
    for index, message in enumerate(messages):
        if (
            isinstance(message, dict)
            and message.get("role") == "assistant"
            and message.get("tool_calls")
            and not message.get("reasoning_content")
        ):
            return (
                "thinking is enabled but reasoning_content is missing in assistant tool call "
                f"message at index {index}"
            )
    return None


def _tool_choice_problem(choice: Any) -> str | None:
    if choice == "required":
        return "tool_choice 'required' is incompatible with thinking enabled"
    if isinstance(choice, dict):
        return "tool_choice 'specified' is incompatible with thinking enabled"
    return None


def thinking_problem(request: dict[str, Any]) -> str | None:
    """Why the platform refuses this chat request to a thinking model, or None."""
    if request.get("model") in TOGGLED:
        problem = _fixed_sampling_problem(request)
        if problem is not None:
            return problem
    if not thinking_on(request):
        return None
    return _tool_turn_problem(request["messages"]) or _tool_choice_problem(request.get("tool_choice"))
