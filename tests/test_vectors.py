"""Recorded traffic and published SSE cases (tests/vectors), served byte for byte by the
local server with Reply.raw and read back through the client.

The expected values are computed from the recordings themselves with the stdlib, so the
client is checked against an independent reading of the same bytes.
"""

from __future__ import annotations

import json

import pytest
from conftest import DONE, VECTORS, create, delta_event

import kimi
from kimi.testing import Reply

STREAM_SSE = (VECTORS / "kimi-k2.5-reasoning-stream.sse").read_bytes()
RESPONSE_JSON = (VECTORS / "kimi-k2.5-reasoning-response.json").read_bytes()
EXPECTED_CONTENT = " 안녕하세요! 어떻게 도와드릴까요 오늘?"


def _recorded_chunks() -> list[dict]:
    """The JSON of every data event in the recorded stream, parsed by the stdlib."""
    chunks = []
    for block in STREAM_SSE.decode("utf-8").split("\n\n"):
        data = "\n".join(line[len("data: "):] for line in block.splitlines() if line.startswith("data: "))
        if data and data != "[DONE]":
            chunks.append(json.loads(data))
    return chunks


RECORDED = _recorded_chunks()


def _joined(field: str) -> str:
    return "".join(c["choices"][0]["delta"].get(field) or "" for c in RECORDED if c["choices"])


def _pieces(data: bytes, size: int) -> list[bytes]:
    return [data[i:i + size] for i in range(0, len(data), size)]


def test_recording_is_what_the_tests_expect():
    assert RECORDED[-1]["usage"]["total_tokens"] == 144
    assert _joined("content") == EXPECTED_CONTENT
    assert _joined("reasoning_content") == _joined("reasoning")  # the same text, twice per chunk


@pytest.mark.parametrize("size", [len(STREAM_SSE), 7, 1], ids=["whole", "7-byte", "1-byte"])
def test_recorded_reasoning_stream_assembles(client, server, size):
    server.script(Reply.raw(_pieces(STREAM_SSE, size)))
    stream = create(client, stream=True, model="kimi-k2.5")
    chunks = list(stream)
    assert len(chunks) == len(RECORDED)
    assert [c.to_dict() for c in chunks] == RECORDED
    final = stream.final()
    message = final.choices[0].message
    assert message.content == EXPECTED_CONTENT
    # reasoning_content and reasoning carry the same text; it must not be counted twice.
    assert message.reasoning_content == _joined("reasoning_content")
    assert final.choices[0].finish_reason == "stop"
    assert final.id == "chatcmpl-952dd5e75583c4d1"
    assert final.model == "kimi-k2.5"
    assert final.usage.to_dict() == RECORDED[-1]["usage"]
    assert final.usage.prompt_tokens_details == {"cached_tokens_details": {}}


def test_recorded_stream_in_separate_7_byte_packets_text_mode(client, server):
    # A short pause between pieces makes each 7-byte cut reach the client as its own read.
    server.script(Reply.raw(_pieces(STREAM_SSE, 7), delay=0.0002))
    pieces = list(create(client, stream=True).text())
    assert "".join(pieces) == EXPECTED_CONTENT
    assert pieces == [c["choices"][0]["delta"]["content"] for c in RECORDED
                      if c["choices"] and c["choices"][0]["delta"].get("content")]


def test_recorded_chunk_fields_keep_nulls_and_extras(client, server):
    server.script(Reply.raw([STREAM_SSE]))
    first = next(iter(create(client, stream=True)))
    assert first.system_fingerprint is None
    assert first.usage is None
    assert first.choices[0].logprobs is None
    second = RECORDED[1]["choices"][0]["delta"]
    assert second["reasoning"] == second["reasoning_content"]


def test_recorded_non_stream_response(client, server):
    server.script(Reply.json(RESPONSE_JSON))
    reply = create(client, model="kimi-k2.5")
    expected = json.loads(RESPONSE_JSON)
    assert reply.to_dict() == expected
    message = reply.choices[0].message
    assert message.content == " Hello! How can I help you today?"
    assert message.reasoning_content.startswith(" The user has simply said")
    assert message.reasoning == message.reasoning_content
    assert message.tool_calls == []
    assert message.refusal is None
    assert reply.usage.total_tokens == 193
    assert reply.usage.completion_tokens_details == {}


def test_recorded_proxy_error_vector_on_a_stream_request(client, server):
    server.script(Reply.error(500, (VECTORS / "proxy-error-500.json").read_bytes()))
    with pytest.raises(kimi.InternalServerError) as info:
        create(client, stream=True)
    assert info.value.code == "api_error"
    assert info.value.request_id == "2cf86e86-22a4-46e1-ac2f-032c0f2a4e89"


# -- sse-cases.md, with each event's data made a chunk ---------------------------------------


def chunk(text: str) -> bytes:
    """The JSON of a chunk whose content is text (no SSE framing)."""
    return json.dumps({"choices": [{"index": 0, "delta": {"content": text}}]}, ensure_ascii=False).encode()


C1, C2, C3 = chunk("1"), chunk("2"), chunk("3")

SSE_CASES = {
    # wpt format-bom: only the first BOM is stripped; a second makes the name "\ufeffdata".
    "format-bom": (b"\xef\xbb\xbfdata:" + C1 + b"\n\n\xef\xbb\xbfdata:" + C2 + b"\n\ndata:" + C3 + b"\n\n",
                   ["1", "3"]),
    "format-bom-2": (b"\xef\xbb\xbf\xef\xbb\xbfdata:" + C1 + b"\n\ndata:" + C2 + b"\n\ndata:" + C3 + b"\n\n",
                     ["2", "3"]),
    "format-comments": (b"data:" + C1[:10] + b"\r:\x00\n:\r\ndata:" + C1[10:] + b"\n:" + b"x" * 2048 + b"\r\n\n",
                        ["1"]),
    "format-newlines": (b"data:" + C1 + b"\r\n\r\ndata:" + C2 + b"\n\n", ["1", "2"]),
    "field-unknown": (b"foobar:xxx\njustsometext\n:comment\ndata:" + C1 + b"\n\n", ["1"]),
    "event-type-resets": (b"event:test\ndata:" + C1 + b"\n\ndata:" + C2 + b"\n\n", ["1", "2"]),
    "ping-without-data": (b"event: ping\n\nevent: ping\n\ndata:" + C1 + b"\n\n", ["1"]),
    "id-then-blank-lines": (b"id: 1\ndata: " + C1 + b"\n\n\n\n", ["1"]),
    "retry-fields": (b"retry:02000\nretry: +5\nretry:1000x\ndata:" + C1 + b"\n\n", ["1"]),
    "mixed-endings": (b"id:one\r\ndata:" + chunk("известни") + b"\r\n\ndata:" + C2 + b"\n\r", ["известни", "2"]),
    "u2028-in-data": (b"data: " + chunk("a\u2028b") + b"\n\n", ["a\u2028b"]),
    "many-small-events": (b"".join(b"data:" + chunk("ok") + b"\n\n" for _ in range(2000)), ["ok"] * 2000),
}


@pytest.mark.parametrize("name", list(SSE_CASES))
def test_sse_case(client, server, name):
    body, expected = SSE_CASES[name]
    server.script(Reply.raw([body + DONE]))
    assert list(create(client, stream=True).text()) == expected


@pytest.mark.parametrize("name", ["format-bom", "format-comments", "mixed-endings", "u2028-in-data"])
def test_sse_case_split_at_every_byte(client, server, name):
    body, expected = SSE_CASES[name]
    pieces = [body[i:i + 1] for i in range(len(body))]
    server.script(Reply.raw([b"", *pieces, b"", DONE]))
    assert list(create(client, stream=True).text()) == expected


@pytest.mark.parametrize("ending", [b"\n", b"\r", b"\r\n"], ids=["LF", "CR", "CRLF"])
def test_sse_frame_split_at_every_index(client, server, ending):
    """sse-cases.md §3: every split of one frame, with an empty piece between, is one event."""
    frame = b"data:" + chunk("ok") + ending + ending
    for i in range(0, len(frame) + 1, 5):
        server.script(Reply.raw([frame[:i], b"", frame[i:], DONE]))
    for _ in range(0, len(frame) + 1, 5):
        assert list(create(client, stream=True).text()) == ["ok"]


def test_unterminated_event_at_end_is_dropped_and_reported(client, server):
    server.script(Reply.raw([delta_event(content="kept"), b"data:" + chunk("unfinished")]))
    stream = create(client, stream=True)
    assert next(stream).choices[0].delta.content == "kept"
    with pytest.raises(kimi.StreamError, match="cut off"):
        next(stream)


def test_windows_1252_charset_label_is_ignored(client, server):
    body = b"data:" + chunk("ok\u2026") + b"\n\n" + DONE
    server.script(Reply.raw([body], content_type="text/event-stream;charset=windows-1252"))
    assert list(create(client, stream=True).text()) == ["ok\u2026"]
