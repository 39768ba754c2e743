"""Retries: which failures the client retries (429 rate limits, 5xx, connection errors),
which it does not (quota exhausted, 4xx, a stream already handed out), and how often.

The client here retries twice.  Waits stay short: the server sends ``retry-after-ms`` (or
``Retry-After: 0``, which falls back to the first backoff step of ~0.5 s).
"""

from __future__ import annotations

import time

import pytest
from conftest import KEY, closed_port, create

import kimi
from kimi.testing import Reply

FAST = {"retry-after-ms": "5"}


@pytest.fixture
def client(make_client):
    return make_client(max_retries=2)


def chat_requests(server):
    return [r for r in server.requests if r.path == "/v1/chat/completions"]


def test_429_rate_limit_with_retry_after_0_then_success(client, server):
    server.script(
        Reply.error(429, Reply.moonshot_error("rate_limit_reached_error", "max RPM: 3"),
                    headers={"Retry-After": "0"}),
        Reply.chat("after the limit"),
    )
    start = time.monotonic()
    reply = create(client)
    assert reply.choices[0].message.content == "after the limit"
    assert len(chat_requests(server)) == 2
    assert time.monotonic() - start < 2.0


def test_503_twice_then_success(client, server):
    server.script(Reply.error(503, headers=FAST), Reply.error(503, headers=FAST), Reply.chat("third time"))
    assert create(client).choices[0].message.content == "third time"
    assert len(chat_requests(server)) == 3
    assert server.pending == 0


def test_retried_requests_send_the_same_body_and_headers(client, server):
    server.script(Reply.error(500, headers=FAST), Reply.chat("ok"))
    create(client, max_completion_tokens=99, extra_headers={"X-Call": "c1"})
    first, second = chat_requests(server)
    assert first.body == second.body
    assert first.json["max_completion_tokens"] == 99
    assert first.headers["x-call"] == second.headers["x-call"] == "c1"
    assert first.headers["authorization"] == second.headers["authorization"] == f"Bearer {KEY}"


def test_streaming_create_retries_a_status_error_before_any_chunk(client, server):
    server.script(Reply.error(502, headers=FAST), Reply.chat("streamed after retry"))
    assert "".join(create(client, stream=True).text()) == "streamed after retry"
    assert len(chat_requests(server)) == 2


def test_engine_overloaded_429_is_retried(client, server):
    server.script(Reply.error(429, Reply.moonshot_error("engine_overloaded_error", "overloaded"), headers=FAST),
                  Reply.chat("ok"))
    assert create(client).choices[0].message.content == "ok"
    assert len(chat_requests(server)) == 2


def test_429_exceeded_quota_is_not_retried(client, server):
    server.script(
        Reply.error(429, Reply.moonshot_error("exceeded_current_quota_error",
                                              "You exceeded your current token quota"), headers=FAST),
        Reply.chat("must not be used"),
    )
    with pytest.raises(kimi.RateLimitError) as info:
        create(client)
    assert info.value.type == "exceeded_current_quota_error"
    assert len(chat_requests(server)) == 1
    assert server.pending == 1


def test_proxy_used_up_429_is_not_retried(client, server):
    server.script(Reply.error(429, Reply.proxy_error("used_up", "no balance"), headers=FAST), Reply.chat("no"))
    with pytest.raises(kimi.RateLimitError):
        create(client)
    assert len(chat_requests(server)) == 1


@pytest.mark.parametrize("status", [400, 401, 403, 404, 422])
def test_client_errors_are_not_retried(client, server, status):
    server.script(Reply.error(status, headers=FAST), Reply.chat("must not be used"))
    with pytest.raises(kimi.APIStatusError) as info:
        create(client)
    assert info.value.status_code == status
    assert len(chat_requests(server)) == 1


@pytest.mark.parametrize("status", [408, 409])
def test_timeout_and_conflict_statuses_are_retried(client, server, status):
    server.script(Reply.error(status, {"error": {"message": "again"}}, headers=FAST), Reply.chat("ok"))
    assert create(client).choices[0].message.content == "ok"
    assert len(chat_requests(server)) == 2


def test_max_retries_exhausted_raises_after_three_requests(client, server):
    server.script(*[Reply.error(503, headers=FAST)] * 3, Reply.chat("too late"))
    with pytest.raises(kimi.InternalServerError) as info:
        create(client)
    assert info.value.status_code == 503
    assert len(chat_requests(server)) == 3
    assert server.pending == 1


def test_max_retries_zero_sends_once(make_client, server):
    client = make_client(max_retries=0)
    server.script(Reply.error(503, headers=FAST), Reply.chat("unused"))
    with pytest.raises(kimi.InternalServerError):
        create(client)
    assert len(chat_requests(server)) == 1


def test_get_requests_are_retried_too(client, server):
    server.script_for("/v1/models", Reply.error(500, headers=FAST))
    assert len(client.models.list()) == 8
    assert [r.path for r in server.requests] == ["/v1/models", "/v1/models"]


def test_connection_refused_is_retried_then_raises(server):
    client = kimi.Kimi(api_key=KEY, base_url=f"http://127.0.0.1:{closed_port()}/v1", max_retries=2)
    start = time.monotonic()
    with pytest.raises(kimi.APIConnectionError) as info:
        client.models.list()
    elapsed = time.monotonic() - start
    assert info.value.curl_code == 7
    # Two backoff waits (~0.5 s and ~1 s, minus up to 25% jitter) show the two retries.
    assert 1.0 <= elapsed < 4.0


def test_stream_failing_mid_body_is_not_retried(client, server):
    server.script(Reply.chat("abcdefgh" * 3, chunk_size=8, disconnect_after=2), Reply.chat("second"))
    stream = create(client, stream=True)
    got = []
    with pytest.raises(kimi.StreamError):
        for chunk in stream:
            got.append(chunk.choices[0].delta.content)
    assert got == ["", "abcdefgh"]
    assert len(chat_requests(server)) == 1
    assert server.pending == 1


def test_stream_error_event_is_not_retried(client, server):
    server.script(Reply.raw([b'data: {"error":{"type":"server_error","message":"boom"}}\n\n']),
                  Reply.chat("second"))
    with pytest.raises(kimi.StreamError):
        create(client, stream=True).final()
    assert len(chat_requests(server)) == 1


def test_timed_out_call_is_retried(make_client, server):
    client = make_client(max_retries=1, timeout=0.3)
    server.script(Reply.stream("stalls", stall_after=1), Reply.chat("answered"))
    start = time.monotonic()
    assert create(client).choices[0].message.content == "answered"
    assert len(chat_requests(server)) == 2
    assert time.monotonic() - start < 3.0
