"""The kimi logger (kimi/_logging.py) against the local server: the INFO line of a call,
a stream and a failure, retries, DEBUG details, the key and message contents kept out of
every record (unless log_bodies), KIMI_LOG, the async client and both maps, and that
``import kimi`` does not import logging."""

from __future__ import annotations

import asyncio
import logging
import pickle
import re
import subprocess
import textwrap

import pytest
from conftest import KEY, MODEL, PYTHON, closed_port, create, subprocess_env

import kimi
from kimi import _logging
from kimi._map import Plan
from kimi.testing import Reply

FAST = {"retry-after-ms": "5"}
PROMPT = "purple giraffe umbrella"
ANSWER = "quantum marmalade sunrise"
TOOL_ARGUMENT = "zanzibar-lighthouse"
MESSAGES = [{"role": "user", "content": f"Tell me about the {PROMPT}"}]
DURATION = r"[\d.]+ ms"


@pytest.fixture
def debug(caplog):
    caplog.set_level(logging.DEBUG, logger="kimi")
    return caplog


@pytest.fixture
def info(caplog):
    caplog.set_level(logging.INFO, logger="kimi")
    return caplog


def lines(caplog, level=None):
    return [r.getMessage() for r in caplog.records if r.name == "kimi" and (level is None or r.levelno == level)]


def everything(caplog):
    """All that the kimi records carry, as one text: messages, raw msg and args,
    and each record formatted with its exception info, if any."""
    formatter = logging.Formatter("%(message)s %(args)s")
    parts = []
    for record in caplog.records:
        parts += [record.getMessage(), str(record.msg), repr(record.args), formatter.format(record)]
    return "\n".join(parts)


def ask(client, **kwargs):
    return create(client, messages=MESSAGES, **kwargs)


# -- the INFO line -------------------------------------------------------------------


def test_a_call_logs_one_info_line_with_method_path_status_duration_and_retries(client, info):
    ask(client)
    [line] = lines(info, logging.INFO)
    assert re.fullmatch(rf"POST /chat/completions 200 in {DURATION} \((no request id|request id \S+), 0 retries\)",
                        line), line
    [record] = [r for r in info.records if r.name == "kimi"]
    assert record.levelno == logging.INFO and record.args == ()


def test_the_info_line_of_a_reply_names_the_request_id_the_server_sent(client, server, info):
    server.script(Reply.chat("x", headers={"x-request-id": "req-1"}))
    reply = ask(client)
    if getattr(reply, "_response", None) is None:
        pytest.skip("replies do not carry their raw response headers (_response) in this build")
    [line] = lines(info, logging.INFO)
    assert line.endswith(" (request id req-1, 0 retries)"), line


def test_a_stream_is_logged_when_it_opens_with_status_and_request_id(client, server, info):
    server.script(Reply.chat("streamed", headers={"msh-request-id": "req-s"}))
    stream = ask(client, stream=True)
    [line] = lines(info, logging.INFO)          # before a chunk is read
    assert re.fullmatch(rf"POST /chat/completions 200 stream opened in {DURATION} \(request id req-s, 0 retries\)",
                        line), line
    assert stream.final().choices[0].message.content == "streamed"
    assert len(lines(info)) == 1


def test_retries_are_counted_in_the_info_line_and_each_wait_is_logged_at_debug(make_client, server, debug):
    server.script(Reply.error(503, headers=FAST), Reply.error(500, headers=FAST), Reply.chat("third"))
    ask(make_client(max_retries=2))
    waits = [line for line in lines(debug, logging.DEBUG) if "retrying" in line]
    assert len(waits) == 2
    assert re.fullmatch(r"POST /chat/completions retrying in [\d.]+ s after 503 InternalServerError \S+ "
                        r"\(retry 1 of 2\)", waits[0]), waits[0]
    assert "after 500 ServerError server_error" in waits[1] and "(retry 2 of 2)" in waits[1]
    [line] = lines(debug, logging.INFO)
    assert line.endswith(", 2 retries)")
    server.script(Reply.error(429, headers=FAST), Reply.chat("second"))
    ask(make_client(max_retries=2))
    assert lines(debug, logging.INFO)[-1].endswith(", 1 retry)")


def test_a_final_failure_logs_one_info_line_with_error_class_status_and_request_id(client, server, info):
    body = Reply.moonshot_error("invalid_request_error", "bad field")
    server.script(Reply.error(400, body, headers={"x-request-id": "r-9"}))
    with pytest.raises(kimi.InvalidRequestError):
        ask(client)
    [line] = lines(info)
    assert re.fullmatch(rf"POST /chat/completions failed in {DURATION}: 400 InvalidRequestError "
                        r"invalid_request_error \(request id r-9, 0 retries\)", line), line
    assert [r.levelno for r in info.records if r.name == "kimi"] == [logging.INFO]


def test_retries_spent_on_a_failure_are_counted(make_client, server, info):
    server.script(*[Reply.error(503, headers=FAST)] * 3)
    with pytest.raises(kimi.InternalServerError):
        ask(make_client(max_retries=2))
    [line] = lines(info)
    assert "failed in" in line and ": 503 InternalServerError" in line and line.endswith(", 2 retries)")


def test_a_connection_failure_line_names_the_error_and_what_libcurl_said(info):
    refused = kimi.Kimi(api_key=KEY, base_url=f"http://127.0.0.1:{closed_port()}/v1", max_retries=0)
    with pytest.raises(kimi.APIConnectionError):
        refused.models.list()
    [line] = lines(info)
    assert re.fullmatch(rf"GET /models failed in {DURATION}: APIConnectionError: connect: .+ "
                        r"\(no request id, 0 retries\)", line), line


def test_nothing_is_logged_while_info_is_off(client, server, caplog):
    caplog.set_level(logging.WARNING, logger="kimi")
    server.script(Reply.error(500))
    with pytest.raises(kimi.InternalServerError):
        ask(client)
    ask(client)
    list(ask(client, stream=True))
    list(client.chat.completions.map([{"model": MODEL, "messages": MESSAGES}] * 3))
    assert lines(caplog) == []


# -- DEBUG details ---------------------------------------------------------------------


def test_debug_shows_request_headers_with_the_key_redacted_body_size_and_response_headers(
    make_client, server, debug
):
    client = make_client(default_headers={"X-Team": "search"})
    server.script(Reply.chat("x", headers={"x-request-id": "req-d", "x-custom": "yes"}))
    list(ask(client, stream=True))
    request_line, response_line = [line for line in lines(debug, logging.DEBUG)]
    size = len(server.requests[-1].body)
    assert request_line.startswith("POST /chat/completions request headers {'Authorization': '<redacted>', ")
    assert "'X-Team': 'search'" in request_line and "'Accept': 'text/event-stream'" in request_line
    assert request_line.endswith(f", body {size} bytes")
    assert response_line.startswith("POST /chat/completions 200 response headers {")
    assert "'x-custom': 'yes'" in response_line and "'x-request-id': 'req-d'" in response_line


def test_debug_shows_the_response_headers_of_a_failure(client, server, debug):
    server.script(Reply.error(404, headers={"x-request-id": "r-404"}))
    with pytest.raises(kimi.NotFoundError):
        ask(client)
    [headers] = [line for line in lines(debug, logging.DEBUG) if "response headers" in line]
    assert headers.startswith("POST /chat/completions 404 response headers {")
    assert "'x-request-id': 'r-404'" in headers


# -- the key -----------------------------------------------------------------------------


def assert_no_piece_of_the_key(text):
    assert KEY not in text
    for i in range(len(KEY) - _logging.REDACT_MIN + 1):
        assert KEY[i : i + _logging.REDACT_MIN] not in text, KEY[i : i + _logging.REDACT_MIN]


@pytest.mark.parametrize("log_bodies", [False, True])
def test_the_key_is_in_no_record_even_when_the_server_echoes_it(make_client, server, debug, log_bodies):
    client = make_client(log_bodies=log_bodies, max_retries=1,
                         default_headers={"X-Api-Key": KEY, "X-Also": f"copy {KEY} copy"})
    echo = Reply.moonshot_error("incorrect_api_key_error", f"Incorrect API key provided: {KEY}")
    server.script(
        Reply.error(503, echo, headers={"x-echo": KEY, "retry-after-ms": "5"}),
        Reply.error(401, echo, headers={"x-echo": KEY, "x-request-id": f"id-{KEY}"}),
        Reply.chat(f"the key is {KEY}", headers={"x-echo": KEY}),
        Reply.raw([f'data: {{"error":{{"type":"auth_error","message":"bad key {KEY}"}}}}\n\n'.encode()]),
    )
    with pytest.raises(kimi.AuthenticationError):
        ask(client)
    list(ask(client, stream=True))
    with pytest.raises(kimi.StreamError):
        list(ask(client, stream=True))
    create(client, messages=[{"role": "user", "content": f"my key is {KEY}"}])
    text = everything(debug)
    assert "response headers" in text and "<redacted>" in text
    assert_no_piece_of_the_key(text)


def test_redact_replaces_every_run_of_eight_characters_of_the_key():
    key = "sk-abcdefghijklmnop"
    assert _logging.redact(f"a {key} b", key) == "a <redacted> b"
    assert _logging.redact("x sk-abcdefg y ijklmnop z", key) == "x <redacted> y <redacted> z"
    assert _logging.redact("sk-abcdefghXXXghijklmno", key) == "<redacted>XXX<redacted>"
    assert _logging.redact("sk-abcdefghsk-abcdefgh", key) == "<redacted>"     # touching runs: one
    assert _logging.redact("sk-abcdefg", key) == "<redacted>"
    assert _logging.redact("sk-abcd and nopqrst", key) == "sk-abcd and nopqrst"   # 7 characters
    assert _logging.redact("short sk", "sk") == "short sk"                  # as the core: too short


# -- message contents --------------------------------------------------------------------


def script_contents(server):
    """A reply and a tool call carrying the distinctive words, then an error that
    quotes the prompt (as an API may), then a streamed reply."""
    tool = {"id": "call-1", "name": "lookup", "arguments": {"place": TOOL_ARGUMENT}}
    quoted = Reply.moonshot_error("invalid_request_error", f"bad content: {PROMPT}")
    server.script(Reply.chat(ANSWER, tool_calls=[tool]), Reply.error(400, quoted), Reply.chat(ANSWER))


def run_contents(client):
    reply = ask(client, tools=[{"type": "function", "function": {"name": "lookup", "parameters": {}}}])
    assert reply.choices[0].message.content == ANSWER
    with pytest.raises(kimi.BadRequestError):
        ask(client)
    assert ask(client, stream=True).final().choices[0].message.content == ANSWER


def test_no_prompt_reply_or_tool_argument_is_logged_by_default(client, server, debug):
    script_contents(server)
    run_contents(client)
    text = everything(debug)
    assert "request headers" in text and "failed in" in text
    for words in (PROMPT, ANSWER, TOOL_ARGUMENT, "bad content"):
        assert words not in text


def test_log_bodies_logs_the_request_body_and_the_reply_at_debug(make_client, server, debug):
    client = make_client(log_bodies=True)
    script_contents(server)
    run_contents(client)
    bodies = [r for r in debug.records if r.name == "kimi" and (PROMPT in r.getMessage() or ANSWER in r.getMessage())]
    assert bodies and all(r.levelno == logging.DEBUG for r in bodies)
    text = "\n".join(lines(debug, logging.DEBUG))
    assert f'POST /chat/completions request body {{"model":"{MODEL}","messages":[{{"role":"user","content":' in text
    assert re.search(rf"POST /chat/completions 200 reply \{{.*{ANSWER}.*{TOOL_ARGUMENT}", text)
    assert f"error HTTP 400 invalid_request_error: bad content: {PROMPT}" in text
    assert PROMPT not in "\n".join(lines(debug, logging.INFO)) and ANSWER not in "\n".join(lines(debug, logging.INFO))


def test_log_bodies_is_kept_by_with_options_pickling_and_the_async_twin(make_client):
    client = make_client(log_bodies=True)
    assert client.with_options(timeout=5).log_bodies is True
    assert pickle.loads(pickle.dumps(client)).log_bodies is True
    assert client.as_async().log_bodies is True
    assert make_client().log_bodies is False
    with pytest.raises(TypeError, match="log_bodies"):
        make_client(log_bodies="yes")


# -- the async client --------------------------------------------------------------------


def test_the_async_client_logs_as_the_sync_one(server, debug):
    server.script(Reply.error(503, headers=FAST), Reply.chat("x"),
                  Reply.chat("s", headers={"x-request-id": "req-a"}), Reply.error(401, headers={"x-request-id": "r-a"}))

    async def main():
        async with kimi.AsyncKimi(api_key=KEY, base_url=server.base_url, max_retries=1) as client:
            await client.chat.completions.create(model=MODEL, messages=MESSAGES)
            stream = await client.chat.completions.create(model=MODEL, messages=MESSAGES, stream=True)
            await stream.final()
            with pytest.raises(kimi.AuthenticationError):
                await client.chat.completions.create(model=MODEL, messages=MESSAGES)

    asyncio.run(asyncio.wait_for(main(), 30))
    first, opened, failed = lines(debug, logging.INFO)
    assert re.fullmatch(rf"POST /chat/completions 200 in {DURATION} \(.+, 1 retry\)", first), first
    assert re.fullmatch(rf"POST /chat/completions 200 stream opened in {DURATION} \(request id req-a, 0 retries\)",
                        opened), opened
    assert re.fullmatch(rf"POST /chat/completions failed in {DURATION}: 401 AuthenticationError \S+ "
                        r"\(request id r-a, 0 retries\)", failed), failed
    assert any("retrying in" in line and "after 503" in line for line in lines(debug, logging.DEBUG))
    assert PROMPT not in everything(debug)


# -- maps ----------------------------------------------------------------------------------


def map_rows(n):
    return [{"model": MODEL, "messages": [{"role": "user", "content": f"{PROMPT} {i}"}]} for i in range(n)]


def test_the_sync_map_logs_each_item_and_one_summary(make_client, server, debug):
    server.script(Reply.error(503, headers=FAST), Reply.error(400))
    results = list(make_client(max_retries=1).chat.completions.map(map_rows(4), concurrency=1))
    assert [r.error is None for r in results] == [True, False, True, True]
    *items, summary = lines(debug, logging.INFO)
    by_item = {int(line.split(":")[0].split()[-1]): line for line in items}     # in the order they finished
    assert sorted(by_item) == [0, 1, 2, 3]
    assert re.fullmatch(rf"map item 0: POST /chat/completions 200 in {DURATION} \(.+, 1 retry\)", by_item[0])
    assert re.fullmatch(rf"map item 1: POST /chat/completions failed in {DURATION}: 400 InvalidRequestError .+",
                        by_item[1]), by_item[1]
    assert re.fullmatch(rf"map item 3: POST /chat/completions 200 in {DURATION} \(.+, 0 retries\)", by_item[3])
    assert re.fullmatch(r"map: 4 results in [\d.]+ s \(3 ok, 1 failed\)", summary), summary
    assert any(line.startswith("map item 0: POST /chat/completions retrying in ") for line in lines(debug))
    assert PROMPT not in everything(debug)


def test_a_map_left_early_says_so(client, info):
    for _ in zip(range(2), client.chat.completions.map(map_rows(50), concurrency=4)):
        pass
    assert re.fullmatch(r"map: \d+ results in [\d.]+ s \(\d+ ok, 0 failed, stopped early\)", lines(info)[-1])


def test_the_async_map_logs_each_request_and_one_summary(server, info):
    async def main():
        async with kimi.AsyncKimi(api_key=KEY, base_url=server.base_url, max_retries=0) as client:
            return [r async for r in client.chat.completions.map(map_rows(3), concurrency=2)]

    assert len(asyncio.run(asyncio.wait_for(main(), 30))) == 3
    info_lines = lines(info)
    assert len(info_lines) == 4
    assert all(line.startswith("POST /chat/completions 200 in ") for line in info_lines[:3])
    assert re.fullmatch(r"map: 3 results in [\d.]+ s \(3 ok, 0 failed\)", info_lines[3])


def test_a_map_makes_no_log_while_info_is_off(client, caplog):
    caplog.set_level(logging.WARNING, logger="kimi")
    assert Plan(client, [], 4, True, True, False).log is None
    caplog.set_level(logging.INFO, logger="kimi")
    assert Plan(client, [], 4, True, True, False).log is not None


# -- headers -------------------------------------------------------------------------------


def test_a_raw_header_block_is_read_for_the_request_id():
    raw = (b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
           b"X-Request-Id: req-7\r\nx-request-id: second\r\nMsh-Request-Id: m-1\r\n\r\n")
    headers = _logging.parse_header_block(raw)
    assert headers == {"content-type": "application/json", "x-request-id": "req-7", "msh-request-id": "m-1"}
    assert _logging.request_id(headers) == "req-7"
    assert _logging.request_id(_logging.parse_header_block("HTTP/2 200\r\nrequest-id: r-3\r\n")) == "r-3"
    assert _logging.request_id({}) is None


# -- import and KIMI_LOG -----------------------------------------------------------------


# A child's calls: one create, a map of one; then whether logging got imported.
CALLS = """
import sys, kimi
client = kimi.Kimi(api_key=%r, base_url=%r, max_retries=0)
client.chat.completions.create(model="kimi-k2.6", messages=[{"role": "user", "content": "hi"}])
list(client.chat.completions.map([{"model": "kimi-k2.6", "messages": [{"role": "user", "content": "x"}]}]))
print("logging" in sys.modules)
"""


def child(server, before="", after="", **env):
    """Run CALLS against server in a fresh interpreter, with code before and after."""
    code = textwrap.dedent(before) + CALLS % (KEY, server.base_url) + textwrap.dedent(after)
    return subprocess.run([PYTHON, "-c", code], env=subprocess_env(**env), capture_output=True, text=True,
                          timeout=60)


def test_import_kimi_and_its_calls_do_not_import_logging(server):
    done = child(server)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["False"]
    assert done.stderr == ""


def test_kimi_log_debug_prints_the_lines_to_stderr(server):
    done = child(server, KIMI_LOG="debug")
    assert done.returncode == 0, done.stderr
    err = done.stderr.splitlines()
    assert any(re.fullmatch(r"\d\d:\d\d:\d\d\.\d{3} kimi INFO POST /chat/completions 200 in .+", line) for line in err)
    assert any(" kimi DEBUG POST /chat/completions request headers {'Authorization': '<redacted>'" in line
               for line in err)
    assert any(" kimi INFO map: 1 results in " in line for line in err)
    assert KEY not in done.stderr


def test_kimi_log_info_leaves_debug_out(server):
    done = child(server, KIMI_LOG="INFO")
    assert done.returncode == 0, done.stderr
    assert " kimi INFO POST /chat/completions 200 in " in done.stderr and "DEBUG" not in done.stderr


def test_kimi_log_with_another_value_is_ignored_with_one_line(server):
    done = child(server, KIMI_LOG="verbose")
    assert done.returncode == 0, done.stderr
    assert done.stderr == "kimi: ignoring KIMI_LOG='verbose' (use info or debug)\n"
    assert done.stdout.split() == ["False"]


def test_kimi_log_leaves_a_logger_the_program_set_up_alone(server):
    before = """
        import io, logging
        mine = io.StringIO()
        logging.getLogger("kimi").addHandler(logging.StreamHandler(mine))
        logging.getLogger("kimi").setLevel(logging.INFO)
    """
    after = """
        print(len(logging.getLogger("kimi").handlers), "POST /chat/completions 200" in mine.getvalue())
    """
    done = child(server, before, after, KIMI_LOG="debug")
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["True", "1", "True"]
    assert done.stderr == ""
