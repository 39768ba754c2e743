"""Partial Mode against kimi.testing: ``prefill``, ``continue_on_length`` (stitched
contents and reasoning, summed usage, one stream), ``kimi.TruncatedWarning`` once per
client, the empty content of a budget spent on reasoning, and ``resume`` after a
connection cut mid-content — sync and async, over real sockets.

The local server's default answer is a fixed text per conversation that obeys
``max_completion_tokens`` and goes on from a partial assistant message without
repeating it (kimi/testing/_budget.py), so a reply continued piece by piece must come
out exactly as the uncut answer does.
"""

from __future__ import annotations

import asyncio
import warnings

import pytest
from conftest import KEY, MESSAGES, delta_event, sse

import kimi
from kimi.testing import Reply

MODEL = "kimi-k2.6"
BUDGET = 30


def ask(client: kimi.Kimi, **kwargs):
    kwargs.setdefault("model", MODEL)
    kwargs.setdefault("messages", MESSAGES)
    return client.chat.completions.create(**kwargs)


def partials(server) -> list:
    """The partial assistant message each chat request ended with (None: none)."""
    ends = [r.json["messages"][-1] for r in server.requests if r.path.endswith("/chat/completions")]
    return [m if m.get("partial") else None for m in ends]


@pytest.fixture
def whole(client) -> kimi.ChatCompletion:
    """The default answer uncut, for comparison."""
    return ask(client)


def joined(chunks) -> str:
    return "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)


def test_prefill_is_sent_as_the_partial_message_and_begins_the_reply(client, server) -> None:
    reply = ask(client, prefill="Dear user, ", prefill_name="Kelsier")
    sent = server.requests[-1].json["messages"][-1]
    assert sent == {"role": "assistant", "content": "Dear user, ", "partial": True, "name": "Kelsier"}
    content = reply.choices[0].message.content
    assert content.startswith("Dear user, You said “Hello”.")


def test_prefill_streaming_shows_the_prefix_first_and_in_final(client, server) -> None:
    with ask(client, prefill="Dear user, ", stream=True) as stream:
        pieces = list(stream.text())
        final = stream.final()
    assert pieces[0].startswith("Dear user, ")
    assert "".join(pieces) == final.choices[0].message.content
    assert final.choices[0].message.content.startswith("Dear user, You said")
    assert server.requests[-1].json["messages"][-1]["partial"] is True


def test_continue_on_length_stitches_the_pieces_into_the_whole_answer(client, server, whole) -> None:
    server.reset_counters()
    before = client.usage
    with warnings.catch_warnings():
        warnings.simplefilter("error")      # a continued reply warns of nothing
        reply = ask(client, max_completion_tokens=BUDGET, continue_on_length=10)
    message = reply.choices[0].message
    assert message.content == whole.choices[0].message.content
    assert message.reasoning_content == whole.choices[0].message.reasoning_content
    assert reply.choices[0].finish_reason == "stop"
    sent = partials(server)[1:]
    assert len(sent) >= 2 and sent[0] is None and all(p is not None for p in sent[1:])
    assert whole.choices[0].message.content.startswith(sent[-1]["content"])
    # The summed usage is what the account was charged for, piece by piece.
    spent = client.usage.completion_tokens - before.completion_tokens
    assert reply.usage.completion_tokens == spent > BUDGET
    assert reply.usage.total_tokens == reply.usage.prompt_tokens + reply.usage.completion_tokens


def test_continue_on_length_streams_as_one_stream(client, server, whole) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        stream = ask(client, max_completion_tokens=BUDGET, continue_on_length=10, stream=True,
                     stream_options={"include_usage": True})
        chunks = list(stream)
        final = stream.final()
    text = whole.choices[0].message.content
    assert joined(chunks) == text == final.choices[0].message.content
    assert final.choices[0].message.reasoning_content == whole.choices[0].message.reasoning_content
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert finishes == ["stop"]                          # no intermediate "length"
    roles = [c for c in chunks if c.choices and c.choices[0].delta.role]
    assert len(roles) == 1 and chunks.index(roles[0]) == 0
    assert len({c.id for c in chunks}) == 1
    usages = [c.usage for c in chunks if c.usage is not None]
    assert usages and usages[-1].completion_tokens == final.usage.completion_tokens > BUDGET
    assert len(partials(server)) >= 3


def test_a_continuation_that_runs_out_is_told(client, server, whole) -> None:
    with pytest.warns(kimi.TruncatedWarning, match="cut at"):
        reply = ask(client, max_completion_tokens=BUDGET, continue_on_length=1)
    content = reply.choices[0].message.content
    assert reply.choices[0].finish_reason == "length"
    assert whole.choices[0].message.content.startswith(content) and len(content) < len(
        whole.choices[0].message.content)
    assert len(partials(server)) == 3       # the whole, then the cut one and its one continuation


def test_a_length_finish_warns_once_per_client(make_client, server) -> None:
    client = make_client()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        first = ask(client, max_completion_tokens=BUDGET)
        ask(client, max_completion_tokens=BUDGET)
        list(ask(client, max_completion_tokens=BUDGET, stream=True))
        ask(make_client(), max_completion_tokens=BUDGET)        # another client: told again
    told = [w for w in caught if issubclass(w.category, kimi.TruncatedWarning)]
    assert first.choices[0].finish_reason == "length"
    assert len(told) == 2
    assert all(w.filename == __file__ for w in told)            # the caller's line
    assert "continue_on_length" in str(told[0].message)


def test_a_stream_cut_by_length_warns_at_its_end(make_client) -> None:
    client = make_client()
    stream = ask(client, max_completion_tokens=BUDGET, stream=True)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        next(stream)
        assert caught == []
        rest = list(stream)
    assert rest and [w.category for w in caught] == [kimi.TruncatedWarning]


def test_an_empty_content_says_reasoning_used_the_budget(make_client) -> None:
    with pytest.warns(kimi.TruncatedWarning, match=r"content is empty.*reasoning used 5 completion tokens.*16,000"):
        reply = ask(make_client(), max_completion_tokens=5)
    assert reply.choices[0].message.content == ""
    assert reply.choices[0].message.reasoning_content
    # Continuing cannot help a budget that the reasoning alone used up.
    with pytest.warns(kimi.TruncatedWarning, match="content is empty"):
        reply = ask(make_client(), max_completion_tokens=5, continue_on_length=3)
    assert reply.choices[0].message.content == ""


def test_warnings_as_errors_raise_the_warning(make_client) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(kimi.TruncatedWarning):
            ask(make_client(), max_completion_tokens=BUDGET)
        with pytest.raises(kimi.TruncatedWarning):
            list(ask(make_client(), max_completion_tokens=BUDGET, stream=True))


def test_warnings_as_errors_raise_for_every_cut_of_one_client(client) -> None:
    """The once-per-client rule is for shown warnings: made an error, each cut raises
    (a cut reply is never returned silently to a program that asked to fail on it)."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", kimi.TruncatedWarning)
        for _ in range(2):
            with pytest.raises(kimi.TruncatedWarning):
                ask(client, max_completion_tokens=BUDGET)
        for _ in range(2):
            with pytest.raises(kimi.TruncatedWarning):
                list(ask(client, max_completion_tokens=BUDGET, stream=True))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ask(client, max_completion_tokens=BUDGET)
        ask(client, max_completion_tokens=BUDGET)
    assert [w.category for w in caught] == [kimi.TruncatedWarning]     # shown once


def test_resume_picks_a_cut_stream_up_from_what_was_received(client, server) -> None:
    server.script(
        Reply.chat("Hello there, my friend.", chunk_size=4, disconnect_after=4),   # role + 3 pieces
        Reply.chat(" my friend.", chunk_size=4),
    )
    stream = ask(client, stream=True, resume=1)
    assert joined(list(stream)) == "Hello there, my friend."
    assert stream.final().choices[0].message.content == "Hello there, my friend."
    assert partials(server) == [None, {"role": "assistant", "content": "Hello there,", "partial": True}]


def test_without_resume_the_cut_stands(client, server) -> None:
    server.script(Reply.chat("Hello there, my friend.", chunk_size=4, disconnect_after=4))
    with pytest.raises(kimi.StreamError):
        list(ask(client, stream=True))
    server.script(Reply.chat("Hello there, my friend.", chunk_size=4, disconnect_after=4),
                  Reply.chat("A", disconnect_after=2), Reply.chat("B"))
    with pytest.raises(kimi.StreamError):       # resume=1 is spent by the first cut
        list(ask(client, stream=True, resume=1))


def test_resume_never_continues_a_tool_call_or_a_stream_without_content(client, server) -> None:
    call = {"id": "f:0", "name": "lookup", "arguments": '{"query": "a long query text"}'}
    server.script(Reply.chat(None, tool_calls=[call], chunk_size=4, disconnect_after=4))
    with pytest.raises(kimi.StreamError):
        list(ask(client, stream=True, resume=3))
    server.script(Reply.chat("late", reasoning="thinking at length", chunk_size=4, disconnect_after=3))
    with pytest.raises(kimi.StreamError):
        list(ask(client, stream=True, resume=3))
    assert partials(server) == [None, None]


@pytest.mark.parametrize(
    "refusal, error",
    [
        (Reply.error(500), kimi.InternalServerError),
        (Reply.error(400), kimi.BadRequestError),
        (Reply.no_response(), kimi.APIConnectionError),
    ],
)
def test_a_later_piece_refused_raises_its_error_with_the_answer_so_far(client, server, refusal, error) -> None:
    server.script(Reply.chat("Hello there,", finish_reason="length"), refusal, refusal)
    with pytest.raises(error) as caught:
        ask(client, continue_on_length=3, prefill="Well: ")
    so_far = caught.value.partial
    assert so_far.choices[0].message.content == "Well: Hello there,"
    assert so_far.choices[0].finish_reason == "length"
    assert so_far.usage.completion_tokens > 0


def test_a_later_piece_refused_ends_the_stream_and_final_raises_it(client, server) -> None:
    server.script(Reply.chat("Hello there,", finish_reason="length"), Reply.error(500))
    stream = ask(client, continue_on_length=3, stream=True)
    got = []
    with pytest.raises(kimi.InternalServerError):
        for chunk in stream:
            got.append(chunk)
    assert joined(got) == "Hello there,"
    with pytest.raises(kimi.InternalServerError):
        stream.final()
    assert list(stream) == [] and len(server.requests) == 2


def test_a_piece_broken_after_its_length_finish_is_not_continued_by_final(client, server) -> None:
    """Cut before [DONE] (no resume): the StreamError stands, final() raises it again
    and asks for no further piece."""
    events = [delta_event(role="assistant", content="abc"), delta_event(finish_reason="length")]
    server.script(Reply.raw(events, close=True), Reply.chat(" more"))
    stream = ask(client, continue_on_length=2, stream=True)
    with pytest.raises(kimi.StreamError):
        list(stream)
    with pytest.raises(kimi.StreamError):
        stream.final()
    assert len(server.requests) == 1 and stream.closed


@pytest.mark.parametrize("at_a_boundary", [False, True])
def test_close_mid_continuation_frees_the_lane_and_asks_no_more(client, server, at_a_boundary) -> None:
    stream = ask(client, max_completion_tokens=BUDGET, continue_on_length=10, stream=True)
    first = stream._inner
    next(stream)
    while at_a_boundary and stream._inner is first:
        next(stream)
    asked = len(server.requests)
    stream.close()
    assert stream.closed and client._core().idle_lanes == 1
    assert list(stream) == []
    with pytest.raises(kimi.StreamError, match="closed before"):
        stream.final()
    assert len(server.requests) == asked


def test_warnings_as_errors_at_a_continued_streams_end_keep_final(client, whole) -> None:
    stream = ask(client, max_completion_tokens=BUDGET, continue_on_length=1, stream=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error", kimi.TruncatedWarning)
        with pytest.raises(kimi.TruncatedWarning, match="cut at"):
            list(stream)
    final = stream.final()
    assert final.choices[0].finish_reason == "length"
    assert whole.choices[0].message.content.startswith(final.choices[0].message.content)


def test_a_continued_stream_cut_in_a_tool_call_is_told_as_cut_not_empty(client, server) -> None:
    call = {"id": "f:0", "name": "lookup", "arguments": '{"query": "a long'}
    server.script(Reply.chat(None, tool_calls=[call], finish_reason="length"))
    with pytest.warns(kimi.TruncatedWarning, match="cut at") as caught:
        final = ask(client, continue_on_length=2, stream=True).final()
    assert final.choices[0].message.tool_calls and len(server.requests) == 1
    assert "content is empty" not in str(caught[0].message)


def test_resume_leaves_an_error_the_server_sent_in_the_stream_standing(client, server) -> None:
    refusal = sse({"error": {"type": "content_filter", "message": "The request was rejected"}})
    server.script(Reply.raw([delta_event(role="assistant", content="Hello there,"), refusal]), Reply.chat(" more"))
    with pytest.raises(kimi.StreamError) as caught:
        list(ask(client, stream=True, resume=2))
    assert caught.value.type == "content_filter"
    assert partials(server) == [None]


@pytest.mark.parametrize("finish", ["stop", "length"])
def test_resume_never_writes_past_a_piece_that_had_ended(client, server, finish) -> None:
    """Broken after its finish_reason (and not to be continued): the StreamError stands,
    as for any stream, rather than asking the model to go on from a finished answer."""
    events = [delta_event(role="assistant", content="Hello there."), delta_event(finish_reason=finish)]
    server.script(Reply.raw(events, close=True), Reply.chat(" And more."))
    with pytest.raises(kimi.StreamError):
        list(ask(client, stream=True, resume=2))
    assert partials(server) == [None]


def test_partial_arguments_are_checked(client, server) -> None:
    for kwargs, error in [
        ({"prefill": ""}, ValueError),
        ({"prefill_name": "Kelsier"}, ValueError),
        ({"continue_on_length": -1}, ValueError),
        ({"continue_on_length": True}, ValueError),
        ({"resume": 2}, ValueError),                               # not a stream
        ({"continue_on_length": 2, "n": 2, "model": "moonshot-v1-8k"}, ValueError),
        ({"prefill": "{", "response_format": {"type": "json_object"}}, kimi.InvalidRequestError),
    ]:
        with pytest.raises(error):
            ask(client, **kwargs)
    assert server.requests == []


def test_map_items_and_batch_lines_refuse_partial_arguments(client, server) -> None:
    results = list(client.chat.completions.map([{"model": MODEL, "messages": MESSAGES, "prefill": "Hi"}]))
    assert isinstance(results[0].error, TypeError) and "Partial Mode" in str(results[0].error)
    with pytest.raises(TypeError, match="request 0: continue_on_length: Partial Mode"):
        client.batches.submit([{"model": MODEL, "messages": MESSAGES, "continue_on_length": 2}])
    assert server.requests == []


def test_batch_lines_refuse_partial_arguments(client, server) -> None:
    with pytest.raises(TypeError, match="request 0: prefill: Partial Mode"):
        client.batches.submit([{"model": MODEL, "messages": MESSAGES, "prefill": "Hi"}])
    assert server.requests == []


def test_a_continued_stream_left_by_break_gives_its_lane_back_when_dropped(make_client) -> None:
    client = make_client(limits=kimi.Limits(concurrency=1))
    stream = ask(client, max_completion_tokens=BUDGET, continue_on_length=10, stream=True)
    for index, _ in enumerate(stream):
        if index == 3:
            break
    assert not stream.closed
    del stream, _
    assert client._core().idle_lanes == 1 and client.limits.in_flight == 0
    assert ask(client).choices[0].finish_reason == "stop"


def test_async_continuation_streaming_and_not(server) -> None:
    async def main():
        async with kimi.AsyncKimi(api_key=KEY, base_url=server.base_url, max_retries=0) as client:
            whole = await client.chat.completions.create(model=MODEL, messages=MESSAGES)
            reply = await client.chat.completions.create(
                model=MODEL, messages=MESSAGES, max_completion_tokens=BUDGET, continue_on_length=10)
            stream = await client.chat.completions.create(
                model=MODEL, messages=MESSAGES, max_completion_tokens=BUDGET, continue_on_length=10,
                stream=True, prefill="You said")
            texts = [t async for t in stream.text()]
            final = await stream.final()
            server.script(Reply.chat("Hello there, my friend.", chunk_size=4, disconnect_after=4),
                          Reply.chat(" my friend.", chunk_size=4))
            resumed = await client.chat.completions.create(model=MODEL, messages=MESSAGES, stream=True, resume=1)
            chunks = [c async for c in resumed]
            return whole, reply, texts, final, chunks

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        whole, reply, texts, final, chunks = asyncio.run(main())
    text = whole.choices[0].message.content
    assert reply.choices[0].message.content == text
    assert "".join(texts) == final.choices[0].message.content == text
    assert joined(chunks) == "Hello there, my friend."


def test_async_length_warns_once(server) -> None:
    async def main():
        async with kimi.AsyncKimi(api_key=KEY, base_url=server.base_url, max_retries=0) as client:
            await client.chat.completions.create(model=MODEL, messages=MESSAGES, max_completion_tokens=BUDGET)
            stream = await client.chat.completions.create(
                model=MODEL, messages=MESSAGES, max_completion_tokens=BUDGET, stream=True)
            return [c async for c in stream]

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        asyncio.run(main())
    assert [w.category for w in caught] == [kimi.TruncatedWarning]


def test_async_failures_end_the_continuation_as_the_sync_one_does(server) -> None:
    events = [delta_event(role="assistant", content="abc"), delta_event(finish_reason="length")]

    async def main():
        async with kimi.AsyncKimi(api_key=KEY, base_url=server.base_url, max_retries=0) as client:
            create = client.chat.completions.create
            server.script(Reply.chat("Hello there,", finish_reason="length"), Reply.error(500))
            with pytest.raises(kimi.InternalServerError) as refused:
                await create(model=MODEL, messages=MESSAGES, continue_on_length=3)
            server.script(Reply.chat("Hello there,", finish_reason="length"), Reply.error(500))
            stream = await create(model=MODEL, messages=MESSAGES, continue_on_length=3, stream=True)
            with pytest.raises(kimi.InternalServerError):
                [c async for c in stream]
            with pytest.raises(kimi.InternalServerError):
                await stream.final()
            server.script(Reply.raw(events, close=True), Reply.chat(" more"))
            broken = await create(model=MODEL, messages=MESSAGES, continue_on_length=3, stream=True)
            with pytest.raises(kimi.StreamError):
                [c async for c in broken]
            with pytest.raises(kimi.StreamError):
                await broken.final()
            closing = await create(model=MODEL, messages=MESSAGES, max_completion_tokens=BUDGET,
                                   continue_on_length=10, stream=True)
            await closing.__anext__()
            await closing.close()
            with pytest.raises(kimi.StreamError, match="closed before"):
                await closing.final()
            return refused.value.partial, len(server.requests), client._reactor().active

    so_far, asked, active = asyncio.run(main())
    assert so_far.choices[0].message.content == "Hello there,"
    assert asked == 6 and active == 0


@pytest.mark.parametrize("stream", [False, True])
def test_a_task_cancelled_mid_continuation_leaves_no_transfer(server, stream) -> None:
    """Cancelled while a later piece is on its way: its transfer is closed, the
    client's limits count nothing in flight, and the client goes on serving."""

    async def main():
        client = kimi.AsyncKimi(api_key=KEY, base_url=server.base_url, max_retries=0,
                                limits=kimi.Limits(concurrency=1))
        server.script(Reply.chat("Hello there,", finish_reason="length"), Reply.no_response(stall=True))

        async def read():
            got = await client.chat.completions.create(model=MODEL, messages=MESSAGES,
                                                       continue_on_length=3, stream=stream)
            return [c async for c in got] if stream else got

        task = asyncio.ensure_future(read())
        while len(server.requests) < 2:
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.05)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        state = client._reactor().active, client.limits.in_flight
        reply = await client.chat.completions.create(model=MODEL, messages=MESSAGES)
        await client.close()
        return state, reply

    (active, in_flight), reply = asyncio.run(asyncio.wait_for(main(), 30))
    assert (active, in_flight) == (0, 0)
    assert reply.choices[0].finish_reason == "stop"


# -- the core's notice: a callable that raises or re-enters ---------------------------


def _cut(**kwargs):
    return {"model": MODEL, "messages": MESSAGES, "max_completion_tokens": BUDGET, **kwargs}


def test_the_core_client_documents_and_checks_its_notice() -> None:
    from kimi import _core

    assert "notice=None" in _core.Client.__doc__ and "cut by its token budget" in _core.Client.__doc__
    with pytest.raises(TypeError, match="notice must be callable"):
        _core.Client(notice=3)


def test_a_raising_notice_fails_each_sync_path_cleanly(make_client) -> None:
    """Warnings made errors: the sync reply, a stream's end (iterated and final()) and
    a map item each raise the TruncatedWarning, with their lane and limits given back
    and no exception left behind for the next call."""
    client = make_client(limits=kimi.Limits(concurrency=1))
    create = client.chat.completions.create
    with warnings.catch_warnings():
        warnings.simplefilter("error", kimi.TruncatedWarning)
        with pytest.raises(kimi.TruncatedWarning):
            create(**_cut())
        stream = create(**_cut(stream=True))
        with pytest.raises(kimi.TruncatedWarning):
            list(stream)
        assert stream.closed and stream.final().choices[0].finish_reason == "length"
        drained = create(**_cut(stream=True))
        with pytest.raises(kimi.TruncatedWarning):
            drained.final()
        assert drained.final().choices[0].finish_reason == "length"
        results = list(client.chat.completions.map([_cut(), _cut()], return_exceptions=True))
        assert [type(r.error) for r in results] == [kimi.TruncatedWarning] * 2
        assert client._core().idle_lanes == 1 and client.limits.in_flight == 0
        assert create(model=MODEL, messages=MESSAGES).choices[0].finish_reason == "stop"


def test_a_raising_notice_fails_each_async_path_cleanly(server) -> None:
    async def main():
        async with kimi.AsyncKimi(api_key=KEY, base_url=server.base_url, max_retries=0,
                                  limits=kimi.Limits(concurrency=1)) as client:
            create = client.chat.completions.create
            with pytest.raises(kimi.TruncatedWarning):
                await create(**_cut())
            stream = await create(**_cut(stream=True))
            with pytest.raises(kimi.TruncatedWarning):
                [c async for c in stream]
            assert (await stream.final()).choices[0].finish_reason == "length"
            drained = await create(**_cut(stream=True))
            with pytest.raises(kimi.TruncatedWarning):
                await drained.final()
            results = [r async for r in client.chat.completions.map([_cut()], return_exceptions=True)]
            state = client._reactor().active, client.limits.in_flight
            after = await create(model=MODEL, messages=MESSAGES)
            return [type(r.error) for r in results], state, after

    with warnings.catch_warnings():
        warnings.simplefilter("error", kimi.TruncatedWarning)
        errors, state, after = asyncio.run(main())
    assert errors == [kimi.TruncatedWarning] and state == (0, 0)
    assert after.choices[0].finish_reason == "stop"


def test_a_notice_that_closes_rereads_or_drops_its_stream_is_safe(make_client) -> None:
    """The notice runs Python at a stream's end (here through showwarning): closing the
    stream, reading it from another thread and dropping the client there neither crash
    nor change what the stream gives."""
    import gc
    import threading

    holder = {"client": make_client()}
    stream = holder["client"].chat.completions.create(**_cut(stream=True))
    seen = {}

    def show(message, category, filename, lineno, file=None, line=None):
        stream.close()
        other = threading.Thread(target=lambda: seen.update(next=list(stream), final=stream.final()))
        other.start()
        other.join()
        holder.clear()
        gc.collect()
        seen["told"] = category

    with warnings.catch_warnings():
        warnings.simplefilter("always")
        warnings.showwarning = show
        chunks = list(stream)
    assert seen["told"] is kimi.TruncatedWarning and seen["next"] == []
    assert seen["final"].choices[0].message.content == joined(chunks)
    assert stream.final().choices[0].finish_reason == "length" and stream.closed


def test_an_async_notice_that_closes_its_stream_is_safe(server) -> None:
    async def main():
        client = kimi.AsyncKimi(api_key=KEY, base_url=server.base_url, max_retries=0)
        stream = await client.chat.completions.create(**_cut(stream=True))
        told = []

        def show(message, category, *rest, **kwargs):
            asyncio.get_running_loop().create_task(stream.close())
            stream._exchange.close()
            told.append(category)

        with warnings.catch_warnings():
            warnings.simplefilter("always")
            warnings.showwarning = show
            chunks = [c async for c in stream]
        final = await stream.final()
        await client.close()
        return told, chunks, final

    told, chunks, final = asyncio.run(main())
    assert told == [kimi.TruncatedWarning]
    assert final.choices[0].message.content == joined(chunks)


# -- what was checked and holds -----------------------------------------------------


def test_prefill_begins_every_choice_streaming_or_not(client) -> None:
    reply = ask(client, model="moonshot-v1-8k", n=2, prefill="Dear, ")
    stream = ask(client, model="moonshot-v1-8k", n=2, prefill="Dear, ", stream=True)
    shown: dict[int, str] = {}
    for chunk in stream:
        for choice in chunk.choices:
            shown[choice.index] = shown.get(choice.index, "") + (choice.delta.content or "")
    final = stream.final()
    for whole in (reply, final):
        assert [c.message.content[:17] for c in whole.choices] == ["Dear, Answer 1 of", "Dear, Answer 2 of"]
    assert [shown[0], shown[1]] == [c.message.content for c in final.choices]


def test_text_of_a_prefilled_stream_with_n_2_is_the_first_choice_as_stream_text_gives(client) -> None:
    plain = "".join(ask(client, model="moonshot-v1-8k", n=2, stream=True).text())
    stream = ask(client, model="moonshot-v1-8k", n=2, prefill="Dear, ", stream=True)
    texts = "".join(stream.text())
    assert plain.startswith("Answer 1 of 2") and "Answer 2 of 2" not in plain
    assert texts == "Dear, " + plain == stream.final().choices[0].message.content


@pytest.mark.parametrize("placement", ["top", "choice", "both"])
def test_the_summed_usage_wherever_the_pieces_put_it(client, server, placement) -> None:
    first = {"prompt_tokens": 5, "completion_tokens": 7, "total_tokens": 12}
    second = {"prompt_tokens": 6, "completion_tokens": 3, "total_tokens": 9}
    pieces = (Reply.chat("Hello there,", finish_reason="length", usage=first, usage_placement=placement),
              Reply.chat(" friend.", usage=second, usage_placement=placement))
    server.script(*pieces)
    stream = ask(client, stream=True, continue_on_length=2, stream_options={"include_usage": True})
    shown = [u for c in stream for u in [c.usage, *(x.usage for x in c.choices)] if u is not None]
    server.script(*pieces)
    reply = ask(client, continue_on_length=2)
    summed = {"prompt_tokens": 11, "completion_tokens": 10, "total_tokens": 21}
    assert stream.final().usage.to_dict() == reply.usage.to_dict() == summed
    assert [u.to_dict() for u in shown] == [summed] * (2 if placement == "both" else 1)


def test_final_before_or_during_iteration_and_text_mode_give_the_whole(client, whole) -> None:
    text = whole.choices[0].message.content
    kwargs = {"max_completion_tokens": BUDGET, "continue_on_length": 10, "stream": True}
    assert ask(client, **kwargs).final().choices[0].message.content == text
    stream = ask(client, **kwargs)
    begun = [next(stream) for _ in range(5)]
    assert stream.final().choices[0].message.content == text and list(stream) == []
    assert text.startswith(joined(begun))
    assert "".join(ask(client, prefill="You said", **kwargs).text()) == text
    with ask(client, **kwargs) as stream:
        next(stream)
    assert stream.closed and client._core().idle_lanes == 1


def test_raw_responses_and_check_models_in_partial_mode(make_client, server) -> None:
    client = make_client(check_models=True)
    raw = client.chat.completions.with_raw_response.create(model=MODEL, messages=MESSAGES, prefill="Dear, ")
    assert raw.status_code == 200 and raw.parse().choices[0].message.content.startswith("Dear, You said")
    raw = client.chat.completions.with_raw_response.create(
        model=MODEL, messages=MESSAGES, stream=True, max_completion_tokens=BUDGET, continue_on_length=10)
    assert raw.parse().final().choices[0].finish_reason == "stop"
    asked = len(server.requests)
    ask(client, max_completion_tokens=BUDGET, continue_on_length=10)
    assert all(r.path.endswith("/chat/completions") for r in server.requests[asked:])    # checked once
    with pytest.raises(kimi.ModelNotFoundError):
        ask(client, model="kimi-k2-6", continue_on_length=3)


def _slow_cut_piece() -> Reply:
    """A piece cut by length whose [DONE] comes late: a reader waits there."""
    events = [delta_event(role="assistant", content="Hello there,"), delta_event(finish_reason="length")]
    return Reply.raw([*events, b"data: [DONE]\n\n"], delay=0.3)


def test_a_second_reading_thread_is_refused_and_the_first_reads_on(client, server) -> None:
    import threading

    server.script(_slow_cut_piece(), Reply.chat(" friend."))
    stream = ask(client, stream=True, continue_on_length=2)
    got: list = []
    reader = threading.Thread(target=lambda: got.extend(stream))
    reader.start()
    while not stream._plan.going_on:
        reader.join(0.01)
    with pytest.raises(RuntimeError, match="another thread"):
        next(stream)
    reader.join()
    assert joined(got) == "Hello there, friend." and stream.final().choices[0].finish_reason == "stop"


def test_close_from_another_thread_ends_the_stream_and_asks_no_more(client, server) -> None:
    import threading

    server.script(_slow_cut_piece(), Reply.chat(" friend."))
    stream = ask(client, stream=True, continue_on_length=2)
    ended: list = []
    reader = threading.Thread(target=lambda: ended.append(joined(list(stream))))
    reader.start()
    while not stream._plan.going_on:
        reader.join(0.01)
    stream.close()
    reader.join()
    assert ended == ["Hello there,"] and stream.closed
    assert len(server.requests) == 1 and client._core().idle_lanes == 1
    with pytest.raises(kimi.StreamError, match="closed before"):
        stream.final()


def test_async_close_from_another_task_ends_the_stream_and_asks_no_more(server) -> None:
    async def main():
        async with kimi.AsyncKimi(api_key=KEY, base_url=server.base_url, max_retries=0) as client:
            server.script(_slow_cut_piece(), Reply.chat(" friend."))
            stream = await client.chat.completions.create(model=MODEL, messages=MESSAGES, stream=True,
                                                          continue_on_length=2)

            async def read():
                return joined([c async for c in stream])

            reader = asyncio.ensure_future(read())
            while not stream._plan.going_on:
                await asyncio.sleep(0.01)
            await stream.close()
            text = await reader
            with pytest.raises(kimi.StreamError, match="closed before"):
                await stream.final()
            return text, stream.closed, len(server.requests), client._reactor().active

    assert asyncio.run(main()) == ("Hello there,", True, 1, 0)


def test_a_continuing_thread_does_not_silence_another_threads_cut(client, server) -> None:
    """The continuation's quiet is its own context's: a plain cut on another thread,
    while one thread's continued stream is being read, still warns (at that thread's
    line)."""
    import threading

    server.default = Reply.echo(delay=0.01, chunk_size=4)
    stream = ask(client, max_completion_tokens=BUDGET, continue_on_length=10, stream=True)
    next(stream)
    reading = threading.Thread(target=stream.final)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        reading.start()
        cut = threading.Thread(target=lambda: ask(client, max_completion_tokens=BUDGET))
        cut.start()
        cut.join()
        reading.join()
    assert [w.category for w in caught] == [kimi.TruncatedWarning]
    assert caught[0].filename == __file__


def test_the_warning_names_the_callers_line_on_every_path(make_client, server) -> None:
    import inspect

    def here() -> int:
        return inspect.currentframe().f_back.f_lineno

    lines = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        lines.append(here() + 1)
        make_client().chat.completions.create(**_cut(continue_on_length=1))
        lines.append(here() + 1)
        list(make_client().chat.completions.create(**_cut(continue_on_length=1, stream=True)))
        lines.append(here() + 1)
        list(make_client().chat.completions.map([_cut()]))

        async def main():
            async with kimi.AsyncKimi(api_key=KEY, base_url=server.base_url, max_retries=0) as client:
                lines.append(here() + 1)
                await client.chat.completions.create(**_cut(continue_on_length=1))
            async with kimi.AsyncKimi(api_key=KEY, base_url=server.base_url, max_retries=0) as client:
                stream = await client.chat.completions.create(**_cut(stream=True))
                lines.append(here() + 1)
                [c async for c in stream]
            async with kimi.AsyncKimi(api_key=KEY, base_url=server.base_url, max_retries=0) as client:
                stream = await client.chat.completions.create(**_cut(stream=True, continue_on_length=1))
                lines.append(here() + 1)
                [c async for c in stream]
            async with kimi.AsyncKimi(api_key=KEY, base_url=server.base_url, max_retries=0) as client:
                lines.append(here() + 1)
                [r async for r in client.chat.completions.map([_cut(), _cut()])]

        asyncio.run(main())
    assert [(w.filename, w.lineno) for w in caught] == [(__file__, n) for n in lines]


def test_resume_picks_up_a_stream_gone_silent_past_its_event_timeout(make_client, server) -> None:
    client = make_client(timeout=kimi.Timeout(10, event=0.3))
    server.script(
        Reply.chat("Hello there, my friend.", chunk_size=4, stall_after=4),
        Reply.chat(" my friend.", chunk_size=4),
    )
    stream = client.chat.completions.create(model=MODEL, messages=MESSAGES, stream=True, resume=1)
    assert joined(list(stream)) == "Hello there, my friend."
    assert partials(server)[-1]["content"] == "Hello there,"
    server.script(Reply.chat("Hello there, my friend.", chunk_size=4, stall_after=4))
    with pytest.raises(kimi.APITimeoutError):      # without resume the silence stands
        list(client.chat.completions.create(model=MODEL, messages=MESSAGES, stream=True))


def test_n_given_in_extra_body_is_checked_too(client, server) -> None:
    with pytest.raises(ValueError, match="n=1"):
        ask(client, model="moonshot-v1-8k", continue_on_length=2, extra_body={"n": 2})
    assert server.requests == []
