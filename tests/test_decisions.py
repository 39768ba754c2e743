"""The behaviour the issue decided, each over a real socket: the error-body shapes, the
key redacted wherever it is cut, Retry-After and statuses past 599, JSON edges (lone
surrogates, empty error members, trailing bytes, duplicate keys, big integers).
"""

from __future__ import annotations

import json
import time

import pytest
from conftest import DONE, KEY, create, delta_event, sse
from hostile import RawServer, read_request

import kimi
from kimi.testing import Reply


def key_runs(text: str, key: str = KEY, run: int = 8) -> list[str]:
    """Every run of `run` characters of the key found in text."""
    return [key[i:i + run] for i in range(len(key) - run + 1) if key[i:i + run] in text]


def exception_texts(exc: BaseException) -> list[str]:
    """Everything of an exception a person or a log line could see."""
    texts = [str(exc), repr(exc), repr(exc.args)]
    for value in vars(exc).values():
        texts.append(repr(value))
    return texts


# -- one error reader: every shape, for statuses and stream events alike --------------

SHAPES = [
    ({"error": {"type": "rate_limit_reached_error", "message": "max RPM: 3"}}, "rate_limit_reached_error", None, "max RPM: 3"),
    ({"success": False, "error": {"code": "used_up", "message": "balance"}, "trace_id": "t-9"}, None, "used_up", "balance"),
    ({"error": "just words"}, None, None, "just words"),
    ({"success": False, "errors": [{"code": 3040, "message": "out of capacity"}], "messages": [], "result": None}, None, 3040, "out of capacity"),
    ({"detail": "Not Found"}, None, None, "Not Found"),
    ({"detail": [{"loc": ["body", "model"], "msg": "field required", "type": "value_error.missing"}]}, "value_error.missing", None, "field required"),
    ({"error": {"code": 429, "message": "slow down", "metadata": {"provider": "x"}}}, None, 429, "slow down"),
    ({"error": {"message": "litellm.RateLimitError: busy", "type": "throttling_error", "param": None, "code": "429"}}, "throttling_error", "429", "litellm.RateLimitError: busy"),
]


@pytest.mark.parametrize("body, type_, code, message", SHAPES)
def test_every_error_shape_is_read_for_a_status(client, server, body, type_, code, message):
    server.script(Reply.error(503, body))
    with pytest.raises(kimi.InternalServerError) as info:
        create(client)
    exc = info.value
    assert (exc.type, exc.code) == (type_, code)
    assert message in exc.message
    # As openai-python's: the "error" member when the body has one.
    assert exc.body == (body.get("error", body) if isinstance(body, dict) else body)


@pytest.mark.parametrize("body, type_, code, message", SHAPES)
def test_every_error_shape_is_read_for_a_stream_event(client, server, body, type_, code, message):
    server.script(Reply.raw([delta_event(content="a"), b"event: error\n" + sse(body)],
                            headers={"x-request-id": "req-7"}))
    with pytest.raises(kimi.StreamError) as info:
        list(create(client, stream=True))
    exc = info.value
    assert (exc.type, exc.code) == (type_, code)
    assert message in str(exc)
    expected_id = "t-9" if "trace_id" in body else "req-7"
    assert exc.request_id == expected_id  # from the body first, else the headers


def test_a_flat_error_event_payload_is_read(client, server):
    server.script(Reply.raw([sse({"message": "overloaded", "type": "server_error", "code": 503})]))
    with pytest.raises(kimi.StreamError) as info:
        list(create(client, stream=True))
    assert (info.value.type, info.value.code) == ("server_error", 503)


@pytest.mark.parametrize("header", ["x-request-id", "msh-request-id", "x-litellm-call-id"])
def test_request_id_headers_are_read(client, server, header):
    server.script(Reply.error(500, headers={header: "id-42"}))
    with pytest.raises(kimi.InternalServerError) as info:
        create(client)
    assert info.value.request_id == "id-42"
    assert "(request id id-42)" in str(info.value)


# -- 6. the echoed key, whole or in part, cut anywhere -------------------------------


@pytest.mark.parametrize("cut", [0, 3, 8, 11, 495, 499, 505])
def test_an_echoed_key_is_redacted_before_any_message_is_cut(client, server, cut):
    # The key straddles every place a message could be cut (500 characters of
    # message, the C error buffer, a 300-byte snippet).
    message = "x" * cut + "Incorrect API key provided: " + KEY + " " + "y" * 600
    server.script(Reply.error(401, Reply.moonshot_error("invalid_authentication_error", message),
                              headers={"x-request-id": KEY[:12]}))
    with pytest.raises(kimi.AuthenticationError) as info:
        create(client)
    for text in exception_texts(info.value):
        assert key_runs(text) == [], text[:200]


@pytest.mark.parametrize("fragment", [KEY[:8], KEY[:11], KEY[-8:], KEY[4:14]])
def test_a_fragment_of_the_key_is_redacted_from_status_errors_and_stream_errors(client, server, fragment):
    body = Reply.moonshot_error("invalid_authentication_error", f"bad key {fragment}...")
    server.script(Reply.error(401, body, headers={"x-request-id": f"r-{fragment}"}))
    with pytest.raises(kimi.AuthenticationError) as info:
        create(client)
    assert all(key_runs(t) == [] for t in exception_texts(info.value))
    server.script(Reply.raw([delta_event(content="a"), b"event: error\n" + sse(body)],
                            headers={"x-request-id": fragment}))
    stream = create(client, stream=True)
    assert key_runs(repr(stream.headers)) == []
    with pytest.raises(kimi.StreamError) as info:
        list(stream)
    assert all(key_runs(t) == [] for t in exception_texts(info.value))


def test_the_key_in_a_json_body_where_a_stream_was_expected_is_redacted(client, server):
    server.script(Reply.json({"error": {"type": "auth", "message": "key " + KEY}}))
    with pytest.raises(kimi.StreamError) as info:
        list(create(client, stream=True))
    assert all(key_runs(t) == [] for t in exception_texts(info.value))


# -- Retry-After and odd statuses ------------------------------------------------------


def test_a_retry_after_beyond_60_s_raises_at_once_with_retry_after_set(make_client, server):
    client = make_client(max_retries=3)
    server.script(*[Reply.error(429, headers={"Retry-After": "120"})] * 4)
    start = time.monotonic()
    with pytest.raises(kimi.RateLimitError) as info:
        create(client)
    assert time.monotonic() - start < 2
    assert info.value.retry_after == 120.0
    assert len(server.requests) == 1


def test_a_retry_after_in_the_message_beyond_60_s_is_not_slept_either(make_client, server):
    client = make_client(max_retries=3)
    body = Reply.moonshot_error("rate_limit_reached_error", "max RPM: 3, please try again after 90 seconds")
    server.script(*[Reply.error(429, body)] * 4)
    with pytest.raises(kimi.RateLimitError) as info:
        create(client)
    assert info.value.retry_after == 90.0
    assert len(server.requests) == 1


@pytest.mark.parametrize("status", [600, 601, 999])
def test_statuses_of_600_and_above_are_not_retried(status):
    seen: list[int] = []

    def handler(conn) -> None:
        while read_request(conn)[0]:
            seen.append(status)
            conn.sendall(b"HTTP/1.1 %d Odd\r\nContent-Length: 3\r\n\r\nodd" % status)

    with RawServer(handler) as srv:
        client = kimi.Kimi(api_key=KEY, base_url=srv.base_url, max_retries=3)
        with pytest.raises(kimi.APIStatusError) as info:
            create(client)
    assert info.value.status_code == status
    assert len(seen) == 1


@pytest.mark.parametrize("code", ["insufficient_quota", "used_up"])
def test_billing_429s_are_not_retried(make_client, server, code):
    client = make_client(max_retries=3)
    server.script(*[Reply.error(429, {"error": {"code": code, "message": "pay"}})] * 4)
    with pytest.raises(kimi.RateLimitError):
        create(client)
    assert len(server.requests) == 1


# -- JSON edges ----------------------------------------------------------------------------


def test_a_lone_surrogate_escape_decodes_to_the_replacement_character(client, server):
    event = b'data: {"choices":[{"index":0,"delta":{"content":"a\\ud83db"},"finish_reason":null}]}\n\n'
    server.script(Reply.raw([event, delta_event(finish_reason="stop"), DONE]))
    stream = create(client, stream=True)
    chunks = [c for c in stream if c.choices]
    assert chunks[0].choices[0].delta.content == "a\ufffdb"
    assert stream.final().choices[0].message.content == "a\ufffdb"


@pytest.mark.parametrize("member", [b"{}", b"null", b"false", b'""', b"[]", b"0"])
def test_an_empty_error_member_beside_content_is_not_an_error(client, server, member):
    event = b'data: {"choices":[{"index":0,"delta":{"content":"a"}}],"error":' + member + b"}\n\n"
    server.script(Reply.raw([event, delta_event(content="b"), DONE]))
    assert list(create(client, stream=True).text()) == ["a", "b"]


def test_bytes_after_the_json_of_an_event_are_malformed(client, server):
    server.script(Reply.raw([b'data: {"choices": []} trailing\n\n', DONE]))
    with pytest.raises(kimi.StreamError, match="after the value"):
        list(create(client, stream=True))


def test_bytes_after_the_json_of_a_body_are_a_validation_error(client, server):
    server.script_for("/v1/models", Reply.json(b'{"object": "list", "data": []} {"second": 1}'))
    with pytest.raises(kimi.APIResponseValidationError, match="after the value"):
        client.models.list()


def test_duplicate_keys_give_the_last_value_in_chunks_text_and_final(client, server):
    event = b'data: {"choices":[{"index":0,"delta":{"content":"first","content":"last"},"finish_reason":null}]}\n\n'
    server.script(Reply.raw([event, delta_event(finish_reason="stop"), DONE]))
    stream = create(client, stream=True)
    assert next(stream).choices[0].delta.content == "last"
    assert stream.final().choices[0].message.content == "last"
    server.script(Reply.raw([event, delta_event(finish_reason="stop"), DONE]))
    assert list(create(client, stream=True).text()) == ["last"]


def test_integers_beyond_2_53_come_back_as_floats(client, server):
    server.script_for("/v1/models", Reply.json({"object": "list", "data": [{"id": "m", "created": 2**53 + 1, "small": 2**53 - 1}]}))
    model = client.models.list().data[0]
    assert model.small == 2**53 - 1 and isinstance(model.small, int)
    assert isinstance(model.created, float) and model.created == float(2**53)
