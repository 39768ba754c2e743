"""Tool loops (client.chat.run_tools, @kimi.tool, kimi.builtin) against kimi.testing over
real sockets: schemas built from signatures and docstrings, the policy (allow, confirm,
timeouts, failures) answered to the model and recorded, the $web_search echo the server
checks, max_steps, streamed steps, AsyncKimi, and a thinking transcript that passes the
models' rules."""

from __future__ import annotations

import asyncio
import enum
import json
import threading
import time
from typing import Any, Literal, Optional

import pytest
from conftest import KEY, MODEL, reset_server

import kimi
from kimi.testing import Reply

ASK = [{"role": "user", "content": "Plan my trip"}]


def call(id: str, name: str, arguments: object) -> dict:
    return {"id": id, "name": name, "arguments": arguments}


def tool_messages(request) -> dict:
    """{tool_call_id: content} of the tool messages a recorded request sent."""
    return {m["tool_call_id"]: m["content"] for m in request.json["messages"] if m["role"] == "tool"}


# -- schemas ----------------------------------------------------------------------------


class Unit(enum.Enum):
    CELSIUS = "c"
    FAHRENHEIT = "f"


@kimi.tool
def get_weather(city: str, days: int = 1, unit: Unit = Unit.CELSIUS, detail: Optional[bool] = None) -> dict:
    """The weather forecast for a city.

    Looks it up in the local service.

    Args:
        city: The city's name,
            in English.
        days (int): How many days ahead.
        unit: The temperature unit.

    Returns:
        The forecast.
    """
    return {"city": city, "days": days, "unit": unit.value, "detail": detail}


def test_a_google_docstring_and_type_hints_make_the_schema() -> None:
    assert get_weather.schema == {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "The weather forecast for a city.",
            "parameters": {
                "type": "object",
                "properties": {
                    "city": {"type": "string", "description": "The city's name, in English."},
                    "days": {"type": "integer", "description": "How many days ahead."},
                    "unit": {"type": "string", "enum": ["c", "f"], "description": "The temperature unit."},
                    "detail": {"type": "boolean"},
                },
                "required": ["city"],
            },
        },
    }
    assert get_weather("Oslo") == {"city": "Oslo", "days": 1, "unit": "c", "detail": None}   # still a function


def test_rest_fields_containers_literals_and_unions_make_the_schema() -> None:
    @kimi.tool(name="book-flight", description="Book a flight.", effects=True)
    def book(origin: str, stops: list[str], prices: dict[str, float], seat: Literal["aisle", "window"],
             when: int | str, note: str | None = None) -> str:
        """Ignored: description given.

        :param origin: IATA code
            of the airport.
        :param list stops: Where it stops.
        :returns: the booking id
        """
        return "B1"

    assert book.name == "book-flight" and book.effects
    assert book.schema["function"] == {
        "name": "book-flight",
        "description": "Book a flight.",
        "parameters": {
            "type": "object",
            "properties": {
                "origin": {"type": "string", "description": "IATA code of the airport."},
                "stops": {"type": "array", "items": {"type": "string"}, "description": "Where it stops."},
                "prices": {"type": "object", "additionalProperties": {"type": "number"}},
                "seat": {"type": "string", "enum": ["aisle", "window"]},
                "when": {"anyOf": [{"type": "integer"}, {"type": "string"}]},
                "note": {"type": "string"},
            },
            "required": ["origin", "stops", "prices", "seat", "when"],
        },
    }


def test_bad_names_and_untyped_shapes_are_refused_when_the_tool_is_made() -> None:
    for bad in ("ab", "1abc", "-abc", "has space", "x" * 65, "ünï"):
        with pytest.raises(ValueError, match="not one the API takes"):
            kimi.tool(name=bad)(lambda: None)
    with pytest.raises(TypeError, match="no JSON schema for the type"):
        @kimi.tool
        def at_time(when: complex) -> None: ...
    with pytest.raises(TypeError, match="cannot be passed by name"):
        @kimi.tool
        def positional(a: int, /) -> None: ...
    with pytest.raises(TypeError, match="cannot be passed by name"):
        @kimi.tool
        def starred(*rest: int) -> None: ...
    with pytest.raises(TypeError, match=r"\*\*extra has no schema.*\(schema, callable\) pair"):
        @kimi.tool
        def keywords(city: str, **extra: str) -> None: ...
    with pytest.raises(ValueError, match="not a builtin tool name"):
        kimi.builtin("web_search")
    assert kimi.builtin("$web_search").schema == {"type": "builtin_function", "function": {"name": "$web_search"}}


def test_schema_and_callable_pairs_take_the_api_dict_or_the_function_dict(client, server) -> None:
    function = {"name": "lookup", "description": "Look up a word.",
                "parameters": {"type": "object", "properties": {"word": {"type": "string"}}}}
    server.script(Reply.chat(content="", tool_calls=[call("l:0", "lookup", {"word": "kimi"}),
                                                     call("l:1", "spell", {"word": "moon"})]),
                  Reply.chat(content="done"))
    run = client.chat.run_tools(model=MODEL, messages=ASK, thinking=False,
                                tools=[({"type": "function", "function": function}, lambda word: word.upper()),
                                       ({**function, "name": "spell"}, lambda word: list(word))])
    assert server.requests[0].json["tools"] == [{"type": "function", "function": function},
                                                {"type": "function", "function": {**function, "name": "spell"}}]
    assert tool_messages(server.requests[1]) == {"l:0": "KIMI", "l:1": '["m", "o", "o", "n"]'}
    assert [r.result for r in run.records] == ["KIMI", '["m", "o", "o", "n"]']


# -- the policy -----------------------------------------------------------------------


def test_allowed_refused_timed_out_confirmed_unconfirmed_and_failing_calls(client, server) -> None:
    ran: list[str] = []
    release = threading.Event()

    @kimi.tool
    def search(query: str) -> list:
        """Search the catalogue."""
        ran.append("search")
        return [query, 1]

    @kimi.tool
    def delete_all() -> str:
        """Delete everything."""
        ran.append("delete_all")
        return "deleted"

    @kimi.tool
    def slow() -> str:
        """Take a long time."""
        release.wait(10)
        ran.append("slow")
        return "late"

    @kimi.tool(effects=True)
    def pay(amount: float) -> str:
        """Pay an amount."""
        ran.append(f"pay {amount}")
        return "paid"

    @kimi.tool
    def broken() -> str:
        """Fail."""
        raise ValueError("no such city")

    asked = []

    def confirm(pending) -> bool:
        asked.append((pending.name, pending.arguments, pending.id, pending.step))
        return pending.arguments["amount"] < 100

    audited = []
    server.script(
        Reply.chat(content="", reasoning="Use the tools.", tool_calls=[
            call("c:0", "search", {"query": "tents"}),
            call("c:1", "delete_all", {}),
            call("c:2", "slow", ""),
            call("c:3", "pay", {"amount": 20}),
            call("c:4", "pay", {"amount": 500}),
            call("c:5", "broken", {}),
        ]),
        Reply.chat(content="All done.", reasoning="Summarise."),
    )
    began = time.monotonic()
    run = client.chat.run_tools(model=MODEL, messages=ASK, tools=[search, delete_all, slow, pay, broken],
                                allow={"search", "slow", "pay", "broken"}, confirm=confirm,
                                audit=audited.append, tool_timeout=0.3)
    took = time.monotonic() - began
    still_running = [t for t in threading.enumerate() if t.name == "kimi-tool-slow"]
    assert len(still_running) == 1 and still_running[0].daemon     # left to finish, never waited for
    release.set()

    assert run.reply.choices[0].message.content == "All done." and run.steps == 2
    assert ran == ["search", "pay 20"]
    assert asked == [("pay", {"amount": 20}, "c:3", 1), ("pay", {"amount": 500}, "c:4", 1)]
    decisions = [(r.tool, r.decision) for r in run.records]
    assert decisions == [("search", "allowed"), ("delete_all", "refused"), ("slow", "allowed"),
                         ("pay", "confirmed"), ("pay", "unconfirmed"), ("broken", "allowed")]
    assert audited == run.records
    search_rec, refused, slow_rec, paid, unconfirmed, failed = run.records
    assert search_rec.result == '["tents", 1]' and search_rec.error is None
    assert search_rec.arguments == {"query": "tents"} and search_rec.call_id == "c:0" and search_rec.step == 1
    assert refused.result is None and "not allowed" in refused.error and refused.duration == 0.0
    assert slow_rec.error == "TimeoutError: slow did not finish within 0.3 s"
    assert 0.3 <= slow_rec.duration < 2 and took < 5
    assert paid.result == "paid"
    assert unconfirmed.error == "the call of pay was not confirmed"
    assert failed.error == "ValueError: no such city"
    assert failed.to_dict() == {"step": 1, "tool": "broken", "call_id": "c:5", "arguments": {},
                                "decision": "allowed", "result": None, "error": "ValueError: no such city",
                                "duration": failed.duration}

    # What the model was told, in the second request.
    sent = tool_messages(server.requests[1])
    assert sent["c:0"] == '["tents", 1]' and sent["c:3"] == "paid"
    for refused_id, text in (("c:1", "not allowed"), ("c:2", "TimeoutError"), ("c:4", "not confirmed"),
                             ("c:5", "ValueError: no such city")):
        assert text in json.loads(sent[refused_id])["error"]
    tool_turns = [m for m in server.requests[1].json["messages"] if m["role"] == "tool"]
    assert [m["name"] for m in tool_turns] == ["search", "delete_all", "slow", "pay", "pay", "broken"]
    assert run.messages[-1] == {"role": "assistant", "content": "All done.", "reasoning_content": "Summarise."}
    assert run.messages[:-1] == server.requests[1].json["messages"]


def test_unknown_tools_and_arguments_that_are_not_json_or_do_not_bind(client, server) -> None:
    odd = ({"type": "function", "function": {"name": "odd_result", "parameters": {"type": "object"}}},
           lambda: {1, 2})
    server.script(Reply.chat(content="", tool_calls=[
        call("u:6", "odd_result", ""),
        call("u:0", "get_time", {}),
        call("u:1", "get_weather", "{city: Oslo"),
        call("u:2", "get_weather", {"city": "Oslo", "town": "Oslo"}),
        call("u:3", "get_weather", "[1]"),
        call("u:4", "get_weather", {"city": "Oslo", "unit": "kelvin"}),
        call("u:5", "get_weather", {"city": "Oslo", "unit": "f"}),
    ]), Reply.chat(content="ok"))
    run = client.chat.run_tools(model=MODEL, messages=ASK, tools=[get_weather, odd], thinking=False)
    assert [r.decision for r in run.records] == ["allowed", "unknown", "invalid", "invalid", "invalid", "invalid",
                                                 "allowed"]
    unencodable, unknown, not_json, unbound, not_object, bad_enum, good = run.records
    assert unencodable.error.startswith("the result is neither a str nor JSON-encodable")
    assert unknown.error == "unknown tool 'get_time' (the tools are: get_weather, odd_result)"
    assert not_json.error.startswith("the arguments are not valid JSON") and not_json.arguments == "{city: Oslo"
    assert "the arguments do not fit get_weather" in unbound.error and "town" in unbound.error
    assert not_object.error == "the arguments must be a JSON object"
    assert "kelvin" in bad_enum.error
    assert json.loads(good.result) == {"city": "Oslo", "days": 1, "unit": "f", "detail": None}
    sent = tool_messages(server.requests[1])
    assert json.loads(sent["u:0"]) == {"error": unknown.error}


def test_allow_may_be_a_callable_asked_with_each_call(client, server) -> None:
    seen = []

    def only_oslo(pending) -> bool:
        seen.append((pending.name, pending.arguments, pending.id, pending.step))
        return pending.arguments.get("city") == "Oslo"

    server.script(Reply.chat(content="", tool_calls=[call("a:0", "get_weather", {"city": "Oslo"})]),
                  Reply.chat(content="", tool_calls=[call("a:1", "get_weather", {"city": "Rome"})]),
                  Reply.chat(content="ok"))
    run = client.chat.run_tools(model=MODEL, messages=ASK, tools=[get_weather], allow=only_oslo, thinking=False)
    assert seen == [("get_weather", {"city": "Oslo"}, "a:0", 1), ("get_weather", {"city": "Rome"}, "a:1", 2)]
    assert [(r.step, r.decision) for r in run.records] == [(1, "allowed"), (2, "refused")]
    assert len(server.requests) == 3


def test_a_tool_with_effects_and_no_confirm_is_refused(client, server) -> None:
    ran = []

    @kimi.tool(effects=True)
    def send_email(to: str) -> str:
        """Send an email."""
        ran.append(to)
        return "sent"

    server.script(Reply.chat(content="", tool_calls=[call("e:0", "send_email", {"to": "a@b.c"})]),
                  Reply.chat(content="ok"))
    run = client.chat.run_tools(model=MODEL, messages=ASK, tools=[send_email], thinking=False)
    assert ran == [] and run.records[0].decision == "unconfirmed"
    assert "no one was asked to confirm" in json.loads(tool_messages(server.requests[1])["e:0"])["error"]


def test_max_steps_stops_with_the_transcript_to_continue_from(client, server) -> None:
    looping = Reply.chat(content="", tool_calls=[call("m:0", "get_weather", {"city": "Oslo"})])
    server.script(looping, looping)
    with pytest.raises(kimi.ToolLoopError, match="max_steps=2") as caught:
        client.chat.run_tools(model=MODEL, messages=ASK, tools=[get_weather], max_steps=2, thinking=False)
    assert isinstance(caught.value, kimi.KimiError)
    assert len(server.requests) == 2
    assert len(caught.value.records) == 2 and caught.value.messages[-1]["role"] == "tool"
    assert caught.value.reply.choices[0].finish_reason == "tool_calls"
    server.script(Reply.chat(content="Sunny."))
    run = client.chat.run_tools(model=MODEL, messages=caught.value.messages, tools=[get_weather], thinking=False)
    assert run.reply.choices[0].message.content == "Sunny." and run.records == []


def test_bad_settings_are_refused_before_anything_is_sent(client, server) -> None:
    for kwargs, error in (({"max_steps": 0}, ValueError), ({"tool_timeout": 0}, ValueError),
                          ({"allow": "get_weather"}, TypeError), ({"tools": []}, ValueError),
                          ({"tools": [get_weather, get_weather]}, ValueError), ({"tools": ["x"]}, TypeError),
                          ({"tools": [kimi.tool(name=f"tool_{i}")(lambda: i) for i in range(129)]}, ValueError),
                          ({"messages": [*ASK, None]}, TypeError), ({"messages": [1]}, TypeError)):
        with pytest.raises(error):
            client.chat.run_tools(model=MODEL, **{"messages": ASK, "tools": [get_weather], **kwargs})
    assert server.requests == []


def test_an_async_tool_runs_under_the_sync_client_too(client, server) -> None:
    @kimi.tool
    async def later(seconds: float) -> str:
        """Wait, then answer."""
        await asyncio.sleep(seconds)
        return f"waited {seconds}"

    server.script(Reply.chat(content="", tool_calls=[call("w:0", "later", {"seconds": 0.01}),
                                                     call("w:1", "later", {"seconds": 5})]),
                  Reply.chat(content="ok"))
    run = client.chat.run_tools(model=MODEL, messages=ASK, tools=[later], tool_timeout=0.3, thinking=False)
    assert run.records[0].result == "waited 0.01"
    assert run.records[1].error == "TimeoutError: later did not finish within 0.3 s"


# -- thinking and $web_search ---------------------------------------------------------


def test_a_thinking_transcript_keeps_the_reasoning_of_tool_call_turns(client, server) -> None:
    server.script(Reply.chat(content="", reasoning="I need the forecast.",
                             tool_calls=[call("t:0", "get_weather", {"city": "Oslo"})]),
                  Reply.chat(content="Cold.", reasoning="Answer now."))
    run = client.chat.run_tools(model=MODEL, messages=ASK, tools=[get_weather], thinking=True)
    assert server.requests[1].json["thinking"] == {"type": "enabled"}
    turn = server.requests[1].json["messages"][1]
    assert turn["reasoning_content"] == "I need the forecast." and turn["tool_calls"][0]["id"] == "t:0"
    assert run.messages[1] == turn
    # The rules refuse the same transcript without it: the round trip is what lets it pass.
    stripped = [{k: v for k, v in m.items() if k != "reasoning_content"} for m in run.messages[:3]]
    with pytest.raises(kimi.InvalidRequestError, match="reasoning_content is missing"):
        client.chat.completions.create(model=MODEL, messages=stripped, thinking=True)


def test_web_search_is_echoed_back_and_the_server_checks_the_echo(client, server) -> None:
    audited = []
    run = client.chat.run_tools(model=MODEL, messages=[{"role": "user", "content": "Kimi news"}],
                                tools=[kimi.builtin("$web_search"), get_weather], audit=audited.append,
                                allow=set())
    first, second = server.requests
    assert first.json["thinking"] == {"type": "disabled"}      # on by default for kimi-k2.6: turned off
    assert first.json["tools"][0] == {"type": "builtin_function", "function": {"name": "$web_search"}}
    arguments = run.messages[1]["tool_calls"][0]["function"]["arguments"]
    assert json.loads(arguments)["search_result"]["search_id"]
    assert second.json["messages"][2] == {"role": "tool", "tool_call_id": "$web_search:0", "name": "$web_search",
                                          "content": arguments}
    assert run.reply.choices[0].message.content.startswith("Searched the web for “Kimi news”")
    assert [(r.tool, r.decision, r.result) for r in audited] == [("$web_search", "echoed", arguments)]
    # The server's check bites: an echo that is not the arguments is a 400.
    changed = [*run.messages[:2], {**run.messages[2], "content": "{}"}]
    with pytest.raises(kimi.BadRequestError, match="unchanged"):
        client.chat.completions.create(model=MODEL, messages=changed, thinking=False,
                                       tools=[kimi.builtin("$web_search").schema])


def test_web_search_with_thinking_is_refused_locally_and_by_the_server(client, server) -> None:
    for model, extra in ((MODEL, {"thinking": True}), (MODEL, {"thinking": "keep"}), ("kimi-k2-thinking", {})):
        with pytest.raises(kimi.InvalidRequestError, match=r"\$web_search needs thinking disabled"):
            client.chat.run_tools(model=model, messages=ASK, tools=[kimi.builtin("$web_search")], **extra)
    assert server.requests == []
    with pytest.raises(kimi.BadRequestError, match="thinking enabled"):
        client.chat.completions.create(model=MODEL, messages=ASK, tools=[kimi.builtin("$web_search").schema])


# -- streaming --------------------------------------------------------------------------


def test_stream_reads_tool_steps_and_hands_over_the_final_one(client, server) -> None:
    server.script(Reply.chat(content="", reasoning="Look it up.", chunk_size=3,
                             tool_calls=[call("s:0", "get_weather", {"city": "Oslo"})]),
                  Reply.chat(content="It is cold in Oslo.", reasoning="Say it.", chunk_size=4))
    run = client.chat.run_tools(model=MODEL, messages=ASK, tools=[get_weather], stream=True)
    assert [r.json["stream"] for r in server.requests] == [True, True]
    assert json.loads(tool_messages(server.requests[1])["s:0"])["city"] == "Oslo"
    assert run.reply is None and run.messages[-1]["role"] == "tool"
    with run.stream as stream:
        deltas = [chunk.choices[0].delta for chunk in stream if chunk.choices]
    assert deltas[0].role == "assistant"       # the chunks read to decide are replayed first
    assert "".join(d.reasoning_content or "" for d in deltas) == "Say it."
    assert "".join(d.content or "" for d in deltas) == "It is cold in Oslo."
    assert run.reply.choices[0].message.content == "It is cold in Oslo."
    assert run.messages[-1] == {"role": "assistant", "content": "It is cold in Oslo.", "reasoning_content": "Say it."}
    assert run.stream.final() is run.reply


def test_a_streamed_step_that_calls_tools_after_content_goes_on_in_the_same_stream(client, server) -> None:
    server.script(Reply.chat(content="Let me check. ", reasoning="r", chunk_size=5,
                             tool_calls=[call("s:0", "get_weather", {"city": "Oslo"})]),
                  Reply.chat(content="Cold.", reasoning="r2"))
    run = client.chat.run_tools(model=MODEL, messages=ASK, tools=[get_weather], stream=True)
    assert len(server.requests) == 1        # content came first: handed over at once
    text = "".join(c.choices[0].delta.content or "" for c in run.stream if c.choices)
    assert text == "Let me check. Cold."      # the tools ran between, in one stream
    assert len(server.requests) == 2 and run.records[0].decision == "allowed"
    assert run.reply.choices[0].message.content == "Cold."
    assert [m["role"] for m in run.messages] == ["user", "assistant", "tool", "assistant"]
    assert run.messages[1]["content"] == "Let me check. "


# -- AsyncKimi --------------------------------------------------------------------------


def test_async_loop_with_async_and_sync_tools_timeouts_and_streaming(server) -> None:
    release = threading.Event()

    @kimi.tool
    async def fetch(url: str) -> dict:
        """Fetch a page."""
        await asyncio.sleep(0.01)
        return {"url": url, "status": 200}

    @kimi.tool
    async def hang() -> str:
        """Never answer."""
        await asyncio.sleep(30)
        return "never"

    @kimi.tool
    def blocking() -> str:
        """Block a thread."""
        release.wait(10)
        return "late"

    @kimi.tool(effects=True)
    def post(body: str) -> str:
        """Post a body."""
        return f"posted {body}"

    async def confirm(pending) -> bool:        # awaited
        await asyncio.sleep(0)
        return pending.arguments["body"] == "ok"

    async def main() -> tuple:
        async with kimi.AsyncKimi(api_key=KEY, base_url=server.base_url, max_retries=0) as aclient:
            server.script(
                Reply.chat(content="", reasoning="go", tool_calls=[
                    call("a:0", "fetch", {"url": "https://x"}), call("a:1", "hang", {}),
                    call("a:2", "blocking", {}), call("a:3", "post", {"body": "ok"}),
                    call("a:4", "post", {"body": "rm -rf"}), call("a:5", "fetch", "not json")]),
                Reply.chat(content="Fetched.", reasoning="end"),
            )
            began = time.monotonic()
            run = await aclient.chat.run_tools(model=MODEL, messages=ASK, tools=[fetch, hang, blocking, post],
                                               confirm=confirm, tool_timeout=0.3)
            took = time.monotonic() - began
            server.script(Reply.chat(content="", reasoning="go", tool_calls=[call("b:0", "fetch", {"url": "u"})]),
                          Reply.chat(content="Streamed answer.", reasoning="end", chunk_size=4))
            streamed = await aclient.chat.run_tools(model=MODEL, messages=ASK, tools=[fetch], stream=True)
            pending_reply = streamed.reply
            texts = [c.choices[0].delta.content or "" async for c in streamed.stream if c.choices]
            return run, took, streamed, pending_reply, texts

    run, took, streamed, pending_reply, texts = asyncio.run(main())
    release.set()
    assert [(r.tool, r.decision) for r in run.records] == [
        ("fetch", "allowed"), ("hang", "allowed"), ("blocking", "allowed"), ("post", "confirmed"),
        ("post", "unconfirmed"), ("fetch", "invalid")]
    assert json.loads(run.records[0].result) == {"url": "https://x", "status": 200}
    assert run.records[1].error == "TimeoutError: hang did not finish within 0.3 s"
    assert run.records[2].error == "TimeoutError: blocking did not finish within 0.3 s"
    assert run.records[3].result == "posted ok"
    assert took < 5 and run.reply.choices[0].message.content == "Fetched."
    assert tool_messages(server.requests[1])["a:3"] == "posted ok"
    assert pending_reply is None and "".join(texts) == "Streamed answer."
    assert streamed.reply.choices[0].message.content == "Streamed answer."
    assert streamed.messages[-1]["content"] == "Streamed answer."


def test_async_web_search_round_trip_and_max_steps(server) -> None:
    async def main() -> tuple:
        async with kimi.AsyncKimi(api_key=KEY, base_url=server.base_url, max_retries=0) as aclient:
            searched = await aclient.chat.run_tools(model=MODEL, messages=ASK, tools=[kimi.builtin("$web_search")],
                                                    stream=True)
            final = await searched.stream.final()
            looping = Reply.chat(content="", tool_calls=[call("m:0", "get_weather", {"city": "Oslo"})])
            server.script(looping, looping)
            with pytest.raises(kimi.ToolLoopError) as caught:
                await aclient.chat.run_tools(model=MODEL, messages=ASK, tools=[get_weather], max_steps=1,
                                             thinking=False)
            return searched, final, caught.value

    searched, final, error = asyncio.run(main())
    assert final.choices[0].message.content.startswith("Searched the web for")
    assert searched.records[0].decision == "echoed"
    assert len(error.records) == 1 and error.messages[-1]["tool_call_id"] == "m:0"


# -- hostile replies and careless callers ---------------------------------------------


def test_arguments_nested_too_deeply_to_decode_are_an_invalid_call_and_the_loop_goes_on(client, server) -> None:
    server.script(Reply.chat(content="", tool_calls=[call("n:0", "get_weather", "[" * 100_000),
                                                     call("n:1", "get_weather", '{"city":' * 100_000),
                                                     call("n:2", "get_weather", {"city": "Oslo"})]),
                  Reply.chat(content="ok"))
    run = client.chat.run_tools(model=MODEL, messages=ASK, tools=[get_weather], thinking=False)
    assert [r.decision for r in run.records] == ["invalid", "invalid", "allowed"]
    assert run.records[0].error == "the arguments are nested too deeply to decode"
    assert run.records[1].arguments == '{"city":' * 100_000
    assert json.loads(tool_messages(server.requests[1])["n:0"]) == {"error": run.records[0].error}
    assert run.reply.choices[0].message.content == "ok"


def test_keyboard_interrupt_and_system_exit_from_a_tool_end_the_loop_as_a_plain_call_would(client, server) -> None:
    @kimi.tool
    def interrupted() -> str:
        """Be interrupted."""
        raise KeyboardInterrupt

    @kimi.tool
    async def exiting() -> str:
        """Exit."""
        raise SystemExit(3)

    for tool_, raised in ((interrupted, KeyboardInterrupt), (exiting, SystemExit)):
        server.script(Reply.chat(content="", tool_calls=[call("k:0", tool_.name, {})]), Reply.chat(content="ok"))
        with pytest.raises(raised):
            client.chat.run_tools(model=MODEL, messages=ASK, tools=[tool_], thinking=False)
        assert len(server.requests) == 1        # not answered to the model as an error
        reset_server(server)

    # Under AsyncKimi the sync tool's thread hands it to the event loop, which stops, as
    # asyncio does for these two.
    async def main() -> None:
        aclient = kimi.AsyncKimi(api_key=KEY, base_url=server.base_url, max_retries=0)
        server.script(Reply.chat(content="", tool_calls=[call("k:0", "interrupted", {})]), Reply.chat(content="ok"))
        await aclient.chat.run_tools(model=MODEL, messages=ASK, tools=[interrupted], thinking=False)

    with pytest.raises(KeyboardInterrupt):
        asyncio.run(main())
    assert len(server.requests) == 1


def test_allow_and_confirm_must_answer_a_bool_and_kimi_refuses_async_policies(client, server) -> None:
    ran = []

    @kimi.tool(effects=True)
    def transfer(amount: int) -> str:
        """Move money."""
        ran.append(amount)
        return "moved"

    async def says_no(pending) -> bool:
        return False

    async def audit(record) -> None: ...

    for policy, error in (({"allow": lambda pending: "no", "confirm": lambda pending: True},
                           "allow must return True or False, got 'no'"),
                          ({"confirm": lambda pending: None}, "confirm must return True or False, got None"),
                          ({"confirm": says_no}, "confirm returned an awaitable, which Kimi does not await"),
                          ({"allow": says_no}, "allow returned an awaitable"),
                          ({"confirm": lambda pending: True, "audit": audit}, "audit returned an awaitable")):
        server.script(Reply.chat(content="", tool_calls=[call("p:0", "transfer", {"amount": 5})]),
                      Reply.chat(content="ok"))
        with pytest.raises(TypeError, match=error):
            client.chat.run_tools(model=MODEL, messages=ASK, tools=[transfer], thinking=False, **policy)
        assert len(server.requests) == 1
        reset_server(server)
    assert ran == [5]       # only where allow and confirm said True, before audit failed

    async def main() -> None:
        async with kimi.AsyncKimi(api_key=KEY, base_url=server.base_url, max_retries=0) as aclient:
            async def maybe(pending):
                return "yes"
            server.script(Reply.chat(content="", tool_calls=[call("p:0", "transfer", {"amount": 6})]))
            with pytest.raises(TypeError, match="confirm must return True or False, got 'yes'"):
                await aclient.chat.run_tools(model=MODEL, messages=ASK, tools=[transfer], thinking=False,
                                             confirm=maybe)

    asyncio.run(main())
    assert ran == [5]


def test_a_reply_cut_at_its_token_limit_runs_none_of_its_calls(client, server) -> None:
    ran = []

    @kimi.tool
    def wipe_cache() -> str:
        """Wipe the cache."""
        ran.append("wipe")
        return "wiped"

    # The second call is cut after its first fragment: "" would read as {} and run.
    server.script(Reply.chat(content="", finish_reason="length", tool_calls=[
                      call("x:0", "get_weather", {"city": "Oslo"}), call("x:1", "wipe_cache", "")]),
                  Reply.chat(content="ok"))
    with pytest.warns(kimi.TruncatedWarning):
        run = client.chat.run_tools(model=MODEL, messages=ASK, tools=[get_weather, wipe_cache], thinking=False)
    assert ran == [] and [r.decision for r in run.records] == ["invalid", "invalid"]
    assert run.records[0].arguments == {"city": "Oslo"} and 'finish_reason "length"' in run.records[1].error
    assert set(tool_messages(server.requests[1])) == {"x:0", "x:1"}     # each call answered
    assert run.reply.choices[0].message.content == "ok"


def test_a_coroutine_returned_by_a_plain_function_is_run_and_its_value_sent(client, server) -> None:
    async def lookup(word: str) -> str:
        await asyncio.sleep(0)
        return word.upper()

    def lookup_later(word: str):        # not async def, yet returns a coroutine
        return lookup(word)

    pair = ({"name": "lookup", "parameters": {"type": "object", "properties": {"word": {"type": "string"}}}},
            lookup_later)
    server.script(Reply.chat(content="", tool_calls=[call("c:0", "lookup", {"word": "moon"})]),
                  Reply.chat(content="ok"))
    run = client.chat.run_tools(model=MODEL, messages=ASK, tools=[pair], thinking=False)
    assert run.records[0].result == "MOON" and tool_messages(server.requests[1]) == {"c:0": "MOON"}

    async def main() -> str:
        async with kimi.AsyncKimi(api_key=KEY, base_url=server.base_url, max_retries=0) as aclient:
            server.script(Reply.chat(content="", tool_calls=[call("c:1", "lookup", {"word": "sun"})]),
                          Reply.chat(content="ok"))
            arun = await aclient.chat.run_tools(model=MODEL, messages=ASK, tools=[pair], thinking=False)
            return arun.records[0].result

    assert asyncio.run(main()) == "SUN"


def test_a_thinking_tool_call_turn_without_reasoning_gets_a_space_so_the_next_request_passes(client, server) -> None:
    for thinking in ({"thinking": True}, {}):          # asked for, and kimi-k2.6's default
        server.script(Reply.chat(content="", reasoning=None, tool_calls=[call("r:0", "get_weather", {"city": "Oslo"})]),
                      Reply.chat(content="Cold.", reasoning="Answer."))
        run = client.chat.run_tools(model=MODEL, messages=ASK, tools=[get_weather], **thinking)
        assert run.reply.choices[0].message.content == "Cold."
        assert server.requests[1].json["messages"][1]["reasoning_content"] == " "
        reset_server(server)
    # Thinking off: the turn is sent back as it came.
    server.script(Reply.chat(content="", tool_calls=[call("r:0", "get_weather", {"city": "Oslo"})]),
                  Reply.chat(content="Cold."))
    run = client.chat.run_tools(model=MODEL, messages=ASK, tools=[get_weather], thinking=False)
    assert "reasoning_content" not in server.requests[1].json["messages"][1]


def test_arguments_of_the_wrong_json_type_are_an_invalid_call_not_passed_to_the_tool(client, server) -> None:
    ran = []

    @kimi.tool
    def book(people: int, price: float, names: list[str], seats: dict[str, int], when: Literal["now", 1],
             vip: bool = False, note: Optional[str] = None, city: str = None) -> str:     # noqa: RUF013
        """Book."""
        ran.append((people, price, names, seats, when, vip, note, city))
        return "booked"

    good = {"people": 2, "price": 3, "names": ["a"], "seats": {"a": 1}, "when": "now"}
    server.script(Reply.chat(content="", tool_calls=[
        call("t:0", "book", {**good, "people": "2"}),
        call("t:1", "book", {**good, "people": True}),
        call("t:2", "book", {**good, "price": "1e9"}),
        call("t:3", "book", {**good, "names": ["a", 2]}),
        call("t:4", "book", {**good, "seats": {"a": "x" * 200}}),
        call("t:5", "book", {**good, "when": "1"}),
        call("t:6", "book", {**good, "vip": 1}),
        call("t:7", "book", {**good, "people": None}),
        call("t:8", "book", {**good, "price": 2.5, "when": 1, "vip": True, "note": None, "city": None}),
    ]), Reply.chat(content="ok"))
    run = client.chat.run_tools(model=MODEL, messages=ASK, tools=[book], thinking=False)
    assert [r.decision for r in run.records] == ["invalid"] * 8 + ["allowed"]
    assert run.records[0].error == "the arguments do not fit book: argument 'people' must be int, got \"2\""
    assert run.records[3].error.endswith("argument 'names' must be list[str], got [\"a\", 2]")
    assert run.records[4].error.endswith("...") and len(run.records[4].error) < 200
    assert ran == [(2, 2.5, ["a"], {"a": 1}, 1, True, None, None)]


def test_a_call_id_used_twice_in_one_reply_runs_once(client, server) -> None:
    ran = []

    @kimi.tool
    def charge(amount: int) -> str:
        """Charge a card."""
        ran.append(amount)
        return "charged"

    server.script(Reply.chat(content="", tool_calls=[call("charge:0", "charge", {"amount": 5}),
                                                     call("charge:0", "charge", {"amount": 5})]),
                  Reply.chat(content="", tool_calls=[call("charge:0", "charge", {"amount": 7})]),   # a new reply
                  Reply.chat(content="ok"))
    run = client.chat.run_tools(model=MODEL, messages=ASK, tools=[charge], thinking=False)
    assert ran == [5, 7]
    assert [(r.step, r.decision) for r in run.records] == [(1, "allowed"), (1, "invalid"), (2, "allowed")]
    assert run.records[1].error == "the call id 'charge:0' was used by an earlier call of this reply; not run"
    assert [m["role"] for m in server.requests[1].json["messages"]] == ["user", "assistant", "tool", "tool"]


def test_final_of_a_tool_stream_closed_before_its_end_raises_as_a_plain_stream_does(client, server) -> None:
    server.script(Reply.chat(content="", tool_calls=[call("s:0", "get_weather", {"city": "Oslo"})]),
                  Reply.chat(content="A long answer. " * 40, chunk_size=2, delay=0.005))
    run = client.chat.run_tools(model=MODEL, messages=ASK, tools=[get_weather], stream=True, thinking=False)
    with run.stream as stream:
        next(stream)
    assert list(run.stream) == [] and client.limits.in_flight == 0
    with pytest.raises(kimi.StreamError, match="closed before"):
        run.stream.final()
    assert run.reply is None and run.messages[-1]["role"] == "tool"

    async def main() -> None:
        async with kimi.AsyncKimi(api_key=KEY, base_url=server.base_url, max_retries=0) as aclient:
            server.script(Reply.chat(content="Let me look. " * 40, chunk_size=2, delay=0.005,
                                     tool_calls=[call("s:1", "get_weather", {"city": "Oslo"})]))
            arun = await aclient.chat.run_tools(model=MODEL, messages=ASK, tools=[get_weather], stream=True,
                                                thinking=False)
            async with arun.stream as astream:
                await astream.__anext__()
            with pytest.raises(kimi.StreamError, match="closed before"):
                await arun.stream.final()
            assert arun.records == [] and aclient._reactor().active == 0 and aclient.limits.in_flight == 0

    asyncio.run(main())


def test_cancelling_an_async_run_mid_step_or_mid_tool_leaves_no_transfer(server) -> None:
    cleaned = []

    @kimi.tool
    async def hang() -> str:
        """Never answer."""
        try:
            await asyncio.sleep(30)
        finally:
            cleaned.append("hang")
        return "never"

    async def main() -> None:
        async with kimi.AsyncKimi(api_key=KEY, base_url=server.base_url, max_retries=0) as aclient:
            for reply in (Reply.chat(content="", reasoning="r" * 400, chunk_size=1, delay=0.005,     # mid-step
                                     tool_calls=[call("c:0", "hang", {})]),
                          Reply.chat(content="", tool_calls=[call("c:1", "hang", {})])):           # mid-tool
                server.script(reply)
                task = asyncio.ensure_future(aclient.chat.run_tools(model=MODEL, messages=ASK, tools=[hang],
                                                                    stream=True, thinking=True))
                await asyncio.sleep(0.2)
                task.cancel()
                with pytest.raises(asyncio.CancelledError):
                    await task
                assert aclient._reactor().active == 0 and aclient.limits.in_flight == 0
                reset_server(server)

    asyncio.run(main())
    assert cleaned == ["hang"]      # only the second run reached the tool, and it was cancelled


def test_an_empty_tool_calls_list_ends_the_run_and_a_call_split_in_one_char_chunks_is_whole(client, server) -> None:
    server.script(Reply.chat(content="Nothing to call.", tool_calls=[], finish_reason="tool_calls"))
    run = client.chat.run_tools(model=MODEL, messages=ASK, tools=[get_weather], thinking=False)
    assert run.steps == 1 and run.records == [] and run.reply.choices[0].message.content == "Nothing to call."
    server.script(Reply.chat(content="", chunk_size=1, tool_calls=[call(f"o:{i}", "get_weather", {"city": "Oslo"})
                                                                   for i in range(200)]),
                  Reply.chat(content="ok", chunk_size=1))
    run = client.chat.run_tools(model=MODEL, messages=ASK, tools=[get_weather], stream=True, thinking=False)
    assert run.stream.final().choices[0].message.content == "ok"
    assert [r.decision for r in run.records] == ["allowed"] * 200
    assert len(tool_messages(server.requests[2])) == 200


def test_arguments_that_are_not_a_json_string_and_calls_without_an_id_are_not_run(client, server) -> None:
    ran = []

    @kimi.tool
    def wipe(force: bool = False) -> str:
        """Wipe the disk."""
        ran.append(force)
        return "wiped"

    def function_call(arguments: Any, id: Any = "w:0") -> dict:
        return {"id": id, "type": "function", "function": {"name": "wipe", "arguments": arguments}}

    body = {"id": "chatcmpl-t", "object": "chat.completion", "created": 1, "model": MODEL,
            "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
            "choices": [{"index": 0, "finish_reason": "tool_calls", "message": {
                "role": "assistant", "content": "", "tool_calls": [
                    function_call({"force": True}, "w:0"), function_call(["x"], "w:1"), function_call(7, "w:2"),
                    function_call("{}", None), function_call("{}", ""), function_call("{}", "w:5")]}}]}
    server.script(Reply.json(body), Reply.chat(content="ok"))
    run = client.chat.run_tools(model=MODEL, messages=ASK, tools=[wipe], thinking=False)
    assert ran == [False]       # only w:5
    assert [r.decision for r in run.records] == ["invalid"] * 5 + ["allowed"]
    assert run.records[0].error == "the arguments must be a string of JSON text, not a JSON value"
    assert run.records[0].arguments == {"force": True} and run.records[1].arguments == ["x"]
    assert json.loads(json.dumps([r.to_dict() for r in run.records]))[0]["arguments"] == {"force": True}
    assert run.records[3].error == run.records[4].error == "the call has no id to answer it by; not run"


def test_a_partial_and_a_callable_object_are_tools_with_their_hints_checked(client, server) -> None:
    import functools

    def convert(amount: float, rate: float) -> float:
        return amount * rate

    class Greeter:
        def __call__(self, name: str) -> str:
            return f"hello {name}"

    to_nok = kimi.tool(name="to_nok", description="Euros to kroner.")(functools.partial(convert, rate=11.5))
    assert to_nok.schema["function"]["parameters"]["required"] == ["amount"]
    greet = ({"name": "greet", "parameters": {"type": "object", "properties": {"name": {"type": "string"}}}},
             Greeter())
    server.script(Reply.chat(content="", tool_calls=[call("p:0", "to_nok", {"amount": 2}),
                                                     call("p:1", "to_nok", {"amount": "2"}),
                                                     call("p:2", "greet", {"name": "Kimi"}),
                                                     call("p:3", "greet", {"name": 3})]),
                  Reply.chat(content="ok"))
    run = client.chat.run_tools(model=MODEL, messages=ASK, tools=[to_nok, greet], thinking=False)
    assert [(r.decision, r.result) for r in run.records] == [("allowed", "23.0"), ("invalid", None),
                                                            ("allowed", "hello Kimi"), ("invalid", None)]
