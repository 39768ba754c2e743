"""Hostile servers: each known fault of the transport, pinned over a real loopback socket.

Bodies that never end, servers that read slowly, oversized and repeated headers,
compressed bodies nobody asked for, keep-alive comments with no data, and streams read
after fork().  The servers are raw sockets (tests/hostile.py) or kimi.testing.
"""

from __future__ import annotations

import gzip
import json
import os
import socket
import subprocess
import textwrap
import threading
import time

import pytest
from conftest import KEY, MESSAGES, MODEL, PYTHON, closed_port, create, delta_event, sse, subprocess_env
from hostile import RawServer, chunk, read_request

import kimi
from kimi.testing import Reply

REPLY = {
    "id": "chatcmpl-x",
    "object": "chat.completion",
    "created": 1,
    "model": MODEL,
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "fine"}, "finish_reason": "stop"}],
}


def raw_client(srv: RawServer, **options) -> kimi.Kimi:
    options.setdefault("max_retries", 0)
    return kimi.Kimi(api_key=KEY, base_url=srv.base_url, **options)


def respond(conn: socket.socket, status: str, headers: list[str], body: bytes) -> None:
    head = "".join(f"{h}\r\n" for h in [*headers, f"Content-Length: {len(body)}"])
    conn.sendall(f"HTTP/1.1 {status}\r\n{head}\r\n".encode() + body)


def endless_error_body(srv_stop: threading.Event):
    def handler(conn: socket.socket) -> None:
        read_request(conn)
        conn.sendall(b"HTTP/1.1 500 Internal Server Error\r\nContent-Type: text/plain\r\n"
                     b"Transfer-Encoding: chunked\r\n\r\n")
        conn.sendall(chunk(b"upstream exploded; " + b"x" * 4000))
        while not srv_stop.is_set():
            conn.sendall(chunk(b"y" * 65536))
    return handler


# -- 1. an error body that never ends -----------------------------------------------


@pytest.mark.parametrize("stream", [False, True])
def test_error_body_that_never_ends_raises_the_status_error_at_the_cap(stream):
    stop = threading.Event()
    with RawServer(endless_error_body(stop)) as srv:
        client = raw_client(srv, timeout=30)
        start = time.monotonic()
        with pytest.raises(kimi.InternalServerError) as info:
            create(client, stream=stream)
        stop.set()
    assert time.monotonic() - start < 10  # stopped at the 1 MiB cap, not at the timeout
    assert info.value.status_code == 500
    assert "upstream exploded" in str(info.value)


# -- 4. a server that reads a large body slowly ---------------------------------------


def slow_reader(received: list[int]):
    def handler(conn: socket.socket) -> None:
        head, early = read_request(conn, read_body=False)
        length = int(next(line.split(b":")[1] for line in head.split(b"\r\n")
                          if line.lower().startswith(b"content-length")))
        got = len(early)
        while got < length:
            time.sleep(0.05)
            piece = conn.recv(512 * 1024)
            if not piece:
                return
            got += len(piece)
        received.append(got)
        respond(conn, "200 OK", ["Content-Type: application/json"], json.dumps(REPLY).encode())
    return handler


def test_a_large_body_read_slowly_is_activity_not_a_timeout_and_is_sent_once():
    received: list[int] = []
    with RawServer(slow_reader(received)) as srv:
        client = raw_client(srv, timeout=1.5, max_retries=2)
        big = [{"role": "user", "content": "x" * (24 * 1024 * 1024)}]
        reply = client.chat.completions.create(model=MODEL, messages=big)
        assert reply.choices[0].message.content == "fine"
        assert srv.connections == 1
    assert len(received) == 1 and received[0] > 24 * 1024 * 1024


# -- 5. a complete reply the client refuses is not asked for again --------------------


def oversized_headers(status: str, count: list[int]):
    def handler(conn: socket.socket) -> None:
        read_request(conn)
        count.append(1)
        pad = [f"X-Pad-{i}: {'p' * 1000}" for i in range(80)]
        respond(conn, status, ["Content-Type: application/json", *pad], json.dumps(REPLY).encode())
    return handler


def test_a_2xx_reply_with_an_oversized_header_block_raises_once_naming_the_cause():
    count: list[int] = []
    with RawServer(oversized_headers("200 OK", count)) as srv:
        client = raw_client(srv, max_retries=3)
        with pytest.raises(kimi.APIResponseValidationError, match="header block exceeds") as info:
            create(client)
    assert info.value.status_code == 200
    assert len(count) == 1


def test_a_single_header_over_libcurls_limit_is_named_not_out_of_memory():
    count: list[int] = []

    def handler(conn: socket.socket) -> None:
        read_request(conn)
        count.append(1)
        respond(conn, "200 OK", ["Content-Type: application/json", "X-Huge: " + "h" * 200_000], b"{}")

    with RawServer(handler) as srv:
        with pytest.raises(kimi.KimiError) as info:
            create(raw_client(srv, max_retries=3))
    assert "header is too large" in str(info.value) or "header block exceeds" in str(info.value)
    assert "Out of memory" not in str(info.value)
    assert len(count) == 1


# -- 3. a stream read after fork() ---------------------------------------------------

FORK_SCRIPT = textwrap.dedent(
    """
    import json, os, sys
    import kimi
    from kimi.testing import KimiServer, Reply

    with KimiServer(api_key="sk-fork") as server:
        text = "".join(f"part{i:02d} " for i in range(30))
        server.script(Reply.chat(text, chunk_size=7, delay=0.02))
        client = kimi.Kimi(api_key="sk-fork", base_url=server.base_url, max_retries=0)
        stream = client.chat.completions.create(model="kimi-k2.6", messages=[{"role": "user", "content": "x"}], stream=True)
        got = [next(stream), next(stream)]
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:
            result = {}
            try:
                list(stream)
                result["child_stream"] = "read"
            except kimi.StreamError as exc:
                result["child_stream"] = str(exc)
            try:
                server.script(Reply.chat("child ok"))
                reply = client.chat.completions.create(model="kimi-k2.6", messages=[{"role": "user", "content": "y"}])
                result["child_call"] = reply.choices[0].message.content
            except Exception as exc:
                result["child_call"] = repr(exc)
            os.write(write, json.dumps(result).encode())
            os._exit(0)
        os.close(write)
        os.waitpid(pid, 0)
        child = json.loads(os.read(read, 65536))
        rest = [c.choices[0].delta.content or "" for c in stream if c.choices]
        final = stream.final().choices[0].message.content
        first = "".join(c.choices[0].delta.content or "" for c in got)
        print(json.dumps({"child": child, "parent": first + "".join(rest), "final": final, "want": text}))
    """
)


def test_a_stream_read_after_fork_fails_in_the_child_and_goes_on_in_the_parent():
    out = subprocess.run([PYTHON, "-c", FORK_SCRIPT], env=subprocess_env(), capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert "fork()" in result["child"]["child_stream"]
    # A fresh lane in the child works (its scripts are its own copy: the default reply).
    assert result["child"]["child_call"].startswith("You said “y”")
    assert result["parent"] == result["want"]
    assert result["final"] == result["want"]


# -- 9. words that say what happened ---------------------------------------------------


def stream_reply(content_types: list[str], body: bytes):
    def handler(conn: socket.socket) -> None:
        read_request(conn)
        headers = [f"Content-Type: {ct}" for ct in content_types]
        respond(conn, "200 OK", headers, body)
    return handler


def test_a_repeated_identical_event_stream_content_type_is_still_a_stream():
    body = delta_event(content="ok") + delta_event(finish_reason="stop") + b"data: [DONE]\n\n"
    with RawServer(stream_reply(["text/event-stream", "text/event-stream"], body)) as srv:
        assert list(create(raw_client(srv), stream=True).text()) == ["ok"]


def test_conflicting_content_types_are_named_as_such():
    with RawServer(stream_reply(["text/event-stream", "application/json"], b"{}")) as srv:
        with pytest.raises(kimi.StreamError) as info:
            list(create(raw_client(srv), stream=True))
    message = str(info.value)
    assert "2 Content-Type headers" in message
    assert 'got "text/event-stream"' not in message


def test_a_refused_connection_says_connect():
    client = kimi.Kimi(api_key=KEY, base_url=f"http://127.0.0.1:{closed_port()}/v1", max_retries=0)
    with pytest.raises(kimi.APIConnectionError) as info:
        create(client)
    assert str(info.value).startswith("connect: ")
    assert "read response" not in str(info.value)


def test_too_many_choices_is_blamed_on_the_choices_not_max_body_bytes(client, server):
    events = [sse({"choices": [{"index": i, "delta": {"content": "c"}, "finish_reason": "stop"}]})
              for i in range(130)]
    server.script(Reply.raw([*events, b"data: [DONE]\n\n"]))
    stream = create(client, stream=True)
    assert len(list(stream)) == 130  # the chunks still arrive
    with pytest.raises(kimi.StreamError) as info:
        stream.final()
    assert "more than 128 choices" in str(info.value)
    assert "max_body_bytes" not in str(info.value)


@pytest.mark.parametrize("value", [True, False, 2**63, 2**62 + 1, 0, -1, 1.5, "10"])
def test_size_limits_are_checked_when_the_client_is_built(value):
    for name in ("max_body_bytes", "max_event_bytes"):
        with pytest.raises(ValueError, match=name):
            kimi.Kimi(api_key=KEY, **{name: value})


# -- timeouts ------------------------------------------------------------------------


def comments_only(stop: threading.Event):
    def handler(conn: socket.socket) -> None:
        read_request(conn)
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
                     b"Transfer-Encoding: chunked\r\n\r\n")
        conn.sendall(chunk(delta_event(content="first")))
        while not stop.wait(0.05):
            conn.sendall(chunk(b": OPENROUTER PROCESSING\n\n"))
    return handler


def test_keep_alive_comments_do_not_count_as_events():
    stop = threading.Event()
    with RawServer(comments_only(stop)) as srv:
        client = raw_client(srv, timeout=kimi.Timeout(5.0, event=0.5))
        stream = create(client, stream=True)
        assert next(stream).choices[0].delta.content == "first"
        start = time.monotonic()
        with pytest.raises(kimi.APITimeoutError) as info:
            next(stream)
        stop.set()
    assert info.value.limit == "event"
    assert 0.3 < time.monotonic() - start < 3
    assert "event timeout" in str(info.value)


def test_the_read_timeout_names_itself(client, server):
    server.script(Reply.stream("stall", stall_after=1))
    with pytest.raises(kimi.APITimeoutError) as info:
        list(create(client, stream=True, timeout=kimi.Timeout(0.3)))
    assert info.value.limit == "read"
    assert "read timeout" in str(info.value)


def test_the_total_timeout_cuts_a_stream_that_keeps_talking(client, server):
    server.script(Reply.chat("tick " * 200, chunk_size=5, delay=0.02))
    start = time.monotonic()
    with pytest.raises(kimi.APITimeoutError) as info:
        list(create(client, stream=True, timeout=kimi.Timeout(5.0, total=0.5)))
    assert info.value.limit == "total"
    assert 0.4 < time.monotonic() - start < 3


def test_the_total_timeout_bounds_retries_and_their_waits(make_client, server):
    client = make_client(max_retries=10, timeout=kimi.Timeout(5.0, total=1.0))
    server.script(*[Reply.error(503)] * 11)
    start = time.monotonic()
    with pytest.raises((kimi.InternalServerError, kimi.APITimeoutError)):
        create(client)
    assert time.monotonic() - start < 2.5
    assert len(server.requests) < 11


def test_the_connect_timeout_names_itself():
    # A listener whose accept queue is full drops further SYNs: the connect hangs.
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    fillers = []
    try:
        for _ in range(4):
            s = socket.socket()
            s.setblocking(False)
            s.connect_ex(("127.0.0.1", port))
            fillers.append(s)
        time.sleep(0.1)
        client = kimi.Kimi(api_key=KEY, base_url=f"http://127.0.0.1:{port}/v1", max_retries=0,
                           timeout=kimi.Timeout(10.0, connect=0.3))
        start = time.monotonic()
        with pytest.raises(kimi.APITimeoutError) as info:
            create(client)
        assert info.value.limit == "connect"
        assert time.monotonic() - start < 5
    finally:
        for s in fillers:
            s.close()
        listener.close()


@pytest.mark.parametrize("bad", [0, -1, True, "1", float("nan"), float("inf")])
def test_bad_timeouts_are_refused(bad):
    with pytest.raises(ValueError):
        kimi.Timeout(bad)
    with pytest.raises(ValueError):
        kimi.Kimi(api_key=KEY, timeout=bad)


def test_a_number_means_the_read_timeout_and_the_others_follow_it():
    client = kimi.Kimi(api_key=KEY, timeout=12)
    assert client.timeout == kimi.Timeout(12.0)
    assert client.timeout._limits() == (12.0, 12.0, 12.0, None)


# -- compression -----------------------------------------------------------------------


def gzip_server(requests: list[bytes], body: bytes, content_type: str):
    def handler(conn: socket.socket) -> None:
        while True:
            head, _ = read_request(conn)
            if not head:
                return
            requests.append(head)
            respond(conn, "200 OK", [f"Content-Type: {content_type}", "Content-Encoding: gzip"],
                    gzip.compress(body))
    return handler


def test_plain_calls_ask_for_compression_and_decode_gzip():
    requests: list[bytes] = []
    with RawServer(gzip_server(requests, json.dumps(REPLY).encode(), "application/json")) as srv:
        reply = create(raw_client(srv))
    assert reply.choices[0].message.content == "fine"
    assert b"accept-encoding: gzip, deflate" in requests[0].lower()


def test_a_stream_asks_for_none_but_decodes_gzip_sent_unasked():
    requests: list[bytes] = []
    body = delta_event(content="squeezed") + delta_event(finish_reason="stop") + b"data: [DONE]\n\n"
    with RawServer(gzip_server(requests, body, "text/event-stream")) as srv:
        assert list(create(raw_client(srv), stream=True).text()) == ["squeezed"]
    assert b"accept-encoding: identity" in requests[0].lower()


# -- URLs and headers -----------------------------------------------------------------


@pytest.mark.parametrize("url", ["https://me:hunter22@api.moonshot.ai/v1", "https://hunter22@api.moonshot.ai/v1"])
def test_a_base_url_with_credentials_is_refused_without_echoing_them(url):
    with pytest.raises(ValueError, match="credentials") as info:
        kimi.Kimi(api_key=KEY, base_url=url)
    assert "hunter22" not in str(info.value)


@pytest.mark.parametrize("name", ["Bad Name", "X(1)", "Ünï", "X:Y", "", "X\x7f"])
def test_header_names_must_be_http_tokens(client, name):
    with pytest.raises(ValueError, match="HTTP token"):
        create(client, extra_headers={name: "v"})


def test_none_removes_a_default_header_and_empty_sends_an_empty_value(client, server):
    create(client, extra_headers={"User-Agent": None, "Accept": None, "X-Empty": ""})
    headers = server.requests[-1].headers
    assert "user-agent" not in headers
    assert "accept" not in headers
    assert headers.get("x-empty") == ""


def test_default_headers_can_remove_and_later_ones_replace_case_insensitively(make_client, server):
    client = make_client(default_headers={"user-agent": "mine/1", "X-Team": "a"})
    create(client, extra_headers={"x-team": "b"})
    headers = server.requests[-1].headers
    assert headers["user-agent"] == "mine/1"
    assert headers["x-team"] == "b"


# -- 2. JSON nested deeper than anything can use ---------------------------------------


def nested(depth: int, leaf: str = '"x"') -> str:
    return "[" * depth + leaf + "]" * depth


def test_an_error_body_nested_100k_deep_is_a_status_error_with_the_raw_text(client, server):
    body = ('{"error": ' + nested(100_000) + "}").encode()
    server.script(Reply.raw([body], status=500, content_type="application/json"))
    with pytest.raises(kimi.InternalServerError) as info:
        create(client)
    assert isinstance(info.value.body, str) and info.value.body.startswith('{"error": [[[')


def test_an_error_event_1000_deep_is_a_stream_error_keeping_the_text(client, server):
    event = b'event: error\ndata: {"error": ' + nested(998).encode() + b"}\n\n"
    server.script(Reply.raw([delta_event(content="a"), event]))
    with pytest.raises(kimi.StreamError) as info:
        list(create(client, stream=True))
    assert isinstance(info.value.body, str) and info.value.body.startswith("[[[")


@pytest.mark.parametrize("depth", [300, 998])
def test_a_chunk_too_deep_to_build_fails_the_stream_and_final(client, server, depth):
    deep = b'data: {"choices": [{"index": 0, "delta": {"content": "b"}}], "extra": ' + nested(depth).encode() + b"}\n\n"
    server.script(Reply.raw([delta_event(content="a"), deep, delta_event(content="c"),
                             delta_event(finish_reason="stop"), b"data: [DONE]\n\n"]))
    stream = create(client, stream=True)
    assert next(stream).choices[0].delta.content == "a"
    with pytest.raises(kimi.StreamError, match="cannot be converted") as info:
        next(stream)
    assert isinstance(info.value.__cause__, ValueError)
    assert "256 levels" in str(info.value.__cause__)
    assert stream.closed
    with pytest.raises(kimi.StreamError):
        stream.final()  # never a reply that holds what the iterator could not give


def test_a_chunk_beyond_the_parsers_limit_is_a_malformed_event(client, server):
    server.script(Reply.raw([b'data: {"x": ' + nested(5000).encode() + b"}\n\n"]))
    with pytest.raises(kimi.StreamError, match="malformed"):
        list(create(client, stream=True))


def test_a_reply_too_deep_to_build_is_a_validation_error_not_retried(make_client, server):
    client = make_client(max_retries=2)
    body = json.dumps({**REPLY, "extra": json.loads(nested(300))}).encode()
    server.script(*[Reply.json(body)] * 3)
    with pytest.raises(kimi.APIResponseValidationError, match="cannot be built"):
        create(client)
    assert len(server.requests) == 1


def test_a_reply_250_deep_is_built_and_to_dict_gives_it_back(client, server):
    extra = json.loads(nested(250))
    server.script(Reply.json({**REPLY, "extra": extra}))
    reply = create(client)
    assert reply.to_dict()["extra"] == extra


# -- 8. fields named like methods ------------------------------------------------------


def test_fields_named_like_methods_never_hide_them(client, server):
    server.script(Reply.json({**REPLY, "to_dict": 1, "get": "field", "keys": [1]}))
    reply = create(client)
    assert reply.to_dict()["to_dict"] == 1
    assert reply.get("get") == "field"
    assert reply["to_dict"] == 1 and reply["get"] == "field"
    assert reply.keys == [1]  # not a method of the models: an ordinary field
    with pytest.raises(AttributeError, match="is a method"):
        reply.to_dict = 5


@pytest.mark.parametrize("body", [b"", b"   ", b"<html>oops</html>"])
def test_an_empty_or_non_json_2xx_body_is_a_validation_error_sent_once(make_client, server, body):
    client = make_client(max_retries=3)
    server.script(*[Reply.raw([body], content_type="application/json")] * 4)
    with pytest.raises(kimi.APIResponseValidationError, match="not usable") as info:
        create(client)
    assert info.value.status_code == 200
    assert len(server.requests) == 1


# -- found in review: total on a stream that never pauses, trailers ---------------------


def test_the_total_timeout_fires_on_a_stream_that_never_pauses():
    stop = threading.Event()

    def handler(conn: socket.socket) -> None:
        read_request(conn)
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
                     b"Transfer-Encoding: chunked\r\n\r\n")
        block = chunk(delta_event(content="tick ") * 200)
        while not stop.is_set():
            conn.sendall(block)

    with RawServer(handler) as srv:
        client = raw_client(srv, timeout=kimi.Timeout(5.0, total=0.5))
        start = time.monotonic()
        try:
            with pytest.raises(kimi.APITimeoutError) as info:
                for _ in create(client, stream=True):
                    assert time.monotonic() - start < 5, "total=0.5 s not enforced"
        finally:
            stop.set()
    assert info.value.limit == "total"


def test_an_echoed_key_in_a_trailer_is_neither_a_header_nor_shown():
    def handler(conn: socket.socket) -> None:
        read_request(conn)
        body = json.dumps({"error": {"type": "invalid_request_error", "message": "bad"}}).encode()
        conn.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\n"
                     b"Transfer-Encoding: chunked\r\n\r\n" + chunk(body)
                     + b"0\r\nx-echo: Bearer " + KEY.encode() + b"\r\nx-request-id: " + KEY.encode()
                     + b"\r\n\r\n")

    with RawServer(handler) as srv:
        with pytest.raises(kimi.BadRequestError) as info:
            create(raw_client(srv))
    exc = info.value
    assert KEY[:8] not in str(exc) + repr(exc.headers) + repr(exc.request_id) + repr(exc.body)
    assert "x-echo" not in exc.headers


def test_a_5xx_with_an_oversized_header_block_is_retried_like_any_5xx():
    count: list[int] = []
    with RawServer(oversized_headers("503 Service Unavailable", count)) as srv:
        with pytest.raises(kimi.APIConnectionError, match="header block exceeds"):
            create(raw_client(srv, max_retries=1))
    assert len(count) == 2  # no reply was produced, so asking again bills nothing
