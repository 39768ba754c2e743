"""The HTTP status and raw header block of a non-streaming reply, kept on the reply
object as ``_response`` by every driver (sync send, AsyncKimi, map), and kept out of
its fields: to_dict(), model_dump(), equality and pickling ignore or keep it as data.
"""

from __future__ import annotations

import asyncio
import pickle

import kimi
from kimi.testing import KimiServer, Reply

from conftest import KEY, MESSAGES, MODEL

HEADERS = {"X-RateLimit-Remaining": "7", "X-Request-Id": "req-h1"}


def assert_response_of(reply: object) -> None:
    status, raw = reply._response
    assert status == 200
    assert isinstance(raw, bytes)
    lines = raw.split(b"\r\n")
    assert b"X-RateLimit-Remaining: 7" in lines
    assert b"X-Request-Id: req-h1" in lines
    assert not raw.startswith(b"HTTP/")     # the header lines only, not the status line
    assert KEY.encode() not in raw


def test_sync_create_keeps_status_and_raw_headers(client, server):
    server.script(Reply.chat("hi", headers=HEADERS))
    reply = client.chat.completions.create(model=MODEL, messages=MESSAGES)
    assert_response_of(reply)
    assert reply.choices[0].message.content == "hi"
    # Only the reply itself: nested objects have no response of their own.
    assert not hasattr(reply.choices[0], "_response")


def test_other_endpoints_keep_them_too(client):
    models = client.models.list()   # a route of the server's own, not scripted
    status, raw = models._response
    assert status == 200
    assert b"Content-Type: application/json" in raw.split(b"\r\n")
    assert len(models) > 0


def test_async_create_keeps_status_and_raw_headers(server: KimiServer):
    server.script(Reply.chat("async hi", headers=HEADERS))

    async def main():
        async with kimi.AsyncKimi(api_key=KEY, base_url=server.base_url, max_retries=0) as client:
            return await client.chat.completions.create(model=MODEL, messages=MESSAGES)

    reply = asyncio.run(asyncio.wait_for(main(), 30))
    assert_response_of(reply)
    assert reply.choices[0].message.content == "async hi"


def test_map_results_keep_status_and_raw_headers(client, server):
    for i in range(3):
        server.script(Reply.chat(f"m{i}", headers=HEADERS))
    rows = [{"model": MODEL, "messages": MESSAGES} for _ in range(3)]
    results = list(client.chat.completions.map(rows, concurrency=3))
    assert len(results) == 3
    for result in results:
        assert result.error is None
        assert_response_of(result.response)
    assert sorted(r.response.choices[0].message.content for r in results) == ["m0", "m1", "m2"]


def test_async_map_results_keep_status_and_raw_headers(server: KimiServer):
    for i in range(2):
        server.script(Reply.chat(f"a{i}", headers=HEADERS))

    async def main():
        async with kimi.AsyncKimi(api_key=KEY, base_url=server.base_url, max_retries=0) as client:
            rows = [{"model": MODEL, "messages": MESSAGES} for _ in range(2)]
            return [r async for r in client.chat.completions.map(rows)]

    results = asyncio.run(asyncio.wait_for(main(), 30))
    assert [r.error for r in results] == [None, None]
    for result in results:
        assert_response_of(result.response)


def test_response_stays_out_of_the_fields_equality_and_dumps(client, server):
    server.script(Reply.chat("same", headers=HEADERS))
    server.script(Reply.chat("same", headers={"X-RateLimit-Remaining": "6"}))
    first = client.chat.completions.create(model=MODEL, messages=MESSAGES)
    second = client.chat.completions.create(model=MODEL, messages=MESSAGES)
    for reply in (first, second):
        assert "_response" not in reply.to_dict()
        assert "_response" not in reply.model_dump()
        assert "_response" not in reply.model_dump_json()
        assert "_response" not in reply
        assert "_response" not in repr(reply)
    assert first._response != second._response
    # The server makes ids and timestamps per request: equal once those agree.
    second.__dict__.update(id=first.id, created=first.created)
    assert first == second


def test_reply_pickles_with_its_response_and_still_compares_equal(client, server):
    server.script(Reply.chat("pickled", headers=HEADERS))
    reply = client.chat.completions.create(model=MODEL, messages=MESSAGES)
    for protocol in range(2, pickle.HIGHEST_PROTOCOL + 1):
        clone = pickle.loads(pickle.dumps(reply, protocol))
        assert type(clone) is type(reply)
        assert clone == reply
        assert clone.to_dict() == reply.to_dict()
        assert clone._response == reply._response


def test_raw_bytes_results_are_unchanged(server):
    # result_class None: the body as bytes, nothing to hang a response on.
    from kimi import _core

    request = _core.Request(
        "GET", server.base_url + "/models", (f"Authorization: Bearer {KEY}",), None, False, 5.0, 5.0
    )
    body = _core.Client().send(request)
    assert type(body) is bytes and body.startswith(b"{")


def test_replies_pickle_under_every_protocol_with_their_headers(server) -> None:
    import pickle

    reply = kimi.Kimi(api_key=server.api_key, base_url=server.base_url).chat.completions.create(
        model="kimi-k2.6", messages=[{"role": "user", "content": "pickle me"}]
    )
    for protocol in range(pickle.HIGHEST_PROTOCOL + 1):
        clone = pickle.loads(pickle.dumps(reply, protocol=protocol))
        assert clone == reply and clone._response == reply._response, protocol
