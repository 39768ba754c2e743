"""The builtin ``$web_search`` tool as the platform runs it (kimi-api.md §2).

A chat request that declares ``{"type": "builtin_function", "function": {"name":
"$web_search"}}`` and ends with a user message is answered (in place of the default echo)
with one ``builtin_function`` call whose arguments carry a search id and the query; the
client must send those arguments back unchanged as the tool message, and is then answered
with content.  Thinking must be off.  Pure functions over the parsed request; no state:
the call being answered is found in the request's own assistant turn.
"""

from __future__ import annotations

import json
import secrets
from typing import Any

from ._fixtures import find_model
from ._replies import EchoSpec, Reply

WEB_SEARCH = "$web_search"


def declares_web_search(request: Any) -> bool:
    """Whether the request's tools hold the builtin $web_search."""
    tools = request.get("tools") if isinstance(request, dict) else None
    return isinstance(tools, list) and any(
        isinstance(t, dict) and t.get("type") == "builtin_function"
        and isinstance(t.get("function"), dict) and t["function"].get("name") == WEB_SEARCH
        for t in tools
    )


def _thinking_on(request: dict[str, Any]) -> bool:
    """Thinking as the platform takes it: the ``thinking`` object, else the model's default
    (on for the models that reason)."""
    thinking = request.get("thinking")
    if isinstance(thinking, dict) and thinking.get("type") in ("enabled", "disabled"):
        return thinking["type"] == "enabled"
    model = find_model(str(request.get("model")))
    return bool(model and model["supports_reasoning"])


def _search_calls(messages: list[Any]) -> dict[str, str]:
    """{call id: arguments} of the $web_search calls in the assistant turns."""
    calls: dict[str, str] = {}
    for message in messages:
        if not isinstance(message, dict) or message.get("role") != "assistant":
            continue
        for call in message.get("tool_calls") or ():
            function = call.get("function") if isinstance(call, dict) else None
            if isinstance(function, dict) and function.get("name") == WEB_SEARCH:
                calls[str(call.get("id"))] = function.get("arguments")
    return calls


def web_search_problem(request: Any) -> str | None:
    """Why a chat request that uses $web_search is invalid, or None: thinking on with it,
    or a tool message for one of its calls whose content is not the call's arguments."""
    if not isinstance(request, dict):
        return None
    if declares_web_search(request) and _thinking_on(request):
        return "Invalid request: the builtin $web_search cannot be used with thinking enabled; disable thinking"
    messages = request.get("messages")
    calls = _search_calls(messages) if isinstance(messages, list) else {}
    for message in messages if calls else ():
        if isinstance(message, dict) and message.get("role") == "tool" and message.get("tool_call_id") in calls:
            if message.get("content") != calls[message["tool_call_id"]]:
                return (f"Invalid request: the tool message for $web_search call {message['tool_call_id']} must "
                        "carry the call's arguments unchanged as its content")
    return None


def _query(messages: list[Any]) -> str:
    for message in reversed(messages):
        if isinstance(message, dict) and message.get("role") == "user" and isinstance(message.get("content"), str):
            return message["content"]
    return ""


def web_search_reply(reply: Reply, request: Any) -> Reply:
    """The answer to a request using $web_search when `reply` is the default echo: the
    search call after a user message, content after the call's result; else `reply`."""
    if not isinstance(reply.spec, EchoSpec) or not declares_web_search(request):
        return reply
    messages = request["messages"]
    last = messages[-1] if isinstance(messages[-1], dict) else {}
    pace = {"delay": reply.spec.delay, "chunk_size": reply.spec.chunk_size}
    if last.get("role") == "user":
        arguments = json.dumps({"search_result": {"search_id": secrets.token_hex(8)}, "query": _query(messages)},
                               ensure_ascii=False)
        call = {"id": f"{WEB_SEARCH}:0", "type": "builtin_function", "name": WEB_SEARCH, "arguments": arguments}
        return Reply.chat(content="", tool_calls=[call], **pace)
    if last.get("role") == "tool" and last.get("tool_call_id") in _search_calls(messages):
        query = _query(messages)
        return Reply.chat(content=f"Searched the web for “{query}”: kimi.testing has no web, so here is this "
                          "answer instead.", **pace)
    return reply
