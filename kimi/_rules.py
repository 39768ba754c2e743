"""The rules of Kimi's models, checked before a request is sent: ``kimi.model_rules``.

The API answers 400 to what its models do not take — a ``temperature`` other than the
fixed one on kimi-k2.6, ``tool_choice="required"`` with thinking on, a tool-call turn sent
back without its ``reasoning_content`` (kimi-api.md §2).  Checking here costs nothing
billed and names the rule; the table is data, so a user can correct or extend it
(``kimi.model_rules["my-model"] = kimi.ModelRules(...)``).  Models the table does not
know are sent unchecked.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Mapping

__all__ = ["ModelRules", "model_rules", "check_request", "thinking_field"]

_PENALTIES = ("presence_penalty", "frequency_penalty")


class ModelRules:
    """What one model takes.

    - ``fixed``: sampling fields the model fixes, with their only value (thinking on
      and off may differ: ``temperature`` as ``(with thinking, without)``); any other
      value is refused.
    - ``ranges``: fields with the range they must fall in.
    - ``thinking``: ``"toggle"`` (the ``thinking`` object turns it on and off, on by
      default), ``"always"`` (the model always thinks; it cannot be turned off) or
      ``None`` (no thinking: the field is refused).
    - ``keep``: whether ``thinking.keep = "all"`` (Preserved Thinking) is taken.
    - ``reasoning_effort``: whether that field is taken.
    """

    __slots__ = ("fixed", "ranges", "thinking", "keep", "reasoning_effort")

    def __init__(
        self,
        *,
        fixed: Mapping[str, Any] | None = None,
        ranges: Mapping[str, tuple[float, float]] | None = None,
        thinking: str | None = None,
        keep: bool = False,
        reasoning_effort: bool = False,
    ) -> None:
        if thinking not in ("toggle", "always", None):
            raise ValueError(f'ModelRules: thinking must be "toggle", "always" or None, got {thinking!r}')
        self.fixed = dict(fixed or {})
        self.ranges = dict(ranges or {})
        self.thinking = thinking
        self.keep = keep
        self.reasoning_effort = reasoning_effort

    def __repr__(self) -> str:
        return (f"ModelRules(fixed={self.fixed!r}, ranges={self.ranges!r}, thinking={self.thinking!r}, "
                f"keep={self.keep!r}, reasoning_effort={self.reasoning_effort!r})")


# kimi-k2.6 and kimi-k2.5 fix their sampling: top_p 0.95, n 1, penalties 0, and
# temperature 1.0 with thinking, 0.6 without (kimi-api.md §2).
_K2_FIXED = {"temperature": (1.0, 0.6), "top_p": 0.95, "n": 1, "presence_penalty": 0, "frequency_penalty": 0}
# The older models take ranges (kimi-api.md §2, the OpenAPI document).
_RANGES = {"temperature": (0.0, 1.0), "top_p": (0.0, 1.0), "n": (1, 5),
           "presence_penalty": (-2.0, 2.0), "frequency_penalty": (-2.0, 2.0)}

#: The rules by model id.  Gateway names (``moonshotai/kimi-k2.6``) find the same
#: rules, as prices do.  kimi-k3 is taken to follow kimi-k2.6 until its own are known.
model_rules: dict[str, ModelRules] = {
    "kimi-k2.6": ModelRules(fixed=_K2_FIXED, thinking="toggle", keep=True),
    "kimi-k2.5": ModelRules(fixed=_K2_FIXED, thinking="toggle"),
    "kimi-k3": ModelRules(fixed=_K2_FIXED, thinking="toggle", keep=True),
    "kimi-k2-thinking": ModelRules(ranges=_RANGES, thinking="always"),
    "kimi-k2-thinking-turbo": ModelRules(ranges=_RANGES, thinking="always"),
    "kimi-k2-0905-preview": ModelRules(ranges=_RANGES),
    "kimi-k2-0711-preview": ModelRules(ranges=_RANGES),
    "kimi-k2-turbo-preview": ModelRules(ranges=_RANGES),
    **{f"moonshot-v1-{size}": ModelRules(ranges=_RANGES) for size in ("8k", "32k", "128k", "auto")},
    **{f"moonshot-v1-{size}-vision-preview": ModelRules(ranges=_RANGES) for size in ("8k", "32k", "128k")},
}


# Gateway names resolved to the names of the table's entries, kept while the table
# keeps its size (a name is resolved once, not on every call; an entry replaced in
# place is read afresh).
_resolved: dict[str, str | None] = {}
_resolved_for = [0]


def rules_of(model: str) -> ModelRules | None:
    rules = model_rules.get(model)
    if rules is not None:
        return rules
    if _resolved_for[0] != len(model_rules):
        _resolved.clear()
        _resolved_for[0] = len(model_rules)
    if model in _resolved:
        name = _resolved[model]
        return None if name is None else model_rules.get(name)
    from ._cost import _plain_name

    wanted = _plain_name(model)
    found = None
    for name, candidate in list(model_rules.items()):
        if _plain_name(name) == wanted:
            found = name
            break
    if len(_resolved) < 1024:
        _resolved[model] = found
    return None if found is None else model_rules.get(found)


def thinking_field(value: Any) -> Any:
    """``thinking=True | False | "keep"`` as the API's object; anything else as given."""
    if value is True:
        return {"type": "enabled"}
    if value is False:
        return {"type": "disabled"}
    if value == "keep":
        return {"type": "enabled", "keep": "all"}
    return value


def _refuse(model: str, rule: str, message: str) -> None:
    from ._exceptions import InvalidRequestError

    exc = InvalidRequestError(
        f"{model}: {message} (refused before sending: kimi.model_rules[{model!r}])",
        status_code=400,
        type="invalid_request_error",
    )
    exc.rule = rule
    raise exc


def _thinking_on(model: str, rules: ModelRules, thinking: Any) -> bool:
    if thinking is None:
        return rules.thinking in ("toggle", "always")
    if not isinstance(thinking, dict):
        _refuse(model, "thinking", f"thinking must be True, False, \"keep\" or the API's object, got {thinking!r}")
    kind = thinking.get("type")
    if rules.thinking is None:
        _refuse(model, "thinking", "this model does not think: drop thinking")
    if rules.thinking == "always" and kind == "disabled":
        _refuse(model, "thinking", "this model always thinks: thinking cannot be disabled")
    if thinking.get("keep") is not None and not rules.keep:
        _refuse(model, "thinking.keep", "this model does not take thinking.keep (Preserved Thinking)")
    return kind != "disabled"


def _check_sampling(model: str, rules: ModelRules, body: Mapping[str, Any], thinking_on: bool) -> None:
    for name, only in rules.fixed.items():
        if name not in body or body[name] is None:
            continue
        if isinstance(only, tuple):
            only = only[0] if thinking_on else only[1]
        if body[name] != only:
            _refuse(model, name, f"{name} is fixed at {only} on this model ({'thinking' if thinking_on else 'no thinking'}); drop it")
    for name, (low, high) in rules.ranges.items():
        value = body.get(name)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
            _refuse(model, name, f"{name} must be from {low} to {high}, got {value!r}")


def _check_tool_turns(model: str, messages: Any) -> None:
    for index, message in enumerate(messages):
        if message.__class__ is dict and message.get("tool_calls") and not message.get("reasoning_content"):
            if message.get("role") == "assistant":
                _refuse(model, "reasoning_content",
                        "thinking is enabled but reasoning_content is missing in assistant tool call message at "
                        f"index {index} (send the reply's message back with message.to_param())")


# The body fields some rule is about; a body with none of them (the usual one) is
# checked for its tool-call turns alone.
_RULED = frozenset({"temperature", "top_p", "n", "presence_penalty", "frequency_penalty", "thinking",
                    "reasoning_effort", "tool_choice", "response_format", "tools"})


def check_request(body: Mapping[str, Any]) -> None:
    """Refuse, as InvalidRequestError naming the rule, what the model of this chat
    body does not take; a model outside the table passes unchecked.  On the path of
    every call: the usual body costs a set intersection and one pass over messages."""
    model = body["model"]
    rules = model_rules.get(model) or rules_of(model)
    if _RULED.isdisjoint(body):
        if rules is not None and rules.thinking is not None:
            for message in body["messages"]:
                if message.__class__ is dict and "tool_calls" in message:
                    _check_tool_turns(model, body["messages"])
                    break
        return
    if _is_partial(body.get("messages")) and body.get("response_format") is not None:
        _refuse(model, "partial", "Partial Mode cannot be combined with response_format")
    tools = body.get("tools")
    if tools.__class__ is list:
        _check_tools(model, tools)
    if rules is None:
        return
    thinking_on = _thinking_on(model, rules, body.get("thinking"))
    if "reasoning_effort" in body and not rules.reasoning_effort:
        _refuse(model, "reasoning_effort", "this model takes thinking, not reasoning_effort")
    _check_sampling(model, rules, body, thinking_on)
    if thinking_on:
        choice = body.get("tool_choice")
        if choice == "required" or isinstance(choice, dict):
            _refuse(model, "tool_choice", f"tool_choice {choice!r} is incompatible with thinking enabled (auto or none)")
        _check_tool_turns(model, body["messages"])


# The API's limit on a request's tools (kimi-api.md §2).
MAX_TOOLS = 128


def _check_tools(model: str, tools: list[Any]) -> None:
    """At most 128 tools, no two of one name: the API answers 400 to either."""
    if len(tools) > MAX_TOOLS:
        _refuse(model, "tools", f"at most {MAX_TOOLS} tools per request, got {len(tools)}")
    seen: set[Any] = set()
    for tool in tools:
        function = tool.get("function") if tool.__class__ is dict else None
        name = function.get("name") if function.__class__ is dict else None
        if name.__class__ is str:
            if name in seen:
                _refuse(model, "tools", f"two tools are named {name!r}")
            seen.add(name)


def _is_partial(messages: Any) -> bool:
    if not isinstance(messages, list) or not messages:
        return False
    last = messages[-1]
    return isinstance(last, dict) and last.get("role") == "assistant" and last.get("partial") is True
