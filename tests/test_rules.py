"""The models' rules (kimi.model_rules), checked before sending: each rule of the table
refused locally with no request reaching kimi.testing, thinking=True/False/"keep" as the
API's object, and what the table does not know passing unchecked."""

from __future__ import annotations

import pytest
from conftest import MESSAGES

import kimi

TOOL_TURN = [
    {"role": "user", "content": "weather?"},
    {"role": "assistant", "content": "", "tool_calls": [
        {"id": "get_weather:0", "type": "function", "function": {"name": "get_weather", "arguments": "{}"}}]},
    {"role": "tool", "tool_call_id": "get_weather:0", "content": "sunny"},
]

REFUSED = [
    ("kimi-k2.6", {"temperature": 0.7}, "temperature"),
    ("kimi-k2.6", {"temperature": 1.0, "thinking": False}, "temperature"),  # 0.6 without thinking
    ("kimi-k2.6", {"top_p": 0.9}, "top_p"),
    ("kimi-k2.6", {"n": 2}, "n"),
    ("kimi-k2.6", {"presence_penalty": 0.5}, "presence_penalty"),
    ("kimi-k2.6", {"frequency_penalty": 1}, "frequency_penalty"),
    ("kimi-k2.6", {"tool_choice": "required"}, "tool_choice"),
    ("kimi-k2.6", {"tool_choice": {"type": "function", "function": {"name": "f"}}}, "tool_choice"),
    ("kimi-k2.6", {"reasoning_effort": "high"}, "reasoning_effort"),
    ("kimi-k2.5", {"thinking": "keep"}, "thinking.keep"),
    ("kimi-k2.5", {"temperature": 0.2}, "temperature"),
    ("kimi-k3", {"top_p": 0.5}, "top_p"),
    ("kimi-k2-thinking", {"thinking": False}, "thinking"),
    ("kimi-k2-thinking", {"temperature": 1.5}, "temperature"),
    ("moonshot-v1-8k", {"thinking": True}, "thinking"),
    ("moonshot-v1-32k", {"n": 6}, "n"),
    ("moonshot-v1-128k", {"presence_penalty": -3}, "presence_penalty"),
    ("moonshotai/kimi-k2.6", {"temperature": 0.2}, "temperature"),    # a gateway's name
]


@pytest.mark.parametrize("model, fields, rule", REFUSED)
def test_each_rule_is_refused_before_anything_is_sent(make_client, server, model, fields, rule) -> None:
    with pytest.raises(kimi.InvalidRequestError) as caught:
        make_client().chat.completions.create(model=model, messages=MESSAGES, **fields)
    assert caught.value.rule == rule and caught.value.status_code == 400
    assert "refused before sending" in str(caught.value)
    assert server.requests == []


def test_a_tool_turn_without_its_reasoning_is_refused_with_its_index(make_client, server) -> None:
    client = make_client()
    with pytest.raises(kimi.InvalidRequestError, match="at index 1") as caught:
        client.chat.completions.create(model="kimi-k2.6", messages=TOOL_TURN)
    assert caught.value.rule == "reasoning_content"
    with pytest.raises(kimi.InvalidRequestError, match="at index 1"):
        client.chat.completions.create(model="kimi-k2-thinking", messages=TOOL_TURN)
    assert server.requests == []
    # Thinking off, or the reasoning sent back: it goes.
    client.chat.completions.create(model="kimi-k2.6", messages=TOOL_TURN, thinking=False)
    echoed = [dict(m) for m in TOOL_TURN]
    echoed[1]["reasoning_content"] = "Need the tool."
    client.chat.completions.create(model="kimi-k2.6", messages=echoed)
    assert len(server.requests) == 2


def test_partial_mode_with_response_format_is_refused_on_any_model(make_client, server) -> None:
    partial = [*MESSAGES, {"role": "assistant", "content": "{", "partial": True}]
    with pytest.raises(kimi.InvalidRequestError, match="Partial Mode"):
        make_client().chat.completions.create(model="some-gateway-model", messages=partial,
                                              response_format={"type": "json_object"})
    assert server.requests == []


def test_thinking_sugar_becomes_the_apis_object(make_client, server) -> None:
    client = make_client()
    for value, sent in ((True, {"type": "enabled"}), (False, {"type": "disabled"}),
                        ("keep", {"type": "enabled", "keep": "all"})):
        client.chat.completions.create(model="kimi-k2.6", messages=MESSAGES, thinking=value)
        assert server.requests[-1].json["thinking"] == sent
    raw = {"type": "enabled", "keep": None}
    client.chat.completions.create(model="kimi-k2.6", messages=MESSAGES, thinking=raw)
    assert server.requests[-1].json["thinking"] == raw


def test_fixed_values_and_unknown_models_pass(make_client, server) -> None:
    client = make_client()
    client.chat.completions.create(model="kimi-k2.6", messages=MESSAGES, temperature=1.0, top_p=0.95, n=1)
    client.chat.completions.create(model="kimi-k2.6", messages=MESSAGES, temperature=0.6, thinking=False)
    client.chat.completions.create(model="a-model-the-table-does-not-know", messages=MESSAGES, temperature=7)
    assert len(server.requests) == 3


def test_the_table_is_data_users_can_extend(make_client, server, monkeypatch) -> None:
    monkeypatch.setitem(kimi.model_rules, "my-model", kimi.ModelRules(ranges={"temperature": (0.0, 0.5)}))
    with pytest.raises(kimi.InvalidRequestError, match="from 0.0 to 0.5"):
        make_client().chat.completions.create(model="my-model", messages=MESSAGES, temperature=0.9)
    with pytest.raises(ValueError):
        kimi.ModelRules(thinking="sometimes")


def test_map_items_and_batch_lines_are_checked_too(make_client, server) -> None:
    client = make_client()
    results = list(client.chat.completions.map([
        {"model": "kimi-k2.6", "messages": MESSAGES}, {"model": "kimi-k2.6", "messages": MESSAGES, "top_p": 0.1}]))
    assert results[0].error is None and isinstance(results[1].error, kimi.InvalidRequestError)
    with pytest.raises(kimi.InvalidRequestError):
        client.batches.submit([{"model": "kimi-k2.6", "messages": MESSAGES, "n": 3}])
    assert not any(r.path == "/v1/files" for r in server.requests)


# The platform's own 400s, as kimi.testing gives them: with a model taken out of the
# local table, the request reaches the server and is refused there with the
# platform's message (kimi-api.md §2).
SERVER_REFUSES = [
    ("kimi-k2.6", {"temperature": 0.7}, "invalid temperature: only 1 is allowed for this model"),
    ("kimi-k2.6", {"temperature": 1.0, "thinking": False}, "invalid temperature: only 0.6 is allowed"),
    ("kimi-k2.6", {"top_p": 0.9}, "invalid top_p: only 0.95 is allowed"),
    ("kimi-k2.5", {"n": 2}, "invalid n: only 1 is allowed"),
    ("kimi-k2.5", {"frequency_penalty": 1}, "invalid frequency_penalty: only 0 is allowed"),
    ("kimi-k2.6", {"tool_choice": "required"}, "tool_choice 'required' is incompatible with thinking enabled"),
    ("kimi-k2.6", {"messages": TOOL_TURN},
     "reasoning_content is missing in assistant tool call message at index 1"),
    ("kimi-k2-thinking", {"messages": TOOL_TURN, "thinking": None},
     "reasoning_content is missing in assistant tool call message at index 1"),
]


@pytest.mark.parametrize("model,fields,message", SERVER_REFUSES)
def test_the_server_refuses_what_the_local_rules_refuse(make_client, server, monkeypatch, model, fields, message):
    fields = {"messages": MESSAGES, **fields}
    client = make_client()
    with pytest.raises(kimi.InvalidRequestError) as local:
        client.chat.completions.create(model=model, **fields)
    assert server.requests == [] and local.value.rule
    monkeypatch.delitem(kimi.model_rules, model)
    with pytest.raises(kimi.BadRequestError, match=message) as remote:
        client.chat.completions.create(model=model, **fields)
    assert remote.value.status_code == 400 and len(server.requests) == 1


def test_the_server_takes_the_fixed_values_and_a_tool_turn_with_its_reasoning(make_client, server, monkeypatch):
    for model in ("kimi-k2.6", "kimi-k2.5"):
        monkeypatch.delitem(kimi.model_rules, model)
    client = make_client()
    turn = [dict(m) for m in TOOL_TURN]
    turn[1]["reasoning_content"] = "I should look the weather up."
    client.chat.completions.create(model="kimi-k2.6", messages=turn, temperature=1.0, top_p=0.95, n=1)
    client.chat.completions.create(model="kimi-k2.5", messages=TOOL_TURN, thinking=False, temperature=0.6)
    assert len(server.requests) == 2


def test_more_than_128_tools_or_two_of_one_name_are_refused_on_any_model(make_client, server) -> None:
    def tool(name: str) -> dict:
        return {"type": "function", "function": {"name": name, "parameters": {"type": "object"}}}

    client = make_client()
    for model in ("kimi-k2.6", "an-unknown-model"):
        with pytest.raises(kimi.InvalidRequestError, match="at most 128 tools per request, got 129") as caught:
            client.chat.completions.create(model=model, messages=MESSAGES, tools=[tool(f"t{i:03}") for i in range(129)])
        assert caught.value.rule == "tools"
        with pytest.raises(kimi.InvalidRequestError, match="two tools are named 'lookup'"):
            client.chat.completions.create(model=model, messages=MESSAGES, tools=[tool("lookup"), tool("lookup")])
    assert server.requests == []
    client.chat.completions.create(model="kimi-k2.6", messages=MESSAGES, tools=[tool(f"t{i:03}") for i in range(128)])
    assert len(server.requests) == 1
