"""What came with a reply besides its body, against kimi.testing: with_raw_response
(status, headers, request id, parse()), headers and X-RateLimit-* on non-streaming
results and on errors, and a rate-limit message's wait read as Retry-After."""

from __future__ import annotations

import asyncio

import pytest
from conftest import KEY, MESSAGES, MODEL

import kimi
from kimi.testing import Reply

LIMIT_HEADERS = {"X-RateLimit-Limit": "200", "X-RateLimit-Remaining": "17", "X-RateLimit-Reset": "6m0s",
                 "x-request-id": "req-abc"}


def test_with_raw_response_gives_status_headers_and_the_parsed_reply(make_client, server) -> None:
    server.script(Reply.chat("raw", headers=LIMIT_HEADERS))
    raw = make_client().chat.completions.with_raw_response.create(model=MODEL, messages=MESSAGES)
    assert raw.status_code == 200
    assert raw.headers["x-ratelimit-remaining"] == "17" and raw.headers["X-RATELIMIT-LIMIT"] == "200"
    assert raw.request_id == "req-abc"
    assert raw.rate_limit.limit == 200 and raw.rate_limit.remaining == 17 and raw.rate_limit.reset == 360.0
    reply = raw.parse()
    assert isinstance(reply, kimi.ChatCompletion) and reply.choices[0].message.content == "raw"
    assert raw.elapsed >= 0


def test_every_resource_has_with_raw_response(make_client, server) -> None:
    client = make_client()
    models = client.models.with_raw_response.list()
    assert models.status_code == 200 and len(models.parse()) > 0
    assert client.users.with_raw_response.balance().parse().available_balance is not None
    with pytest.raises(AttributeError):
        client.models.with_raw_response._client


def test_a_non_streaming_reply_keeps_its_headers(make_client, server) -> None:
    server.script(Reply.chat("h", headers=LIMIT_HEADERS))
    reply = make_client().chat.completions.create(model=MODEL, messages=MESSAGES)
    assert reply._request_id == "req-abc"
    assert reply._headers.get("x-ratelimit-reset") == "6m0s"
    assert reply._rate_limit.remaining == 17
    # Not a field: the reply's data is what the server sent in the body.
    assert "_response" not in reply.to_dict() and "_response" not in reply.model_dump()


def test_map_and_async_results_keep_their_headers(make_client, server) -> None:
    server.default = Reply.chat("m", headers=LIMIT_HEADERS)
    results = list(make_client().chat.completions.map([{"model": MODEL, "messages": MESSAGES}] * 3))
    assert all(r.response._request_id == "req-abc" for r in results)

    async def main() -> str | None:
        client = kimi.AsyncKimi(api_key=KEY, base_url=server.base_url)
        raw = await client.chat.completions.with_raw_response.create(model=MODEL, messages=MESSAGES)
        await client.close()
        return raw.request_id if raw.parse()._rate_limit.limit == 200 else None

    assert asyncio.run(main()) == "req-abc"


def test_a_stream_through_with_raw_response_has_the_streams_headers(make_client, server) -> None:
    server.script(Reply.chat("s", headers=LIMIT_HEADERS))
    raw = make_client().chat.completions.with_raw_response.create(model=MODEL, messages=MESSAGES, stream=True)
    assert raw.status_code == 200 and raw.request_id == "req-abc"
    with raw.parse() as stream:
        assert "".join(c.choices[0].delta.content or "" for c in stream if c.choices) == "s"


def test_errors_carry_the_rate_limit_headers(make_client, server) -> None:
    body = Reply.moonshot_error("rate_limit_reached_error", "Your account reached max RPM: 3")
    server.script(Reply.error(429, body, headers={**LIMIT_HEADERS, "X-RateLimit-Remaining": "0"}))
    with pytest.raises(kimi.RateLimitReachedError) as caught:
        make_client().chat.completions.create(model=MODEL, messages=MESSAGES)
    assert caught.value.rate_limit.remaining == 0 and caught.value.rate_limit.limit == 200
    assert caught.value.body == body["error"]     # the error object, as openai-python's


def test_a_rate_limit_message_wait_is_read_as_retry_after(make_client, server) -> None:
    message = "Your account reached max concurrency: 1, please try again after 7 seconds"
    server.script(Reply.error(429, Reply.moonshot_error("rate_limit_reached_error", message)))
    with pytest.raises(kimi.RateLimitReachedError) as caught:
        make_client().chat.completions.create(model=MODEL, messages=MESSAGES)
    assert caught.value.retry_after == 7.0
    assert "Retry-After" not in caught.value.headers and "retry-after" not in caught.value.headers
