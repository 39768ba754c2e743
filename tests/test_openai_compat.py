"""The official OpenAI Python SDK, unchanged, against kimi.testing.

kimi.testing claims to speak the Kimi API, which claims OpenAI compatibility; these tests
hold the server to that with `openai.OpenAI(base_url=server.base_url)` as the client, over
real sockets. They test the local server's wire format, not the kimi client.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from conftest import KEY, MESSAGES, MODEL

from kimi.testing import KimiServer, Reply

openai = pytest.importorskip(
    "openai", reason="the openai package is not installed (make's venv rule installs it)"
)

USAGE = {"prompt_tokens": 7, "completion_tokens": 5, "total_tokens": 12}


@pytest.fixture
def sdk(server: KimiServer) -> Iterator[Any]:
    """An OpenAI SDK client for the local server that never retries."""
    client = openai.OpenAI(base_url=server.base_url, api_key=KEY, max_retries=0)
    yield client
    client.close()


def create(sdk: Any, **kwargs: Any) -> Any:
    kwargs.setdefault("model", MODEL)
    return sdk.chat.completions.create(messages=MESSAGES, **kwargs)


def joined_content(chunks: list[Any]) -> dict[int, str]:
    """Each choice index's content joined from its deltas."""
    texts: dict[int, str] = {}
    for chunk in chunks:
        for choice in chunk.choices:
            texts[choice.index] = texts.get(choice.index, "") + (choice.delta.content or "")
    return texts


# -- chat ---------------------------------------------------------------------------------


def test_sdk_non_streaming_chat_reads_content_usage_and_reasoning(sdk: Any, server: KimiServer):
    server.script(Reply.chat("Blue light scatters most.", reasoning="Rayleigh.", usage=USAGE))
    reply = create(sdk)
    message = reply.choices[0].message
    assert (message.role, message.content) == ("assistant", "Blue light scatters most.")
    assert message.model_extra == {"reasoning_content": "Rayleigh."}
    assert reply.choices[0].finish_reason == "stop"
    assert reply.usage.model_dump(exclude_none=True) == USAGE
    assert reply.model == MODEL and reply.id.startswith("chatcmpl-")


def test_sdk_stream_assembles_the_content_the_server_sent(sdk: Any, server: KimiServer):
    content = "Rayleigh scattering: 你好 🙂, shorter wavelengths scatter more."
    server.script(Reply.chat(content, reasoning="Think about light.", chunk_size=3))
    chunks = list(create(sdk, stream=True))
    assert joined_content(chunks) == {0: content}
    extras = [c.choices[0].delta.model_extra for c in chunks]
    reasoning = "".join(extra.get("reasoning_content") or "" for extra in extras)
    assert reasoning == "Think about light."
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert len({c.id for c in chunks}) == 1


def test_sdk_stream_with_include_usage_sees_the_usage_chunk(sdk: Any, server: KimiServer):
    server.script(Reply.chat("hi", usage=USAGE))
    chunks = list(create(sdk, stream=True, stream_options={"include_usage": True}))
    last = chunks[-1]
    assert last.choices == []
    assert last.usage.model_dump(exclude_none=True) == USAGE
    assert chunks[-2].choices[0].finish_reason == "stop"


def test_sdk_stream_without_include_usage_has_no_usage_chunk(sdk: Any, server: KimiServer):
    server.script(Reply.chat("hi", usage=USAGE))
    chunks = list(create(sdk, stream=True))
    assert all(chunk.choices for chunk in chunks)
    assert all(chunk.usage is None for chunk in chunks)


def test_sdk_n_2_gets_two_choices_each_with_its_own_content(sdk: Any):
    # kimi-k2.6 fixes n at 1; the older models take up to 5.
    reply = create(sdk, n=2, model="moonshot-v1-8k")
    assert [c.index for c in reply.choices] == [0, 1]
    contents = {c.index: c.message.content for c in reply.choices}
    assert contents[0] != contents[1]
    assert contents[0].startswith("Answer 1 of 2: ") and contents[1].startswith("Answer 2 of 2: ")
    assert joined_content(list(create(sdk, n=2, stream=True, model="moonshot-v1-8k"))) == contents


def test_sdk_n_above_5_is_a_bad_request(sdk: Any):
    with pytest.raises(openai.BadRequestError) as info:
        create(sdk, n=6)
    assert "n must be an integer from 1 to 5" in info.value.message


# -- models -------------------------------------------------------------------------------


def test_sdk_lists_and_retrieves_models(sdk: Any):
    models = list(sdk.models.list())
    ids = [m.id for m in models]
    assert ids[0] == "kimi-k2.6" and {"kimi-k2.5", "moonshot-v1-8k"} <= set(ids)
    model = sdk.models.retrieve("kimi-k2.6")
    assert model == models[0]
    assert (model.owned_by, model.model_extra["context_length"]) == ("moonshot", 262144)


def test_sdk_retrieving_a_missing_model_raises_not_found(sdk: Any):
    with pytest.raises(openai.NotFoundError) as info:
        sdk.models.retrieve("kimi-k9")
    assert info.value.status_code == 404
    assert info.value.body == {
        "type": "resource_not_found_error",
        "message": "Not found the model kimi-k9 or Permission denied",
    }
    assert "Not found the model kimi-k9 or Permission denied" in str(info.value)


# -- errors -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "status,error_type,exception",
    [
        (401, "invalid_authentication_error", "AuthenticationError"),
        (429, "engine_overloaded_error", "RateLimitError"),
        (500, "server_error", "InternalServerError"),
    ],
)
def test_sdk_raises_its_class_for_a_scripted_error_with_the_server_message(
    sdk: Any, server: KimiServer, status: int, error_type: str, exception: str
):
    message = f"scripted {status} for the SDK"
    server.script(Reply.error(status, Reply.moonshot_error(error_type, message)))
    with pytest.raises(openai.APIStatusError) as info:
        create(sdk)
    assert type(info.value) is getattr(openai, exception)
    assert info.value.status_code == status
    assert info.value.body == {"type": error_type, "message": message}
    assert message in info.value.message
    assert len(server.requests) == 1  # max_retries=0: the SDK did not retry


# -- model_dump, as openai-python's objects have it -----------------------------------


def test_model_dump_of_what_the_server_sent_matches_the_sdks(sdk: Any, server: KimiServer, make_client):
    """The same scripted reply read by the OpenAI SDK and by kimi: model_dump with
    exclude_unset gives the same plain data, and model_dump_json the same JSON."""
    import json

    reply = Reply.chat(content="Hi there", reasoning="Greet back.", usage=USAGE)
    server.script(reply, reply)
    theirs = create(sdk)
    ours = make_client().chat.completions.create(model=MODEL, messages=MESSAGES)
    mine, sdks = ours.model_dump(exclude_unset=True), theirs.model_dump(exclude_unset=True)
    assert mine.pop("id").startswith("chatcmpl-") and sdks.pop("id").startswith("chatcmpl-")  # one per reply
    assert mine == sdks
    mine, sdks = json.loads(ours.model_dump_json(exclude_unset=True)), json.loads(theirs.model_dump_json(exclude_unset=True))
    mine.pop("id"), sdks.pop("id")
    assert mine == sdks


def test_model_dump_fills_declared_fields_and_drops_none_on_request(make_client, server: KimiServer):
    server.script(Reply.chat(content="Hi", usage=USAGE))
    ours = make_client().chat.completions.create(model=MODEL, messages=MESSAGES)
    full = ours.model_dump()
    message = full["choices"][0]["message"]
    assert message["content"] == "Hi" and "tool_calls" in message and message["tool_calls"] is None
    assert "tool_calls" not in ours.model_dump(exclude_none=True)["choices"][0]["message"]
    assert ours.model_dump(exclude_unset=True) == ours.to_dict()
    assert '"content": "Hi"' in ours.model_dump_json(indent=2)
