"""Tool loops: ``@kimi.tool``, ``kimi.builtin`` and ``client.chat.run_tools(...)``.

The loop asks the model, runs the tool calls of its reply under a policy (``allow``,
``confirm`` for tools with effects, a timeout per call), records each call for an audit
log, sends the results back and asks again, until a reply carries no tool calls or
``max_steps`` requests were made.  The loop itself is written once, as a generator of
operations (``_steps``); ``Kimi`` performs them as calls that block, ``AsyncKimi`` as
awaits: only the waiting differs.  Imported on the first ``run_tools`` call or use of
``kimi.tool``, never by ``import kimi``.
"""

from __future__ import annotations

import enum
import functools
import inspect
import json
import re
import threading
import time
import types
import typing
from collections import deque
from typing import Any, Callable, Iterable, Mapping

from ._exceptions import InvalidRequestError, StreamError, ToolLoopError
from ._rules import rules_of, thinking_field

__all__ = ["tool", "builtin", "Tool", "PendingCall", "ToolRecord", "ToolRun", "ToolStream", "AsyncToolStream"]

#: How many tools one request may declare (kimi-api.md §2).
MAX_TOOLS = 128
#: What the API takes as a function's name (kimi-api.md §2).
NAME_PATTERN = re.compile(r"^[a-zA-Z_][a-zA-Z0-9-_]{2,63}$")
_BUILTIN_PATTERN = re.compile(r"^\$[a-zA-Z_][a-zA-Z0-9-_]{0,63}$")
WEB_SEARCH = "$web_search"
_END = object()


# -- schemas from signatures and docstrings ------------------------------------------

_SCALARS: dict[Any, str] = {str: "string", bool: "boolean", int: "integer", float: "number"}
_SECTION = re.compile(r"^(Args|Arguments|Parameters|Params|Keyword Args|Keyword Arguments):\s*$")
_GOOGLE_ITEM = re.compile(r"^\*{0,2}(\w+)\s*(?:\([^)]*\))?\s*:\s*(.*)$")
_REST_PARAM = re.compile(r"^:param\s+(?:[^:]*\s)?(\w+)\s*:\s*(.*)$")


def _json_type(values: Iterable[Any]) -> dict[str, Any]:
    """``{"type": ...}`` when every value has one JSON scalar type, else nothing."""
    kinds = {_SCALARS.get(type(v)) for v in values}
    return {"type": kinds.pop()} if len(kinds) == 1 and None not in kinds else {}


def _is_optional(hint: Any) -> bool:
    return typing.get_origin(hint) in (typing.Union, types.UnionType) and type(None) in typing.get_args(hint)


def _schema_for(hint: Any, where: str) -> dict[str, Any]:
    """The JSON schema of one type hint; TypeError naming ``where`` for what JSON cannot say."""
    if hint is inspect.Parameter.empty or hint is Any:
        return {}
    if hint in _SCALARS:
        return {"type": _SCALARS[hint]}
    if hint is list:
        return {"type": "array"}
    if hint is dict:
        return {"type": "object"}
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        values = [member.value for member in hint]
        return {**_json_type(values), "enum": values}
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is list:
        return {"type": "array", "items": _schema_for(args[0], where)} if args else {"type": "array"}
    if origin is dict:
        schema: dict[str, Any] = {"type": "object"}
        if len(args) == 2 and args[1] is not Any:
            schema["additionalProperties"] = _schema_for(args[1], where)
        return schema
    if origin is typing.Literal:
        return {**_json_type(args), "enum": list(args)}
    if origin in (typing.Union, types.UnionType):
        kept = [a for a in args if a is not type(None)]
        if len(kept) == 1:
            return _schema_for(kept[0], where)
        return {"anyOf": [_schema_for(a, where) for a in kept]}
    raise TypeError(f"kimi.tool: {where}: no JSON schema for the type {hint!r} "
                    "(use str, int, float, bool, list[X], dict, Literal, an Enum, X | None, "
                    "or give a (schema, callable) pair)")


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def parse_docstring(doc: str | None) -> tuple[str, dict[str, str]]:
    """(the description: the first paragraph, on one line; {parameter: its description})
    from a docstring with a Google-style ``Args:`` section or reST ``:param x:`` fields."""
    lines = inspect.cleandoc(doc or "").splitlines()
    summary: list[str] = []
    for line in lines:
        if not line.strip() or _SECTION.match(line) or line.startswith(":"):
            break
        summary.append(line.strip())
    params: dict[str, str] = {}
    current: str | None = None      # the parameter a continuation line belongs to
    item_indent: int | None = None  # the indent of the Args: section's items
    in_args = False
    for line in lines:
        text, indent = line.strip(), _indent(line)
        if _SECTION.match(line):
            in_args, item_indent, current = True, None, None
            continue
        field = _REST_PARAM.match(text)
        if field:
            in_args, current = False, field.group(1)
            params[current] = field.group(2).strip()
            continue
        if not text:
            continue
        if in_args and indent == 0:     # the next section (Returns:, Raises:) or prose
            in_args = False
        if in_args and (item_indent is None or indent <= item_indent):
            item = _GOOGLE_ITEM.match(text)
            item_indent, current = indent, item.group(1) if item else None
            if item:
                params[item.group(1)] = item.group(2).strip()
            continue
        if current is not None and indent > 0:
            params[current] = f"{params[current]} {text}".strip()
            continue
        current = None
    return " ".join(summary), params


def _hints(func: Callable[..., Any], name: str) -> dict[str, Any]:
    """The type hints of a tool's function: a ``functools.partial``'s function's, a
    callable object's ``__call__``'s (get_type_hints takes neither)."""
    while isinstance(func, functools.partial):
        func = func.func
    if not (inspect.isroutine(func) or isinstance(func, type)):
        func = type(func).__call__
    try:
        return typing.get_type_hints(func)
    except Exception as exc:   # a forward reference that does not resolve, say
        raise TypeError(f"kimi.tool: {name}: its type hints do not resolve ({exc})") from exc


def _parameters_of(
    func: Callable[..., Any], name: str, described: Mapping[str, str]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """(the parameters' JSON schema, {name: how to convert an argument}) of a function."""
    hints = _hints(func, name)
    properties: dict[str, Any] = {}
    required: list[str] = []
    nullable: dict[str, Any] = {}
    for param in inspect.signature(func).parameters.values():
        if param.kind is param.VAR_KEYWORD:
            raise TypeError(f"kimi.tool: {name}: **{param.name} has no schema, and what the model put in it "
                            "would reach the function unchecked; name each parameter, or give a "
                            "(schema, callable) pair")
        if param.kind in (param.POSITIONAL_ONLY, param.VAR_POSITIONAL):
            raise TypeError(f"kimi.tool: {name}: parameter {param.name!r} cannot be passed by name; "
                            "a tool's arguments are a JSON object")
        hint = hints.get(param.name, param.annotation)
        schema = _schema_for(hint, f"{name}({param.name})")
        if param.name in described and described[param.name]:
            schema["description"] = described[param.name]
        properties[param.name] = schema
        if param.default is param.empty:
            if _is_optional(hint):
                nullable[param.name] = None
            else:
                required.append(param.name)
    parameters: dict[str, Any] = {"type": "object", "properties": properties}
    if required:
        parameters["required"] = required
    return parameters, nullable


def _fits(value: Any, hint: Any) -> bool:
    """Whether a decoded JSON value is of the type a hint says (the shapes ``_schema_for``
    describes; an Enum is checked when its member is made; anything else passes)."""
    if hint is inspect.Parameter.empty or hint is Any:
        return True
    if hint is type(None) or value is None:
        return hint is type(None) or _is_optional(hint)
    if hint is bool or hint is str or hint is list or hint is dict:
        return isinstance(value, hint)
    if hint is int or hint is float:
        allowed = int if hint is int else (int, float)
        return isinstance(value, allowed) and not isinstance(value, bool)
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is list:
        return isinstance(value, list) and (not args or all(_fits(item, args[0]) for item in value))
    if origin is dict:
        return isinstance(value, dict) and (len(args) != 2 or all(_fits(v, args[1]) for v in value.values()))
    if origin is typing.Literal:
        return any(value == option and type(value) is type(option) for option in args)
    if origin in (typing.Union, types.UnionType):
        return any(_fits(value, option) for option in args)
    return True


def _enums_of(func: Callable[..., Any]) -> dict[str, type]:
    """The parameters typed as an Enum (or an optional one): their argument becomes a member."""
    found = {}
    for param, hint in _hints(func, getattr(func, "__name__", "tool")).items():
        if _is_optional(hint):
            kept = [a for a in typing.get_args(hint) if a is not type(None)]
            hint = kept[0] if len(kept) == 1 else hint
        if isinstance(hint, type) and issubclass(hint, enum.Enum):
            found[param] = hint
    return found


def _hint_text(hint: Any) -> str:
    return hint.__name__ if isinstance(hint, type) else repr(hint).replace("typing.", "")


def _check_name(name: Any, what: str) -> str:
    if not isinstance(name, str) or not NAME_PATTERN.match(name):
        raise ValueError(f"{what}: the tool name {name!r} is not one the API takes: 3 to 64 characters, "
                         "letters, digits, '_' and '-', not starting with a digit or '-' "
                         f"(^[a-zA-Z_][a-zA-Z0-9-_]{{2,63}}$)")
    return name


# -- tools -----------------------------------------------------------------------------


class Tool:
    """A tool the model may call: its name, description, parameters (a JSON schema) and
    the function that runs it (None for a builtin, which the platform runs).

    Calling a Tool calls its function, so a decorated function still works as one.
    ``effects=True`` marks a tool that changes something: ``run_tools`` asks its
    ``confirm`` before each call.
    """

    def __init__(
        self,
        func: Callable[..., Any] | None,
        name: str,
        description: str = "",
        parameters: Mapping[str, Any] | None = None,
        *,
        effects: bool = False,
        builtin: bool = False,
        nullable: Mapping[str, Any] | None = None,
    ) -> None:
        self.func = func
        self.name = name
        self.description = description
        self.parameters = dict(parameters) if parameters is not None else {"type": "object", "properties": {}}
        self.effects = bool(effects)
        self.builtin = builtin
        self.is_async = func is not None and inspect.iscoroutinefunction(func)
        self._nullable = dict(nullable or {})
        self._enums = _enums_of(func) if func is not None and not builtin else {}
        self._hints = _hints(func, name) if func is not None and not builtin else {}
        try:
            self._signature: inspect.Signature | None = inspect.signature(func) if func is not None else None
        except (TypeError, ValueError):
            self._signature = None
        if func is not None:
            self.__doc__ = func.__doc__
            self.__wrapped__ = func

    @property
    def schema(self) -> dict[str, Any]:
        """The tool as the API's ``tools`` list takes it."""
        if self.builtin:
            return {"type": "builtin_function", "function": {"name": self.name}}
        function: dict[str, Any] = {"name": self.name}
        if self.description:
            function["description"] = self.description
        function["parameters"] = self.parameters
        return {"type": "function", "function": function}

    def bind(self, arguments: Mapping[str, Any]) -> dict[str, Any]:
        """The keyword arguments to call the function with; TypeError or ValueError
        saying why when ``arguments`` do not fit its signature."""
        kwargs = {**self._nullable, **arguments}
        if self._signature is not None:
            self._signature.bind(**kwargs)
            for name, value in arguments.items():
                hint = self._hints.get(name, inspect.Parameter.empty)
                if not (_fits(value, hint) or value is None and self._signature.parameters[name].default is None):
                    shown = json.dumps(value, ensure_ascii=False)
                    raise TypeError(f"argument {name!r} must be {_hint_text(hint)}, got "
                                    f"{shown if len(shown) <= 80 else shown[:77] + '...'}")
        for name, kind in self._enums.items():
            if kwargs.get(name) is not None:
                kwargs[name] = kind(kwargs[name])
        return kwargs

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if self.func is None:
            raise TypeError(f"{self.name} is a builtin tool: the platform runs it")
        return self.func(*args, **kwargs)

    def __repr__(self) -> str:
        kind = "builtin" if self.builtin else ("async " if self.is_async else "") + "function"
        return f"<kimi.Tool {self.name!r} ({kind}{', effects' if self.effects else ''})>"


def tool(
    func: Callable[..., Any] | None = None,
    *,
    name: str | None = None,
    description: str | None = None,
    effects: bool = False,
) -> Any:
    """Make a function a tool for ``run_tools``: ``@kimi.tool`` or
    ``@kimi.tool(name=..., description=..., effects=True)``.

    The JSON schema comes from the signature: type hints ``str``, ``int``, ``float``,
    ``bool``, ``list[X]``, ``dict``, ``Literal[...]``, an ``Enum`` (its values; the
    argument arrives as the member), ``X | None`` / ``Optional[X]`` (not required;
    None when left out); a parameter with a default is not required; ``*args`` and
    ``**kwargs`` are refused (TypeError).  An argument the model sends must be of its
    hint's JSON type, else the call is answered as invalid.  The description
    is the docstring's first paragraph; each parameter's comes from a Google-style
    ``Args:`` section or reST ``:param x:`` fields.  The name (the function's, unless
    given) must be one the API takes (``^[a-zA-Z_][a-zA-Z0-9-_]{2,63}$``): ValueError
    otherwise.  ``async def`` functions are tools too.  ``effects=True``: the loop asks
    ``confirm`` before every call.
    """

    def make(fn: Callable[..., Any]) -> Tool:
        if not callable(fn):
            raise TypeError(f"kimi.tool: expected a function, got {type(fn).__name__}")
        tool_name = _check_name(name if name is not None else getattr(fn, "__name__", None), "kimi.tool")
        summary, described = parse_docstring(inspect.getdoc(fn))
        parameters, nullable = _parameters_of(fn, tool_name, described)
        text = description if description is not None else summary
        return Tool(fn, tool_name, text, parameters, effects=effects, nullable=nullable)

    return make(func) if func is not None else make


def builtin(name: str) -> Tool:
    """A builtin tool the platform runs itself, such as ``kimi.builtin("$web_search")``
    (``{"type": "builtin_function", "function": {"name": "$web_search"}}``).

    ``run_tools`` answers its calls as the platform requires: the tool message's content
    is the call's arguments, unchanged; the search itself happens on the platform (and is
    billed per call).  ``allow`` and ``confirm`` do not apply to it: the platform, not
    this process, runs it — leave it out of ``tools`` to keep a user from searching.
    """
    if not isinstance(name, str) or not _BUILTIN_PATTERN.match(name):
        raise ValueError(f"kimi.builtin: {name!r} is not a builtin tool name (they start with '$', "
                         'e.g. "$web_search")')
    return Tool(None, name, builtin=True)


def _from_pair(schema: Any, func: Any) -> Tool:
    if not callable(func) or not isinstance(schema, Mapping):
        raise TypeError("run_tools: a (schema, callable) pair takes the API's tool dict or its function dict, "
                        "then the function")
    function = schema.get("function") if schema.get("type") == "function" else schema
    if not isinstance(function, Mapping):
        raise TypeError(f"run_tools: the schema of a (schema, callable) pair has no function: {dict(schema)!r}")
    name = _check_name(function.get("name"), "run_tools")
    return Tool(func, name, function.get("description") or "", function.get("parameters"))


def as_tool(item: Any) -> Tool:
    """One entry of ``tools`` as a Tool: a Tool, a builtin's dict, a ``(schema,
    callable)`` pair, or a plain function (made a tool as ``@kimi.tool`` would)."""
    if isinstance(item, Tool):
        return item
    if isinstance(item, tuple) and len(item) == 2:
        return _from_pair(*item)
    if isinstance(item, Mapping) and item.get("type") == "builtin_function":
        return builtin(item.get("function", {}).get("name"))
    if callable(item):
        return tool(item)
    raise TypeError(f"run_tools: a tool is a @kimi.tool function, kimi.builtin(...) or a (schema, callable) pair, "
                    f"got {type(item).__name__}")


# -- what the loop records -----------------------------------------------------------


class PendingCall:
    """A tool call the model asked for, as ``allow`` and ``confirm`` see it: ``name``,
    ``arguments`` (the parsed dict), ``id`` (the call's id) and ``step`` (1 for the
    first request's calls)."""

    __slots__ = ("name", "arguments", "id", "step")

    def __init__(self, name: str, arguments: dict[str, Any], id: str, step: int) -> None:
        self.name = name
        self.arguments = arguments
        self.id = id
        self.step = step

    def __repr__(self) -> str:
        return f"PendingCall(name={self.name!r}, arguments={self.arguments!r}, id={self.id!r}, step={self.step})"


class ToolRecord:
    """One tool call as the audit log keeps it.

    - ``step``, ``tool`` (the name), ``call_id``, ``arguments`` (parsed; the raw string
      when it was not JSON);
    - ``decision``: ``"allowed"`` (run), ``"confirmed"`` (a tool with effects, run after
      ``confirm`` said yes), ``"refused"`` (``allow`` said no), ``"unconfirmed"``
      (``confirm`` said no, or there was none), ``"unknown"`` (no such tool),
      ``"invalid"`` (arguments not JSON or not fitting the signature, or any call of a
      reply cut at its token limit, finish_reason "length": none is run; a call without
      an id, or the later call of an id used twice in one reply), ``"echoed"`` (a
      builtin: its arguments sent back);
    - ``result`` (what was sent back) or ``error`` (why not: ``"ValueError: ..."``, a
      timeout, a refusal); ``duration`` in seconds (0.0 for a call that did not run).
    """

    __slots__ = ("step", "tool", "call_id", "arguments", "decision", "result", "error", "duration")

    def __init__(self, step: int, tool: str, call_id: str, arguments: Any, decision: str,
                 result: str | None = None, error: str | None = None, duration: float = 0.0) -> None:
        self.step = step
        self.tool = tool
        self.call_id = call_id
        self.arguments = arguments
        self.decision = decision
        self.result = result
        self.error = error
        self.duration = duration

    def to_dict(self) -> dict[str, Any]:
        """The record as plain data (for a JSON log line)."""
        return {name: getattr(self, name) for name in self.__slots__}

    def __repr__(self) -> str:
        outcome = f"error={self.error!r}" if self.error is not None else f"result={self.result!r}"
        return f"ToolRecord(step={self.step}, tool={self.tool!r}, decision={self.decision!r}, {outcome})"


class ToolRun:
    """What ``run_tools`` returns.

    - ``reply``: the final ``ChatCompletion`` (the one without tool calls);
    - ``messages``: the transcript — the input messages, every assistant turn (as
      ``message.to_param()`` gives it: content, tool calls, ``reasoning_content``) and
      every tool result — ready to extend and send again;
    - ``records``: one ``ToolRecord`` per tool call, in order;
    - ``steps``: how many requests were made;
    - ``stream``: with ``stream=True``, the final step's stream (``ToolStream`` or
      ``AsyncToolStream``), else None.  Until that stream is read to its end (or
      ``final()`` is called), ``reply`` is None and ``messages`` lacks the final
      assistant turn; then both are filled in.
    """

    __slots__ = ("reply", "messages", "records", "steps", "stream")

    def __init__(self, messages: list[Any]) -> None:
        self.reply: Any = None
        self.messages = messages
        self.records: list[ToolRecord] = []
        self.steps = 0
        self.stream: Any = None

    def __repr__(self) -> str:
        return f"<ToolRun steps={self.steps} records={len(self.records)} done={self.reply is not None}>"


def _error(text: str) -> str:
    return json.dumps({"error": text}, ensure_ascii=False)


def _content_of(value: Any) -> str:
    """A tool's return value as the tool message's content: a str as is, else JSON."""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)


def _stream_kind(chunk: Any) -> str | None:
    """"tools" when a chunk starts tool calls, "content" when it carries content, else None."""
    for choice in chunk.choices or ():
        delta = choice.delta
        if delta is None:
            continue
        if delta.tool_calls:
            return "tools"
        if delta.content:
            return "content"
    return None


# -- the loop, written once ------------------------------------------------------------


class _Loop:
    """A run's settings and state; ``_steps`` drives it."""

    def __init__(self, model: str, messages: Any, tools: Any, allow: Any, max_steps: Any, tool_timeout: Any,
                 confirm: Any, audit: Any, stream: Any, create_params: dict[str, Any]) -> None:
        if isinstance(messages, (str, bytes, dict)) or not hasattr(messages, "__iter__"):
            raise TypeError("run_tools: messages must be a list of message dicts")
        if isinstance(tools, (str, bytes, Mapping)) or not hasattr(tools, "__iter__"):
            raise TypeError("run_tools: tools must be a list of tools")
        self.tools: dict[str, Tool] = {}
        for item in tools:
            made = as_tool(item)
            if made.name in self.tools:
                raise ValueError(f"run_tools: two tools are named {made.name!r} (the API refuses duplicates)")
            self.tools[made.name] = made
        if not self.tools:
            raise ValueError("run_tools: tools must not be empty (use chat.completions.create)")
        if len(self.tools) > MAX_TOOLS:
            raise ValueError(f"run_tools: {len(self.tools)} tools, but a request may declare at most {MAX_TOOLS}")
        if isinstance(allow, (str, bytes)):
            raise TypeError("run_tools: allow is None, a collection of tool names or a callable (call) -> bool")
        self.allow = allow if allow is None or callable(allow) else frozenset(allow)
        if isinstance(max_steps, bool) or not isinstance(max_steps, int) or max_steps < 1:
            raise ValueError(f"run_tools: max_steps must be an int >= 1, got {max_steps!r}")
        if isinstance(tool_timeout, bool) or not isinstance(tool_timeout, (int, float)) or not tool_timeout > 0:
            raise ValueError(f"run_tools: tool_timeout must be a number of seconds > 0, got {tool_timeout!r}")
        if not isinstance(stream, bool):
            raise TypeError("run_tools: stream must be a bool")
        for taken in ("tools", "n"):
            if taken in create_params and (taken != "n" or create_params[taken] not in (None, 1)):
                raise TypeError(f"run_tools: {taken} cannot be passed through (the loop sets it)")
        self.model = model
        self.max_steps = max_steps
        self.tool_timeout = float(tool_timeout)
        self.confirm = confirm
        self.audit = audit
        self.stream = stream
        self.params = create_params
        if WEB_SEARCH in self.tools:
            self._thinking_off_for_search()
        self.thinks = self._thinking_on()
        self.run = ToolRun(list(messages))
        for index, message in enumerate(self.run.messages):
            if not isinstance(message, Mapping):    # sent as is, every step: the API answers 400
                raise TypeError(f"run_tools: messages[{index}] is a {type(message).__name__}, not a message dict "
                                "(a reply's message goes back as message.to_param())")
        self._last: Any = None      # the last reply, for ToolLoopError
        self.cut = False            # whether it was cut at its token limit
        self.ids: set[Any] = set()
        self.schemas = [t.schema for t in self.tools.values()]

    def _thinking_off_for_search(self) -> None:
        """$web_search needs thinking disabled (the API answers 400 otherwise): turned off
        where it is on by default, refused where it was asked for or cannot be off."""
        asked = self.params.get("thinking")
        rules = rules_of(self.model) if isinstance(self.model, str) else None
        if asked is None:
            if rules is not None and rules.thinking == "toggle":
                self.params["thinking"] = {"type": "disabled"}
                return
            if rules is None or rules.thinking is None:
                return
            reason = f"{self.model} always thinks"
        else:
            value = thinking_field(asked)
            if isinstance(value, dict) and value.get("type") == "disabled":
                return
            reason = f"thinking={asked!r} was asked for"
        exc = InvalidRequestError(f"run_tools: the builtin $web_search needs thinking disabled, but {reason} "
                                  "(the API answers 400; pass thinking=False or use another model)",
                                  status_code=400, type="invalid_request_error")
        exc.rule = "web_search"
        raise exc

    def _thinking_on(self) -> bool:
        """Whether the requests think, by the model's rules (an unknown model: no)."""
        rules = rules_of(self.model) if isinstance(self.model, str) else None
        if rules is None or rules.thinking is None:
            return False
        asked = thinking_field(self.params.get("thinking"))
        if asked is None:
            return True
        return isinstance(asked, dict) and asked.get("type") != "disabled"

    def request(self) -> dict[str, Any]:
        """The next step's create() arguments; ToolLoopError past max_steps."""
        if self.run.steps >= self.max_steps:
            raise ToolLoopError(
                f"run_tools: the model still called tools after max_steps={self.max_steps} requests; "
                "the error's messages hold the transcript (their calls answered) to continue from",
                messages=self.run.messages, records=self.run.records, reply=self._last)
        self.run.steps += 1
        return {**self.params, "model": self.model, "messages": list(self.run.messages), "tools": self.schemas,
                "stream": self.stream}

    def answered(self, reply: Any) -> list[Any]:
        """Take a step's reply into the transcript; its tool calls (none: the run is done)."""
        self._last = reply
        self.cut = reply.choices[0].finish_reason == "length"
        self.ids: set[Any] = set()  # the call ids of this reply run so far
        message = reply.choices[0].message
        turn = message.to_param()
        if self.thinks and turn.get("tool_calls") and not turn.get("reasoning_content"):
            # A thinking model's tool-call turn without reasoning: sent back so, the next
            # request is refused (kimi-api.md §2); " " is what LiteLLM sends in its place.
            turn["reasoning_content"] = " "
        self.run.messages.append(turn)
        calls = message.tool_calls or []
        if not calls:
            self.run.reply = reply
        return calls

    def record(self, call: Any, arguments: Any, decision: str, result: str | None = None,
               error: str | None = None, duration: float = 0.0) -> ToolRecord:
        name = call.function.name if call.function is not None else None
        entry = ToolRecord(self.run.steps, name, call.id, arguments, decision, result, error, duration)
        self.run.records.append(entry)
        content = result if error is None else _error(error)
        self.run.messages.append({"role": "tool", "tool_call_id": call.id, "name": name, "content": content})
        return entry


def _steps(loop: _Loop) -> Any:
    """The loop as a generator of operations for a driver to perform (see ``_perform``):
    ``("create", kwargs)``, ``("next", stream)`` → a chunk or _END, ``("final", stream)``,
    ``("ask", func, arg, what)`` → func(arg) (``what`` names it: "allow", "confirm",
    "audit"), ``("run", tool, kwargs, timeout)`` → (ok, value);
    with stream=True, ``("hand", stream, chunks)`` gives the final step's stream to the
    caller and resumes with its reply once it is read.  Returns the ToolRun."""
    while True:
        kwargs = loop.request()
        if not loop.stream:
            reply = yield ("create", kwargs)
        else:
            stream = yield ("create", kwargs)
            chunks: list[Any] = []
            kind = None
            while kind is None:
                chunk = yield ("next", stream)
                if chunk is _END:
                    break
                chunks.append(chunk)
                kind = _stream_kind(chunk)
            if kind == "tools":
                reply = yield ("final", stream)
            else:       # content first (or nothing at all): the caller reads it
                reply = yield ("hand", stream, chunks)
        calls = loop.answered(reply)
        if not calls:
            return loop.run
        for call in calls:
            yield from _one_call(loop, call)


def _one_call(loop: _Loop, call: Any) -> Any:
    """Decide, run and record one tool call (see ToolRecord for the decisions)."""
    function = call.function
    name = function.name if function is not None else None
    raw = function.arguments if function is not None else None
    found = loop.tools.get(name)
    if found is None:
        known = ", ".join(sorted(loop.tools))
        entry = loop.record(call, raw, "unknown", error=f"unknown tool {name!r} (the tools are: {known})")
    elif found.builtin:
        entry = loop.record(call, _parsed_or_raw(raw), "echoed", result=raw if isinstance(raw, str) else "")
    else:
        entry = yield from _decide_and_run(loop, call, found, raw)
    if loop.audit is not None:
        yield ("ask", loop.audit, entry, "audit")


def _parsed_or_raw(raw: Any) -> Any:
    try:
        return json.loads(raw)
    except (TypeError, ValueError, RecursionError):
        return raw


def _unrunnable(loop: _Loop, call: Any, raw: Any) -> str | None:
    """Why a call of a declared tool is not run whatever its arguments say, or None."""
    if loop.cut:    # the last call may be a fragment that still parses ("" as {}): run none
        return ('the reply was cut at its token limit (finish_reason "length"), so its tool calls may be '
                "incomplete and none was run; call again, within the limit")
    if not isinstance(call.id, str) or not call.id:
        return "the call has no id to answer it by; not run"
    if call.id in loop.ids:     # a replay: a tool with effects would run twice
        return f"the call id {call.id!r} was used by an earlier call of this reply; not run"
    if raw is not None and not isinstance(raw, str):    # a JSON value, not its text: never read as {}
        return "the arguments must be a string of JSON text, not a JSON value"
    return None


def _decide_and_run(loop: _Loop, call: Any, found: Tool, raw: Any) -> Any:
    refusal = _unrunnable(loop, call, raw)
    if refusal is not None:
        shown = raw.to_dict() if hasattr(raw, "to_dict") else raw    # plain data, for a JSON log line
        return loop.record(call, _parsed_or_raw(shown), "invalid", error=refusal)
    loop.ids.add(call.id)
    try:
        arguments = json.loads(raw) if isinstance(raw, str) and raw.strip() else {}
    except ValueError as exc:
        return loop.record(call, raw, "invalid", error=f"the arguments are not valid JSON ({exc})")
    except RecursionError:      # json.loads recurses once per level of nesting
        return loop.record(call, raw, "invalid", error="the arguments are nested too deeply to decode")
    if not isinstance(arguments, dict):
        return loop.record(call, arguments, "invalid", error="the arguments must be a JSON object")
    try:
        kwargs = found.bind(arguments)
    except (TypeError, ValueError) as exc:
        return loop.record(call, arguments, "invalid", error=f"the arguments do not fit {found.name}: {exc}")
    pending = PendingCall(found.name, arguments, call.id, loop.run.steps)
    allow = loop.allow
    if allow is not None:
        allowed = _decided((yield ("ask", allow, pending, "allow")), "allow") if callable(allow) \
            else found.name in allow
        if not allowed:
            return loop.record(call, arguments, "refused", error=f"the tool {found.name} is not allowed here")
    decision = "allowed"
    if found.effects:
        if loop.confirm is None:
            return loop.record(call, arguments, "unconfirmed",
                               error=f"the tool {found.name} has effects and no one was asked to confirm it")
        if not _decided((yield ("ask", loop.confirm, pending, "confirm")), "confirm"):
            return loop.record(call, arguments, "unconfirmed", error=f"the call of {found.name} was not confirmed")
        decision = "confirmed"
    began = time.monotonic()
    ok, value = yield ("run", found, kwargs, loop.tool_timeout)
    duration = time.monotonic() - began
    if ok:
        try:
            return loop.record(call, arguments, decision, result=_content_of(value), duration=duration)
        except (TypeError, ValueError) as exc:
            value = f"the result is neither a str nor JSON-encodable ({exc})"
    return loop.record(call, arguments, decision, error=value, duration=duration)


def _decided(answer: Any, what: str) -> bool:
    """What ``allow`` or ``confirm`` answered, which must be True or False: anything else
    (None, "no", an awaitable) is a policy that failed, raised rather than guessed at."""
    if answer is True or answer is False:
        return answer
    raise TypeError(f"run_tools: {what} must return True or False, got {answer!r}")


def _asked(func: Callable[[Any], Any], arg: Any, what: str) -> Any:
    """``func(arg)`` for ``Kimi``, which does not await: an awaitable answer is refused
    (an ``async def`` policy belongs to ``AsyncKimi``)."""
    answer = func(arg)
    if inspect.isawaitable(answer):
        if inspect.iscoroutine(answer):
            answer.close()      # never awaited: no RuntimeWarning later
        raise TypeError(f"run_tools: {what} returned an awaitable, which Kimi does not await "
                        "(use AsyncKimi, or a function that is not async)")
    return answer


def _failure(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def _timed_out(found: Tool, timeout: float) -> str:
    return f"TimeoutError: {found.name} did not finish within {timeout:g} s"


def _in_thread(found: Tool, kwargs: dict[str, Any], report: Callable[[Any, Any], None]) -> None:
    """Run a tool on a daemon thread of its own (a coroutine it returns in an event loop
    of its own) and report (ok, value or error text), or (None, exc) for what is not an
    Exception (KeyboardInterrupt, SystemExit): ``_outcome`` raises it in the caller.  A
    tool still running at its timeout keeps its thread; being a daemon, it does not hold
    the interpreter at exit."""

    def work() -> None:
        try:
            value = found.func(**kwargs)
            if inspect.iscoroutine(value):  # async, or a plain function returning a coroutine
                import asyncio

                value = asyncio.run(value)
        except Exception as exc:   # noqa: BLE001 - a failure is the model's answer
            report(False, _failure(exc))
        except BaseException as exc:   # noqa: BLE001 - not the model's: raised by the loop
            report(None, exc)
        else:
            report(True, value)

    threading.Thread(target=work, name=f"kimi-tool-{found.name}", daemon=True).start()


def _run_blocking(found: Tool, kwargs: dict[str, Any], timeout: float) -> tuple[bool, Any]:
    done = threading.Event()
    box: list[tuple[Any, Any]] = []

    def report(ok: Any, value: Any) -> None:
        box.append((ok, value))
        done.set()

    _in_thread(found, kwargs, report)
    if not done.wait(timeout):
        return False, _timed_out(found, timeout)
    return _outcome(*box[0])


def _outcome(ok: Any, value: Any) -> tuple[bool, Any]:
    """A thread's report as (ok, value); what the tool raised that is not an Exception
    (KeyboardInterrupt, SystemExit) is raised here, ending the loop as it would a plain
    call."""
    if ok is None:
        raise value
    return ok, value


def _perform(completions: Any, op: tuple[Any, ...]) -> Any:
    kind = op[0]
    if kind == "create":
        return completions.create(**op[1])
    if kind == "next":
        return next(op[1], _END)
    if kind == "final":
        return op[1].final()
    if kind == "ask":
        return _asked(*op[1:])
    return _run_blocking(*op[1:])


def _send(steps: Any, value: Any) -> Any:
    """The loop's next operation, given the last one's outcome; None once it has ended."""
    try:
        return steps.send(value)
    except StopIteration:
        return None


def _advance(completions: Any, steps: Any, value: Any) -> Any:
    """Perform the loop's operations until it hands a stream over (that op) or ends (None)."""
    op = _send(steps, value)
    while op is not None and op[0] != "hand":
        op = _send(steps, _perform(completions, op))
    return op


def _closed_early() -> Any:
    """What ``final()`` of a tool stream closed before its end raises, as a plain stream's."""
    raise StreamError("final: the stream was closed before data: [DONE] of the run's last step")


class _HandedStream:
    """What both tool streams hold: the loop (its operations, its run) and the step being
    read, with the chunks the loop read first."""

    def __init__(self, completions: Any, steps: Any, run: ToolRun, hand: tuple[Any, ...]) -> None:
        self._completions = completions
        self._steps = steps
        self._run = run
        self._stream: Any = hand[1]
        self._chunks = deque(hand[2])

    def _take(self, hand: Any) -> None:
        """Go on with the stream the loop handed over next (None: the run is done)."""
        self._stream = None if hand is None else hand[1]
        if hand is not None:
            self._chunks.extend(hand[2])


class ToolStream(_HandedStream):
    """The final step's stream of a ``run_tools(stream=True)``: iterate for
    ``ChatCompletionChunk`` objects (the chunks the loop read to see that this step
    answers, then the rest), ``final()`` for the reply; a context manager.

    Should a step that began with content go on to call tools, the loop runs them and
    this stream carries on with the next step's chunks: the caller sees one stream, and
    ``final()`` is the last step's reply.
    """

    def __iter__(self) -> "ToolStream":
        return self

    def __next__(self) -> Any:
        while True:
            if self._chunks:
                return self._chunks.popleft()
            if self._stream is None:
                raise StopIteration
            chunk = next(self._stream, _END)
            if chunk is not _END:
                return chunk
            self._take(_advance(self._completions, self._steps, self._stream.final()))

    def final(self) -> Any:
        """Read what is left; the final ``ChatCompletion`` (also ``run.reply``);
        StreamError when the stream was closed first."""
        for _ in self:
            pass
        return self._run.reply or _closed_early()

    def close(self) -> None:
        """Abort the transfer of the step being read."""
        if self._stream is not None:
            self._stream.close()
            self._stream = None
        self._chunks.clear()

    def __enter__(self) -> "ToolStream":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def run_tools(completions: Any, model: str, messages: Any, tools: Any, allow: Any, max_steps: Any,
              tool_timeout: Any, confirm: Any, audit: Any, stream: Any, create_params: dict[str, Any]) -> ToolRun:
    """``Kimi.chat.run_tools``: the loop performed with calls that block."""
    loop = _Loop(model, messages, tools, allow, max_steps, tool_timeout, confirm, audit, stream, create_params)
    steps = _steps(loop)
    hand = _advance(completions, steps, None)
    if hand is not None:
        loop.run.stream = ToolStream(completions, steps, loop.run, hand)
    return loop.run


# -- the same loop, awaited ------------------------------------------------------------


async def _run_awaited(found: Tool, kwargs: dict[str, Any], timeout: float) -> tuple[bool, Any]:
    """An async tool as a task under wait_for; a sync one on its own thread (see
    ``_in_thread``), awaited as a future."""
    import asyncio

    if found.is_async:
        try:
            return True, await asyncio.wait_for(found.func(**kwargs), timeout)
        except asyncio.TimeoutError:
            return False, _timed_out(found, timeout)
        except Exception as exc:   # noqa: BLE001 - the model's answer; CancelledError passes
            return False, _failure(exc)
    loop = asyncio.get_running_loop()
    future = loop.create_future()

    def settle(ok: Any, value: Any) -> None:
        if not future.done():
            future.set_result((ok, value))

    def report(ok: Any, value: Any) -> None:
        try:
            loop.call_soon_threadsafe(settle, ok, value)
        except RuntimeError:    # the loop closed while the tool ran
            pass

    _in_thread(found, kwargs, report)
    try:
        return _outcome(*await asyncio.wait_for(future, timeout))
    except asyncio.TimeoutError:
        return False, _timed_out(found, timeout)


async def _aperform(completions: Any, op: tuple[Any, ...]) -> Any:
    kind = op[0]
    if kind == "create":
        return await completions.create(**op[1])
    if kind == "next":
        try:
            return await op[1].__anext__()
        except StopAsyncIteration:
            return _END
    if kind == "final":
        return await op[1].final()
    if kind == "ask":
        answer = op[1](op[2])
        return await answer if inspect.isawaitable(answer) else answer
    return await _run_awaited(*op[1:])


async def _aadvance(completions: Any, steps: Any, value: Any) -> Any:
    op = _send(steps, value)
    while op is not None and op[0] != "hand":
        op = _send(steps, await _aperform(completions, op))
    return op


class AsyncToolStream(_HandedStream):
    """``ToolStream`` for ``AsyncKimi``: ``async for chunk in run.stream``, ``await
    run.stream.final()``, ``async with``."""

    def __aiter__(self) -> "AsyncToolStream":
        return self

    async def __anext__(self) -> Any:
        while True:
            if self._chunks:
                return self._chunks.popleft()
            if self._stream is None:
                raise StopAsyncIteration
            try:
                return await self._stream.__anext__()
            except StopAsyncIteration:
                pass
            self._take(await _aadvance(self._completions, self._steps, await self._stream.final()))

    async def final(self) -> Any:
        """Read what is left; the final ``ChatCompletion`` (also ``run.reply``);
        StreamError when the stream was closed first."""
        async for _ in self:
            pass
        return self._run.reply or _closed_early()

    async def close(self) -> None:
        """Abort the transfer of the step being read."""
        if self._stream is not None:
            await self._stream.close()
            self._stream = None
        self._chunks.clear()

    async def __aenter__(self) -> "AsyncToolStream":
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


async def run_tools_async(completions: Any, model: str, messages: Any, tools: Any, allow: Any, max_steps: Any,
                          tool_timeout: Any, confirm: Any, audit: Any, stream: Any,
                          create_params: dict[str, Any]) -> ToolRun:
    """``AsyncKimi.chat.run_tools``: the loop performed with awaits."""
    loop = _Loop(model, messages, tools, allow, max_steps, tool_timeout, confirm, audit, stream, create_params)
    steps = _steps(loop)
    hand = await _aadvance(completions, steps, None)
    if hand is not None:
        loop.run.stream = AsyncToolStream(completions, steps, loop.run, hand)
    return loop.run
