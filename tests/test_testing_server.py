"""Tests of kimi.testing, the local Kimi-compatible server, with stdlib clients.

Everything goes over real loopback sockets: http.client for ordinary exchanges, a raw
socket where the chunked framing itself is under test, and asyncio streams on the test's
own loop where thousands of connections must be open at once. SSE is parsed here by hand.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import email.parser
import http.client
import json
import os
import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

import kimi.testing
from kimi.testing import KimiServer, Reply

KEY = "sk-test"
CHAT = "/v1/chat/completions"
# The directory holding the `kimi` package under test, so the CLI subprocess imports it too.
PACKAGE_ROOT = Path(kimi.testing.__file__).parent.parent.parent
HELLO = {"model": "kimi-k2.6", "messages": [{"role": "user", "content": "Hello"}]}


@pytest.fixture
def server() -> Iterator[KimiServer]:
    with KimiServer(api_key=KEY, delay=0) as srv:
        yield srv


def connect(srv: KimiServer, timeout: float = 10.0) -> http.client.HTTPConnection:
    return http.client.HTTPConnection("127.0.0.1", srv.port, timeout=timeout)


def post(
    conn: http.client.HTTPConnection,
    body: Any,
    key: str | None = KEY,
    path: str = CHAT,
) -> http.client.HTTPResponse:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    headers = {"Content-Type": "application/json"}
    if key is not None:
        headers["Authorization"] = f"Bearer {key}"
    conn.request("POST", path, data, headers)
    return conn.getresponse()


def get(
    conn: http.client.HTTPConnection, path: str, key: str | None = KEY
) -> http.client.HTTPResponse:
    conn.request("GET", path, headers={"Authorization": f"Bearer {key}"} if key else {})
    return conn.getresponse()


def stream_request(**extra: Any) -> dict[str, Any]:
    return {**HELLO, "stream": True, **extra}


def sse_data(body: bytes) -> list[str]:
    """The data fields of a complete SSE body (every event is one `data: ` line)."""
    assert body.endswith(b"\n\n"), body[-40:]
    events = body[:-2].split(b"\n\n")
    out = []
    for event in events:
        assert event.startswith(b"data: "), event
        assert b"\n" not in event
        out.append(event[6:].decode("utf-8"))
    return out


def chunks_of(body: bytes) -> list[dict[str, Any]]:
    data = sse_data(body)
    assert data[-1] == "[DONE]"
    return [json.loads(d) for d in data[:-1]]


def stream(srv: KimiServer, reply: Reply, **extra: Any) -> list[dict[str, Any]]:
    srv.script(reply)
    conn = connect(srv)
    resp = post(conn, stream_request(**extra))
    assert resp.status == 200
    assert resp.getheader("Content-Type") == "text/event-stream"
    assert resp.getheader("Transfer-Encoding") == "chunked"
    body = resp.read()
    conn.close()
    return chunks_of(body)


def raw_exchange(
    port: int, request: bytes, timeout: float = 10.0
) -> tuple[bytes, list[bytes], bool]:
    """Send `request` on a fresh socket; return (head, body chunks as framed, terminated)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(request)
        f = sock.makefile("rb")
        head = b""
        while not head.endswith(b"\r\n\r\n"):
            line = f.readline()
            assert line, "connection closed in the head"
            head += line
        chunks: list[bytes] = []
        while True:
            size_line = f.readline()
            if not size_line:
                return head, chunks, False
            size = int(size_line.strip(), 16)
            if size == 0:
                assert f.readline() == b"\r\n"
                return head, chunks, True
            data = f.read(size)
            assert f.readline() == b"\r\n"
            chunks.append(data)


def chat_request_bytes(body: dict[str, Any], key: str = KEY, extra: str = "") -> bytes:
    data = json.dumps(body).encode()
    head = (
        f"POST {CHAT} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {key}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(data)}\r\n{extra}\r\n"
    )
    return head.encode() + data


# Streaming shape ------------------------------------------------------------------------


def test_stream_sends_role_then_reasoning_then_content_then_final_then_done(
    server: KimiServer,
) -> None:
    chunks = stream(
        server,
        Reply.chat("Hello there, world!", reasoning="Think first, then answer.", chunk_size=5),
    )
    deltas = [c["choices"][0]["delta"] for c in chunks]
    assert deltas[0] == {"role": "assistant", "content": ""}
    assert all("role" not in d for d in deltas[1:])
    kinds = [next(iter(d)) if d else "final" for d in deltas[1:]]
    first_content = kinds.index("content")
    assert set(kinds[:first_content]) == {"reasoning_content"}
    assert kinds[-1] == "final"
    reasoning = "".join(d.get("reasoning_content", "") for d in deltas)
    content = "".join(d.get("content", "") for d in deltas)
    assert reasoning == "Think first, then answer."
    assert content == "Hello there, world!"
    assert all(len(d.get("content", "")) <= 5 for d in deltas)
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"
    assert all(c["choices"][0]["finish_reason"] is None for c in chunks[:-1])


def test_stream_chunks_share_id_object_created_and_request_model(server: KimiServer) -> None:
    chunks = stream(server, Reply.chat("abc def ghi"), model="kimi-k2.5")
    ids = {c["id"] for c in chunks}
    assert len(ids) == 1
    assert re.fullmatch(r"chatcmpl-[0-9a-f]{24}", ids.pop())
    assert {c["object"] for c in chunks} == {"chat.completion.chunk"}
    assert len({c["created"] for c in chunks}) == 1
    assert {c["model"] for c in chunks} == {"kimi-k2.5"}


def test_stream_model_argument_overrides_request_model(server: KimiServer) -> None:
    chunks = stream(server, Reply.chat("x", model="moonshot-v1-8k"), model="kimi-k2.5")
    assert {c["model"] for c in chunks} == {"moonshot-v1-8k"}


def test_stream_tool_call_fragments_follow_the_documented_shape(server: KimiServer) -> None:
    calls = [
        {"id": "get_weather:0", "name": "get_weather", "arguments": '{"city": "Beijing"}'},
        {"id": "get_time:1", "name": "get_time", "arguments": {"tz": "Asia/Shanghai"}},
    ]
    chunks = stream(server, Reply.chat("", reasoning="Need tools.", tool_calls=calls, chunk_size=6))
    frags = [
        c["choices"][0]["delta"]["tool_calls"]
        for c in chunks
        if "tool_calls" in c["choices"][0]["delta"]
    ]
    assert all(len(f) == 1 for f in frags)
    frags_flat = [f[0] for f in frags]
    assert frags_flat[0] == {
        "index": 0,
        "id": "get_weather:0",
        "type": "function",
        "function": {"name": "get_weather", "arguments": ""},
    }
    joined: dict[int, str] = {}
    for frag in frags_flat:
        if "id" not in frag:
            assert set(frag) == {"index", "function"}
            assert set(frag["function"]) == {"arguments"}
            assert len(frag["function"]["arguments"]) <= 6
        joined[frag["index"]] = joined.get(frag["index"], "") + frag["function"]["arguments"]
    indexes = [f["index"] for f in frags_flat]
    assert indexes == sorted(indexes)
    assert json.loads(joined[0]) == {"city": "Beijing"}
    assert json.loads(joined[1]) == {"tz": "Asia/Shanghai"}
    second_first = next(f for f in frags_flat if f["index"] == 1)
    assert second_first["id"] == "get_time:1" and second_first["function"]["name"] == "get_time"
    assert chunks[-1]["choices"][0]["finish_reason"] == "tool_calls"
    assert not any(
        "content" in c["choices"][0]["delta"] and c["choices"][0]["delta"]["content"]
        for c in chunks
    )


@pytest.mark.parametrize("placement", ["auto", "choice", "top", "both", "none"])
def test_stream_usage_placement(server: KimiServer, placement: str) -> None:
    usage = {"prompt_tokens": 1, "completion_tokens": 2, "total_tokens": 3}
    chunks = stream(server, Reply.chat("hi", usage=usage, usage_placement=placement))  # type: ignore[arg-type]
    in_choice = [
        c["choices"][0]["usage"] for c in chunks if c["choices"] and "usage" in c["choices"][0]
    ]
    top = [c for c in chunks if "usage" in c]
    assert in_choice == ([usage] if placement in ("auto", "choice", "both") else [])
    if placement in ("top", "both"):
        assert top == [chunks[-1]]
        assert chunks[-1]["choices"] == [] and chunks[-1]["usage"] == usage
        assert chunks[-2]["choices"][0]["finish_reason"] == "stop"
    else:
        assert top == []
        assert chunks[-1]["choices"][0]["finish_reason"] == "stop"


USAGE = {"prompt_tokens": 1, "completion_tokens": 2, "total_tokens": 3}


def top_usage_chunks(chunks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [c for c in chunks if "usage" in c]


@pytest.mark.parametrize(
    "stream_options", [None, {}, {"include_usage": False}, {"include_usage": "yes"}]
)
def test_stream_without_include_usage_sends_no_usage_chunk(
    server: KimiServer, stream_options: dict[str, Any] | None
) -> None:
    extra = {} if stream_options is None else {"stream_options": stream_options}
    chunks = stream(server, Reply.chat("hi", usage=USAGE), **extra)
    assert top_usage_chunks(chunks) == []
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"
    assert chunks[-1]["choices"][0]["usage"] == USAGE


def test_stream_include_usage_adds_a_usage_chunk_after_the_finish_chunk(
    server: KimiServer,
) -> None:
    chunks = stream(server, Reply.chat("hi", usage=USAGE), stream_options={"include_usage": True})
    finish, usage_chunk = chunks[-2:]
    assert finish["choices"][0]["finish_reason"] == "stop"
    assert finish["choices"][0]["usage"] == USAGE
    assert usage_chunk["choices"] == [] and usage_chunk["usage"] == USAGE
    assert usage_chunk["id"] == finish["id"] and usage_chunk["model"] == finish["model"]
    assert top_usage_chunks(chunks) == [usage_chunk]


def test_echo_default_honours_include_usage(server: KimiServer) -> None:
    chunks = stream(server, Reply.echo(delay=0), stream_options={"include_usage": True})
    assert chunks[-1]["choices"] == []
    assert chunks[-1]["usage"] == chunks[-2]["choices"][0]["usage"]
    assert chunks[-1]["usage"]["total_tokens"] > 0


@pytest.mark.parametrize("placement", ["choice", "none"])
def test_explicit_usage_placement_ignores_include_usage(server: KimiServer, placement: str) -> None:
    reply = Reply.chat("hi", usage=USAGE, usage_placement=placement)  # type: ignore[arg-type]
    chunks = stream(server, reply, stream_options={"include_usage": True})
    assert top_usage_chunks(chunks) == []
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"


@pytest.mark.parametrize("include_usage", [False, True])
def test_bulk_stream_honours_include_usage(server: KimiServer, include_usage: bool) -> None:
    chunks = stream(server, Reply.bulk(3), stream_options={"include_usage": include_usage})
    usage = {"prompt_tokens": 12, "completion_tokens": 3, "total_tokens": 15}
    tail = [{"choices": [], "usage": usage}] if include_usage else []
    assert [{k: c[k] for k in ("choices", "usage")} for c in top_usage_chunks(chunks)] == tail
    finish = chunks[-2] if include_usage else chunks[-1]
    assert finish["choices"][0]["usage"] == usage


def test_stream_usage_none_sends_no_usage(server: KimiServer) -> None:
    chunks = stream(server, Reply.chat("hi", usage=None, usage_placement="both"))
    assert not any("usage" in c or (c["choices"] and "usage" in c["choices"][0]) for c in chunks)


def test_stream_without_role_chunk_puts_role_in_first_piece(server: KimiServer) -> None:
    chunks = stream(server, Reply.chat("abc", reasoning="r", role_chunk=False))
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "reasoning_content": "r"}
    assert chunks[1]["choices"][0]["delta"] == {"content": "abc"}


def test_stream_splits_by_characters_and_writes_raw_utf8(server: KimiServer) -> None:
    text = "你好世界🙂 héllo"
    server.script(Reply.chat(text, chunk_size=3))
    conn = connect(server)
    body = post(conn, stream_request()).read()
    assert "世界🙂".encode() in body or "界🙂".encode() in body
    assert b"\\u" not in body
    pieces = [c["choices"][0]["delta"].get("content", "") for c in chunks_of(body)]
    assert "".join(pieces) == text
    assert [p for p in pieces if p] == [text[i : i + 3] for i in range(0, len(text), 3)]


def test_reply_stream_is_sse_even_without_stream_flag(server: KimiServer) -> None:
    server.script(Reply.stream("forced"))
    resp = post(connect(server), HELLO)
    assert resp.getheader("Content-Type") == "text/event-stream"
    chunks = chunks_of(resp.read())
    assert "".join(c["choices"][0]["delta"].get("content", "") for c in chunks) == "forced"


def test_drip_delay_spaces_events(server: KimiServer) -> None:
    server.script(Reply.chat("abcdef", chunk_size=1, delay=0.05))
    conn = connect(server)
    start = time.monotonic()
    resp = post(conn, stream_request())
    first = resp.read1(65536)
    t_first = time.monotonic() - start
    rest = resp.read()
    total = time.monotonic() - start
    events = sse_data(first + rest)
    assert len(events) == 9  # role, 6 pieces, final, [DONE]
    assert total >= 8 * 0.05 * 0.9
    assert t_first < total / 2  # the first event is not held back until the end


# Non-streaming ----------------------------------------------------------------------------


def test_non_stream_answer_is_one_chat_completion_json(server: KimiServer) -> None:
    calls = [{"id": "get_weather:0", "name": "get_weather", "arguments": '{"city": "Beijing"}'}]
    server.script(Reply.chat("", reasoning="Call the tool.", tool_calls=calls))
    resp = post(connect(server), HELLO)
    assert resp.status == 200
    assert resp.getheader("Content-Type") == "application/json"
    raw = resp.read()
    assert int(resp.getheader("Content-Length") or -1) == len(raw)
    body = json.loads(raw)
    assert re.fullmatch(r"chatcmpl-[0-9a-f]{24}", body["id"])
    assert body["object"] == "chat.completion" and body["model"] == "kimi-k2.6"
    choice = body["choices"][0]
    assert choice["index"] == 0 and choice["finish_reason"] == "tool_calls"
    assert choice["message"] == {
        "role": "assistant",
        "content": "",
        "reasoning_content": "Call the tool.",
        "tool_calls": [
            {
                "id": "get_weather:0",
                "type": "function",
                "function": {"name": "get_weather", "arguments": '{"city": "Beijing"}'},
            }
        ],
    }
    assert body["usage"] == {
        "prompt_tokens": 120,
        "completion_tokens": 42,
        "total_tokens": 162,
        "cached_tokens": 64,
    }


def test_non_stream_plain_answer_has_stop_and_no_reasoning(server: KimiServer) -> None:
    server.script(Reply.chat("Hi!", finish_reason="length"))
    body = json.loads(post(connect(server), HELLO).read())
    assert body["choices"][0]["message"] == {"role": "assistant", "content": "Hi!"}
    assert body["choices"][0]["finish_reason"] == "length"


# n choices ---------------------------------------------------------------------------------------


def choice_texts(chunks: list[dict[str, Any]], field: str = "content") -> dict[int, str]:
    """Each choice index's `field` joined from its deltas."""
    texts: dict[int, str] = {}
    for chunk in chunks:
        for choice in chunk["choices"]:
            piece = choice["delta"].get(field) or ""
            texts[choice["index"]] = texts.get(choice["index"], "") + piece
    return texts


# kimi-k2.6 fixes n at 1 (kimi/testing/_thinking.py); the older models take up to 5.
MANY = "moonshot-v1-8k"


def test_non_stream_n_gives_n_choices_each_with_its_own_content(server: KimiServer) -> None:
    body = json.loads(post(connect(server), {**HELLO, "n": 3, "model": MANY}).read())
    choices = body["choices"]
    assert [c["index"] for c in choices] == [0, 1, 2]
    contents = [c["message"]["content"] for c in choices]
    assert [text.split(":")[0] for text in contents] == [
        "Answer 1 of 3",
        "Answer 2 of 3",
        "Answer 3 of 3",
    ]
    assert all("You said “Hello”" in text for text in contents)
    assert {c["finish_reason"] for c in choices} == {"stop"}
    assert body["usage"]["total_tokens"] > 0


def test_stream_n_sends_chunks_for_each_index_then_each_finish(server: KimiServer) -> None:
    reference = json.loads(post(connect(server), {**HELLO, "n": 3, "model": MANY}).read())["choices"]
    chunks = stream(server, Reply.echo(delay=0), n=3, model=MANY)
    assert all(len(c["choices"]) == 1 for c in chunks)
    indexes = [c["choices"][0]["index"] for c in chunks]
    assert indexes[:3] == [0, 1, 2]  # interleaved, not one choice after another
    assert choice_texts(chunks) == {i: c["message"]["content"] for i, c in enumerate(reference)}
    assert set(choice_texts(chunks, "reasoning_content").values()) == {
        reference[0]["message"]["reasoning_content"]
    }
    firsts = {}
    for chunk in chunks:
        firsts.setdefault(chunk["choices"][0]["index"], chunk["choices"][0]["delta"])
    assert all(delta.get("role") == "assistant" for delta in firsts.values())
    finals = [c["choices"][0] for c in chunks if c["choices"][0]["finish_reason"]]
    assert [f["index"] for f in finals] == [0, 1, 2]
    assert [c["choices"][0] for c in chunks[-3:]] == finals
    assert ["usage" in f for f in finals] == [False, False, True]


def test_scripted_reply_answers_every_choice_with_the_scripted_message(server: KimiServer) -> None:
    server.script(Reply.chat("scripted", reasoning="why"))
    body = json.loads(post(connect(server), {**HELLO, "n": 2, "model": MANY}).read())
    assert [(c["index"], c["message"]["content"]) for c in body["choices"]] == [
        (0, "scripted"),
        (1, "scripted"),
    ]
    chunks = stream(server, Reply.chat("scripted", chunk_size=3), n=2, model=MANY)
    assert choice_texts(chunks) == {0: "scripted", 1: "scripted"}


@pytest.mark.parametrize("n", [1, None])
def test_n_one_or_null_is_a_single_choice(server: KimiServer, n: int | None) -> None:
    body = json.loads(post(connect(server), {**HELLO, "n": n}).read())
    assert [c["index"] for c in body["choices"]] == [0]
    assert body["choices"][0]["message"]["content"].startswith("You said")


@pytest.mark.parametrize("n", [0, 6, -1, "2", 1.5, True])
def test_n_outside_1_to_5_gives_400_without_using_the_script(server: KimiServer, n: Any) -> None:
    server.script(Reply.chat("unused"))
    resp = post(connect(server), {**HELLO, "n": n})
    assert resp.status == 400
    error = json.loads(resp.read())["error"]
    assert error["type"] == "invalid_request_error"
    expected = f"Invalid request: n must be an integer from 1 to 5, got {json.dumps(n)}"
    assert error["message"] == expected
    assert server.pending == 1


# Errors, auth, validation ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "status,type_",
    [
        (400, "invalid_request_error"),
        (401, "invalid_authentication_error"),
        (403, "permission_denied_error"),
        (404, "resource_not_found_error"),
        (429, "rate_limit_reached_error"),
        (500, "server_error"),
        (503, "engine_overloaded_error"),
    ],
)
def test_error_default_body_is_moonshot_shape_for_status(
    server: KimiServer, status: int, type_: str
) -> None:
    server.script(Reply.error(status))
    resp = post(connect(server), stream_request())
    assert resp.status == status
    assert resp.getheader("Content-Type") == "application/json"
    body = json.loads(resp.read())
    assert set(body) == {"error"}
    assert body["error"]["type"] == type_
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]


def test_error_bodies_proxy_plain_raw_and_headers(server: KimiServer) -> None:
    proxy = Reply.proxy_error("used_up", "balance used up", trace_id="t-9")
    server.script(
        Reply.error(500, proxy),
        Reply.error(401, {"error": "plain string"}),
        Reply.error(502, b"<html>bad gateway</html>", headers={"Content-Type": "text/html"}),
        Reply.error(
            429,
            Reply.moonshot_error("exceeded_current_quota_error", "suspended"),
            headers={"Retry-After": "3"},
        ),
    )
    conn = connect(server)
    resp = post(conn, HELLO)
    assert (resp.status, json.loads(resp.read())) == (
        500,
        {
            "success": False,
            "error": {"code": "used_up", "message": "balance used up"},
            "trace_id": "t-9",
        },
    )
    resp = post(conn, HELLO)
    assert (resp.status, json.loads(resp.read())) == (401, {"error": "plain string"})
    resp = post(conn, HELLO)
    assert (resp.status, resp.getheader("Content-Type"), resp.read()) == (
        502,
        "text/html",
        b"<html>bad gateway</html>",
    )
    resp = post(conn, HELLO)
    assert resp.status == 429 and resp.getheader("Retry-After") == "3"
    assert json.loads(resp.read())["error"] == {
        "type": "exceeded_current_quota_error",
        "message": "suspended",
    }
    assert server.connections == 1


@pytest.mark.parametrize("key", [None, "sk-wrong"])
def test_missing_or_wrong_key_gives_401_on_every_endpoint(
    server: KimiServer, key: str | None
) -> None:
    expected = {
        "error": {"type": "invalid_authentication_error", "message": "Invalid Authentication"}
    }
    conn = connect(server)
    resp = post(conn, HELLO, key=key)
    assert (resp.status, json.loads(resp.read())) == (401, expected)
    for path in ("/v1/models", "/v1/users/me/balance"):
        resp = get(conn, path, key=key)
        assert (resp.status, json.loads(resp.read())) == (401, expected)


def test_api_key_none_accepts_any_or_no_key() -> None:
    with KimiServer(api_key=None, delay=0) as srv:
        assert srv.api_key is None
        conn = connect(srv)
        assert post(conn, HELLO, key=None).status == 200
        conn.close()
        assert post(connect(srv), HELLO, key="anything").status == 200


@pytest.mark.parametrize(
    "body,needle",
    [
        (b"{not json", "not valid JSON"),
        (b"", "not valid JSON"),
        (b"[1, 2]", "JSON object"),
        ({"messages": [{"role": "user", "content": "x"}]}, "'model'"),
        ({"model": "kimi-k2.6"}, "'messages'"),
        ({"model": "kimi-k2.6", "messages": []}, "'messages'"),
    ],
)
def test_invalid_chat_body_gives_400_without_using_the_script(
    server: KimiServer, body: Any, needle: str
) -> None:
    server.script(Reply.chat("unused"))
    resp = post(connect(server), body)
    assert resp.status == 400
    error = json.loads(resp.read())["error"]
    assert error["type"] == "invalid_request_error"
    assert needle in error["message"]
    assert server.pending == 1


def test_unknown_path_gives_404_in_moonshot_shape(server: KimiServer) -> None:
    resp = get(connect(server), "/v1/nope")
    assert resp.status == 404
    assert json.loads(resp.read())["error"]["type"] == "resource_not_found_error"


# Endings: disconnect, stall, no [DONE] ---------------------------------------------------------


def test_disconnect_after_closes_connection_without_done(server: KimiServer) -> None:
    server.script(Reply.chat("abcdefghij", chunk_size=2, disconnect_after=3))
    head, chunks, terminated = raw_exchange(server.port, chat_request_bytes(stream_request()))
    assert head.startswith(b"HTTP/1.1 200")
    assert not terminated
    assert len(chunks) == 3
    assert b"[DONE]" not in b"".join(chunks)


def test_disconnect_after_is_an_incomplete_read_for_http_client(server: KimiServer) -> None:
    server.script(Reply.chat("abcdefghij", chunk_size=2, disconnect_after=2))
    resp = post(connect(server), stream_request())
    with pytest.raises(http.client.IncompleteRead) as info:
        resp.read()
    assert b"[DONE]" not in info.value.partial
    assert info.value.partial.count(b"data: ") == 2


def test_stall_after_then_close_returns_promptly() -> None:
    srv = KimiServer(api_key=KEY, delay=0).start()
    srv.script(Reply.chat("abcdefghij", chunk_size=2, stall_after=2))
    sock = socket.create_connection(("127.0.0.1", srv.port), timeout=10)
    sock.sendall(chat_request_bytes(stream_request()))
    received = b""
    while received.count(b"data: ") < 2:
        data = sock.recv(65536)
        assert data
        received += data
    sock.settimeout(0.3)
    with pytest.raises(socket.timeout):
        sock.recv(65536)  # stalled: nothing more arrives
    start = time.monotonic()
    srv.close()
    assert time.monotonic() - start < 2.0
    sock.settimeout(5)
    tail = b""
    while data := sock.recv(65536):
        tail += data
    assert b"[DONE]" not in received + tail
    assert not (received + tail).endswith(b"0\r\n\r\n")
    sock.close()


def test_close_with_idle_keep_alive_connection_is_prompt() -> None:
    srv = KimiServer(api_key=KEY, delay=0).start()
    conn = connect(srv)
    assert get(conn, "/v1/models").read()
    start = time.monotonic()
    srv.close()
    srv.close()  # idempotent
    assert time.monotonic() - start < 2.0
    conn.close()


def test_include_done_false_ends_body_cleanly_without_done(server: KimiServer) -> None:
    server.script(Reply.chat("hi", include_done=False))
    head, chunks, terminated = raw_exchange(server.port, chat_request_bytes(stream_request()))
    assert terminated
    data = sse_data(b"".join(chunks))
    assert "[DONE]" not in data
    assert json.loads(data[-1])["choices"][0]["finish_reason"] == "stop"


def test_no_response_hangs_up_before_any_status_line(server: KimiServer) -> None:
    server.script(Reply.no_response())
    with pytest.raises((http.client.RemoteDisconnected, ConnectionError)):
        post(connect(server), HELLO)
    assert len(server.requests) == 1


def test_no_response_stall_sends_nothing_until_close() -> None:
    srv = KimiServer(api_key=KEY, delay=0).start()
    srv.script(Reply.no_response(stall=True))
    sock = socket.create_connection(("127.0.0.1", srv.port), timeout=0.3)
    sock.sendall(chat_request_bytes(HELLO))
    with pytest.raises(socket.timeout):
        sock.recv(100)
    start = time.monotonic()
    srv.close()
    assert time.monotonic() - start < 2.0
    sock.settimeout(5)
    assert sock.recv(100) == b""
    sock.close()


# Raw and bulk ----------------------------------------------------------------------------------


def test_raw_chunks_arrive_exactly_as_written(server: KimiServer) -> None:
    snowman = "☃".encode()
    written = [
        b"\xef\xbb\xbf: comment\r\r",
        b'data: {"choices":[{"index":0,"delta":{"content":"' + snowman[:1],
        snowman[1:] + b'"}}]}\r\n\r\n',
        b"data: {broken json\n\n",
        b'data: {"error":{"type":"server_error","message":"boom"}}\n\n',
        b"x" * 300_000,
    ]
    server.script(Reply.raw(written, headers={"X-Custom": "1"}, delay=0.01))
    head, chunks, terminated = raw_exchange(server.port, chat_request_bytes(stream_request()))
    assert terminated
    assert chunks == written
    assert b"\r\nContent-Type: text/event-stream\r\n" in head
    assert b"\r\nX-Custom: 1\r\n" in head


def test_raw_close_aborts_after_chunks_and_status_is_kept(server: KimiServer) -> None:
    server.script(Reply.raw([b"data: 1\n\n"], status=502, content_type="text/plain", close=True))
    head, chunks, terminated = raw_exchange(server.port, chat_request_bytes(HELLO))
    assert head.startswith(b"HTTP/1.1 502")
    assert b"\r\nContent-Type: text/plain\r\n" in head
    assert (chunks, terminated) == ([b"data: 1\n\n"], False)


@pytest.mark.parametrize("n", [0, 1, 7, 100_000])
def test_bulk_sends_n_content_chunks_then_usage_and_done(server: KimiServer, n: int) -> None:
    server.script(Reply.bulk(n, text="tok "))
    head, framed, terminated = raw_exchange(server.port, chat_request_bytes(stream_request()))
    assert terminated
    assert all(len(f) <= 64 * 1024 + 1024 for f in framed)
    data = sse_data(b"".join(framed))
    assert len(data) == n + 2 and data[-1] == "[DONE]"
    # Content chunks 2..n are byte-identical (encoded once); parse only distinct ones.
    assert len(set(data[1:n])) <= 1
    chunks = [json.loads(d) for d in dict.fromkeys(data[:-1])]
    contents = [c["choices"][0]["delta"].get("content") for c in chunks[:-1]]
    assert set(contents) <= {"tok "} and len(contents) == min(n, 2)
    if n:
        assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    final = chunks[-1]["choices"][0]
    assert final["finish_reason"] == "stop" and final["usage"]["completion_tokens"] == n
    assert len({c["id"] for c in chunks}) == 1


# Other endpoints and scripting -------------------------------------------------------------------


def test_models_and_balance_shapes(server: KimiServer) -> None:
    conn = connect(server)
    models = json.loads(get(conn, "/v1/models").read())
    assert models["object"] == "list"
    ids = [m["id"] for m in models["data"]]
    assert {"kimi-k2.6", "kimi-k2.5", "moonshot-v1-8k"} <= set(ids)
    keys = {
        "id",
        "object",
        "created",
        "owned_by",
        "context_length",
        "supports_image_in",
        "supports_video_in",
        "supports_reasoning",
    }
    assert all(set(m) == keys and m["object"] == "model" for m in models["data"])
    balance = json.loads(get(conn, "/v1/users/me/balance").read())
    assert balance["code"] == 0 and balance["scode"] == "0x0" and balance["status"] is True
    assert set(balance["data"]) == {"available_balance", "voucher_balance", "cash_balance"}


def test_model_by_id_is_the_object_the_list_holds(server: KimiServer) -> None:
    conn = connect(server)
    listed = json.loads(get(conn, "/v1/models").read())["data"]
    for model in listed:
        resp = get(conn, f"/v1/models/{model['id']}")
        assert (resp.status, json.loads(resp.read())) == (200, model)


def test_missing_model_by_id_gives_the_api_404(server: KimiServer) -> None:
    resp = get(connect(server), "/v1/models/kimi-k9")
    assert resp.status == 404
    assert json.loads(resp.read()) == {
        "error": {
            "type": "resource_not_found_error",
            "message": "Not found the model kimi-k9 or Permission denied",
        }
    }


def test_script_for_path_takes_precedence_then_builtin_resumes(server: KimiServer) -> None:
    server.script_for("/v1/models", Reply.error(503), Reply.json({"object": "list", "data": []}))
    server.script_for(CHAT, Reply.chat("path-scripted"))
    server.script(Reply.chat("queued"))
    conn = connect(server)
    assert get(conn, "/v1/models").status == 503 and conn.sock is not None
    conn = connect(server)
    resp = get(conn, "/v1/models?limit=1")
    assert json.loads(resp.read()) == {"object": "list", "data": []}
    assert len(json.loads(get(conn, "/v1/models").read())["data"]) > 3
    assert (
        json.loads(post(conn, HELLO).read())["choices"][0]["message"]["content"] == "path-scripted"
    )
    assert json.loads(post(conn, HELLO).read())["choices"][0]["message"]["content"] == "queued"
    assert server.pending == 0


def test_script_is_fifo_then_default(server: KimiServer) -> None:
    server.script(Reply.chat("one"), Reply.chat("two"))
    server.default = Reply.chat("fallback")
    conn = connect(server)
    answers = [
        json.loads(post(conn, HELLO).read())["choices"][0]["message"]["content"] for _ in range(4)
    ]
    assert answers == ["one", "two", "fallback", "fallback"]
    with pytest.raises(TypeError):
        server.default = "nope"  # type: ignore[assignment]


def test_reset_drops_scripts_and_records_and_restores_default(server: KimiServer) -> None:
    initial = server.default
    server.script(Reply.chat("a"))
    server.script_for("/v1/models", Reply.error(500))
    server.default = Reply.chat("changed")
    conn = connect(server)
    get(conn, "/v1/users/me/balance").read()
    server.reset()
    assert (server.pending, server.requests, server.default) == (0, [], initial)
    resp = get(conn, "/v1/models")
    assert resp.status == 200 and json.loads(resp.read())["object"] == "list"
    server.reset(Reply.chat("new default"))
    assert json.loads(post(conn, HELLO).read())["choices"][0]["message"]["content"] == "new default"
    assert server.connections == 1


def test_default_reply_reasons_then_quotes_last_user_message() -> None:
    with KimiServer(api_key=KEY, delay=0.001) as srv:
        body = stream_request(
            messages=[
                {"role": "user", "content": "first"},
                {"role": "assistant", "content": "ok"},
                {"role": "user", "content": [{"type": "text", "text": "What is 2+2?"}]},
            ]
        )
        chunks = chunks_of(post(connect(srv), body).read())
    reasoning = "".join(c["choices"][0]["delta"].get("reasoning_content", "") for c in chunks)
    content = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks)
    assert "What is 2+2?" in reasoning and "What is 2+2?" in content
    assert chunks[-1]["choices"][0]["usage"]["total_tokens"] > 0


def test_keep_alive_reuses_one_connection_across_replies(server: KimiServer) -> None:
    server.script(Reply.chat("a"), Reply.chat("b"))
    conn = connect(server)
    assert post(conn, HELLO).read()
    assert chunks_of(post(conn, stream_request()).read())
    assert get(conn, "/v1/models").read()
    assert server.connections == 1
    other = connect(server)
    assert get(other, "/v1/models").read()
    assert server.connections == 2


def test_requests_are_recorded_with_lower_case_headers_and_json(server: KimiServer) -> None:
    conn = connect(server)
    post(conn, HELLO).read()
    conn.request("POST", CHAT, b"{bad", {"Authorization": f"Bearer {KEY}", "X-Trace": "t1"})
    conn.getresponse().read()
    get(conn, "/v1/models?x=1").read()
    first, second, third = server.requests
    assert (first.method, first.path, first.json) == ("POST", CHAT, HELLO)
    assert first.headers["authorization"] == f"Bearer {KEY}"
    assert json.loads(first.body) == HELLO
    assert all(k == k.lower() for k in first.headers)
    assert (second.body, second.json, second.headers["x-trace"]) == (b"{bad", None, "t1")
    assert (third.method, third.path, third.body) == ("GET", "/v1/models?x=1", b"")


def test_http10_stream_is_sent_unframed_and_ends_by_close(server: KimiServer) -> None:
    server.script(Reply.stream("hi"))
    request = chat_request_bytes(HELLO).replace(b"HTTP/1.1", b"HTTP/1.0", 1)
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(request)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    assert b"Transfer-Encoding" not in head
    assert sse_data(body)[-1] == "[DONE]"


def test_many_concurrent_clients_are_served(server: KimiServer) -> None:
    server.default = Reply.chat("x" * 64, chunk_size=4, delay=0.01)

    def one(_: int) -> int:
        conn = connect(server)
        try:
            return len(chunks_of(post(conn, stream_request()).read()))
        finally:
            conn.close()

    start = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(64) as pool:
        counts = list(pool.map(one, range(64)))
    assert counts == [18] * 64
    assert server.connections == 64
    assert time.monotonic() - start < 5.0


def test_chunked_request_body_is_accepted(server: KimiServer) -> None:
    data = json.dumps(HELLO).encode()
    body = b"%x\r\n%s\r\n0\r\n\r\n" % (len(data), data)
    head = (
        f"POST {CHAT} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {KEY}\r\n"
        "Transfer-Encoding: chunked\r\n\r\n"
    )
    server.script(Reply.stream("ok"))
    _, chunks, terminated = raw_exchange(server.port, head.encode() + body)
    assert terminated and server.requests[0].json == HELLO


def test_base_url_repr_and_loopback_only() -> None:
    srv = KimiServer(api_key="sk-secret-value")
    with pytest.raises(RuntimeError):
        _ = srv.base_url
    with srv:
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+/v1", srv.base_url)
        assert srv.port > 0 and "sk-secret-value" not in repr(srv)
    with pytest.raises(RuntimeError):
        srv.start()
    for host in ("0.0.0.0", "192.168.1.10", "example.com"):
        with pytest.raises(ValueError):
            KimiServer(host=host)


def test_reply_arguments_are_checked() -> None:
    with pytest.raises(ValueError):
        Reply.chat(chunk_size=0)
    with pytest.raises(ValueError):
        Reply.chat(disconnect_after=1, stall_after=1)
    with pytest.raises(ValueError):
        Reply.chat(usage_placement="middle")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        Reply.error(1000)
    with pytest.raises(TypeError):
        KimiServer().script("not a reply")  # type: ignore[arg-type]


# HTTP details the server handles itself ---------------------------------------------------------


def test_expect_100_continue_gets_an_interim_response_then_the_reply(server: KimiServer) -> None:
    data = json.dumps(HELLO).encode()
    head = (
        f"POST {CHAT} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {KEY}\r\n"
        f"Expect: 100-continue\r\nContent-Length: {len(data)}\r\n\r\n"
    )
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(head.encode())
        assert sock.recv(100) == b"HTTP/1.1 100 Continue\r\n\r\n"
        sock.sendall(data)
        f = sock.makefile("rb")
        assert f.readline() == b"HTTP/1.1 200 OK\r\n"
    assert server.requests[0].json == HELLO


def test_unsupported_method_and_malformed_request_line_are_refused_and_closed(
    server: KimiServer,
) -> None:
    def exchange(request: bytes) -> bytes:
        with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
            sock.sendall(request)
            data = b""
            while chunk := sock.recv(65536):
                data += chunk
        return data

    head_reply = exchange(b"HEAD /v1/models HTTP/1.1\r\nHost: x\r\n\r\n")
    assert head_reply.startswith(b"HTTP/1.1 501 Unsupported method ('HEAD')\r\n")
    assert head_reply.endswith(b"\r\n\r\n")  # no body for HEAD
    garbage = exchange(b"GARBAGE\r\n\r\n")
    assert garbage.startswith(b"HTTP/1.1 400 Bad request syntax ('GARBAGE')\r\n")
    assert b"\r\nConnection: close\r\n" in garbage and garbage.endswith(b"</html>\n")
    assert server.requests == []


@pytest.mark.parametrize(
    "fields",
    [
        b"X-Rep: a\r\nx-rep:b  \r\nX-REP: \tc\r\nHost: x\r\n",  # repeated, spacing kept
        b"X-Folded: first\r\n  second\r\n\tthird\r\nX-After: 1\r\n",  # folded lines
        b"X-Before: 1\r\nno colon here\r\nX-Lost: 2\r\n",  # a non-field ends the fields
        b"X-Lf: 1\nX-Cr: a\rb\r\nX-Nel: a\x85b\r\n",  # line breaks str.splitlines() sees
        b": no name\r\nFrom me\r\nX-Ok: \xe9t\xe9\r\n",
    ],
)
def test_header_fields_are_recorded_as_http_server_parses_them(
    server: KimiServer, fields: bytes
) -> None:
    fields = b"Connection: close\r\n" + fields + b"\r\n"
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(b"GET /v1/models HTTP/1.1\r\n" + fields)
        while sock.recv(65536):
            pass
    expected: dict[str, str] = {}
    for name, value in email.parser.Parser().parsestr(fields.decode("iso-8859-1")).items():
        key = name.lower()
        expected[key] = f"{expected[key]}, {value}" if key in expected else value
    (recorded,) = server.requests
    assert recorded.headers == expected
    assert len(expected) > 1  # every case keeps a field of its own


def test_pipelined_requests_are_answered_in_order(server: KimiServer) -> None:
    auth = f"Authorization: Bearer {KEY}\r\n"
    requests = (
        f"GET /v1/models/kimi-k2.5 HTTP/1.1\r\n{auth}\r\n"
        f"GET /v1/users/me/balance HTTP/1.1\r\n{auth}Connection: close\r\n\r\n"
    )
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(requests.encode())
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    assert data.count(b"HTTP/1.1 200 OK\r\n") == 2
    assert data.index(b'"kimi-k2.5"') < data.index(b'"available_balance"')
    assert [r.path for r in server.requests] == ["/v1/models/kimi-k2.5", "/v1/users/me/balance"]


# Concurrency: one loop thread, thousands of connections, latency, in-flight counts -----------


def wait_until(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "the condition did not come true in time"
        time.sleep(0.01)


def chat_about(content: str) -> bytes:
    return chat_request_bytes({**HELLO, "messages": [{"role": "user", "content": content}]})


async def _read_reply(reader: asyncio.StreamReader) -> tuple[int, Any]:
    head = await reader.readuntil(b"\r\n\r\n")
    length = re.search(rb"\r\nContent-Length: (\d+)\r\n", head)
    assert length, head
    return int(head.split(b" ", 2)[1]), json.loads(await reader.readexactly(int(length[1])))


async def _ask_at_once(
    port: int, contents: Sequence[str], while_open: Callable[[], None]
) -> list[tuple[int, Any]]:
    connections = await asyncio.gather(
        *(asyncio.open_connection("127.0.0.1", port) for _ in contents)
    )
    try:
        for (_, writer), content in zip(connections, contents):
            writer.write(chat_about(content))
        replies = await asyncio.gather(*(_read_reply(reader) for reader, _ in connections))
        while_open()
        return replies
    finally:
        for _, writer in connections:
            writer.close()


def ask_at_once(
    port: int, contents: Sequence[str], while_open: Callable[[], None] = lambda: None
) -> list[tuple[int, Any]]:
    """One chat request per content, each on its own connection, from this thread's own
    event loop: every connection is open before the first request is sent, and stays
    open until every reply (status, JSON body) is read and `while_open` has run."""
    return asyncio.run(asyncio.wait_for(_ask_at_once(port, contents, while_open), 120))


def said(reply: tuple[int, Any]) -> str:
    status, body = reply
    assert status == 200, body
    return str(body["choices"][0]["message"]["content"])


@pytest.fixture
def file_limit() -> Iterator[Callable[[int], None]]:
    """need(n) raises the soft RLIMIT_NOFILE to n open files (skipping the test when the
    hard limit is lower); the limit is restored afterwards."""
    resource = pytest.importorskip("resource")
    saved = resource.getrlimit(resource.RLIMIT_NOFILE)

    def need(count: int) -> None:
        soft, hard = saved
        if hard != resource.RLIM_INFINITY and hard < count:
            pytest.skip(f"needs {count} open files, the hard RLIMIT_NOFILE is {hard}")
        if soft != resource.RLIM_INFINITY and soft < count:
            resource.setrlimit(resource.RLIMIT_NOFILE, (count, hard))

    yield need
    resource.setrlimit(resource.RLIMIT_NOFILE, saved)


def test_two_thousand_connections_open_at_once_each_get_their_own_reply(
    file_limit: Callable[[int], None],
) -> None:
    n = 2000
    file_limit(2 * n + 256)  # both ends of every connection live in this process
    contents = [f"connection {i}" for i in range(n)]
    # The latency holds every reply back until all the requests have arrived.
    with KimiServer(api_key=KEY, delay=0, latency=2.0) as srv:
        threads = threading.active_count()
        while_open: list[int] = []
        count_threads = lambda: while_open.append(threading.active_count())  # noqa: E731
        replies = ask_at_once(srv.port, contents, count_threads)
        texts = [said(reply) for reply in replies]
        assert all(text.startswith(f"You said “{c}”.") for c, text in zip(contents, texts))
        assert srv.connections == n
        assert srv.max_in_flight == n
        assert while_open == [threads]  # no thread per connection
        wait_until(lambda: srv.in_flight == 0)


def test_in_flight_counts_requests_being_answered_and_returns_to_zero(server: KimiServer) -> None:
    server.latency = 0.2
    assert (server.in_flight, server.max_in_flight) == (0, 0)
    replies = ask_at_once(server.port, [f"r{i}" for i in range(20)])
    assert all(said(r).startswith(f"You said “r{i}”") for i, r in enumerate(replies))
    assert server.max_in_flight == 20
    wait_until(lambda: server.in_flight == 0)
    server.reset_counters()
    assert (server.in_flight, server.max_in_flight) == (0, 0)
    conn = connect(server)
    for _ in range(3):  # one after another on one connection: never two at once
        assert post(conn, HELLO).read()
    conn.close()
    assert server.max_in_flight == 1
    server.latency = 0
    server.script(Reply.no_response(stall=True))
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(chat_request_bytes(HELLO))
        wait_until(lambda: server.in_flight == 1)  # a stalled reply is still being answered
    wait_until(lambda: server.in_flight == 0)  # ...until the client hangs up


def test_latency_delays_each_reply_without_serialising_connections(server: KimiServer) -> None:
    server.latency = 0.2
    conn = connect(server)
    start = time.monotonic()
    assert get(conn, "/v1/models").status == 200
    one = time.monotonic() - start
    conn.close()
    assert 0.19 <= one < 2.0, one
    start = time.monotonic()
    replies = ask_at_once(server.port, [f"c{i}" for i in range(50)])
    elapsed = time.monotonic() - start
    assert all(said(r).startswith(f"You said “c{i}”") for i, r in enumerate(replies))
    assert 0.19 <= elapsed < 5.0, elapsed  # one after another would take 50 x 0.2 = 10 s


def test_latency_is_checked_and_settable() -> None:
    assert KimiServer().latency == 0.0
    srv = KimiServer(latency=0.5)
    assert srv.latency == 0.5
    srv.latency = 1
    assert srv.latency == 1.0 and isinstance(srv.latency, float)
    for bad in (-0.1, float("nan"), float("inf")):
        with pytest.raises(ValueError):
            srv.latency = bad
        with pytest.raises(ValueError):
            KimiServer(latency=bad)
    for wrong in ("1", None, True):
        with pytest.raises(TypeError):
            srv.latency = wrong  # type: ignore[assignment]
    assert srv.latency == 1.0


def test_close_with_stalled_dripping_and_idle_connections_is_prompt() -> None:
    srv = KimiServer(api_key=KEY, delay=0).start()
    serving = [t for t in threading.enumerate() if t.name == f"kimi.testing-{srv.port}"]
    assert len(serving) == 1
    srv.script(
        *[Reply.no_response(stall=True)] * 20,
        *[Reply.stream("abcdef", chunk_size=1, stall_after=2)] * 20,
        *[Reply.stream("x" * 100, chunk_size=1, delay=1.0)] * 20,
    )
    socks = []
    for _ in range(60):
        sock = socket.create_connection(("127.0.0.1", srv.port), timeout=5)
        sock.sendall(chat_request_bytes(stream_request()))
        socks.append(sock)
    idle = connect(srv)
    assert get(idle, "/v1/models").read()
    wait_until(lambda: srv.in_flight == 60)
    start = time.monotonic()
    srv.close()
    assert time.monotonic() - start < 2.0
    assert not serving[0].is_alive()  # close() joined the serving thread
    assert srv.in_flight == 0
    for sock in socks:
        received = b""
        while data := sock.recv(65536):
            received += data
        assert b"[DONE]" not in received and not received.endswith(b"0\r\n\r\n")
        sock.close()
    idle.close()


def test_start_and_close_from_other_threads() -> None:
    srv = KimiServer(api_key=KEY, delay=0)
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        pool.submit(srv.start).result()
        conn = connect(srv)
        assert get(conn, "/v1/models").status == 200
        with pytest.raises(RuntimeError):
            pool.submit(srv.start).result()
        start = time.monotonic()
        pool.submit(srv.close).result()
        assert time.monotonic() - start < 2.0
    conn.close()
    srv.close()  # idempotent from this thread too


# CLI --------------------------------------------------------------------------------------------


def _cli(*args: str) -> subprocess.Popen[str]:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(PACKAGE_ROOT), os.environ.get("PYTHONPATH", "")]),
    }
    return subprocess.Popen(
        [sys.executable, "-m", "kimi.testing", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=PACKAGE_ROOT,
    )


@contextlib.contextmanager
def _cli_serving(*args: str) -> Iterator[http.client.HTTPConnection]:
    """`python -m kimi.testing ARGS`, checked to print its URL line first; a connection to
    it for the block; then SIGTERM, checked to end it with status 0."""
    with _cli(*args) as proc:
        try:
            assert proc.stdout is not None
            line = proc.stdout.readline()
            match = re.fullmatch(r"KIMI_TESTING_URL=http://127\.0\.0\.1:(\d+)/v1\n", line)
            assert match, line
            conn = http.client.HTTPConnection("127.0.0.1", int(match.group(1)), timeout=10)
            yield conn
            conn.close()
        finally:
            proc.terminate()
            proc.wait(timeout=5)
    assert proc.returncode == 0


def test_cli_prints_url_serves_and_stops_on_sigterm() -> None:
    with _cli_serving("--port", "0", "--api-key", "sk-cli", "--bulk", "50") as conn:
        resp = post(conn, stream_request(), key="sk-cli")
        assert resp.status == 200
        assert len(chunks_of(resp.read())) == 51
        assert post(conn, HELLO, key="sk-other").status == 401


def test_cli_latency_holds_each_reply_back() -> None:
    with _cli_serving("--api-key", "sk-cli", "--latency", "0.3") as conn:
        start = time.monotonic()
        assert get(conn, "/v1/models", key="sk-cli").status == 200
        assert time.monotonic() - start >= 0.29


def test_cli_refuses_a_negative_latency() -> None:
    proc = _cli("--latency", "-1")
    out, err = proc.communicate(timeout=10)
    assert proc.returncode == 2 and out == "" and "--latency" in err


def test_cli_refuses_non_loopback_host() -> None:
    proc = _cli("--host", "0.0.0.0")
    out, err = proc.communicate(timeout=10)
    assert proc.returncode == 2 and out == "" and "loopback" in err
