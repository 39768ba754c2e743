"""Which answer a request gets: the API key check, chat validation, scripts, built-in endpoints.

Pure decisions over a parsed request and the server's `ServerState`; the result is a
`Plan` of bytes. No sockets here: `_handler.py` reads the request and has the Plan written
(an upload to ``POST /v1/files`` is read and decided by `_upload.py`). The file and
batch endpoints are `_file_routes.py` and `_batch_routes.py`.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote

from ._batch_routes import batch_route
from ._fixtures import balance_body, find_model, model_not_found_message, models_body
from ._file_routes import file_route
from ._paths import BALANCE_PATH, CHAT_PATH, ESTIMATE_PATH, MODELS_PATH
from ._plan import Plan, error_plan, invalid_plan, json_plan, not_found_plan, render
from ._state import ServerState
from ._tokens import estimate_body, estimate_tokens
from ._validation import NO_JSON, chat_problem, prompt_problem
from ._web_search import web_search_reply


def _model_plan(model_id: str) -> Plan:
    """GET /v1/models/{id}: the listed model object, or the API's 404."""
    model = find_model(model_id)
    if model is None:
        return not_found_plan(model_not_found_message(model_id))
    return json_plan(model)


def _estimate_plan(parsed: Any) -> Plan:
    """POST /v1/tokenizers/estimate-token-count: the count of `_tokens.py`'s rule, a 400
    for a body without model or messages, the chat route's 404 for an unknown model."""
    problem = prompt_problem(parsed)
    if problem is not None:
        return invalid_plan(problem)
    if not all(isinstance(message, dict) for message in parsed["messages"]):
        return invalid_plan("Invalid request: every message must be a JSON object")
    if find_model(parsed["model"]) is None:
        return not_found_plan(model_not_found_message(parsed["model"]))
    return json_plan(estimate_body(estimate_tokens(parsed)))


def authorized(state: ServerState, headers: dict[str, str]) -> bool:
    """Whether lower-case `headers` carry the server's key (always, when it has none)."""
    return state.api_key is None or headers.get("authorization") == f"Bearer {state.api_key}"


def unauthorized(state: ServerState, headers: dict[str, str]) -> Plan | None:
    """The API's 401 unless lower-case `headers` carry the server's key (if it has one)."""
    if not authorized(state, headers):
        return error_plan(401, "invalid_authentication_error", "Invalid Authentication")
    return None


def _builtin(state: ServerState, method: str, path: str, parsed: Any, query: str) -> Plan | None:
    """The built-in answer to `method` `path`, or None for a path the server lacks."""
    if method == "GET" and path == MODELS_PATH:
        return json_plan(models_body())
    if method == "GET" and path.startswith(MODELS_PATH + "/"):
        return _model_plan(unquote(path[len(MODELS_PATH) + 1 :]))
    if method == "GET" and path == BALANCE_PATH:
        return json_plan(balance_body())
    if method == "POST" and path == ESTIMATE_PATH:
        return _estimate_plan(parsed)
    found = file_route(state.files, method, path, query)
    if found is None:
        found = batch_route(state.batches, state.files, method, path, query, parsed)
    return found


def route(
    state: ServerState,
    method: str,
    path: str,
    parsed: Any,
    headers: dict[str, str],
    query: str = "",
) -> Plan:
    """The Plan answering `method` `path` (no query string; that is `query`) with body
    `parsed` (from `parse_json`) and lower-case `headers`; takes a scripted reply when
    one applies."""
    refused = unauthorized(state, headers)
    if refused is not None:
        return refused
    request = None if parsed is NO_JSON else parsed
    if path == CHAT_PATH and method == "POST":
        problem = chat_problem(parsed)
        if problem is not None:
            return invalid_plan(problem)
        return render(web_search_reply(state.take_chat(), request), request)
    scripted = state.take_for(path)
    if scripted is not None:
        return render(scripted, request)
    found = _builtin(state, method, path, parsed, query)
    if found is not None:
        return found
    return not_found_plan(f"Not found: {method} {path}")
