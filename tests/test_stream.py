"""Streaming chat completions: chunks, text(), final(), broken streams, SSE framing, and
the stream's lifecycle (close, context manager, garbage collection, keep-alive reuse).

All against the local server over loopback; raw byte-level cases use Reply.raw.
"""

from __future__ import annotations

import gc
import json
import threading

import pytest
from conftest import DONE, MODEL, create, delta_event, sse

import kimi
from kimi.testing import Reply

# -- the happy path ------------------------------------------------------------------


def test_stream_chunks_carry_role_first_then_reasoning_then_content(client, server):
    server.script(Reply.chat("Hello world", reasoning="Think first", chunk_size=5))
    stream = create(client, stream=True)
    assert isinstance(stream, kimi.Stream)
    assert stream.status_code == 200
    chunks = list(stream)
    assert all(isinstance(c, kimi.ChatCompletionChunk) for c in chunks)
    first = chunks[0]
    assert first.object == "chat.completion.chunk"
    assert first.model == MODEL
    assert first.id.startswith("chatcmpl-")
    assert first.choices[0].delta.role == "assistant"
    deltas = [c.choices[0].delta for c in chunks]
    assert "".join(d.reasoning_content or "" for d in deltas) == "Think first"
    assert "".join(d.content or "" for d in deltas) == "Hello world"
    # Three reasoning pieces of at most 5 characters, then three content pieces.
    kinds = [("r" if d.reasoning_content else "c") for d in deltas if d.reasoning_content or d.content]
    assert kinds == ["r", "r", "r", "c", "c", "c"]
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert {c.id for c in chunks} == {first.id}


def test_stream_chunk_missing_known_field_reads_none_and_to_dict_is_plain(client, server):
    server.script(Reply.chat("Hi"))
    chunks = list(create(client, stream=True))
    delta = chunks[0].choices[0].delta
    assert delta.tool_calls is None
    assert delta.reasoning_content is None
    plain = chunks[1].to_dict()
    assert plain["choices"][0]["delta"] == {"content": "Hi"}
    assert json.loads(json.dumps(plain)) == plain


def test_text_yields_only_content_strings(client, server):
    server.script(Reply.chat("Hello there, world", reasoning="hidden thoughts", chunk_size=4))
    pieces = list(create(client, stream=True).text())
    assert all(type(p) is str for p in pieces)
    assert all(p for p in pieces)  # the role chunk's "" is not yielded
    assert "".join(pieces) == "Hello there, world"
    assert pieces[0] == "Hell"


def test_final_assembles_content_reasoning_finish_reason_and_usage(client, server):
    usage = {"prompt_tokens": 11, "completion_tokens": 7, "total_tokens": 18, "cached_tokens": 3}
    server.script(Reply.chat("The answer is 42.", reasoning="Compute.", usage=usage, chunk_size=3))
    with create(client, stream=True) as stream:
        final = stream.final()
    assert isinstance(final, kimi.ChatCompletion)
    assert final.object == "chat.completion"
    assert final.model == MODEL
    assert final.id.startswith("chatcmpl-")
    choice = final.choices[0]
    assert choice.index == 0
    assert choice.finish_reason == "stop"
    assert choice.message.role == "assistant"
    assert choice.message.content == "The answer is 42."
    assert choice.message.reasoning_content == "Compute."
    assert choice.message.tool_calls is None
    assert final.usage.to_dict() == usage
    assert stream.closed


def test_final_after_partial_iteration_drains_the_rest(client, server):
    server.script(Reply.chat("abcdefghijklmnop", chunk_size=2))
    stream = create(client, stream=True)
    seen = [next(stream), next(stream), next(stream)]
    assert [c.choices[0].delta.content for c in seen] == ["", "ab", "cd"]
    final = stream.final()
    assert final.choices[0].message.content == "abcdefghijklmnop"
    assert stream.closed
    assert list(stream) == []
    assert stream.final() == final  # idempotent


def test_final_includes_text_already_taken_through_text(client, server):
    server.script(Reply.chat("one two three", reasoning="r", chunk_size=4))
    stream = create(client, stream=True)
    assert "".join(stream.text()) == "one two three"
    message = stream.final().choices[0].message
    assert message.content == "one two three"
    assert message.reasoning_content == "r"


def test_final_joins_interleaved_tool_call_arguments_per_index(client, server):
    first = {"index": 0, "id": "get_weather:0", "type": "function",
             "function": {"name": "get_weather", "arguments": ""}}
    second = {"index": 1, "id": "get_time:1", "type": "function",
              "function": {"name": "get_time", "arguments": '{"tz"'}}
    events = [
        delta_event(role="assistant", content=""),
        delta_event(tool_calls=[first]),
        delta_event(tool_calls=[second]),
        delta_event(tool_calls=[{"index": 0, "function": {"arguments": '{"city": '}}]),
        delta_event(tool_calls=[{"index": 1, "function": {"arguments": ': "UTC"}'}}]),
        delta_event(tool_calls=[{"index": 0, "function": {"arguments": '"Beijing"}'}}]),
        delta_event(finish_reason="tool_calls"),
        DONE,
    ]
    server.script(Reply.raw(events))
    final = create(client, stream=True).final()
    choice = final.choices[0]
    assert choice.finish_reason == "tool_calls"
    calls = choice.message.tool_calls
    assert [(c.id, c.type, c.function.name) for c in calls] == [
        ("get_weather:0", "function", "get_weather"),
        ("get_time:1", "function", "get_time"),
    ]
    assert json.loads(calls[0].function.arguments) == {"city": "Beijing"}
    assert json.loads(calls[1].function.arguments) == {"tz": "UTC"}
    assert isinstance(calls[0], kimi.ToolCall)
    assert isinstance(calls[0].function, kimi.Function)


def test_final_tool_calls_from_server_script(client, server):
    calls = [{"id": "search:0", "name": "search", "arguments": {"q": "kimi", "n": 3}, "type": "builtin_function"}]
    server.script(Reply.chat(content=None, tool_calls=calls, chunk_size=3))
    final = create(client, stream=True).final()
    call = final.choices[0].message.tool_calls[0]
    assert call.type == "builtin_function"
    assert call.function.name == "search"
    assert json.loads(call.function.arguments) == {"q": "kimi", "n": 3}
    assert final.choices[0].finish_reason == "tool_calls"


def _two_choice_events() -> list[bytes]:
    """n=2: two completions interleaved, routed by choices[].index."""
    return [
        sse({"id": "x", "choices": [{"index": 0, "delta": {"role": "assistant", "content": "A1"}},
                                    {"index": 1, "delta": {"role": "assistant", "content": "B1"}}]}),
        sse({"id": "x", "choices": [{"index": 1, "delta": {"content": "B2"}}]}),
        sse({"id": "x", "choices": [{"index": 0, "delta": {"content": "A2"}, "finish_reason": "length"}]}),
        sse({"id": "x", "choices": [{"index": 1, "delta": {}, "finish_reason": "stop"}]}),
        DONE,
    ]


def test_final_assembles_each_choice_of_an_n2_stream_by_index(client, server):
    server.script(Reply.raw(_two_choice_events()))
    with pytest.warns(kimi.TruncatedWarning):       # choice 0 was cut
        final = create(client, stream=True, n=2, model="moonshot-v1-8k").final()     # kimi-k2.6 fixes n at 1
    assert [(c.index, c.message.content, c.finish_reason) for c in final.choices] == [
        (0, "A1A2", "length"),
        (1, "B1B2", "stop"),
    ]


def test_text_of_an_n2_stream_yields_only_the_first_choice(client, server):
    server.script(Reply.raw(_two_choice_events()))
    with pytest.warns(kimi.TruncatedWarning):
        assert list(create(client, stream=True, n=2, model="moonshot-v1-8k").text()) == ["A1", "A2"]


def test_reasoning_field_named_reasoning_is_assembled(client, server):
    server.script(Reply.raw([
        delta_event(reasoning="think "),
        delta_event(reasoning="more"),
        delta_event(content="answer"),
        DONE,
    ]))
    message = create(client, stream=True).final().choices[0].message
    assert message.reasoning_content == "think more"
    assert message.content == "answer"


USAGE = {"prompt_tokens": 120, "completion_tokens": 42, "total_tokens": 162, "cached_tokens": 64}


@pytest.mark.parametrize("placement", ["choice", "top", "both"])
def test_final_usage_is_the_same_wherever_the_server_puts_it(client, server, placement):
    server.script(Reply.chat("hi", usage=USAGE, usage_placement=placement))
    stream = create(client, stream=True)
    chunks = list(stream)
    final = stream.final()
    assert isinstance(final.usage, kimi.Usage)
    assert final.usage.to_dict() == USAGE
    top = [c for c in chunks if c.usage is not None]
    in_choice = [c for c in chunks if c.choices and c.choices[0].usage is not None]
    assert bool(top) == (placement in ("top", "both"))
    assert bool(in_choice) == (placement in ("choice", "both"))
    if top:
        assert top[0].choices == []


def test_final_usage_is_none_when_the_server_sends_none(client, server):
    server.script(Reply.chat("hi", usage=None))
    assert create(client, stream=True).final().usage is None


def test_stream_role_on_first_content_chunk_without_role_chunk(client, server):
    server.script(Reply.chat("Hey", role_chunk=False))
    chunks = list(create(client, stream=True))
    assert chunks[0].choices[0].delta.role == "assistant"
    assert chunks[0].choices[0].delta.content == "Hey"


# -- broken streams ------------------------------------------------------------------


def test_stream_ending_cleanly_before_a_finish_reason_raises_stream_error_naming_done(client, server):
    server.script(Reply.raw([delta_event(content="complete"), delta_event(content=" text")]))
    stream = create(client, stream=True)
    got = []
    with pytest.raises(kimi.StreamError) as info:
        for chunk in stream:
            got.append(chunk.choices[0].delta.content or "")
    assert "[DONE]" in str(info.value)
    assert "".join(got) == "complete text"  # every chunk before the end was delivered
    assert stream.closed


def test_stream_ending_cleanly_after_every_finish_reason_without_done_is_complete(client, server):
    server.script(Reply.chat("complete text", include_done=False))
    stream = create(client, stream=True)
    assert "".join(c.choices[0].delta.content or "" for c in stream if c.choices) == "complete text"
    reply = stream.final()
    assert reply.choices[0].message.content == "complete text"
    assert reply.choices[0].finish_reason == "stop"


def test_stream_broken_after_every_finish_reason_without_done_is_still_an_error(client, server):
    finished = delta_event(finish_reason="stop")
    server.script(Reply.raw([delta_event(content="abc"), finished], close=True))
    with pytest.raises(kimi.StreamError, match=r"\[DONE\]"):
        create(client, stream=True).final()


def test_stream_without_done_is_complete_only_when_every_choice_finished(client, server):
    two = [sse({"choices": [{"index": i, "delta": {"content": str(i)}, "finish_reason": None}]}) for i in (0, 1)]
    only_first = sse({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
    server.script(Reply.raw([*two, only_first]))
    with pytest.raises(kimi.StreamError, match=r"\[DONE\]"):
        create(client, stream=True).final()


def test_stream_disconnect_mid_body_raises_stream_error_after_delivered_chunks(client, server):
    server.script(Reply.chat("abcdefgh" * 4, chunk_size=8, disconnect_after=3))
    stream = create(client, stream=True)
    got = []
    with pytest.raises(kimi.StreamError) as info:
        for chunk in stream:
            got.append(chunk.choices[0].delta.content)
    assert got == ["", "abcdefgh", "abcdefgh"]
    assert info.value.status_code == 200
    assert stream.closed


def test_stream_disconnect_mid_body_message_names_done(client, server):
    server.script(Reply.chat("abcdefgh" * 4, chunk_size=8, disconnect_after=3))
    with pytest.raises(kimi.StreamError) as info:
        list(create(client, stream=True))
    assert "[DONE]" in str(info.value)


def test_stream_final_on_truncated_stream_raises_instead_of_partial_success(client, server):
    server.script(Reply.raw([delta_event(content="partial")]))
    with pytest.raises(kimi.StreamError, match=r"\[DONE\]"):
        create(client, stream=True).final()


def test_final_after_a_failed_stream_raises_again(client, server):
    server.script(Reply.chat("partial answer", chunk_size=4, disconnect_after=3))
    stream = create(client, stream=True)
    with pytest.raises(kimi.StreamError):
        stream.final()
    with pytest.raises(kimi.StreamError):
        stream.final()


def test_stream_cut_inside_an_event_says_the_event_was_cut(client, server):
    server.script(Reply.raw([delta_event(content="a"), b'data: {"choices":[{"ind']))
    with pytest.raises(kimi.StreamError, match=r"without data: \[DONE\].*cut off"):
        list(create(client, stream=True))


def test_error_object_mid_stream_raises_after_earlier_chunks(client, server):
    server.script(Reply.raw([
        delta_event(role="assistant", content="Hel"),
        delta_event(content="lo"),
        b'data: {"error":{"type":"server_error","message":"boom"}}\n\n',
        delta_event(content="never"),
        DONE,
    ]))
    stream = create(client, stream=True)
    got = []
    with pytest.raises(kimi.StreamError) as info:
        for chunk in stream:
            got.append(chunk.choices[0].delta.content)
    exc = info.value
    assert got == ["Hel", "lo"]
    assert exc.body == {"type": "server_error", "message": "boom"}
    assert exc.type == "server_error"
    assert "boom" in str(exc) and "server_error" in str(exc)
    assert not isinstance(exc, kimi.APIStatusError)
    assert stream.closed


def test_error_string_mid_stream_raises_with_the_text(client, server):
    server.script(Reply.raw([delta_event(content="a"), b'data: {"error":"upstream died"}\n\n']))
    with pytest.raises(kimi.StreamError, match="upstream died") as info:
        list(create(client, stream=True))
    assert info.value.body == "upstream died"
    assert info.value.type is None


def test_sse_error_event_type_raises_with_body(client, server):
    server.script(Reply.raw([b'event: error\ndata: {"message":"overloaded","code":503}\n\n']))
    with pytest.raises(kimi.StreamError, match="overloaded") as info:
        list(create(client, stream=True))
    assert info.value.body == {"message": "overloaded", "code": 503}
    assert info.value.code == 503


def test_null_error_member_in_a_chunk_is_not_an_error(client, server):
    server.script(Reply.raw([
        sse({"choices": [{"index": 0, "delta": {"content": "a"}}], "error": None}),
        delta_event(content="b"),
        DONE,
    ]))
    assert list(create(client, stream=True).text()) == ["a", "b"]


def test_malformed_json_event_raises_stream_error_with_offset(client, server):
    good = delta_event(content="ok")
    server.script(Reply.raw([good, b'data: {"choices": [\n\n', DONE]))
    stream = create(client, stream=True)
    assert next(stream).choices[0].delta.content == "ok"
    with pytest.raises(kimi.StreamError) as info:
        next(stream)
    exc = info.value
    assert "malformed event" in str(exc)
    assert exc.offset == len(good) + len(b'data: {"choices": [\n\n')
    assert f"body byte {exc.offset}" in str(exc)


def test_2xx_json_body_to_a_stream_request_raises_stream_error(client, server):
    server.script(Reply.json({"id": "x", "object": "chat.completion", "choices": []}))
    stream = create(client, stream=True)  # the status is fine; the body is judged on reading
    with pytest.raises(kimi.StreamError, match="expected Content-Type: text/event-stream.*application/json"):
        next(stream)


def test_2xx_json_error_body_to_a_stream_request_raises_the_server_error(client, server):
    server.script(Reply.json({"error": {"type": "engine_overloaded_error", "message": "try later"}}))
    stream = create(client, stream=True)
    with pytest.raises(kimi.StreamError, match="try later") as info:
        list(stream)
    assert info.value.type == "engine_overloaded_error"
    assert info.value.body == {"type": "engine_overloaded_error", "message": "try later"}


def test_event_over_max_event_bytes_raises_stream_error(make_client, server):
    client = make_client(max_event_bytes=1000)
    server.script(Reply.raw([delta_event(content="y" * 5000), DONE]))
    with pytest.raises(kimi.StreamError, match="exceeds 1000 bytes"):
        list(create(client, stream=True))


# -- large events and bytes ----------------------------------------------------------


def test_300kb_single_event_arrives_intact(client, server):
    big = "".join(chr(ord("a") + i % 26) for i in range(300_000))
    server.script(Reply.raw([delta_event(role="assistant", content=big), DONE]))
    pieces = list(create(client, stream=True).text())
    assert len(pieces) == 1
    assert pieces[0] == big


def test_300kb_event_split_in_many_http_chunks_arrives_intact(client, server):
    big = "0123456789" * 30_000
    event = delta_event(content=big)
    server.script(Reply.raw([event[i:i + 4096] for i in range(0, len(event), 4096)] + [DONE]))
    assert create(client, stream=True).final().choices[0].message.content == big


def _cut_inside_characters(data: bytes) -> list[bytes]:
    """data cut before every UTF-8 continuation byte: every multi-byte character is split."""
    cuts = [i for i in range(1, len(data)) if 0x80 <= data[i] <= 0xBF]
    bounds = [0, *cuts, len(data)]
    return [data[a:b] for a, b in zip(bounds, bounds[1:])]


def test_multibyte_utf8_split_inside_characters_arrives_intact(client, server):
    text = "안녕하세요 😀 세계 👍🏽 ok"
    body = delta_event(role="assistant", content=text) + DONE
    pieces = _cut_inside_characters(body)
    assert len(pieces) > 20
    # A small delay makes each piece its own packet, so the cuts really reach the parser.
    server.script(Reply.raw(pieces, delay=0.002))
    stream = create(client, stream=True)
    assert list(stream.text()) == [text]
    assert stream.final().choices[0].message.content == text


def test_invalid_utf8_in_content_becomes_replacement_character(client, server):
    """Documented choice: bytes that are not UTF-8 decode to U+FFFD, never raise."""
    raw = b'data: {"choices":[{"index":0,"delta":{"content":"a\xffb\xc3("}}]}\n\n' + DONE
    server.script(Reply.raw([raw]))
    stream = create(client, stream=True)
    chunk = next(stream)
    assert chunk.choices[0].delta.content == "a\ufffdb\ufffd("
    assert list(stream) == []
    assert stream.final().choices[0].message.content == "a\ufffdb\ufffd("


def test_invalid_utf8_in_text_mode_becomes_replacement_character(client, server):
    server.script(Reply.raw([b'data: {"choices":[{"index":0,"delta":{"content":"x\xfe"}}]}\n\n', DONE]))
    assert list(create(client, stream=True).text()) == ["x\ufffd"]


# -- SSE framing -----------------------------------------------------------------------


def test_keepalive_comments_are_skipped(client, server):
    server.script(Reply.raw([
        b": keep-alive\n\n",
        delta_event(content="a"),
        b": OPENROUTER PROCESSING\n\n",
        b":\n",
        delta_event(content="b"),
        DONE,
    ]))
    assert list(create(client, stream=True).text()) == ["a", "b"]


def test_crlf_line_ends_are_parsed(client, server):
    events = (delta_event(content="a") + delta_event(content="b") + DONE).replace(b"\n", b"\r\n")
    server.script(Reply.raw([events]))
    assert list(create(client, stream=True).text()) == ["a", "b"]


def test_lone_cr_line_ends_are_parsed(client, server):
    events = (delta_event(content="a") + DONE).replace(b"\n", b"\r")
    server.script(Reply.raw([events]))
    assert list(create(client, stream=True).text()) == ["a"]


def test_crlf_split_between_packets_is_one_line_end(client, server):
    event = delta_event(content="a").replace(b"\n", b"\r\n")
    cut = event.index(b"\r") + 1
    server.script(Reply.raw([event[:cut], event[cut:], DONE.replace(b"\n", b"\r\n")], delay=0.002))
    assert list(create(client, stream=True).text()) == ["a"]


def test_data_without_space_after_colon_is_parsed(client, server):
    payload = json.dumps({"choices": [{"index": 0, "delta": {"content": "tight"}}]}).encode()
    server.script(Reply.raw([b"data:" + payload + b"\n\ndata:[DONE]\n\n"]))
    assert list(create(client, stream=True).text()) == ["tight"]


def test_leading_bom_is_stripped(client, server):
    server.script(Reply.raw([b"\xef\xbb\xbf" + delta_event(content="bom") + DONE]))
    assert list(create(client, stream=True).text()) == ["bom"]


def test_leading_bom_split_across_packets_is_stripped(client, server):
    body = b"\xef\xbb\xbf" + delta_event(content="bom") + DONE
    server.script(Reply.raw([body[:1], body[1:2], body[2:]], delay=0.002))
    assert list(create(client, stream=True).text()) == ["bom"]


def test_multi_line_data_is_joined_with_newlines(client, server):
    server.script(Reply.raw([
        b'data: {"choices":\ndata: [{"index":0,\ndata: "delta":{"content":"joined"}}]}\n\n',
        DONE,
    ]))
    assert list(create(client, stream=True).text()) == ["joined"]


def test_event_id_and_retry_fields_are_ignored(client, server):
    server.script(Reply.raw([
        b"retry: 3000\nid: 7\n" + delta_event(content="a"),
        b"event: ping\n\n",
        b"id: 8\n\n\n\n",
        delta_event(content="b"),
        DONE,
    ]))
    assert list(create(client, stream=True).text()) == ["a", "b"]


def test_bytes_after_done_are_ignored(client, server):
    server.script(Reply.raw([delta_event(content="a") + DONE, b"data: {not json\n\n"]))
    stream = create(client, stream=True)
    assert list(stream.text()) == ["a"]
    assert stream.closed


def test_done_then_connection_close_is_a_clean_end(client, server):
    server.script(Reply.raw([delta_event(content="a") + DONE], close=True))
    assert list(create(client, stream=True).text()) == ["a"]


# -- lifecycle ---------------------------------------------------------------------------


def test_iterating_without_with_closes_at_the_end(client, server):
    server.script(Reply.chat("abc"))
    stream = create(client, stream=True)
    assert not stream.closed
    contents = [c.choices[0].delta.content for c in stream]
    assert "".join(filter(None, contents)) == "abc"
    assert stream.closed
    assert next(stream, "end") == "end"


def test_break_then_close_frees_the_lane_and_next_request_works(client, server):
    server.script(Reply.chat("x" * 200, chunk_size=1))
    stream = create(client, stream=True)
    for i, _ in enumerate(stream):
        if i == 3:
            break
    assert not stream.closed
    assert client._core_client.idle_lanes == 0
    stream.close()
    assert stream.closed
    assert client._core_client.idle_lanes == 1
    stream.close()  # idempotent
    assert list(stream) == []
    reply = create(client)
    assert reply.choices[0].message.content.startswith("You said")


def test_final_after_closing_before_done_raises_instead_of_a_partial_reply(client, server):
    server.script(Reply.chat("abcdefgh" * 8, chunk_size=4))
    stream = create(client, stream=True)
    next(stream)
    next(stream)
    stream.close()
    with pytest.raises(kimi.StreamError, match=r"closed before data: \[DONE\]"):
        stream.final()


def test_context_manager_closes_the_stream(client, server):
    server.script(Reply.chat("y" * 100, chunk_size=1))
    with create(client, stream=True) as stream:
        assert next(stream).choices[0].delta.role == "assistant"
        assert not stream.closed
    assert stream.closed
    assert client._core_client.idle_lanes == 1


def test_context_manager_closes_the_stream_on_exception(client, server):
    server.script(Reply.chat("z" * 100, chunk_size=1))
    with pytest.raises(ZeroDivisionError):
        with create(client, stream=True) as stream:
            next(stream)
            1 / 0
    assert stream.closed
    assert client._core_client.idle_lanes == 1


def test_garbage_collected_stream_returns_its_lane(client, server):
    client.models.list()  # create the core client and one idle lane
    before = client._core_client.idle_lanes
    server.script(Reply.chat("w" * 100, chunk_size=1))
    stream = create(client, stream=True)
    next(stream)
    assert client._core_client.idle_lanes == before - 1
    del stream
    assert client._core_client.idle_lanes == before


def test_stream_in_a_reference_cycle_is_closed_by_the_collector(client, server):
    client.models.list()
    before = client._core_client.idle_lanes
    server.script(Reply.chat("v" * 100, chunk_size=1))
    holder: list = [create(client, stream=True)]
    next(holder[0])
    holder.append(holder)
    del holder
    assert client._core_client.idle_lanes == before - 1
    gc.collect()
    assert client._core_client.idle_lanes == before
    assert create(client).choices[0].finish_reason == "stop"


def test_keep_alive_reuses_one_connection_for_sequential_calls(make_client, server):
    client = make_client()
    before = server.connections
    for i in range(5):
        server.script(Reply.chat(f"plain {i}"))
        assert create(client).choices[0].message.content == f"plain {i}"
    for i in range(5):
        server.script(Reply.chat(f"streamed {i}"))
        assert "".join(create(client, stream=True).text()) == f"streamed {i}"
    for _ in range(2):
        assert len(client.models.list()) == 8
    assert server.connections - before == 1


def test_closed_early_stream_does_not_break_later_calls(client, server):
    for i in range(3):
        server.script(Reply.chat("q" * 50, chunk_size=1), Reply.chat(f"after {i}"))
        stream = create(client, stream=True)
        next(stream)
        stream.close()
        assert create(client).choices[0].message.content == f"after {i}"


def test_closing_the_client_leaves_an_open_stream_readable(client, server):
    server.script(Reply.chat("still here", chunk_size=2))
    stream = create(client, stream=True)
    next(stream)
    client.close()
    assert client._core_client is None
    assert stream.final().choices[0].message.content == "still here"
    assert stream.closed
    assert create(client).choices[0].finish_reason == "stop"


def test_two_threads_iterating_one_stream_one_gets_runtime_error(client, server):
    letters = "abcdefghijklmnopqrstuvwxyzABCD"
    server.script(Reply.chat(letters, chunk_size=1, delay=0.01))
    stream = create(client, stream=True)
    results: dict[str, list] = {"a": [], "b": []}
    errors: list[BaseException] = []
    start = threading.Barrier(2)

    def read(name: str) -> None:
        start.wait()
        try:
            for chunk in stream:
                results[name].append(chunk.choices[0].delta.content)
        except BaseException as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=read, args=(n,)) for n in "ab"]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert not any(t.is_alive() for t in threads)
    assert len(errors) == 1
    assert isinstance(errors[0], RuntimeError)
    assert "another thread" in str(errors[0])
    # Between them every chunk was read exactly once; the refused call took none.
    read = [c for c in results["a"] + results["b"] if c]
    assert sorted(read) == sorted(letters)
    assert stream.closed


def test_close_from_another_thread_ends_iteration(client, server):
    server.script(Reply.chat("p" * 100, chunk_size=1, delay=0.01))
    stream = create(client, stream=True)
    got: list = []
    first = threading.Event()

    def read() -> None:
        for chunk in stream:
            got.append(chunk)
            first.set()

    reader = threading.Thread(target=read)
    reader.start()
    assert first.wait(5)
    stream.close()
    reader.join(5)
    assert not reader.is_alive()
    assert stream.closed
    assert 1 <= len(got) < 101
    assert create(client).choices[0].finish_reason == "stop"


def test_stream_exposes_response_headers_while_open(client, server):
    server.script(Reply.chat("h", headers={"x-request-id": "req-abc"}))
    stream = create(client, stream=True)
    assert stream.headers["x-request-id"] == "req-abc"
    assert stream.headers["content-type"] == "text/event-stream"
    list(stream)
    assert stream.headers["x-request-id"] == "req-abc"


def test_stream_headers_still_available_after_the_stream_ended(client, server):
    server.script(Reply.chat("h", headers={"x-request-id": "req-late"}),
                  Reply.chat("h" * 50, chunk_size=1, headers={"x-request-id": "req-closed"}))
    stream = create(client, stream=True)
    list(stream)
    assert stream.closed
    assert stream.headers.get("x-request-id") == "req-late"
    stream = create(client, stream=True)
    next(stream)
    stream.close()
    assert stream.headers.get("x-request-id") == "req-closed"
