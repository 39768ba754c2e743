"""Error statuses and bodies mapped to kimi's exception classes, and timeouts.

Every error comes from the local server over a real socket: Moonshot's error shape, the
recorded proxy shape, a plain string, HTML from a gateway, and stalled replies.
"""

from __future__ import annotations

import json
import socket
import time
from typing import Iterator

import pytest
from conftest import KEY, VECTORS, closed_port, create

import kimi
from kimi.testing import Reply

STATUS_CLASSES = [
    (400, kimi.InvalidRequestError, "invalid_request_error"),
    (401, kimi.AuthenticationError, "invalid_authentication_error"),
    (403, kimi.PermissionDeniedError, "permission_denied_error"),
    (404, kimi.ResourceNotFoundError, "resource_not_found_error"),
    (429, kimi.RateLimitReachedError, "rate_limit_reached_error"),
    (500, kimi.ServerError, "server_error"),
    (502, kimi.InternalServerError, "server_error"),
    (503, kimi.InternalServerError, "engine_overloaded_error"),
    (504, kimi.InternalServerError, "server_error"),
]


@pytest.mark.parametrize("status, cls, error_type", STATUS_CLASSES)
def test_status_maps_to_exception_class(client, server, status, cls, error_type):
    message = f"message for {status}"
    server.script(Reply.error(status, Reply.moonshot_error(error_type, message)))
    with pytest.raises(cls) as info:
        create(client)
    exc = info.value
    assert type(exc) is cls
    assert isinstance(exc, kimi.APIStatusError)
    assert isinstance(exc, kimi.KimiError)
    assert not isinstance(exc, kimi.APIConnectionError)
    assert exc.status_code == status
    assert exc.type == error_type
    assert exc.message == str(exc)
    assert message in str(exc)
    assert error_type in str(exc)
    assert f"HTTP {status}" in str(exc)
    # As openai-python's: the error object, not the whole body.
    assert exc.body == {"type": error_type, "message": message}
    assert exc.headers["content-type"] == "application/json"


@pytest.mark.parametrize("status, cls, _type", STATUS_CLASSES)
def test_status_error_on_streaming_request_raises_at_create(client, server, status, cls, _type):
    server.script(Reply.error(status))
    with pytest.raises(cls) as info:
        create(client, stream=True)
    assert info.value.status_code == status
    assert info.value.type == _type


def test_unlisted_4xx_is_plain_api_status_error(client, server):
    server.script(Reply.error(418, {"error": {"message": "short and stout"}}))
    with pytest.raises(kimi.APIStatusError) as info:
        create(client)
    assert type(info.value) is kimi.APIStatusError
    assert info.value.status_code == 418
    assert "short and stout" in str(info.value)


def test_unlisted_5xx_is_internal_server_error(client, server):
    server.script(Reply.error(599, {"error": {"type": "server_error", "message": "odd"}}))
    with pytest.raises(kimi.InternalServerError) as info:
        create(client)
    assert info.value.status_code == 599


def test_redirect_is_not_followed_and_raises_status_error(client, server):
    server.script(Reply.error(307, {"moved": True}, headers={"Location": "http://198.51.100.7/v1/chat"}))
    with pytest.raises(kimi.APIStatusError) as info:
        create(client)
    assert info.value.status_code == 307
    assert len(server.requests) == 1


def test_exception_classes_are_importable_from_kimi():
    for name in ["KimiError", "APIConnectionError", "APITimeoutError", "APIStatusError",
                 "BadRequestError", "AuthenticationError", "PermissionDeniedError", "NotFoundError",
                 "RateLimitError", "InternalServerError", "StreamError"]:
        cls = getattr(kimi, name)
        assert issubclass(cls, kimi.KimiError)
        assert name in kimi.__all__
    assert issubclass(kimi.APITimeoutError, kimi.APIConnectionError)
    for name in ["BadRequestError", "AuthenticationError", "PermissionDeniedError", "NotFoundError",
                 "RateLimitError", "InternalServerError"]:
        assert issubclass(getattr(kimi, name), kimi.APIStatusError)
    assert not issubclass(kimi.StreamError, kimi.APIStatusError)


# -- body shapes ---------------------------------------------------------------------------


def test_moonshot_shape_with_code_and_param(client, server):
    body = Reply.moonshot_error("invalid_request_error", "Invalid request: bad temperature",
                                code="invalid_value", param="temperature")
    server.script(Reply.error(400, body))
    with pytest.raises(kimi.BadRequestError) as info:
        create(client)
    exc = info.value
    assert exc.type == "invalid_request_error"
    assert exc.code == "invalid_value"
    assert "Invalid request: bad temperature" in str(exc)
    assert exc.body["param"] == "temperature"


def test_recorded_proxy_error_gives_code_and_trace_id(client, server):
    raw = (VECTORS / "proxy-error-500.json").read_bytes()
    server.script(Reply.error(500, raw))
    with pytest.raises(kimi.InternalServerError) as info:
        create(client)
    exc = info.value
    assert exc.code == "api_error"
    assert exc.type is None
    assert exc.request_id == "2cf86e86-22a4-46e1-ac2f-032c0f2a4e89"
    assert "fetch failed" in str(exc)
    assert "2cf86e86-22a4-46e1-ac2f-032c0f2a4e89" in str(exc)
    assert exc.body == json.loads(raw).get("error", json.loads(raw))


def test_proxy_used_up_error_is_rate_limit_with_code(client, server):
    server.script(Reply.error(429, Reply.proxy_error("used_up", "balance used up", trace_id="t-9")))
    with pytest.raises(kimi.RateLimitError) as info:
        create(client)
    assert info.value.code == "used_up"
    assert info.value.request_id == "t-9"


def test_error_as_plain_string(client, server):
    server.script(Reply.error(400, {"error": "model is required"}))
    with pytest.raises(kimi.BadRequestError) as info:
        create(client)
    exc = info.value
    assert "model is required" in str(exc)
    assert exc.type is None and exc.code is None
    assert exc.body == "model is required"


def test_cloudflare_errors_list_shape(client, server):
    body = {"success": False, "errors": [{"code": 3040, "message": "Capacity temporarily exceeded"}],
            "messages": [], "result": None}
    server.script(Reply.error(429, body))
    with pytest.raises(kimi.RateLimitError) as info:
        create(client)
    assert info.value.code == 3040
    assert "Capacity temporarily exceeded" in str(info.value)


def test_html_error_body_message_contains_the_text(client, server):
    html = "<html><head><title>502 Bad Gateway</title></head><body>nginx upstream gone</body></html>"
    server.script(Reply.error(502, html))
    with pytest.raises(kimi.InternalServerError) as info:
        create(client)
    exc = info.value
    assert "nginx upstream gone" in str(exc)
    assert exc.body == html
    assert exc.type is None


def test_html_error_body_on_streaming_request(client, server):
    server.script(Reply.error(503, "<html>Service Unavailable</html>"))
    with pytest.raises(kimi.InternalServerError, match="Service Unavailable"):
        create(client, stream=True)


def test_empty_error_body_still_raises_with_status(client, server):
    server.script(Reply.error(500, b""))
    with pytest.raises(kimi.InternalServerError) as info:
        create(client)
    assert info.value.status_code == 500
    assert "HTTP 500" in str(info.value)


def test_invalid_utf8_in_error_body_is_replaced(client, server):
    server.script(Reply.error(400, b'{"error":{"type":"invalid_request_error","message":"bad \xff byte"}}'))
    with pytest.raises(kimi.BadRequestError, match="bad \ufffd byte"):
        create(client)


def test_huge_error_body_is_cut_not_fatal(client, server):
    server.script(Reply.error(500, "E" * (3 * 1024 * 1024)))
    with pytest.raises(kimi.InternalServerError) as info:
        create(client)
    assert info.value.status_code == 500
    assert len(info.value.body) <= 1024 * 1024


def test_request_id_from_response_header(client, server):
    server.script(Reply.error(404, headers={"x-request-id": "req-404"}))
    with pytest.raises(kimi.NotFoundError) as info:
        create(client)
    assert info.value.request_id == "req-404"
    assert "req-404" in str(info.value)


def test_wrong_key_gives_authentication_error_on_every_endpoint(make_client, server):
    client = make_client(api_key="sk-wrong")
    for call in (lambda: create(client), lambda: create(client, stream=True),
                 client.models.list, client.users.balance):
        with pytest.raises(kimi.AuthenticationError) as info:
            call()
        assert info.value.type == "invalid_authentication_error"


def test_unknown_path_gives_not_found(make_client, server):
    client = make_client(base_url=server.base_url + "/nested")
    with pytest.raises(kimi.NotFoundError):
        client.models.list()


def test_retry_after_is_read_from_headers_and_message(client, server):
    server.script(
        Reply.error(429, headers={"Retry-After": "3"}),
        Reply.error(429, headers={"retry-after-ms": "250"}),
        Reply.error(429),  # the fixture message says "please try again after 1 seconds"
        Reply.error(400),
    )
    seen = []
    for _ in range(4):
        with pytest.raises(kimi.APIStatusError) as info:
            create(client)
        seen.append(info.value.retry_after)
    assert seen == [3.0, 0.25, 1.0, None]


# -- connection failures and timeouts ---------------------------------------------------


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that accepts TCP connections (kernel backlog) but never answers."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    try:
        yield listener.getsockname()[1]
    finally:
        listener.close()


def test_connection_refused_raises_api_connection_error(server):
    client = kimi.Kimi(api_key=KEY, base_url=f"http://127.0.0.1:{closed_port()}/v1", max_retries=0)
    with pytest.raises(kimi.APIConnectionError) as info:
        client.models.list()
    exc = info.value
    assert not isinstance(exc, kimi.APITimeoutError)
    assert exc.curl_code == 7  # CURLE_COULDNT_CONNECT
    assert "connect" in str(exc).lower()
    with pytest.raises(kimi.APIConnectionError):
        create(client, stream=True)


def test_stalled_stream_times_out_during_iteration(make_client, server):
    client = make_client(timeout=0.5)
    server.script(Reply.chat("abcdef", chunk_size=2, stall_after=2))
    stream = create(client, stream=True)
    assert next(stream).choices[0].delta.role == "assistant"
    assert next(stream).choices[0].delta.content == "ab"
    start = time.monotonic()
    with pytest.raises(kimi.APITimeoutError) as info:
        next(stream)
    elapsed = time.monotonic() - start
    assert 0.4 <= elapsed < 2.0
    assert "0.5 s" in str(info.value)
    assert stream.closed


def test_stalled_non_stream_reply_times_out(make_client, server):
    client = make_client(timeout=0.5)
    server.script(Reply.stream("never finished", stall_after=1))
    start = time.monotonic()
    with pytest.raises(kimi.APITimeoutError):
        create(client)
    assert 0.4 <= time.monotonic() - start < 2.0


def test_server_silent_before_headers_times_out(silent_port):
    client = kimi.Kimi(api_key=KEY, base_url=f"http://127.0.0.1:{silent_port}/v1", timeout=0.5,
                       max_retries=0)
    for call in (client.models.list, lambda: create(client, stream=True)):
        start = time.monotonic()
        with pytest.raises(kimi.APITimeoutError):
            call()
        assert 0.4 <= time.monotonic() - start < 2.0


def test_per_call_timeout_overrides_client_timeout(make_client, server):
    client = make_client(timeout=60)
    server.script(Reply.chat("abc", stall_after=1))
    start = time.monotonic()
    with pytest.raises(kimi.APITimeoutError):
        create(client, stream=True, timeout=0.5).final()
    assert time.monotonic() - start < 2.0


def test_slow_but_steady_stream_is_not_a_timeout(make_client, server):
    """The timeout bounds silences between bytes, not the whole stream."""
    client = make_client(timeout=0.3)
    server.script(Reply.chat("s" * 12, chunk_size=1, delay=0.05))  # ~0.7 s in total
    start = time.monotonic()
    assert create(client, stream=True).final().choices[0].message.content == "s" * 12
    assert time.monotonic() - start > 0.3


# Every error type of the platform's table (../shared/kimi-api.md section 8),
# with a message of the kind it sends, and the class it must raise.
ERROR_TYPES = [
    (400, "content_filter", "The request was rejected because it was considered high risk",
     kimi.ContentFilterError, kimi.BadRequestError),
    (400, "invalid_request_error", "Invalid request: Your request exceeded model token limit : 262144",
     kimi.InvalidRequestError, kimi.BadRequestError),
    (401, "invalid_authentication_error", "Invalid Authentication", kimi.AuthenticationError,
     kimi.AuthenticationError),
    (401, "incorrect_api_key_error", "Incorrect API key provided", kimi.AuthenticationError,
     kimi.AuthenticationError),
    (403, "permission_denied_error", "The API you are accessing is not open", kimi.PermissionDeniedError,
     kimi.PermissionDeniedError),
    (404, "resource_not_found_error", "Not found the model kimi-k9 or Permission denied",
     kimi.ModelNotFoundError, kimi.NotFoundError),
    (404, "resource_not_found_error", "file not found", kimi.ResourceNotFoundError, kimi.NotFoundError),
    (429, "engine_overloaded_error", "The engine is currently overloaded, please try again later",
     kimi.EngineOverloadedError, kimi.RateLimitError),
    (429, "rate_limit_reached_error",
     "Your account org-1<ak-1> request reached organization max RPM: 3, please try again after 1 seconds",
     kimi.RateLimitReachedError, kimi.RateLimitError),
    (429, "exceeded_current_quota_error", "You exceeded your current token quota", kimi.QuotaExceededError,
     kimi.RateLimitError),
    (500, "server_error", "Failed to extract file", kimi.ServerError, kimi.InternalServerError),
    (500, "unexpected_output", "invalid state transition", kimi.InternalServerError, kimi.InternalServerError),
]


@pytest.mark.parametrize("status, error_type, message, cls, status_cls", ERROR_TYPES)
def test_every_platform_error_type_raises_its_class(make_client, server, status, error_type, message, cls,
                                                    status_cls):
    server.script(Reply.error(status, Reply.moonshot_error(error_type, message)))
    with pytest.raises(cls) as info:
        create(make_client(max_retries=0))
    exc = info.value
    assert type(exc) is cls
    assert isinstance(exc, status_cls) and isinstance(exc, kimi.APIStatusError) and isinstance(exc, kimi.APIError)
    assert exc.status_code == status and exc.type == error_type


def test_a_type_under_another_status_keeps_that_status_class(make_client, server):
    # The help pages speak of balance problems as 403; the class follows the status.
    server.script(Reply.error(403, Reply.moonshot_error("exceeded_current_quota_error", "insufficient balance")))
    with pytest.raises(kimi.PermissionDeniedError) as info:
        create(make_client(max_retries=0))
    assert type(info.value) is kimi.PermissionDeniedError
    assert info.value.type == "exceeded_current_quota_error"


def test_409_and_422_have_their_classes(make_client, server):
    server.script(Reply.error(409, {"error": {"message": "busy"}}), Reply.error(422, {"detail": "bad field"}))
    client = make_client(max_retries=0)
    with pytest.raises(kimi.ConflictError):
        create(client)
    with pytest.raises(kimi.UnprocessableEntityError) as info:
        create(client)
    assert info.value.status_code == 422


def test_connection_and_validation_errors_are_api_errors_too():
    assert issubclass(kimi.APIConnectionError, kimi.APIError)
    assert issubclass(kimi.APIResponseValidationError, kimi.APIError)
    assert not issubclass(kimi.StreamError, kimi.APIError)
    assert not issubclass(kimi.LimitExceededError, kimi.APIError)


def test_the_quota_class_is_never_retried_and_the_overload_class_is(make_client, server):
    server.script(Reply.error(429, Reply.moonshot_error("exceeded_current_quota_error", "suspended")))
    with pytest.raises(kimi.QuotaExceededError):
        create(make_client(max_retries=3))
    assert len(server.requests) == 1
    server.script(Reply.error(429, Reply.moonshot_error("engine_overloaded_error", "overloaded"),
                              headers={"Retry-After": "0"}))
    assert create(make_client(max_retries=3)).choices
    assert len(server.requests) == 3


@pytest.mark.parametrize("status, error_type, message, cls, status_cls", ERROR_TYPES)
def test_kimi_testing_serves_each_error_type_with_its_status(make_client, server, status, error_type, message,
                                                            cls, status_cls):
    server.script(Reply.api_error(error_type))
    with pytest.raises(status_cls) as info:
        create(make_client(max_retries=0))
    assert info.value.status_code == status and info.value.type == error_type
    if error_type != "resource_not_found_error":   # its typical message names a model
        assert type(info.value) is cls
    with pytest.raises(ValueError, match="unknown error type"):
        Reply.api_error("no_such_error")
