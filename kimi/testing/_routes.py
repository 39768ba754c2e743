"""Which answer a request gets: the API key check, chat validation, scripts, built-in endpoints.

Pure decisions over a parsed request and the server's `ServerState`; the result is a
`Plan` of bytes. No sockets here: `_handler.py` reads the request and has the Plan written.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import unquote

from ._fixtures import balance_body, find_model, model_not_found_message, models_body
from ._plan import MAX_CHOICES, Plan, is_choice_count, render
from ._replies import Reply
from ._state import ServerState

CHAT_PATH = "/v1/chat/completions"
MODELS_PATH = "/v1/models"
BALANCE_PATH = "/v1/users/me/balance"
#: What `parse_json` returns for an empty or non-JSON body (None is valid JSON).
NO_JSON = object()


def error_plan(status: int, type_: str, message: str) -> Plan:
    """A Moonshot-shaped error body with Content-Length."""
    return render(Reply.error(status, Reply.moonshot_error(type_, message)), None)


def parse_json(body: bytes) -> Any:
    """The parsed body, or `NO_JSON` when it is empty or not UTF-8 JSON."""
    if not body.strip():
        return NO_JSON
    try:
        return json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return NO_JSON


def _validate_chat(parsed: Any) -> str | None:
    """Why a chat request body is invalid, or None when it is acceptable."""
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
    n = parsed.get("n")
    if n is not None and not is_choice_count(n):
        return f"Invalid request: n must be an integer from 1 to {MAX_CHOICES}, got {json.dumps(n)}"
    return None


def _model_plan(model_id: str) -> Plan:
    """GET /v1/models/{id}: the listed model object, or the API's 404."""
    model = find_model(model_id)
    if model is None:
        return error_plan(404, "resource_not_found_error", model_not_found_message(model_id))
    return render(Reply.json(model), None)


def route(
    state: ServerState, method: str, path: str, parsed: Any, headers: dict[str, str]
) -> Plan:
    """The Plan answering `method` `path` (no query string) with body `parsed` (from
    `parse_json`) and lower-case `headers`; takes a scripted reply when one applies."""
    if state.api_key is not None and headers.get("authorization") != f"Bearer {state.api_key}":
        return error_plan(401, "invalid_authentication_error", "Invalid Authentication")
    request = None if parsed is NO_JSON else parsed
    if path == CHAT_PATH and method == "POST":
        problem = _validate_chat(parsed)
        if problem is not None:
            return error_plan(400, "invalid_request_error", problem)
        return render(state.take_chat(), request)
    scripted = state.take_for(path)
    if scripted is not None:
        return render(scripted, request)
    if method == "GET" and path == MODELS_PATH:
        return render(Reply.json(models_body()), None)
    if method == "GET" and path.startswith(MODELS_PATH + "/"):
        return _model_plan(unquote(path[len(MODELS_PATH) + 1 :]))
    if method == "GET" and path == BALANCE_PATH:
        return render(Reply.json(balance_body()), None)
    return error_plan(404, "resource_not_found_error", f"Not found: {method} {path}")
