"""Cost and usage: kimi.cost and reply.cost against hand-computed figures, the price
table users extend, client.usage totals counted by the core under threads, streams,
maps and async tasks, derived clients with defaults, and model checks."""

from __future__ import annotations

import asyncio
import pickle
import threading

import pytest

import kimi
from kimi.testing import Reply

from conftest import KEY, MESSAGES, MODEL

USAGE = {"prompt_tokens": 1000, "completion_tokens": 200, "total_tokens": 1200, "cached_tokens": 600}


def test_cost_prices_cache_hits_misses_and_output_by_hand() -> None:
    # kimi-k2.6: $0.16 hit, $0.95 miss, $4.00 output per 1M tokens.
    # 600 * 0.16 + 400 * 0.95 + 200 * 4.00 = 96 + 380 + 800 = 1276 -> $0.001276
    assert kimi.cost(USAGE, "kimi-k2.6") == pytest.approx(0.001276, abs=1e-12)
    # kimi-k2.5: 600 * 0.10 + 400 * 0.60 + 200 * 3.00 = 60 + 240 + 600 = 900 -> $0.0009
    assert kimi.cost(USAGE, "kimi-k2.5") == pytest.approx(0.0009, abs=1e-12)


def test_cost_reads_cached_tokens_in_prompt_details_and_gateway_names() -> None:
    usage = {"prompt_tokens": 1000, "completion_tokens": 200, "prompt_tokens_details": {"cached_tokens": 600}}
    for name in ("kimi-k2.6", "moonshotai/kimi-k2.6", "@cf/moonshotai/kimi-k2.6", "moonshot/kimi-k2-6", "Pro/moonshotai/Kimi-K2.6"):
        assert kimi.cost(usage, name) == pytest.approx(0.001276, abs=1e-12), name
    no_cache = {"prompt_tokens": 1_000_000, "completion_tokens": 0}
    assert kimi.cost(no_cache, "kimi-k2.6") == pytest.approx(0.95)


def test_a_gateways_own_cost_wins() -> None:
    assert kimi.cost({**USAGE, "cost": 0.0123}, "kimi-k2.6") == 0.0123
    assert kimi.cost({**USAGE, "cost": 0.5}, "model-without-a-price") == 0.5


def test_unknown_model_is_a_clear_error_and_prices_can_be_added(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValueError, match="kimi.prices"):
        kimi.cost(USAGE, "my-fine-tune")
    monkeypatch.setitem(kimi.prices, "my-fine-tune", kimi.Price(cache_hit=1, cache_miss=2, output=10))
    # 600 * 1 + 400 * 2 + 200 * 10 = 3400 -> $0.0034
    assert kimi.cost(USAGE, "my-fine-tune") == pytest.approx(0.0034, abs=1e-12)
    with pytest.raises(ValueError):
        kimi.Price(-1, 0, 0)
    assert pickle.loads(pickle.dumps(kimi.Price(1, 2, 3))) == kimi.Price(1, 2, 3)


def test_reply_cost_from_the_server(make_client, server) -> None:
    server.script(Reply.chat("hi", usage=USAGE))
    reply = make_client().chat.completions.create(model=MODEL, messages=MESSAGES)
    assert reply.cost == pytest.approx(0.001276, abs=1e-12)
    server.script(Reply.chat("hi", usage=USAGE, model="unpriced-model"))
    assert make_client().chat.completions.create(model=MODEL, messages=MESSAGES).cost is None


def test_a_streams_final_reply_has_its_cost(make_client, server) -> None:
    server.script(Reply.chat("streamed", usage=USAGE))
    with make_client().chat.completions.create(model=MODEL, messages=MESSAGES, stream=True) as stream:
        text = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    assert text == "streamed"
    assert stream.final().cost == pytest.approx(0.001276, abs=1e-12)


def test_usage_totals_under_16_threads(make_client, server) -> None:
    server.default = Reply.chat("ok", usage={**USAGE, "completion_tokens_details": {"reasoning_tokens": 50}})
    client = make_client()
    per_thread = 25

    def work() -> None:
        for _ in range(per_thread):
            client.chat.completions.create(model=MODEL, messages=MESSAGES)

    threads = [threading.Thread(target=work) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    usage = client.usage
    n = 16 * per_thread
    assert usage.requests == n
    assert usage.prompt_tokens == 1000 * n
    assert usage.cached_tokens == 600 * n
    assert usage.completion_tokens == 200 * n
    assert usage.reasoning_tokens == 50 * n
    assert usage.total_tokens == 1200 * n
    assert usage.cost == pytest.approx(0.001276 * n)
    assert usage.by_model[MODEL].requests == n
    client.reset_usage()
    assert client.usage.requests == 0


def test_usage_counts_streams_maps_and_async_tasks_together(make_client, server) -> None:
    server.default = Reply.chat("ok", usage=USAGE)
    client = make_client()
    with client.chat.completions.create(model=MODEL, messages=MESSAGES, stream=True) as stream:
        for _ in stream:
            pass
    results = list(client.chat.completions.map([{"model": MODEL, "messages": MESSAGES}] * 20))
    assert all(r.error is None for r in results)
    twin = client.as_async()

    async def tasks() -> None:
        await asyncio.gather(*(twin.chat.completions.create(model=MODEL, messages=MESSAGES) for _ in range(10)))
        async with await twin.chat.completions.create(model=MODEL, messages=MESSAGES, stream=True) as s:
            async for _ in s:
                pass
        await twin.close()

    asyncio.run(tasks())
    usage = client.usage
    assert usage.requests == 1 + 20 + 10 + 1
    assert usage.prompt_tokens == 1000 * 32
    assert twin.usage.requests == 32    # the twin is the same client


def test_a_gateway_cost_is_summed_not_priced_again(make_client, server) -> None:
    client = make_client()
    server.script(Reply.chat("a", usage={**USAGE, "cost": 0.25}), Reply.chat("b", usage=USAGE))
    client.chat.completions.create(model=MODEL, messages=MESSAGES)
    client.chat.completions.create(model=MODEL, messages=MESSAGES)
    assert client.usage.cost == pytest.approx(0.25 + 0.001276)
    assert client.usage.prompt_tokens == 2000


def test_unpriced_models_are_named_in_the_totals(make_client, server) -> None:
    client = make_client()
    server.script(Reply.chat("a", usage=USAGE, model="no-price-model"), Reply.chat("b", usage=USAGE))
    client.chat.completions.create(model=MODEL, messages=MESSAGES)
    client.chat.completions.create(model=MODEL, messages=MESSAGES)
    usage = client.usage
    assert usage.unpriced_models == ["no-price-model"]
    assert usage.by_model["no-price-model"].cost is None
    assert usage.cost == pytest.approx(0.001276)


def test_with_options_defaults_make_a_route_with_its_own_totals(make_client, server) -> None:
    server.default = Reply.chat("ok", usage=USAGE)
    client = make_client()
    route = client.with_options(defaults={"max_completion_tokens": 1024, "temperature": 0.3})
    # moonshot-v1-8k takes any temperature from 0 to 1 (kimi-k2.6 fixes it).
    route.chat.completions.create(model="moonshot-v1-8k", messages=MESSAGES, temperature=0.9)
    body = server.requests[-1].json
    assert body["max_completion_tokens"] == 1024
    assert body["temperature"] == 0.9       # the call's own value wins
    list(route.chat.completions.map([{"model": "moonshot-v1-8k", "messages": MESSAGES}]))
    assert server.requests[-1].json["max_completion_tokens"] == 1024
    client.chat.completions.create(model=MODEL, messages=MESSAGES)
    assert "max_completion_tokens" not in server.requests[-1].json
    assert route.usage.requests == 2
    assert client.usage.requests == 3       # the route's calls count in its parent's
    assert route._limiter is client._limiter    # one account, one set of limits
    narrower = route.with_options(defaults={"temperature": 0.1})
    narrower.chat.completions.create(model="moonshot-v1-8k", messages=MESSAGES)
    assert server.requests[-1].json["max_completion_tokens"] == 1024
    assert server.requests[-1].json["temperature"] == 0.1
    other_key = client.with_options(api_key="sk-other")
    assert other_key._limiter is not client._limiter
    tweaked = client.with_options(timeout=5)
    tweaked.chat.completions.create(model=MODEL, messages=MESSAGES)
    assert tweaked.usage.requests == client.usage.requests == 5     # the same client, tweaked
    deep = client
    for _ in range(8):
        deep = deep.with_options(defaults={"temperature": 0.5})
    with pytest.raises(ValueError, match="8 deep"):
        deep.with_options(defaults={"temperature": 0.4})
    with pytest.raises(ValueError, match="messages"):
        client.with_options(defaults={"messages": []})
    with pytest.raises(TypeError, match="unknown"):
        client.with_options(no_such_setting=1)


def test_models_retrieve_and_check(make_client, server) -> None:
    client = make_client()
    model = client.models.retrieve(MODEL)
    assert model.id == MODEL and model.context_length == 262144
    with pytest.raises(kimi.NotFoundError):
        client.models.retrieve("kimi-k9")
    assert client.models.check(MODEL).id == MODEL
    listed = sum(1 for r in server.requests if r.path == "/v1/models")
    with pytest.raises(kimi.ModelNotFoundError) as caught:
        client.models.check("kimi-k2.7")
    assert "kimi-k2.6" in str(caught.value) and "kimi-k2.6" in caught.value.suggestions
    assert isinstance(caught.value, kimi.NotFoundError) and caught.value.status_code == 404
    # The list is cached: the second check asked nothing more.
    assert sum(1 for r in server.requests if r.path == "/v1/models") == listed


def test_check_models_refuses_an_unknown_model_before_sending(make_client, server) -> None:
    client = make_client(check_models=True)
    with pytest.raises(kimi.ModelNotFoundError):
        client.chat.completions.create(model="kimi-k2-6", messages=MESSAGES)
    assert not any(r.path == "/v1/chat/completions" for r in server.requests)
    assert client.chat.completions.create(model=MODEL, messages=MESSAGES).choices


def test_async_models_check(server) -> None:
    async def main() -> None:
        client = kimi.AsyncKimi(api_key=KEY, base_url=server.base_url, check_models=True)
        assert (await client.models.retrieve(MODEL)).id == MODEL
        with pytest.raises(kimi.ModelNotFoundError):
            await client.chat.completions.create(model="kimi-k3-typo", messages=MESSAGES)
        await client.close()

    asyncio.run(main())


def test_check_models_fails_only_the_map_items_with_an_unknown_model(make_client, server) -> None:
    client = make_client(check_models=True)
    requests = [{"model": MODEL, "messages": MESSAGES}, {"model": "kimi-k2-6", "messages": MESSAGES}]
    results = list(client.chat.completions.map(requests))
    assert results[0].error is None
    assert isinstance(results[1].error, kimi.ModelNotFoundError)
    assert sum(1 for r in server.requests if r.path == "/v1/chat/completions") == 1

    async def main() -> list:
        aclient = kimi.AsyncKimi(api_key=KEY, base_url=server.base_url, check_models=True)
        out = [r async for r in aclient.chat.completions.map(requests)]
        await aclient.close()
        return out

    results = asyncio.run(main())
    assert results[0].error is None and isinstance(results[1].error, kimi.ModelNotFoundError)


def test_a_reply_without_usage_still_counts_as_a_request(make_client, server) -> None:
    client = make_client()
    server.script(Reply.chat("no usage", usage=None))
    client.chat.completions.create(model=MODEL, messages=MESSAGES)
    client.models.list()                        # not a completion: not counted
    assert client.usage.requests == 1 and client.usage.prompt_tokens == 0


def test_hostile_usage_cannot_break_the_totals(make_client, server) -> None:
    client = make_client()
    hostile = [
        Reply.json({"id": "x", "object": "chat.completion", "model": "k" * 10_000, "choices": [],
                    "usage": {"prompt_tokens": 1e300, "completion_tokens": -5, "cost": "NaN"}}),
        Reply.raw([b'{"id":"x","model":"\xff\xfe","choices":[],"usage":{"prompt_tokens":3}}'],
                  content_type="application/json"),
        Reply.json({"id": "x", "model": MODEL, "choices": [], "usage": []}),
    ]
    server.script(*hostile)
    for _ in hostile:
        try:
            client.chat.completions.create(model=MODEL, messages=MESSAGES)
        except kimi.APIError:
            pass
    usage = client.usage                        # readable, whatever the replies said
    assert usage.requests >= 2 and usage.prompt_tokens >= 0 and usage.cost >= 0


def test_an_async_stream_is_counted_when_it_reads_done_not_when_its_body_ends(server) -> None:
    chunk = {"id": "c", "object": "chat.completion.chunk", "model": MODEL,
             "choices": [{"index": 0, "delta": {"content": "hi"}, "finish_reason": "stop"}],
             "usage": {"prompt_tokens": 4, "completion_tokens": 1, "total_tokens": 5}}
    import json as _json

    events = [b"data: " + _json.dumps(chunk).encode() + b"\n\n", b"data: [DONE]\n\n", b": the body lingers\n\n"]
    server.script(Reply.raw(events, delay=0.5))

    async def main() -> int:
        client = kimi.AsyncKimi(api_key=KEY, base_url=server.base_url)
        stream = await client.chat.completions.create(model=MODEL, messages=MESSAGES, stream=True)
        await stream.final()
        counted = client.usage.requests
        await client.close()
        return counted

    assert asyncio.run(main()) == 1
