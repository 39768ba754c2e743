"""The routes to Kimi models: ``kimi.providers``, the table behind ``Kimi(provider=...)``.

A provider is data: its base URL, where its key comes from, the headers it takes, its
names for the models, how it spells ``thinking``, and the dialect its replies come in
(which the C core reads as the API's own shapes, chunk by chunk, without Python).  The
default route (Moonshot's own API) uses none of this: a client of it never imports this
module.  ``fallbacks=`` on a client names further routes, tried in turn when one fails
with a connection error, a 5xx or an overload.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace

from . import _core

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Mapping

__all__ = ["Provider", "providers", "provider_of", "falls_back", "mark_route"]

# How each gateway spells the thinking switch (kimi-api.md §10).
THINKING_STYLES = ("thinking", "reasoning", "enable_thinking", "reasoning_effort")


@dataclass(frozen=True)
class Provider:
    """One route to Kimi models (an entry of ``kimi.providers``).

    - ``base_url``: may hold ``{name}`` fields filled from ``url_env``'s variables
      (Cloudflare's ``{account_id}`` from ``CLOUDFLARE_ACCOUNT_ID``); a client's
      ``base_url=`` replaces it (and is filled the same way).
    - ``key_env``: the environment variable the key comes from when ``api_key=`` is not
      given.
    - ``headers``: sent on every request of the route; ``env_headers``: header name →
      environment variable, sent when the variable is set.  A client's
      ``default_headers`` win over both.
    - ``models``: the platform's model ids → the gateway's; an id not in it (one
      already in the gateway's form, say) is sent as given.
    - ``thinking``: how the ``thinking`` object is sent: ``"thinking"`` as is,
      ``"reasoning"`` (OpenRouter's ``reasoning: {"enabled": ...}``),
      ``"enable_thinking"`` (SiliconFlow's bool), ``"reasoning_effort"`` (Cloudflare:
      ``null`` turns thinking off; on is its default).
    - ``native``: the model id goes in the path (Cloudflare's ``/ai/run/@cf/...``) and
      replies come in its ``{"result": ...}`` envelope.
    - ``dialect``: which of the gateway's reply shapes the core reads as the API's, as
      names (or their ``kimi._core.DIALECT_*`` bits): ``"reasoning"`` (``reasoning`` →
      ``reasoning_content`` on messages and deltas), ``"envelope"`` (Cloudflare's
      ``{"result": ...}`` and ``{"response": ...}`` chunks), ``"cloudflare_codes"``
      (its numeric error codes decide the error's class).
    """

    base_url: str
    key_env: str
    url_env: Mapping[str, str] = field(default_factory=dict)
    headers: Mapping[str, str] = field(default_factory=dict)
    env_headers: Mapping[str, str] = field(default_factory=dict)
    models: Mapping[str, str] = field(default_factory=dict)
    thinking: str = "thinking"
    native: bool = False
    dialect: Any = 0

    def __post_init__(self) -> None:
        if self.thinking not in THINKING_STYLES:
            raise ValueError(f"Provider: thinking must be one of {', '.join(THINKING_STYLES)}, got {self.thinking!r}")
        if not isinstance(self.dialect, int) or isinstance(self.dialect, bool):
            object.__setattr__(self, "dialect", dialect_bits(self.dialect))
        elif self.dialect < 0 or self.dialect & ~sum(_DIALECTS.values()):
            raise ValueError(f"Provider: dialect bits are kimi._core.DIALECT_*, got {self.dialect!r}")

    @property
    def translates(self) -> bool:
        """Whether a request needs rewriting for this route at all."""
        return bool(self.models) or self.thinking != "thinking" or self.native

    def replace(self, **changes: Any) -> Provider:
        """A copy with some fields changed (``kimi.providers["openrouter"].replace(...)``)."""
        return replace(self, **changes)

    def url(self, base_url: str | None) -> str:
        """The base URL (``base_url`` if given), its ``{fields}`` filled from the
        environment."""
        url = base_url or self.base_url
        if "{" not in url:
            return url
        values = {}
        for name, var in self.url_env.items():
            if "{" + name + "}" in url:
                value = os.environ.get(var)
                if not value:
                    from ._exceptions import KimiError

                    raise KimiError(f"Kimi: {url!r} needs {name}: set the {var} environment variable")
                values[name] = value
        return url.format(**values)

    def route_headers(self) -> dict[str, str]:
        headers = dict(self.headers)
        for name, var in self.env_headers.items():
            value = os.environ.get(var)
            if value:
                headers[name] = value
        return headers

    def model_id(self, model: str) -> str:
        """The gateway's id for a platform id; another gateway's id for the same model
        is mapped too (a fallback route gets the request of the first); any other id is
        sent as given."""
        mapped = self.models.get(model)
        if mapped is not None:
            return mapped
        canonical = _canonical_id(model)
        if canonical is not None:
            return self.models.get(canonical, model)
        return model

    def translate(self, shape: tuple[Any, ...]) -> tuple[Any, ...]:
        """A request shape (kimi/_resources.py) rewritten for this route: the chat
        body's model id and thinking switch, and for a native route the path."""
        method, path, body, *rest = shape
        if path != "/chat/completions" or body.__class__ is not dict:
            return shape
        body = dict(body)
        model = body["model"] = self.model_id(body["model"])
        thinking = body.get("thinking")
        if thinking is not None and self.thinking != "thinking":
            del body["thinking"]
            on = not (isinstance(thinking, dict) and thinking.get("type") == "disabled")
            if self.thinking == "reasoning":
                body["reasoning"] = {"enabled": on, **(body.get("reasoning") or {})}
            elif self.thinking == "enable_thinking":
                body.setdefault("enable_thinking", on)
            elif not on:
                body.setdefault("reasoning_effort", None)
        if self.native:
            del body["model"]
            path = "/" + model
        return (method, path, body, *rest)


_DIALECTS = {
    "reasoning": _core.DIALECT_REASONING,
    "envelope": _core.DIALECT_ENVELOPE,
    "cloudflare_codes": _core.DIALECT_CF_CODES,
}


def dialect_bits(names: Any) -> int:
    """The core's bits for a collection of dialect names."""
    if isinstance(names, str):
        names = (names,)
    bits = 0
    for name in names:
        if name not in _DIALECTS:
            raise ValueError(f"Provider: dialect names are {', '.join(_DIALECTS)}, got {name!r}")
        bits |= _DIALECTS[name]
    return bits


_CF = "https://api.cloudflare.com/client/v4/accounts/{account_id}/ai"
_CF_ACCOUNT = {"account_id": "CLOUDFLARE_ACCOUNT_ID"}
_CF_MODELS = {"kimi-k2.6": "@cf/moonshotai/kimi-k2.6", "kimi-k2.5": "@cf/moonshotai/kimi-k2.5"}
_CF_DIALECT = ("reasoning", "cloudflare_codes")

#: The routes by name.  Model ids are kimi-api.md §10's (kimi-k2.6 as documented by
#: each gateway; kimi-k2.5 as reported).  Add or replace entries to reach another
#: gateway: ``kimi.providers["mine"] = kimi.Provider(base_url=..., key_env=...)``.
providers: dict[str, Provider] = {
    "moonshot": Provider("https://api.moonshot.ai/v1", "MOONSHOT_API_KEY"),
    "moonshot-cn": Provider("https://api.moonshot.cn/v1", "MOONSHOT_API_KEY"),
    "openrouter": Provider(
        "https://openrouter.ai/api/v1",
        "OPENROUTER_API_KEY",
        env_headers={"HTTP-Referer": "OPENROUTER_HTTP_REFERER", "X-Title": "OPENROUTER_X_TITLE"},
        models={"kimi-k2.6": "moonshotai/kimi-k2.6", "kimi-k2.5": "moonshotai/kimi-k2.5"},
        thinking="reasoning",
        dialect="reasoning",
    ),
    "siliconflow": Provider(
        "https://api.siliconflow.cn/v1",
        "SILICONFLOW_API_KEY",
        models={"kimi-k2.6": "Pro/moonshotai/Kimi-K2.6", "kimi-k2.5": "Pro/moonshotai/Kimi-K2.5"},
        thinking="enable_thinking",
        dialect="reasoning",
    ),
    "cloudflare": Provider(
        _CF + "/v1",
        "CLOUDFLARE_API_TOKEN",
        url_env=_CF_ACCOUNT,
        models=_CF_MODELS,
        thinking="reasoning_effort",
        dialect=_CF_DIALECT,
    ),
    "cloudflare-native": Provider(
        _CF + "/run",
        "CLOUDFLARE_API_TOKEN",
        url_env=_CF_ACCOUNT,
        models=_CF_MODELS,
        thinking="reasoning_effort",
        native=True,
        dialect=(*_CF_DIALECT, "envelope"),
    ),
    "aimlapi": Provider(
        "https://api.aimlapi.com/v1",
        "AIMLAPI_API_KEY",
        models={"kimi-k2.6": "moonshot/kimi-k2-6", "kimi-k2.5": "moonshot/kimi-k2-5"},
    ),
}

def _canonical_id(model: str) -> str | None:
    """The platform id a gateway id of the table stands for, or None: read from the
    table as it is now (entries are added and replaced in place; a dozen ids, read
    only for an id not in the route's own map)."""
    for provider in list(providers.values()):
        for ours, theirs in provider.models.items():
            if theirs == model:
                return ours
    return None


def provider_of(name: Any) -> Provider:
    """The table's entry, or ValueError naming the known routes.  A route has a name
    (replies and streams carry it): a kimi.Provider is put in the table first."""
    if isinstance(name, Provider):
        raise TypeError(
            "Kimi: provider= takes a name of kimi.providers; put the kimi.Provider there first "
            "(kimi.providers['mine'] = ...) and pass 'mine'"
        )
    found = providers.get(name) if isinstance(name, str) else None
    if found is None:
        raise ValueError(f"Kimi: unknown provider {name!r}; kimi.providers has {', '.join(sorted(providers))}")
    return found


def falls_back(exc: Exception) -> bool:
    """Whether a route's final failure sends the request on to the next route: no
    response (a connection error or timeout), a 5xx, or an overload (429
    engine_overloaded_error).  Never a 4xx about the request, its key or its quota, nor
    the call's total timeout (it bounds every route together)."""
    from ._exceptions import APIConnectionError, APIStatusError, APITimeoutError

    if isinstance(exc, APITimeoutError) and exc.limit == "total":
        return False
    if isinstance(exc, APIStatusError):
        status = exc.status_code
        return 500 <= status <= 599 or (status == 429 and exc.type == "engine_overloaded_error")
    return isinstance(exc, APIConnectionError)


def mark_route(result: Any, name: str) -> Any:
    """The result with the name of the route that answered it: ``reply.route`` on a
    reply, ``stream.route`` on a stream."""
    kept = getattr(result, "_response", None)
    if kept is not None:
        result._response = (kept[0], kept[1], name)
    elif hasattr(type(result), "route"):
        result.route = name
    return result
