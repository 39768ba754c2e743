"""kimi.Limits: the account's limits kept by the client, against the local server.

Each test sends real requests over a socket; the windows are the C core's.  What the
server records (or counts) is the evidence: a refused request never reaches it, a paced
one reaches it late.
"""

from __future__ import annotations

import pickle
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

import kimi
from kimi.testing import KimiServer, Reply

MESSAGES = [{"role": "user", "content": "hello"}]


@pytest.fixture
def server():
    with KimiServer(api_key="sk-test", delay=0) as s:
        yield s


def client_for(server: KimiServer, **limits) -> kimi.Kimi:
    return kimi.Kimi(api_key="sk-test", base_url=server.base_url, limits=kimi.Limits(**limits))


def ask(client: kimi.Kimi, **params):
    return client.chat.completions.create(model="kimi-k2.6", messages=MESSAGES, **params)


def test_limits_are_checked_immutable_and_pickle():
    with pytest.raises(ValueError, match="rpm"):
        kimi.Limits(rpm=0)
    with pytest.raises(ValueError, match="tpm"):
        kimi.Limits(tpm=1.5)
    with pytest.raises(ValueError, match="concurrency"):
        kimi.Limits(concurrency=True)
    limits = kimi.Limits(concurrency=50, rpm=200, tpm=2_000_000)
    with pytest.raises(AttributeError):
        limits.rpm = 1
    assert pickle.loads(pickle.dumps(limits)) == limits
    assert kimi.Limits.tier(1) == limits
    assert kimi.Limits.tier(0).tpd == 1_500_000
    with pytest.raises(ValueError):
        kimi.Limits.tier(9)
    with pytest.raises(TypeError):
        kimi.Kimi(api_key="sk", limits={"rpm": 3})


def test_a_client_pickles_and_copies_with_its_limits(server):
    client = client_for(server, rpm=600, tpd=10_000)
    again = pickle.loads(pickle.dumps(client))
    assert again.limits.limits == kimi.Limits(rpm=600, tpd=10_000)
    assert client.with_options(max_retries=0).limits.limits == kimi.Limits(rpm=600, tpd=10_000)


def test_the_snapshot_counts_requests_and_real_usage(server):
    client = client_for(server, tpm=100_000)
    reply = ask(client)
    state = client.limits
    assert state.in_flight == 0
    assert state.requests_minute == 1
    # The estimate (prompt + 1024) was replaced by the reply's real usage.
    assert state.tokens_minute == reply.usage.total_tokens
    stream = ask(client, stream=True, stream_options={"include_usage": True})
    assert client.limits.in_flight == 1
    assert client.limits.tokens_minute > reply.usage.total_tokens + 1024
    final = stream.final()
    assert client.limits.in_flight == 0
    assert client.limits.tokens_minute == reply.usage.total_tokens + final.usage.total_tokens


def test_a_request_over_tpm_is_refused_without_being_sent(server):
    client = client_for(server, tpm=5_000)
    with pytest.raises(kimi.LimitExceededError) as caught:
        ask(client, max_completion_tokens=6_000)
    assert caught.value.limit == "tpm"
    assert caught.value.tokens > 6_000
    assert caught.value.retry_after is None
    assert server.requests == []


def test_tpd_refuses_a_request_the_day_cannot_admit_without_sending_it(server):
    # A reply whose usage fills most of the day's tokens.
    server.script(Reply.json({"id": "x", "object": "chat.completion", "created": 1, "model": "kimi-k2.6",
                              "choices": [{"index": 0, "message": {"role": "assistant", "content": "ok"},
                                           "finish_reason": "stop"}],
                              "usage": {"prompt_tokens": 9_000, "completion_tokens": 500, "total_tokens": 9_500}}))
    client = client_for(server, tpd=10_000)
    ask(client, max_completion_tokens=100)
    assert client.limits.tokens_day == 9_500
    with pytest.raises(kimi.LimitExceededError) as caught:
        ask(client, max_completion_tokens=1_000)
    assert caught.value.limit == "tpd"
    # Room frees up when the first request is a day old.
    assert 86_000 < caught.value.retry_after <= 86_400
    assert len(server.requests) == 1
    # Nothing was retried: a refusal is not a failure of the network.
    assert client.limits.in_flight == 0


def test_rpm_120_paces_starts_at_two_a_second_after_its_burst(server):
    client = client_for(server, rpm=120)
    started = []

    def one(_):
        ask(client)
        started.append(time.monotonic())

    begin = time.monotonic()
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(one, range(26)))
    started.sort()
    # The burst (ten seconds' worth: 20) goes at once ...
    assert started[19] - begin < 1.0
    # ... then no more than about two a second.
    after = started[20:]
    assert after[-1] - after[0] >= 2.4
    assert client.limits.waited > 0


def test_concurrency_bounds_threads_sharing_one_client(server):
    server.default = Reply.echo(delay=0.05)
    client = client_for(server, concurrency=3)
    seen = []
    lock = threading.Lock()
    live = [0]

    def one(_):
        stream = ask(client, stream=True)
        with lock:
            live[0] += 1
            seen.append(client.limits.in_flight)
        stream.final()
        with lock:
            live[0] -= 1

    with ThreadPoolExecutor(10) as pool:
        list(pool.map(one, range(20)))
    assert max(seen) <= 3
    assert client.limits.in_flight == 0


def test_a_rate_limit_429_pauses_every_sender_of_the_client(server):
    err = Reply.moonshot_error("rate_limit_reached_error", "max RPM: 3, please try again after 1 seconds")
    server.script(Reply.error(429, body=err, headers={"Retry-After": "1"}))
    client = client_for(server)
    first = threading.Thread(target=ask, args=(client,))
    began = time.monotonic()
    first.start()
    # Wait until the 429 was served, then send from another thread.
    while not server.requests:
        time.sleep(0.005)
    time.sleep(0.05)
    ask(client)
    second_done = time.monotonic()
    first.join()
    # The second sender waited out the pause too, though it got no 429 itself.
    assert second_done - began >= 0.9
    assert len(server.requests) == 3


def test_an_exhausted_quota_pauses_nobody(server):
    err = Reply.moonshot_error("exceeded_current_quota_error", "Your account is suspended")
    server.script(Reply.error(429, body=err))
    client = client_for(server)
    with pytest.raises(kimi.RateLimitError):
        ask(client)
    assert client.limits.paused == 0
    ask(client)


def test_one_clients_limits_bind_its_threads_its_map_and_its_async_tasks_together(server):
    """concurrency=3 shared: 4 threads, a map of 12, and 6 tasks of the client's
    async twin (as_async shares its limits)."""
    import asyncio

    server.latency = 0.05
    server.reset_counters()
    client = client_for(server, concurrency=3)
    aclient = client.as_async()
    assert isinstance(aclient, kimi.AsyncKimi) and aclient.limits.limits == client.limits.limits
    assert isinstance(aclient.as_sync(), kimi.Kimi)
    rows = [{"model": "kimi-k2.6", "messages": MESSAGES}] * 12

    async def tasks():
        replies = await asyncio.gather(*(aclient.chat.completions.create(model="kimi-k2.6", messages=MESSAGES)
                                         for _ in range(6)))
        await aclient.close()
        return replies

    with ThreadPoolExecutor(5) as pool:
        threads = [pool.submit(ask, client) for _ in range(4)]
        mapped = pool.submit(lambda: list(client.chat.completions.map(rows, concurrency=8)))
        from_async = asyncio.run(tasks())
        assert all(r.error is None for r in mapped.result())
        assert all(t.result().choices for t in threads)
    assert len(from_async) == 6
    assert len(server.requests) == 4 + 12 + 6
    assert server.max_in_flight <= 3
    assert server.max_in_flight >= 2        # it did run requests side by side
    assert client.limits.in_flight == 0
    assert client.limits.requests_minute == 22  # one set of windows counted all


def test_map_and_async_never_exceed_the_concurrency_limit(server):
    import asyncio

    server.latency = 0.05
    server.reset_counters()
    client = client_for(server, concurrency=4)
    results = list(client.chat.completions.map([{"model": "kimi-k2.6", "messages": MESSAGES}] * 30, concurrency=16))
    assert all(r.error is None for r in results)
    assert server.max_in_flight == 4

    server.reset_counters()

    async def main():
        async with kimi.AsyncKimi(api_key="sk-test", base_url=server.base_url, limits=kimi.Limits(concurrency=5)) as c:
            return await asyncio.gather(*(c.chat.completions.create(model="kimi-k2.6", messages=MESSAGES)
                                          for _ in range(30)))

    assert len(asyncio.run(main())) == 30
    assert server.max_in_flight == 5


def test_tpm_holds_open_streams_estimates_until_their_usage_replaces_them(server):
    """tpm 2,500 and a budget of 1,000 a request: two open streams count about 2,040,
    so a third waits; when one ends, its real usage (under 100) replaces its estimate
    and the third goes."""
    server.default = Reply.echo(delay=0.01)
    client = client_for(server, tpm=2_500)
    first = ask(client, stream=True, max_completion_tokens=1_000, stream_options={"include_usage": True})
    second = ask(client, stream=True, max_completion_tokens=1_000, stream_options={"include_usage": True})
    assert client.limits.tokens_minute > 2_000
    done = threading.Event()
    third = threading.Thread(target=lambda: (ask(client, max_completion_tokens=1_000), done.set()))
    third.start()
    assert not done.wait(0.5)           # held back by TPM
    assert len(server.requests) == 2
    first.final()
    assert done.wait(5)                 # the real usage made room
    third.join()
    second.final()
    assert len(server.requests) == 3
    assert client.limits.tokens_minute < 1_500
    assert client.limits.waited >= 0.4


def test_async_callers_await_the_limits_instead_of_blocking_the_loop(server):
    import asyncio

    client = kimi.AsyncKimi(api_key="sk-test", base_url=server.base_url, limits=kimi.Limits(rpm=60))

    async def main():
        ticks = []

        async def ticker():
            while True:
                ticks.append(time.monotonic())
                await asyncio.sleep(0.05)

        tick = asyncio.ensure_future(ticker())
        began = time.monotonic()
        # rpm 60: a burst of 10, then one a second.
        await asyncio.gather(*(client.chat.completions.create(model="kimi-k2.6", messages=MESSAGES)
                               for _ in range(12)))
        took = time.monotonic() - began
        tick.cancel()
        await client.close()
        return took, ticks

    took, ticks = asyncio.run(main())
    assert took >= 1.9
    # The loop kept running while the calls waited.
    assert len(ticks) >= 30
    assert len(server.requests) == 12
