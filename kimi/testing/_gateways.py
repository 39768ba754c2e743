"""A gateway's face on the local server: ``KimiServer(gateway="openrouter")`` and the others.

What each gateway serves (its paths, its model ids, its error bodies) and how a request
to it reaches the server's own chat route: the path and model id are read in the
gateway's form (a model id in any other form gets the gateway's 400), the request is
answered as the API would answer it, and the answer is reshaped as the gateway sends it
(`_gateway_shapes.py`). The ids here are written out on their own, not taken from the
client's table, so a test of the client's mapping can fail.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from ._gateway_shapes import reshape
from ._paths import CHAT_PATH
from ._plan import Plan
from ._routes import authorized, route
from ._state import ServerState


@dataclass(frozen=True)
class Gateway:
    """One gateway: the base path its endpoints sit under (``{account}`` is any one path
    segment) and its model ids (theirs → the platform's)."""

    base: str
    models: dict[str, str] = field(default_factory=dict)


_K26 = "kimi-k2.6"
_K25 = "kimi-k2.5"
_CF_BASE = "/client/v4/accounts/{account}/ai"

GATEWAYS: dict[str, Gateway] = {
    "openrouter": Gateway("/api/v1", {"moonshotai/kimi-k2.6": _K26, "moonshotai/kimi-k2.5": _K25}),
    "siliconflow": Gateway("/v1", {"Pro/moonshotai/Kimi-K2.6": _K26, "Pro/moonshotai/Kimi-K2.5": _K25}),
    "cloudflare": Gateway(_CF_BASE + "/v1", {"@cf/moonshotai/kimi-k2.6": _K26, "@cf/moonshotai/kimi-k2.5": _K25}),
    "aimlapi": Gateway("/v1", {"moonshot/kimi-k2-6": _K26, "moonshot/kimi-k2-5": _K25}),
}
# The native Workers AI endpoint: POST <base>/run/<model id>, replies in an envelope.
GATEWAYS["cloudflare-native"] = Gateway(_CF_BASE + "/run", GATEWAYS["cloudflare"].models)
_CLOUDFLARE = ("cloudflare", "cloudflare-native")


def base_path(gateway: str, account: str = "{account_id}") -> str:
    """The path a client's base URL ends in for this gateway (Cloudflare's account id as
    a ``{account_id}`` field the client fills, unless one is given)."""
    return GATEWAYS[gateway].base.replace("{account}", account)


def _base_pattern(gateway: str) -> re.Pattern[str]:
    escaped = re.escape(GATEWAYS[gateway].base).replace(re.escape("{account}"), "[^/]+")
    return re.compile(escaped + "(/.*)?$")


def error_body(gateway: str, status: int, message: str, code: Any = None) -> dict[str, Any]:
    """The gateway's error body: Cloudflare's ``{"success": false, "errors": [...]}``
    envelope (code 10000 for authentication, 5007 for a bad request unless given),
    OpenRouter's numeric ``{"error": {"code", "message"}}``, SiliconFlow's flat
    ``{"code", "message", "data"}``, AIMLAPI's ``{"error": {"message", "type"}}``."""
    if gateway in _CLOUDFLARE:
        if code is None:
            code = 10000 if status == 401 else 5007
        return {"success": False, "errors": [{"code": code, "message": message}], "messages": [], "result": None}
    if gateway == "openrouter":
        return {"error": {"code": status if code is None else code, "message": message}}
    if gateway == "siliconflow":
        return {"code": 20012 if code is None else code, "message": message, "data": None}
    return {"error": {"message": message, "type": "invalid_request_error" if code is None else code}}


def _error_plan(gateway: str, status: int, message: str) -> Plan:
    body = json.dumps(error_body(gateway, status, message)).encode("utf-8")
    return Plan(status, [("Content-Type", "application/json")], body=body)


def gateway_route(
    state: ServerState,
    method: str,
    path: str,
    parsed: Any,
    headers: dict[str, str],
    query: str = "",
) -> Plan:
    """The Plan answering a request to the gateway `state.gateway` (see `route`)."""
    name = str(state.gateway)
    gateway = GATEWAYS[name]
    found = _base_pattern(name).match(path)
    if found is None:
        return _error_plan(name, 404, f"Not found: {method} {path}")
    rest = found.group(1) or ""
    if not authorized(state, headers):
        return _error_plan(name, 401, "Authentication error" if name in _CLOUDFLARE else "No auth credentials found")
    native = name == "cloudflare-native"
    if native and method == "POST" and rest.startswith("/"):
        model = rest[1:]
        request = dict(parsed, model=model) if isinstance(parsed, dict) else parsed
    elif not native and method == "POST" and rest == "/chat/completions":
        model = parsed.get("model") if isinstance(parsed, dict) else None
        request = parsed
    else:
        return route(state, method, "/v1" + rest, parsed, headers, query)
    ours = gateway.models.get(model) if isinstance(model, str) else None
    if ours is None:
        return _error_plan(name, 400, f"{model!r} is not a valid model ID on {name}")
    plan = route(state, method, CHAT_PATH, dict(request, model=ours), headers, query)
    return reshape(name, plan, request)
