"""kimi.AsyncKimi against the local server: every public call, streams, cancellation,
timeouts, errors and retries, many streams at once, and a loop closed with streams open.

Each test runs its own loop with asyncio.run, as a script would.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap
import time

import pytest

import kimi
from kimi.testing import KimiServer, Reply

from conftest import KEY, MESSAGES, MODEL, REPO


def make_async(server: KimiServer, **overrides) -> kimi.AsyncKimi:
    options = {"api_key": KEY, "base_url": server.base_url, "max_retries": 0}
    options.update(overrides)
    return kimi.AsyncKimi(**options)


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 30))


def test_create_returns_the_reply_the_sync_client_gets(server, make_client):
    expected = make_client().chat.completions.create(model=MODEL, messages=MESSAGES)

    async def main():
        async with make_async(server) as client:
            return await client.chat.completions.create(model=MODEL, messages=MESSAGES)

    reply = run(main())
    assert isinstance(reply, kimi.ChatCompletion)
    assert reply.choices[0].message.content == expected.choices[0].message.content
    assert reply.usage.total_tokens == expected.usage.total_tokens
    assert server.requests[-1].json["messages"] == MESSAGES


def test_models_balance_and_with_options(server):
    async def main():
        client = make_async(server)
        models = await client.models.list()
        balance = await client.users.balance()
        other = client.with_options(max_retries=5)
        assert isinstance(other, kimi.AsyncKimi) and other.max_retries == 5
        again = await other.models.list()
        await client.close()
        await other.close()
        return models, balance, again

    models, balance, again = run(main())
    assert [m.id for m in models] == [m.id for m in again]
    assert "kimi-k2.6" in [m.id for m in models]
    assert balance.available_balance > 0


def test_a_stream_yields_chunks_then_final_assembles_them(server, make_client):
    expected = make_client().chat.completions.create(model=MODEL, messages=MESSAGES)

    async def main():
        async with make_async(server) as client:
            stream = await client.chat.completions.create(model=MODEL, messages=MESSAGES, stream=True)
            assert stream.status_code == 200
            assert stream.headers["content-type"].startswith("text/event-stream")
            async with stream:
                chunks = [chunk async for chunk in stream]
            final = await stream.final()
            return chunks, final, stream.closed

    chunks, final, closed = run(main())
    assert all(isinstance(c, kimi.ChatCompletionChunk) for c in chunks)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == expected.choices[0].message.content
    assert final.choices[0].message.content == text
    assert final.choices[0].finish_reason == "stop"
    assert closed


def test_text_yields_content_strings(server, make_client):
    expected = make_client().chat.completions.create(model=MODEL, messages=MESSAGES)

    async def main():
        async with make_async(server) as client:
            stream = await client.chat.completions.create(model=MODEL, messages=MESSAGES, stream=True)
            return [t async for t in stream.text()]

    parts = run(main())
    assert len(parts) > 1 and all(isinstance(p, str) and p for p in parts)
    assert "".join(parts) == expected.choices[0].message.content


def test_final_without_iterating_reads_the_whole_stream(server):
    async def main():
        async with make_async(server) as client:
            stream = await client.chat.completions.create(model=MODEL, messages=MESSAGES, stream=True)
            return await stream.final()

    assert "Hello" in run(main()).choices[0].message.content


def test_many_concurrent_streams_keep_their_own_content(server):
    server.default = Reply.echo(delay=0.002, chunk_size=3)

    async def one(client, i):
        messages = [{"role": "user", "content": f"stream number {i}"}]
        stream = await client.chat.completions.create(model=MODEL, messages=messages, stream=True)
        async with stream:
            return "".join([t async for t in stream.text()])

    async def main():
        async with make_async(server) as client:
            return await asyncio.gather(*(one(client, i) for i in range(150)))

    texts = run(main())
    for i, text in enumerate(texts):
        # Each stream quotes its own message and no other's.
        assert f"stream number {i}\u201d" in text
        assert text.count("stream number") == 1


def test_status_errors_are_typed_and_retried_as_the_sync_client_does(server):
    server.script(Reply.error(500), Reply.error(503))

    async def main():
        async with make_async(server, max_retries=2) as client:
            reply = await client.chat.completions.create(model=MODEL, messages=MESSAGES)
            server.script(Reply.error(400))
            with pytest.raises(kimi.BadRequestError) as caught:
                await client.chat.completions.create(model=MODEL, messages=MESSAGES)
            return reply, caught.value

    reply, error = run(main())
    assert reply.choices[0].message.content
    assert error.status_code == 400 and error.type == "invalid_request_error"
    assert len(server.requests) == 4  # 500, 503, the reply, the 400 (never retried)


def test_a_stream_error_status_raises_before_a_stream_exists(server):
    server.script(Reply.error(401))

    async def main():
        async with make_async(server) as client:
            await client.chat.completions.create(model=MODEL, messages=MESSAGES, stream=True)

    with pytest.raises(kimi.AuthenticationError):
        run(main())


def test_a_stream_cut_off_raises_stream_error_and_final_too(server):
    server.script(Reply.stream("a long enough answer", chunk_size=3, disconnect_after=2))

    async def main():
        async with make_async(server) as client:
            stream = await client.chat.completions.create(model=MODEL, messages=MESSAGES, stream=True)
            seen = []
            with pytest.raises(kimi.StreamError):
                async for chunk in stream:
                    seen.append(chunk)
            with pytest.raises(kimi.StreamError):
                await stream.final()
            return seen

    assert len(run(main())) == 2


def test_connection_refused_is_a_connection_error():
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]

    async def main():
        async with kimi.AsyncKimi(api_key=KEY, base_url=f"http://127.0.0.1:{port}/v1", max_retries=0) as client:
            await client.chat.completions.create(model=MODEL, messages=MESSAGES)

    with pytest.raises(kimi.APIConnectionError):
        run(main())


def test_read_timeout_fires_on_the_loop(server):
    server.script(Reply.no_response(stall=True))

    async def main():
        async with make_async(server, timeout=kimi.Timeout(0.3)) as client:
            began = time.monotonic()
            with pytest.raises(kimi.APITimeoutError) as caught:
                await client.chat.completions.create(model=MODEL, messages=MESSAGES)
            return time.monotonic() - began, caught.value

    took, error = run(main())
    assert error.limit == "read"
    assert 0.25 < took < 3


def test_cancelled_requests_free_their_slot_and_connection(server):
    """With concurrency 2, ten requests cancelled mid-flight, each followed by a new
    one: if a cancelled transfer kept its place, the third would wait forever."""
    server.default = Reply.echo(delay=0.05)

    async def main():
        client = make_async(server, limits=kimi.Limits(concurrency=2))
        for _ in range(10):
            server.script(Reply.no_response(stall=True))
            task = asyncio.ensure_future(
                client.chat.completions.create(model=MODEL, messages=MESSAGES, stream=False)
            )
            await asyncio.sleep(0.02)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            stream = await client.chat.completions.create(model=MODEL, messages=MESSAGES, stream=True)
            async for _ in stream:
                break           # mid-stream ...
            reader = asyncio.ensure_future(stream.final())
            await asyncio.sleep(0.02)
            reader.cancel()     # ... and cancelled while reading
            with pytest.raises(asyncio.CancelledError):
                await reader
            assert stream.closed
        assert client.limits.in_flight == 0
        reactor = client._reactor()
        assert reactor.active == 0
        reply = await client.chat.completions.create(model=MODEL, messages=MESSAGES)
        await client.close()
        return reply

    assert run(main()).choices[0].message.content


def test_wait_for_expiring_cancels_the_request(server):
    server.script(Reply.no_response(stall=True))

    async def main():
        client = make_async(server)
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(client.chat.completions.create(model=MODEL, messages=MESSAGES), 0.2)
        assert client._reactor().active == 0
        assert client.limits.in_flight == 0
        reply = await client.chat.completions.create(model=MODEL, messages=MESSAGES)
        await client.close()
        return reply

    assert run(main()).choices


def test_the_client_follows_the_running_loop(server):
    client = make_async(server)

    async def one():
        return (await client.chat.completions.create(model=MODEL, messages=MESSAGES)).choices[0].message.content

    first = asyncio.run(one())
    second = asyncio.run(one())     # a new loop: a new reactor, the old one let go
    assert first == second


def test_closing_the_client_ends_its_open_streams(server):
    server.default = Reply.echo(delay=0.05)

    async def main():
        client = make_async(server, max_retries=3)
        stream = await client.chat.completions.create(model=MODEL, messages=MESSAGES, stream=True)
        server.script(Reply.no_response(stall=True))
        pending = asyncio.ensure_future(client.chat.completions.create(model=MODEL, messages=MESSAGES))
        await asyncio.sleep(0.1)
        await client.close()
        assert stream.closed
        with pytest.raises(kimi.StreamError, match="client was closed"):
            async for _ in stream:
                pass
        with pytest.raises(kimi.StreamError, match="client was closed"):
            await stream.final()
        # The request in flight fails and is not retried on a closed client.
        with pytest.raises(kimi.APIConnectionError, match="client was closed"):
            await pending
        with pytest.raises(RuntimeError, match="closed"):
            await client.models.list()

    run(main())
    assert len(server.requests) == 2


def test_a_loop_closed_with_open_streams_exits_quietly(server):
    script = textwrap.dedent(
        f"""
        import asyncio, gc, kimi, warnings
        warnings.simplefilter("always")
        client = kimi.AsyncKimi(api_key={KEY!r}, base_url={server.base_url!r})
        streams = []
        async def main():
            for _ in range(5):
                s = await client.chat.completions.create(model="kimi-k2.6",
                    messages=[{{"role": "user", "content": "hi"}}], stream=True)
                async for _ in s:
                    break
                streams.append(s)
        asyncio.run(main())
        gc.collect()
        print("ok")
        """
    )
    server.default = Reply.echo(delay=0.2)
    done = subprocess.run([sys.executable, "-X", "dev", "-c", script], capture_output=True, text=True, timeout=60, cwd=REPO)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"
    assert done.stderr == ""


def test_async_map_yields_results_in_order(server):
    requests = [{"model": MODEL, "messages": [{"role": "user", "content": f"item {i}"}]} for i in range(40)]

    async def main():
        async with make_async(server) as client:
            return [r async for r in client.chat.completions.map(requests, concurrency=8)]

    results = run(main())
    assert [r.index for r in results] == list(range(40))
    for r in results:
        assert r.error is None and r.request is requests[r.index]
        assert f"item {r.index}" in r.response.choices[0].message.content


def test_stream_close_frees_the_transfer_and_ends_the_iteration(server):
    server.default = Reply.echo(delay=0.05)

    async def main():
        async with make_async(server) as client:
            stream = await client.chat.completions.create(model=MODEL, messages=MESSAGES, stream=True)
            first = await stream.__anext__()
            await stream.close()
            assert stream.closed and client._reactor().active == 0
            rest = [c async for c in stream]
            return first, rest, repr(stream)

    first, rest, text = run(main())
    assert isinstance(first, kimi.ChatCompletionChunk)
    assert rest == []
    assert "closed=True" in text


def test_a_host_name_is_resolved_on_the_loop_too(server):
    """localhost goes through libcurl's resolver, which it drives by its timer."""
    url = server.base_url.replace("127.0.0.1", "localhost")

    async def main():
        async with kimi.AsyncKimi(api_key=KEY, base_url=url, max_retries=0) as client:
            replies = await asyncio.gather(*(client.chat.completions.create(model=MODEL, messages=MESSAGES)
                                             for _ in range(20)))
            stream = await client.chat.completions.create(model=MODEL, messages=MESSAGES, stream=True)
            return replies, await stream.final()

    replies, final = run(main())
    assert len(replies) == 20 and final.choices[0].message.content
