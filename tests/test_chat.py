"""Non-streaming calls and request building: chat.completions.create, models.list,
users.balance, the JSON body and headers the server receives, and the python -m kimi CLI.
"""

from __future__ import annotations

import json
import signal
import subprocess

import pytest
from conftest import KEY, MESSAGES, MODEL, PYTHON, create, subprocess_env

import kimi
from kimi.testing import Reply

# -- responses ---------------------------------------------------------------------------


def test_create_returns_chat_completion_with_fields(client, server):
    usage = {"prompt_tokens": 5, "completion_tokens": 6, "total_tokens": 11, "cached_tokens": 2}
    server.script(Reply.chat("Bonjour!", reasoning="French greeting.", usage=usage))
    reply = create(client)
    assert isinstance(reply, kimi.ChatCompletion)
    assert reply.object == "chat.completion"
    assert reply.id.startswith("chatcmpl-")
    assert reply.model == MODEL
    assert isinstance(reply.created, int)
    choice = reply.choices[0]
    assert isinstance(choice, kimi.Choice)
    assert choice.index == 0
    assert choice.finish_reason == "stop"
    assert isinstance(choice.message, kimi.ChatCompletionMessage)
    assert choice.message.role == "assistant"
    assert choice.message.content == "Bonjour!"
    assert choice.message.reasoning_content == "French greeting."
    assert choice.message.tool_calls is None  # known field, absent: None
    assert isinstance(reply.usage, kimi.Usage)
    assert (reply.usage.prompt_tokens, reply.usage.completion_tokens, reply.usage.total_tokens) == (5, 6, 11)
    assert reply.usage.cached_tokens == 2


def test_create_to_dict_is_the_json_the_server_sent(client, server):
    server.script(Reply.chat("Hi", tool_calls=[{"id": "f:0", "name": "f", "arguments": "{}"}]))
    reply = create(client)
    body = reply.to_dict()
    assert body["object"] == "chat.completion"
    assert body["choices"][0]["message"] == {
        "role": "assistant",
        "content": "Hi",
        "tool_calls": [{"id": "f:0", "type": "function", "function": {"name": "f", "arguments": "{}"}}],
    }
    assert body["choices"][0]["finish_reason"] == "tool_calls"
    assert json.loads(json.dumps(body)) == body
    assert reply["model"] == MODEL and "usage" in reply and reply.get("nope", 7) == 7


def test_create_keeps_fields_the_package_does_not_know(client, server):
    body = {
        "id": "chatcmpl-raw",
        "object": "chat.completion",
        "created": 1776761328,
        "model": "kimi-k2.6",
        "choices": [{
            "index": 0,
            "message": {"role": "assistant", "content": "ok", "annotations": [{"kind": "web"}]},
            "finish_reason": "stop",
            "native_finish_reason": "eos",
        }],
        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2, "cost": 0.0001},
        "meta": {"usage": {"credits_used": 3, "usd_spent": 0.02}},
        "provider": "moonshotai",
    }
    server.script(Reply.json(body))
    reply = create(client)
    assert reply.provider == "moonshotai"
    assert reply.meta.usage.credits_used == 3
    assert reply.choices[0].native_finish_reason == "eos"
    assert reply.choices[0].message.annotations[0].kind == "web"
    assert reply.usage.cost == 0.0001
    assert reply.to_dict() == body


def test_create_with_unknown_attribute_raises_attribute_error(client, server):
    server.script(Reply.chat("x"))
    reply = create(client)
    with pytest.raises(AttributeError, match="no_such_field"):
        reply.no_such_field


def test_create_tool_calls_are_typed_objects(client, server):
    server.script(Reply.chat(content="", tool_calls=[{"id": "get_weather:0", "name": "get_weather",
                                                      "arguments": {"city": "Beijing"}}]))
    call = create(client).choices[0].message.tool_calls[0]
    assert isinstance(call, kimi.ToolCall)
    assert isinstance(call.function, kimi.Function)
    assert call.id == "get_weather:0"
    assert json.loads(call.function.arguments) == {"city": "Beijing"}


def test_create_large_integers_and_floats_keep_their_type(client, server):
    body = {"id": "x", "object": "chat.completion", "created": 1776761328, "model": "m",
            "choices": [], "usage": {"prompt_tokens": 2**40, "total_tokens": 3, "cost": 1.5}}
    server.script(Reply.json(body))
    reply = create(client)
    assert reply.created == 1776761328 and type(reply.created) is int
    assert reply.usage.prompt_tokens == 2**40
    assert reply.usage.cost == 1.5


def test_create_invalid_json_body_raises_a_validation_error_without_retrying(make_client, server):
    client = make_client(max_retries=3)
    server.script(*[Reply.json(b'{"id": "x", "choices": [', status=200)] * 4)
    with pytest.raises(kimi.APIResponseValidationError, match="invalid JSON at byte") as info:
        create(client)
    assert not isinstance(info.value, kimi.APIConnectionError)
    assert info.value.status_code == 200
    assert len(server.requests) == 1  # the server produced (and billed) it once


def test_create_body_over_max_body_bytes_raises_once_without_retrying(make_client, server):
    client = make_client(max_body_bytes=1000, max_retries=3)
    server.script(*[Reply.chat("x" * 5000)] * 4)
    with pytest.raises(kimi.APIResponseValidationError, match=r"exceeds max_body_bytes \(1000 bytes\)"):
        create(client)
    assert len(server.requests) == 1


def test_models_list_is_an_iterable_model_list(client, server):
    models = client.models.list()
    assert isinstance(models, kimi.ModelList)
    assert models.object == "list"
    ids = [m.id for m in models]
    assert len(models) == len(ids) == 8
    assert ids[0] == "kimi-k2.6" and "moonshot-v1-128k" in ids
    first = models.data[0]
    assert isinstance(first, kimi.Model)
    assert first.context_length == 262144
    assert first.supports_reasoning is True
    assert first.owned_by == "moonshot"
    assert server.requests[-1].method == "GET"
    assert server.requests[-1].path == "/v1/models"


def test_models_list_keeps_unknown_model_fields(client, server):
    server.script_for("/v1/models", Reply.json({
        "object": "list",
        "data": [{"id": "kimi-k3", "object": "model", "display_name": "Kimi K3",
                  "supports_thinking_type": ["enabled", "disabled"]}],
    }))
    models = client.models.list()
    (model,) = list(models)
    assert model.id == "kimi-k3"
    assert model.display_name == "Kimi K3"
    assert model.supports_thinking_type == ["enabled", "disabled"]
    assert model.context_length is None


def test_models_list_empty_data_iterates_nothing(client, server):
    server.script_for("/v1/models", Reply.json({"object": "list", "data": []}))
    assert list(client.models.list()) == []


def test_balance_returns_available_voucher_cash(client, server):
    balance = client.users.balance()
    assert isinstance(balance, kimi.Balance)
    assert balance.available_balance == pytest.approx(49.58894)
    assert balance.voucher_balance == pytest.approx(46.58893)
    assert balance.cash_balance == pytest.approx(3.00001)
    assert server.requests[-1].path == "/v1/users/me/balance"


def test_balance_negative_cash_is_kept(client, server):
    server.script_for("/v1/users/me/balance", Reply.json({
        "code": 0, "status": True, "scode": "0x0",
        "data": {"available_balance": 0.5, "voucher_balance": 1.0, "cash_balance": -0.5},
    }))
    assert client.users.balance().cash_balance == -0.5


def test_balance_without_data_raises(client, server):
    server.script_for("/v1/users/me/balance", Reply.json({"code": 5, "status": False}),
                      Reply.json({"code": 0, "data": "lots"}))
    # A complete reply the client cannot use, as every such reply: never retried.
    with pytest.raises(kimi.APIResponseValidationError, match="no balance"):
        client.users.balance()
    with pytest.raises(kimi.APIResponseValidationError, match="no balance"):
        client.users.balance()


# -- the request the server received --------------------------------------------------


def test_request_body_has_model_messages_and_kwargs(client, server):
    tools = [{"type": "function", "function": {"name": "get_weather", "description": "w",
                                                "parameters": {"type": "object", "properties": {}}}}]
    create(
        client,
        max_completion_tokens=16000,
        thinking={"type": "enabled"},
        tools=tools,
        response_format={"type": "json_object"},
        tool_choice="auto",
    )
    request = server.requests[-1]
    assert request.method == "POST"
    assert request.path == "/v1/chat/completions"
    assert request.json == {
        "model": MODEL,
        "messages": MESSAGES,
        "max_completion_tokens": 16000,
        "thinking": {"type": "enabled"},
        "tools": tools,
        "response_format": {"type": "json_object"},
        "tool_choice": "auto",
    }
    assert request.headers["content-type"] == "application/json"
    assert request.headers["accept"] == "application/json"


def test_request_body_omits_none_kwargs(client, server):
    create(client, temperature=None, max_completion_tokens=None, stop=None, top_p=0.95)
    assert server.requests[-1].json == {"model": MODEL, "messages": MESSAGES, "top_p": 0.95}


def test_request_body_streaming_sets_stream_true_and_accepts_sse(client, server):
    stream = create(client, stream=True, stream_options={"include_usage": True})
    stream.close()
    request = server.requests[-1]
    assert request.json["stream"] is True
    assert request.json["stream_options"] == {"include_usage": True}
    assert request.headers["accept"] == "text/event-stream"


def test_non_streaming_body_has_no_stream_field(client, server):
    create(client)
    assert "stream" not in server.requests[-1].json


def test_extra_body_adds_and_overrides_fields(client, server):
    create(client, temperature=0.3,
           extra_body={"chat_template_kwargs": {"thinking": True}, "temperature": 1.0, "x_null": None})
    body = server.requests[-1].json
    assert body["chat_template_kwargs"] == {"thinking": True}
    assert body["temperature"] == 1.0       # the one kimi-k2.6 takes with thinking on
    assert body["x_null"] is None  # raw fields are sent as given


def test_request_body_is_utf8_json_not_ascii_escaped(client, server):
    messages = [{"role": "user", "content": "안녕 😀"}]
    client.chat.completions.create(model=MODEL, messages=messages)
    request = server.requests[-1]
    assert "안녕 😀".encode() in request.body
    assert request.json["messages"] == messages


def test_messages_may_be_any_iterable(client, server):
    client.chat.completions.create(model=MODEL, messages=(m for m in MESSAGES))
    assert server.requests[-1].json["messages"] == MESSAGES


def test_authorization_is_bearer_key(client, server):
    create(client)
    assert server.requests[-1].headers["authorization"] == f"Bearer {KEY}"
    client.models.list()
    assert server.requests[-1].headers["authorization"] == f"Bearer {KEY}"


def test_user_agent_names_kimi_and_libcurl(client, server):
    client.users.balance()
    agent = server.requests[-1].headers["user-agent"]
    assert agent.startswith(f"kimi-python/{kimi.__version__} ")
    assert "libcurl/" in agent


def test_extra_headers_and_default_headers_arrive(make_client, server):
    client = make_client(default_headers={"X-Title": "kimi tests", "x-session-affinity": "s-1"})
    create(client, extra_headers={"HTTP-Referer": "https://example.test", "x-session-affinity": "s-2"})
    headers = server.requests[-1].headers
    assert headers["x-title"] == "kimi tests"
    assert headers["http-referer"] == "https://example.test"
    assert headers["x-session-affinity"] == "s-2"  # per-call wins
    client.models.list(extra_headers={"X-Probe": "1"})
    headers = server.requests[-1].headers
    assert headers["x-probe"] == "1" and headers["x-title"] == "kimi tests"


def test_per_call_timeout_is_accepted(client, server):
    server.script(Reply.chat("quick"))
    assert create(client, timeout=5).choices[0].message.content == "quick"
    assert len(client.models.list(timeout=2.5)) == 8
    assert client.users.balance(timeout=1).available_balance > 0
    with pytest.raises(ValueError, match="timeout"):
        create(client, timeout=0)
    with pytest.raises(ValueError, match="timeout"):
        create(client, timeout=-1)


@pytest.mark.parametrize(
    "kwargs, exc",
    [
        ({"model": ""}, ValueError),
        ({"messages": []}, ValueError),
        ({"messages": "hello"}, TypeError),
        ({"stream": "yes"}, TypeError),
        ({"extra_body": {"bad": object()}}, TypeError),
        ({"max_completion_tokens": float("nan")}, TypeError),
    ],
)
def test_create_rejects_bad_arguments_before_sending(client, server, kwargs, exc):
    with pytest.raises(exc):
        create(client, **kwargs)
    assert server.requests == []


def test_with_options_makes_an_independent_client(client, server):
    other = client.with_options(default_headers={"X-Other": "1"}, timeout=7.0)
    assert other is not client
    assert other.timeout == kimi.Timeout(7.0) and client.timeout != kimi.Timeout(7.0)
    assert other.api_key == client.api_key
    create(other)
    assert server.requests[-1].headers["x-other"] == "1"
    create(client)
    assert "x-other" not in server.requests[-1].headers


def test_client_context_manager_and_close_keep_it_usable(client, server):
    with client as same:
        assert same is client
        create(client)
    assert client._core_client is None
    assert create(client).choices[0].finish_reason == "stop"


def test_base_url_trailing_slash_is_ignored(make_client, server):
    client = make_client(base_url=server.base_url + "/")
    assert client.base_url == server.base_url
    client.models.list()
    assert server.requests[-1].path == "/v1/models"


# -- python -m kimi ---------------------------------------------------------------------


def run_cli(server, *args: str, key: str = KEY, timeout: float = 20) -> subprocess.CompletedProcess:
    env = subprocess_env(MOONSHOT_API_KEY=key, KIMI_BASE_URL=server.base_url)
    return subprocess.run([PYTHON, "-m", "kimi", *args], env=env, capture_output=True, text=True,
                          timeout=timeout)


def test_cli_chat_streams_the_answer_with_model_and_system(server):
    server.script(Reply.chat("CLI answer here", reasoning="not shown when piped"))
    done = run_cli(server, "chat", "Say hi", "--model", "kimi-k2.5", "--system", "Be brief")
    assert done.returncode == 0, done.stderr
    assert done.stdout == "CLI answer here\n"
    request = server.requests[-1]
    assert request.json["model"] == "kimi-k2.5"
    assert request.json["stream"] is True
    assert request.json["messages"] == [
        {"role": "system", "content": "Be brief"},
        {"role": "user", "content": "Say hi"},
    ]


def test_cli_models_lists_ids_with_context(server):
    done = run_cli(server, "models")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "kimi-k2.6  context 262144"
    assert len(lines) == 8


def test_cli_balance_prints_three_balances(server):
    done = run_cli(server, "balance")
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["available", "49.58894", "voucher", "46.58893", "cash", "3.00001"]


def test_cli_error_exits_1_with_message_and_no_key(server):
    wrong = "sk-wrong-key-0123456789"
    done = run_cli(server, "models", key=wrong)
    assert done.returncode == 1
    assert "HTTP 401" in done.stderr
    assert wrong not in done.stderr + done.stdout


def test_cli_demo_without_key_uses_the_embedded_server(server):
    env = subprocess_env()
    done = subprocess.run([PYTHON, "-m", "kimi", "demo", "ping"], env=env, capture_output=True,
                          text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    assert "kimi.testing" in done.stdout
    assert "You said “ping”" in done.stdout


def test_cli_without_key_explains_moonshot_api_key(server):
    env = subprocess_env(KIMI_BASE_URL=server.base_url)
    done = subprocess.run([PYTHON, "-m", "kimi", "balance"], env=env, capture_output=True, text=True,
                          timeout=30)
    assert done.returncode == 1
    assert "MOONSHOT_API_KEY" in done.stderr
    assert server.requests == []


def test_cli_ctrl_c_during_a_stalled_stream_exits_130(server):
    server.script(Reply.chat("first words then silence", chunk_size=6, stall_after=3))
    env = subprocess_env(MOONSHOT_API_KEY=KEY, KIMI_BASE_URL=server.base_url, PYTHONUNBUFFERED="1")
    child = subprocess.Popen([PYTHON, "-m", "kimi", "chat", "hi"], env=env, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE)
    try:
        assert child.stdout.read(len("first ")) == b"first "
        child.send_signal(signal.SIGINT)
        out, err = child.communicate(timeout=5)
    finally:
        if child.poll() is None:
            child.kill()
            child.communicate()
    assert child.returncode == 130
    assert b"interrupted" in err


def test_settings_changed_on_a_client_are_checked_and_used(client, server):
    client.timeout = 30
    assert client.timeout == kimi.Timeout(30.0)
    client.default_headers = {"X-Late": "yes"}
    create(client)
    assert server.requests[-1].headers.get("x-late") == "yes"
    with pytest.raises(TypeError):
        client.default_headers["X-Other"] = "no"  # read-only: set a new mapping
    with pytest.raises(ValueError):
        client.timeout = -1
    with pytest.raises(ValueError):
        client.default_headers = {"bad name": "v"}
