"""Gateways: Kimi(provider=...) and fallbacks= against kimi.testing's gateway modes.

Each gateway server checks its own key, serves its own paths and takes only its own
model ids (any other gets its 400), so the URL, the key's variable, the id mapping and
the parameter translation are proved by what the server received and answered; its
replies come in the gateway's shapes, so the normalisation is proved by what the client
returns.  Real sockets, no mocks.
"""

from __future__ import annotations

import asyncio
import pickle
import subprocess
import time
import urllib.request
from typing import Any, Iterator

import pytest

import kimi
from conftest import DONE, KEY, MESSAGES, MODEL, PYTHON, closed_port, create, delta_event, sse, subprocess_env
from kimi.testing import KimiServer, Reply

GATEWAY_KEYS = {
    "openrouter": ("OPENROUTER_API_KEY", "or-key"),
    "siliconflow": ("SILICONFLOW_API_KEY", "sf-key"),
    "cloudflare": ("CLOUDFLARE_API_TOKEN", "cf-token"),
    "cloudflare-native": ("CLOUDFLARE_API_TOKEN", "cf-token"),
    "aimlapi": ("AIMLAPI_API_KEY", "aiml-key"),
}
ACCOUNT = "acct-123"


def run(coro: Any) -> Any:
    return asyncio.run(asyncio.wait_for(coro, 30))


@pytest.fixture(scope="module")
def gateways() -> Iterator[dict[str, KimiServer]]:
    servers = {name: KimiServer(api_key=key, delay=0, gateway=name).start() for name, (_, key) in GATEWAY_KEYS.items()}
    yield servers
    for server in servers.values():
        server.close()


@pytest.fixture
def gw(gateways: dict[str, KimiServer], monkeypatch: pytest.MonkeyPatch) -> dict[str, KimiServer]:
    """The gateway servers, reset, with every gateway's key in its variable (and a
    Moonshot key that no gateway takes)."""
    for server in gateways.values():
        server.reset(Reply.echo(delay=0))
    for var, key in GATEWAY_KEYS.values():
        monkeypatch.setenv(var, key)
    monkeypatch.setenv("MOONSHOT_API_KEY", "sk-not-for-gateways")
    monkeypatch.setenv("CLOUDFLARE_ACCOUNT_ID", ACCOUNT)
    monkeypatch.delenv("KIMI_BASE_URL", raising=False)
    return gateways


def gateway_client(gw: dict[str, KimiServer], name: str, cls: type = kimi.Kimi, **options: Any) -> Any:
    options.setdefault("max_retries", 0)
    return cls(provider=name, base_url=gw[name].base_url, **options)


def last(server: KimiServer) -> Any:
    return server.requests[-1]


# -- the table -------------------------------------------------------------------------


def test_the_table_names_each_gateways_url_key_variable_and_model_ids() -> None:
    table = kimi.providers
    assert table["moonshot"].base_url == "https://api.moonshot.ai/v1"
    assert table["moonshot-cn"].base_url == "https://api.moonshot.cn/v1"
    assert table["openrouter"].base_url == "https://openrouter.ai/api/v1"
    assert table["siliconflow"].base_url == "https://api.siliconflow.cn/v1"
    assert table["cloudflare"].base_url == "https://api.cloudflare.com/client/v4/accounts/{account_id}/ai/v1"
    assert table["aimlapi"].base_url == "https://api.aimlapi.com/v1"
    assert [table[n].model_id("kimi-k2.6") for n in ("openrouter", "siliconflow", "cloudflare", "aimlapi")] == [
        "moonshotai/kimi-k2.6", "Pro/moonshotai/Kimi-K2.6", "@cf/moonshotai/kimi-k2.6", "moonshot/kimi-k2-6"]
    # Another gateway's id for the same model maps too; an unknown id passes through.
    assert table["openrouter"].model_id("@cf/moonshotai/kimi-k2.6") == "moonshotai/kimi-k2.6"
    assert table["openrouter"].model_id("moonshotai/kimi-k2.6") == "moonshotai/kimi-k2.6"
    assert table["openrouter"].model_id("someone/else") == "someone/else"


def test_an_unknown_provider_is_refused_naming_the_known_ones() -> None:
    with pytest.raises(ValueError, match="unknown provider 'nowhere'.*openrouter"):
        kimi.Kimi(provider="nowhere", api_key="k")


def test_a_provider_object_is_refused_for_a_name(gw: dict[str, KimiServer]) -> None:
    # Unnamed, its replies had a Provider for their route and its streams raised TypeError.
    with pytest.raises(TypeError, match=r"provider= takes a name of kimi.providers.*kimi.providers\['mine'\]"):
        kimi.Kimi(provider=kimi.providers["openrouter"].replace(base_url=gw["openrouter"].base_url))


def test_a_providers_dialect_is_names_or_the_cores_bits() -> None:
    both = kimi._core.DIALECT_REASONING | kimi._core.DIALECT_ENVELOPE
    assert kimi.Provider("https://gw.example/v1", "K", dialect=["reasoning", "envelope"]).dialect == both
    assert kimi.Provider("https://gw.example/v1", "K", dialect=both).dialect == both
    for wrong in (-1, 1 << 8):
        with pytest.raises(ValueError, match="dialect bits"):
            kimi.Provider("https://gw.example/v1", "K", dialect=wrong)
    with pytest.raises(ValueError, match="dialect names"):
        kimi.Provider("https://gw.example/v1", "K", dialect="rot13")


def test_the_key_comes_from_the_gateways_own_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENROUTER_API_KEY", raising=False)
    monkeypatch.setenv("MOONSHOT_API_KEY", "sk-moonshot")
    with pytest.raises(kimi.KimiError, match="OPENROUTER_API_KEY"):
        kimi.Kimi(provider="openrouter")
    monkeypatch.setenv("OPENROUTER_API_KEY", "or-from-env")
    assert kimi.Kimi(provider="openrouter").api_key == "or-from-env"
    assert kimi.Kimi(provider="openrouter", api_key="explicit").api_key == "explicit"


def test_cloudflare_needs_its_account_id(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLOUDFLARE_API_TOKEN", "t")
    monkeypatch.delenv("CLOUDFLARE_ACCOUNT_ID", raising=False)
    with pytest.raises(kimi.KimiError, match="CLOUDFLARE_ACCOUNT_ID"):
        kimi.Kimi(provider="cloudflare")
    monkeypatch.setenv("CLOUDFLARE_ACCOUNT_ID", "abc")
    assert kimi.Kimi(provider="cloudflare").base_url == "https://api.cloudflare.com/client/v4/accounts/abc/ai/v1"
    assert kimi.Kimi(provider="cloudflare-native").base_url.endswith("/accounts/abc/ai/run")


def test_the_client_names_its_route(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENROUTER_API_KEY", "k")
    assert kimi.Kimi(api_key="k").provider == "moonshot"
    assert kimi.Kimi(provider="moonshot-cn", api_key="k").base_url == "https://api.moonshot.cn/v1"
    assert kimi.Kimi(provider="moonshot-cn", api_key="k").provider == "moonshot-cn"
    assert kimi.Kimi(provider="openrouter").provider == "openrouter"


def test_the_default_route_does_not_import_the_providers_module() -> None:
    code = (
        "import sys, kimi\n"
        "kimi.Kimi(api_key='k')\n"
        "kimi.Kimi(api_key='k', provider='moonshot')\n"
        "assert 'kimi._providers' not in sys.modules, 'imported'\n"
        "kimi.Kimi(api_key='k', provider='openrouter')\n"
        "assert 'kimi._providers' in sys.modules\n"
    )
    done = subprocess.run([PYTHON, "-c", code], env=subprocess_env(), capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr


# -- OpenRouter ------------------------------------------------------------------------


def test_openrouter_path_key_headers_and_model_id(gw: dict[str, KimiServer], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENROUTER_HTTP_REFERER", "https://example.com/app")
    monkeypatch.setenv("OPENROUTER_X_TITLE", "My App")
    reply = create(gateway_client(gw, "openrouter"))
    seen = last(gw["openrouter"])
    assert seen.path == "/api/v1/chat/completions"
    assert seen.headers["authorization"] == "Bearer or-key"
    assert seen.headers["http-referer"] == "https://example.com/app"
    assert seen.headers["x-title"] == "My App"
    assert seen.json["model"] == "moonshotai/kimi-k2.6"
    assert reply.model == "moonshotai/kimi-k2.6"
    # The client's own headers win over the route's.
    create(gateway_client(gw, "openrouter", default_headers={"X-Title": "Mine"}))
    assert last(gw["openrouter"]).headers["x-title"] == "Mine"


def test_openrouter_reasoning_becomes_reasoning_content(gw: dict[str, KimiServer]) -> None:
    reply = create(gateway_client(gw, "openrouter"))
    message = reply.choices[0].message
    assert message.reasoning_content.startswith("The user asks")
    assert "reasoning" not in message.to_dict()
    # What OpenRouter adds is kept.
    assert reply.provider == "Moonshot AI"
    assert reply.choices[0].native_finish_reason == "stop"
    assert reply.usage.cost > 0
    assert reply.route == "openrouter"


def test_openrouter_stream_deltas_and_final_carry_reasoning_content(gw: dict[str, KimiServer]) -> None:
    stream = create(gateway_client(gw, "openrouter"), stream=True)
    assert stream.route == "openrouter"
    chunks = list(stream)
    reasoning = "".join(c.choices[0].delta.reasoning_content or "" for c in chunks if c.choices)
    assert reasoning.startswith("The user asks")
    assert not any("reasoning" in c.choices[0].delta.to_dict() for c in chunks if c.choices)
    final = stream.final()
    assert final.choices[0].message.reasoning_content == reasoning
    assert final.usage.cost > 0


def test_openrouter_processing_comments_are_on_the_wire_and_skipped(gw: dict[str, KimiServer]) -> None:
    server = gw["openrouter"]
    request = urllib.request.Request(
        server.base_url + "/chat/completions",
        data=b'{"model":"moonshotai/kimi-k2.6","messages":[{"role":"user","content":"x"}],"stream":true}',
        headers={"Authorization": "Bearer or-key", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        raw = response.read()
    assert raw.startswith(b": OPENROUTER PROCESSING\n\n")
    text = "".join(create(gateway_client(gw, "openrouter"), stream=True).text())
    assert text.startswith("You said")


def test_openrouter_thinking_is_sent_as_reasoning_enabled(gw: dict[str, KimiServer]) -> None:
    client = gateway_client(gw, "openrouter")
    off = create(client, thinking=False)
    sent = last(gw["openrouter"]).json
    assert sent["reasoning"] == {"enabled": False} and "thinking" not in sent
    assert off.choices[0].message.reasoning_content is None
    create(client, thinking=True)
    assert last(gw["openrouter"]).json["reasoning"] == {"enabled": True}


def test_openrouter_mid_stream_error_event_raises_typed(gw: dict[str, KimiServer]) -> None:
    error = {"id": "gen-1", "object": "chat.completion.chunk", "error": {"code": 502, "message": "Provider returned error"},
             "choices": [{"index": 0, "delta": {"content": ""}, "finish_reason": "error"}]}
    gw["openrouter"].script(Reply.raw([b": OPENROUTER PROCESSING\n\n", delta_event(content="Hi"), sse(error), DONE]))
    stream = create(gateway_client(gw, "openrouter"), stream=True)
    first = next(stream)
    assert first.choices[0].delta.content == "Hi"
    with pytest.raises(kimi.StreamError) as caught:
        next(stream)
    assert "Provider returned error" in str(caught.value)


def test_a_model_id_outside_the_gateways_form_gets_its_400(gw: dict[str, KimiServer]) -> None:
    client = gateway_client(gw, "openrouter")
    with pytest.raises(kimi.BadRequestError, match="not a valid model ID"):
        create(client, model="kimi-k2-turbo-preview")
    # An id already in the gateway's form passes through.
    assert create(client, model="moonshotai/kimi-k2.6").model == "moonshotai/kimi-k2.6"


def test_a_gateway_key_that_is_not_the_gateways_gets_its_401(gw: dict[str, KimiServer]) -> None:
    with pytest.raises(kimi.AuthenticationError, match="No auth credentials"):
        create(gateway_client(gw, "openrouter", api_key="sk-not-for-gateways"))


def test_model_rules_apply_to_gateway_ids_before_sending(gw: dict[str, KimiServer]) -> None:
    client = gateway_client(gw, "openrouter")
    for model in ("moonshotai/kimi-k2.6", "Pro/moonshotai/Kimi-K2.6", "@cf/moonshotai/kimi-k2.6", "moonshot/kimi-k2-6"):
        with pytest.raises(kimi.InvalidRequestError) as caught:
            create(client, model=model, temperature=0.3)
        assert caught.value.rule == "temperature"
    assert gw["openrouter"].requests == []


# -- SiliconFlow -----------------------------------------------------------------------


def test_siliconflow_path_key_model_and_enable_thinking(gw: dict[str, KimiServer]) -> None:
    client = gateway_client(gw, "siliconflow")
    on = create(client)
    seen = last(gw["siliconflow"])
    assert (seen.path, seen.headers["authorization"], seen.json["model"]) == (
        "/v1/chat/completions", "Bearer sf-key", "Pro/moonshotai/Kimi-K2.6")
    assert on.choices[0].message.reasoning_content.startswith("The user asks")
    off = create(client, thinking=False)
    sent = last(gw["siliconflow"]).json
    assert sent["enable_thinking"] is False and "thinking" not in sent
    assert off.choices[0].message.reasoning_content is None


# -- Cloudflare ------------------------------------------------------------------------


def test_cloudflare_openai_endpoint_account_key_model_and_reasoning(gw: dict[str, KimiServer]) -> None:
    client = gateway_client(gw, "cloudflare")
    reply = create(client)
    seen = last(gw["cloudflare"])
    assert seen.path == f"/client/v4/accounts/{ACCOUNT}/ai/v1/chat/completions"
    assert seen.headers["authorization"] == "Bearer cf-token"
    assert seen.json["model"] == "@cf/moonshotai/kimi-k2.6"
    assert reply.choices[0].message.reasoning_content.startswith("The user asks")
    final = create(client, stream=True).final()
    assert final.choices[0].message.reasoning_content.startswith("The user asks")


def test_cloudflare_thinking_off_is_a_null_reasoning_effort(gw: dict[str, KimiServer]) -> None:
    off = create(gateway_client(gw, "cloudflare"), thinking=False)
    sent = last(gw["cloudflare"]).json
    assert "reasoning_effort" in sent and sent["reasoning_effort"] is None and "thinking" not in sent
    assert off.choices[0].message.reasoning_content is None


def test_cloudflare_native_envelope_is_unwrapped(gw: dict[str, KimiServer]) -> None:
    reply = create(gateway_client(gw, "cloudflare-native"))
    seen = last(gw["cloudflare-native"])
    assert seen.path == f"/client/v4/accounts/{ACCOUNT}/ai/run/@cf/moonshotai/kimi-k2.6"
    assert "model" not in seen.json
    assert reply.choices[0].message.content.startswith("You said")
    assert reply.choices[0].message.reasoning_content.startswith("The user asks")
    assert reply.usage.total_tokens > 0
    assert "success" not in reply.to_dict()


def test_cloudflare_native_response_chunks_read_as_content(gw: dict[str, KimiServer]) -> None:
    stream = create(gateway_client(gw, "cloudflare-native"), stream=True)
    pieces = [c.choices[0].delta.content for c in stream]
    assert "".join(pieces).startswith("You said")
    final = stream.final()
    assert final.choices[0].message.content == "".join(pieces)
    assert final.usage.total_tokens > 0
    text = "".join(create(gateway_client(gw, "cloudflare-native"), stream=True).text())
    assert text == final.choices[0].message.content


def cf_error(code: int, message: str) -> dict[str, Any]:
    return {"success": False, "errors": [{"code": code, "message": message}], "messages": [], "result": None}


@pytest.mark.parametrize(
    ("status", "code", "error", "retried"),
    [
        (429, 3036, kimi.QuotaExceededError, False),     # the daily free quota: no retry
        (429, 3040, kimi.EngineOverloadedError, True),   # out of capacity: retried
        (400, 5007, kimi.InvalidRequestError, False),
        (400, 3042, kimi.NotFoundError, False),          # the code says 404
        (500, 3007, kimi.APIStatusError, True),          # the code says 408: retried
    ],
)
def test_cloudflare_error_codes_become_typed_errors(
    gw: dict[str, KimiServer], status: int, code: int, error: type, retried: bool
) -> None:
    server = gw["cloudflare"]
    server.script(*[Reply.error(status, cf_error(code, f"code {code}"), headers={"Retry-After": "0"})] * 2)
    with pytest.raises(error) as caught:
        create(gateway_client(gw, "cloudflare", max_retries=1))
    assert caught.value.code == code
    assert f"code {code}" in str(caught.value)
    assert len(server.requests) == (2 if retried else 1)


def test_cloudflare_authentication_failure_is_typed(gw: dict[str, KimiServer]) -> None:
    with pytest.raises(kimi.AuthenticationError, match="Authentication error"):
        create(gateway_client(gw, "cloudflare-native", api_key="wrong"))


# -- AIMLAPI ---------------------------------------------------------------------------


def test_aimlapi_path_model_and_meta_usage(gw: dict[str, KimiServer]) -> None:
    reply = create(gateway_client(gw, "aimlapi"), thinking=False)
    seen = last(gw["aimlapi"])
    assert (seen.path, seen.headers["authorization"], seen.json["model"]) == (
        "/v1/chat/completions", "Bearer aiml-key", "moonshot/kimi-k2-6")
    # thinking goes through as the API's object.
    assert seen.json["thinking"] == {"type": "disabled"}
    assert reply.meta.usage.usd_spent > 0
    assert reply.meta.usage.credits_used == 2 * reply.usage.total_tokens
    assert reply.model == "kimi-k2.6"


# -- extending the table ---------------------------------------------------------------


def test_an_added_provider_is_a_route(gw: dict[str, KimiServer], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(kimi.providers, "my-router", kimi.Provider(
        base_url=gw["openrouter"].base_url, key_env="MY_ROUTER_KEY",
        models={"kimi-k2.6": "moonshotai/kimi-k2.6"}, thinking="reasoning", dialect=["reasoning"],
        headers={"X-Title": "static"}))
    monkeypatch.setenv("MY_ROUTER_KEY", "or-key")
    reply = create(kimi.Kimi(provider="my-router"), thinking=False)
    seen = last(gw["openrouter"])
    assert seen.json["model"] == "moonshotai/kimi-k2.6" and seen.json["reasoning"] == {"enabled": False}
    assert seen.headers["x-title"] == "static"
    assert reply.route == "my-router"
    with pytest.raises(ValueError, match="dialect names"):
        kimi.Provider(base_url="https://x", key_env="K", dialect=["nope"])


# -- fallbacks -------------------------------------------------------------------------


def local_route(gw: dict[str, KimiServer], monkeypatch: pytest.MonkeyPatch, name: str = "openrouter") -> str:
    """A copy of the gateway's table entry that points at its local server."""
    route = f"local-{name}"
    monkeypatch.setitem(kimi.providers, route, kimi.providers[name].replace(base_url=gw[name].base_url))
    return route


def test_a_closed_port_falls_back_to_the_next_route(gw: dict[str, KimiServer], monkeypatch: pytest.MonkeyPatch) -> None:
    route = local_route(gw, monkeypatch)
    client = kimi.Kimi(api_key=KEY, base_url=f"http://127.0.0.1:{closed_port()}/v1", max_retries=1, fallbacks=[route])
    reply = create(client)
    assert reply.route == route
    # The request was translated for the route that answered.
    assert last(gw["openrouter"]).json["model"] == "moonshotai/kimi-k2.6"
    assert reply.choices[0].message.reasoning_content.startswith("The user asks")
    stream = create(client, stream=True)
    assert stream.route == route
    assert stream.final().choices[0].message.content.startswith("You said")


def test_a_503_after_its_retries_falls_back(server: KimiServer, gw: dict[str, KimiServer], monkeypatch: pytest.MonkeyPatch) -> None:
    route = local_route(gw, monkeypatch, "siliconflow")
    server.script(*[Reply.error(503, headers={"Retry-After": "0"})] * 2)
    client = kimi.Kimi(api_key=KEY, base_url=server.base_url, max_retries=1, fallbacks=[route])
    reply = create(client)
    assert len(server.requests) == 2        # the first route's retries came first
    assert reply.route == route
    assert last(gw["siliconflow"]).headers["authorization"] == "Bearer sf-key"


def test_an_overload_falls_back_but_a_quota_does_not(server: KimiServer, gw: dict[str, KimiServer], monkeypatch: pytest.MonkeyPatch) -> None:
    route = local_route(gw, monkeypatch)
    client = kimi.Kimi(api_key=KEY, base_url=server.base_url, max_retries=0, fallbacks=[route])
    server.script(Reply.error(429, Reply.moonshot_error("engine_overloaded_error", "busy"), headers={"Retry-After": "0"}))
    assert create(client).route == route
    server.script(Reply.error(429, Reply.moonshot_error("exceeded_current_quota_error", "suspended")))
    with pytest.raises(kimi.QuotaExceededError):
        create(client)
    assert len(gw["openrouter"].requests) == 1


@pytest.mark.parametrize("status", [400, 401])
def test_no_fallback_on_a_4xx(server: KimiServer, gw: dict[str, KimiServer], monkeypatch: pytest.MonkeyPatch, status: int) -> None:
    route = local_route(gw, monkeypatch)
    server.script(Reply.error(status))
    client = kimi.Kimi(api_key=KEY, base_url=server.base_url, max_retries=2, fallbacks=[route])
    with pytest.raises(kimi.APIStatusError) as caught:
        create(client)
    assert caught.value.status_code == status
    assert len(server.requests) == 1
    assert gw["openrouter"].requests == []


def test_the_last_routes_failure_is_raised(gw: dict[str, KimiServer], monkeypatch: pytest.MonkeyPatch) -> None:
    gw["openrouter"].script(Reply.error(502, {"error": {"code": 502, "message": "upstream down"}}))
    route = local_route(gw, monkeypatch)
    client = kimi.Kimi(api_key=KEY, base_url=f"http://127.0.0.1:{closed_port()}/v1", max_retries=0, fallbacks=[route])
    with pytest.raises(kimi.InternalServerError, match="upstream down"):
        create(client)


def test_fallback_routes_pickle_and_derive(gw: dict[str, KimiServer], monkeypatch: pytest.MonkeyPatch) -> None:
    client = kimi.Kimi(provider="openrouter", fallbacks=["siliconflow", "cloudflare"])
    assert [c.provider for c in client._fallbacks] == ["siliconflow", "cloudflare"]
    assert [c.api_key for c in client._fallbacks] == ["sf-key", "cf-token"]
    copy = pickle.loads(pickle.dumps(client))
    assert (copy.provider, [c.provider for c in copy._fallbacks]) == ("openrouter", ["siliconflow", "cloudflare"])
    twin = client.as_async()
    assert isinstance(twin._fallbacks[0], kimi.AsyncKimi)
    assert client.with_options(timeout=5)._fallbacks[1].provider == "cloudflare"
    # Each route keeps its own limits.
    assert client._fallbacks[0]._limiter is not client._limiter
    with pytest.raises(TypeError, match="fallbacks"):
        kimi.Kimi(api_key="k", fallbacks="openrouter")


# -- async -----------------------------------------------------------------------------


def test_async_gateway_normalisation_and_fallback(gw: dict[str, KimiServer], monkeypatch: pytest.MonkeyPatch) -> None:
    route = local_route(gw, monkeypatch)

    async def main() -> tuple[Any, ...]:
        async with gateway_client(gw, "openrouter", cls=kimi.AsyncKimi) as direct:
            reply = await direct.chat.completions.create(model=MODEL, messages=MESSAGES)
            stream = await direct.chat.completions.create(model=MODEL, messages=MESSAGES, stream=True)
            deltas = [c.choices[0].delta.reasoning_content async for c in stream if c.choices]
            final = await stream.final()
        falling = kimi.AsyncKimi(api_key=KEY, base_url=f"http://127.0.0.1:{closed_port()}/v1", max_retries=0,
                                 fallbacks=[route])
        async with falling:
            fell = await falling.chat.completions.create(model=MODEL, messages=MESSAGES)
            fell_stream = await falling.chat.completions.create(model=MODEL, messages=MESSAGES, stream=True)
            fell_final = await fell_stream.final()
        return reply, "".join(d or "" for d in deltas), final, fell, fell_stream, fell_final

    reply, reasoning, final, fell, fell_stream, fell_final = run(main())
    assert reply.choices[0].message.reasoning_content.startswith("The user asks")
    assert reply.route == "openrouter"
    assert final.choices[0].message.reasoning_content == reasoning != ""
    assert fell.route == route and fell_stream.route == route
    assert fell_final.choices[0].message.content.startswith("You said")


def test_async_no_fallback_on_a_401(server: KimiServer, gw: dict[str, KimiServer], monkeypatch: pytest.MonkeyPatch) -> None:
    route = local_route(gw, monkeypatch)

    async def main() -> None:
        async with kimi.AsyncKimi(api_key="wrong", base_url=server.base_url, fallbacks=[route]) as client:
            await client.chat.completions.create(model=MODEL, messages=MESSAGES)

    with pytest.raises(kimi.AuthenticationError):
        run(main())
    assert gw["openrouter"].requests == []


def test_async_cloudflare_native_stream(gw: dict[str, KimiServer]) -> None:
    async def main() -> Any:
        async with gateway_client(gw, "cloudflare-native", cls=kimi.AsyncKimi) as client:
            stream = await client.chat.completions.create(model=MODEL, messages=MESSAGES, stream=True)
            return await stream.final()

    assert run(main()).choices[0].message.content.startswith("You said")


def test_map_on_a_gateway_route_is_translated_and_normalised(gw: dict[str, KimiServer]) -> None:
    client = gateway_client(gw, "openrouter")
    results = list(client.chat.completions.map([{"model": MODEL, "messages": MESSAGES}] * 3))
    assert [r.error for r in results] == [None] * 3
    assert all(r.response.choices[0].message.reasoning_content.startswith("The user asks") for r in results)
    assert {r.json["model"] for r in gw["openrouter"].requests} == {"moonshotai/kimi-k2.6"}


def test_the_default_route_alone_marks_nothing(client: kimi.Kimi) -> None:
    assert create(client).route is None
    stream = create(client, stream=True)
    assert stream.route is None
    stream.close()


def test_a_cloudflare_failure_envelope_under_200_is_its_typed_error(gw: dict[str, KimiServer]) -> None:
    gw["cloudflare-native"].script(Reply.json(cf_error(3040, "Capacity temporarily exceeded")))
    with pytest.raises(kimi.EngineOverloadedError, match="Capacity temporarily exceeded") as caught:
        create(gateway_client(gw, "cloudflare-native"))
    assert caught.value.status_code == 429


def test_with_options_to_another_provider_takes_that_routes_key(gw: dict[str, KimiServer]) -> None:
    moonshot = kimi.Kimi()
    routed = moonshot.with_options(provider="openrouter")
    assert (routed.api_key, routed.base_url) == ("or-key", "https://openrouter.ai/api/v1")
    assert moonshot.with_options(timeout=3).api_key == "sk-not-for-gateways"
    assert moonshot.with_options(provider="openrouter", api_key="given").api_key == "given"


def test_a_cut_openrouter_stream_is_a_stream_error_after_the_same_events(gw: dict[str, KimiServer]) -> None:
    gw["openrouter"].script(Reply.chat(content="abcdefgh" * 4, reasoning=None, chunk_size=8, disconnect_after=3))
    stream = create(gateway_client(gw, "openrouter"), stream=True)
    contents = []
    with pytest.raises(kimi.StreamError):
        for chunk in stream:
            contents.append(chunk.choices[0].delta.content)
    assert contents == ["", "abcdefgh", "abcdefgh"]     # the role chunk, then two: as the API cuts it


# -- what a fallback must not do, and what it keeps ------------------------------------


def test_a_stream_that_breaks_after_it_was_handed_out_does_not_fall_back(
    server: KimiServer, gw: dict[str, KimiServer], monkeypatch: pytest.MonkeyPatch
) -> None:
    route = local_route(gw, monkeypatch)
    server.script(Reply.chat(content="abcdefgh" * 4, chunk_size=8, disconnect_after=3))
    stream = create(kimi.Kimi(api_key=KEY, base_url=server.base_url, max_retries=2, fallbacks=[route]), stream=True)
    assert stream.route == "moonshot"
    with pytest.raises(kimi.StreamError):
        list(stream)
    assert len(server.requests) == 1
    assert gw["openrouter"].requests == []      # never asked (and billed) twice


def test_a_complete_reply_that_cannot_be_read_does_not_fall_back(
    server: KimiServer, gw: dict[str, KimiServer], monkeypatch: pytest.MonkeyPatch
) -> None:
    route = local_route(gw, monkeypatch)
    server.script(Reply.json(b"{not json"))
    with pytest.raises(kimi.APIResponseValidationError):
        create(kimi.Kimi(api_key=KEY, base_url=server.base_url, max_retries=2, fallbacks=[route]))
    assert gw["openrouter"].requests == []


def test_the_total_timeout_bounds_every_route_together(
    server: KimiServer, gw: dict[str, KimiServer], monkeypatch: pytest.MonkeyPatch
) -> None:
    route = local_route(gw, monkeypatch)
    server.script(Reply.no_response(stall=True))
    client = kimi.Kimi(api_key=KEY, base_url=server.base_url, max_retries=0, fallbacks=[route],
                       timeout=kimi.Timeout(10, total=0.5))
    started = time.monotonic()
    with pytest.raises(kimi.APITimeoutError) as caught:
        create(client)
    assert caught.value.limit == "total"
    assert time.monotonic() - started < 1.5
    assert gw["openrouter"].requests == []      # the call's time was spent


def test_async_the_total_timeout_bounds_every_route_together(
    server: KimiServer, gw: dict[str, KimiServer], monkeypatch: pytest.MonkeyPatch
) -> None:
    route = local_route(gw, monkeypatch)
    server.script(Reply.no_response(stall=True))

    async def main() -> float:
        async with kimi.AsyncKimi(api_key=KEY, base_url=server.base_url, max_retries=0, fallbacks=[route],
                                  timeout=kimi.Timeout(10, total=0.5)) as client:
            started = time.monotonic()
            with pytest.raises(kimi.APITimeoutError) as caught:
                await client.chat.completions.create(model=MODEL, messages=MESSAGES)
            assert caught.value.limit == "total"
            return time.monotonic() - started

    assert run(main()) < 1.5
    assert gw["openrouter"].requests == []


def test_a_fallback_route_answers_within_what_is_left_of_the_total(
    gw: dict[str, KimiServer], monkeypatch: pytest.MonkeyPatch
) -> None:
    route = local_route(gw, monkeypatch)
    client = kimi.Kimi(api_key=KEY, base_url=f"http://127.0.0.1:{closed_port()}/v1", max_retries=0,
                       fallbacks=[route], timeout=kimi.Timeout(10, total=5))
    assert create(client).route == route


def test_replies_a_fallback_route_answers_count_into_the_clients_usage(
    gw: dict[str, KimiServer], monkeypatch: pytest.MonkeyPatch
) -> None:
    route = local_route(gw, monkeypatch)
    client = kimi.Kimi(api_key=KEY, base_url=f"http://127.0.0.1:{closed_port()}/v1", max_retries=0, fallbacks=[route])
    create(client)
    create(client, stream=True).final()
    assert client.usage.requests == 2
    assert client.usage.completion_tokens > 0
    # So do those of its twin and of clients derived from it.
    run(client.as_async().chat.completions.create(model=MODEL, messages=MESSAGES))
    create(client.with_options(max_retries=0))
    assert client.usage.requests == 4
    # A client given as a route keeps its own.
    own = kimi.Kimi(provider=route, max_retries=0)
    create(kimi.Kimi(api_key=KEY, base_url=f"http://127.0.0.1:{closed_port()}/v1", max_retries=0, fallbacks=[own]))
    assert own.usage.requests == 1


def test_named_fallbacks_are_rebuilt_with_the_derived_clients_settings(
    gw: dict[str, KimiServer], monkeypatch: pytest.MonkeyPatch
) -> None:
    own = kimi.Kimi(provider="siliconflow", api_key="sf-given")
    client = kimi.Kimi(provider="openrouter", fallbacks=["cloudflare", own])
    derived = client.with_options(timeout=5, max_retries=1)
    assert [(c.provider, c.timeout.read, c.max_retries) for c in derived._fallbacks[:1]] == [("cloudflare", 5, 1)]
    assert derived._fallbacks[1] is own
    copy = pickle.loads(pickle.dumps(client))
    assert [c.provider for c in copy._fallbacks] == ["cloudflare", "siliconflow"]
    assert copy._fallbacks[1].api_key == "sf-given"
    # A route named is read from its variable where the client is made again.
    monkeypatch.setenv("CLOUDFLARE_API_TOKEN", "cf-rotated")
    assert pickle.loads(pickle.dumps(client))._fallbacks[0].api_key == "cf-rotated"


def test_a_named_fallback_without_its_key_is_refused_when_the_client_is_made(
    gw: dict[str, KimiServer], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OPENROUTER_API_KEY")
    with pytest.raises(kimi.KimiError, match=r"fallbacks: no API key for provider 'openrouter': set the "
                                             r"OPENROUTER_API_KEY environment variable, or pass a client"):
        kimi.Kimi(api_key=KEY, fallbacks=["openrouter"])
    with pytest.raises(ValueError, match="unknown provider 'nowhere'"):
        kimi.Kimi(api_key=KEY, fallbacks=["nowhere"])
    assert kimi.Kimi(api_key=KEY, fallbacks=[])._routed is False
    # Given as a client, the route has the key it was given.
    given = kimi.Kimi(provider="openrouter", api_key="or-given")
    assert kimi.Kimi(api_key=KEY, fallbacks=[given])._fallbacks[0].api_key == "or-given"


def test_an_entry_replaced_in_place_is_read_for_the_id_mapping(
    gw: dict[str, KimiServer], monkeypatch: pytest.MonkeyPatch
) -> None:
    client = gateway_client(gw, "openrouter")
    create(client, model="Pro/moonshotai/Kimi-K2.6")      # SiliconFlow's id, mapped
    assert last(gw["openrouter"]).json["model"] == "moonshotai/kimi-k2.6"
    monkeypatch.setitem(kimi.providers, "siliconflow",
                        kimi.providers["siliconflow"].replace(models={"kimi-k2.6": "SF/kimi-k2.6-new"}))
    create(client, model="SF/kimi-k2.6-new")
    assert last(gw["openrouter"]).json["model"] == "moonshotai/kimi-k2.6"


def test_a_rules_entry_replaced_in_place_is_read_for_gateway_ids(
    gw: dict[str, KimiServer], monkeypatch: pytest.MonkeyPatch
) -> None:
    client = gateway_client(gw, "openrouter")
    create(client, model="moonshotai/kimi-k2.6", thinking=False)
    monkeypatch.setitem(kimi.model_rules, "kimi-k2.6", kimi.ModelRules(thinking=None))
    with pytest.raises(kimi.InvalidRequestError) as caught:
        create(client, model="moonshotai/kimi-k2.6", thinking=False)
    assert caught.value.rule == "thinking"
    assert len(gw["openrouter"].requests) == 1


def test_partial_mode_on_a_gateway_route_and_its_fallback(
    gw: dict[str, KimiServer], monkeypatch: pytest.MonkeyPatch
) -> None:
    route = local_route(gw, monkeypatch)
    pieces = (Reply.chat(content="part one ", finish_reason="length"), Reply.chat(content="part two"))
    client = kimi.Kimi(api_key=KEY, base_url=f"http://127.0.0.1:{closed_port()}/v1", max_retries=0, fallbacks=[route])
    gw["openrouter"].script(*pieces)
    reply = create(client, continue_on_length=2)
    assert (reply.choices[0].message.content, reply.route) == ("part one part two", route)
    gw["openrouter"].script(*pieces)
    stream = create(client, continue_on_length=2, stream=True)
    assert stream.route == route
    assert "".join(stream.text()) == "part one part two"
    sent = last(gw["openrouter"]).json
    assert sent["model"] == "moonshotai/kimi-k2.6"
    assert sent["messages"][-1] == {"role": "assistant", "content": "part one ", "partial": True}


def test_run_tools_on_a_fallback_route(gw: dict[str, KimiServer], monkeypatch: pytest.MonkeyPatch) -> None:
    route = local_route(gw, monkeypatch)

    def add(a: int, b: int) -> int:
        """Add two numbers."""
        return a + b

    gw["openrouter"].script(Reply.chat(content=None, tool_calls=[{"id": "c1", "name": "add", "arguments": {"a": 1, "b": 2}}]),
                            Reply.chat(content="3"))
    client = kimi.Kimi(api_key=KEY, base_url=f"http://127.0.0.1:{closed_port()}/v1", max_retries=0, fallbacks=[route])
    done = client.chat.run_tools(model=MODEL, messages=MESSAGES, tools=[add])
    assert (done.reply.choices[0].message.content, done.reply.route) == ("3", route)
    assert [r.json["model"] for r in gw["openrouter"].requests] == ["moonshotai/kimi-k2.6"] * 2
    assert gw["openrouter"].requests[1].json["messages"][-1]["content"] == "3"


def test_log_bodies_and_raw_responses_on_a_fallback_route(
    gw: dict[str, KimiServer], monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    route = local_route(gw, monkeypatch)
    client = kimi.Kimi(api_key=KEY, base_url=f"http://127.0.0.1:{closed_port()}/v1", max_retries=0,
                       fallbacks=[route], log_bodies=True)
    with caplog.at_level("DEBUG", logger="kimi"):
        reply = create(client)
    assert reply.route == route
    assert any("200 reply" in r.getMessage() and "moonshotai/kimi-k2.6" in r.getMessage() for r in caplog.records)
    raw = client.chat.completions.with_raw_response.create(model=MODEL, messages=MESSAGES)
    assert (raw.status_code, raw.headers["content-type"], raw.parse().route) == (200, "application/json", route)
    assert pickle.loads(pickle.dumps(reply)).route == route


def test_a_cloudflare_envelope_that_says_no_success_is_no_reply(gw: dict[str, KimiServer]) -> None:
    gw["cloudflare-native"].script(Reply.json({"success": False, "errors": {"code": 3040}, "result": None}))
    with pytest.raises(kimi.APIStatusError) as caught:
        create(gateway_client(gw, "cloudflare-native"))
    assert '"success":false' in str(caught.value).replace(" ", "")


def test_the_sync_map_falls_back_as_create_does(
    server: KimiServer, gw: dict[str, KimiServer], monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    route = local_route(gw, monkeypatch)
    client = kimi.Kimi(api_key=KEY, base_url=f"http://127.0.0.1:{closed_port()}/v1", max_retries=1, fallbacks=[route])
    with caplog.at_level("DEBUG", logger="kimi"):
        results = list(client.chat.completions.map([{"model": MODEL, "messages": MESSAGES}] * 3))
    assert [(r.error, r.response.route) for r in results] == [(None, route)] * 3
    assert sum("map item" in r.getMessage() and " 200 in " in r.getMessage() for r in caplog.records) == 3
    assert [r.json["model"] for r in gw["openrouter"].requests] == ["moonshotai/kimi-k2.6"] * 3
    assert client.usage.requests == 3
    # A 4xx stays on its route; a route alone names itself.
    server.script(Reply.error(401))
    refused = list(kimi.Kimi(api_key=KEY, base_url=server.base_url, fallbacks=[route]).chat.completions.map(
        [{"model": MODEL, "messages": MESSAGES}]))
    assert isinstance(refused[0].error, kimi.AuthenticationError)
    assert len(gw["openrouter"].requests) == 3
    alone = list(gateway_client(gw, "openrouter").chat.completions.map([{"model": MODEL, "messages": MESSAGES}]))
    assert alone[0].response.route == "openrouter"


def test_a_named_fallback_route_does_not_carry_this_hosts_headers(
    server: KimiServer, gw: dict[str, KimiServer], monkeypatch: pytest.MonkeyPatch
) -> None:
    route = local_route(gw, monkeypatch)
    client = kimi.Kimi(api_key=KEY, base_url=f"http://127.0.0.1:{closed_port()}/v1", max_retries=0,
                       default_headers={"X-Internal-Token": "secret"}, fallbacks=[route])
    assert create(client).route == route
    assert "x-internal-token" not in last(gw["openrouter"]).headers
