"""Images and videos as content parts (kimi.image, kimi.video) and message.to_param(), sent
to kimi.testing over real sockets: data URLs typed from the bytes, uploads as ms:// ids,
what the platform does not take refused before sending, and a tool-call turn echoed back
with its reasoning."""

from __future__ import annotations

import asyncio
import base64
import io

import pytest
from conftest import KEY, MESSAGES, MODEL

import kimi
from kimi.testing import Reply

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 24
JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 24
GIF = b"GIF89a" + b"\x00" * 24
WEBP = b"RIFF\x00\x00\x00\x00WEBPVP8 " + b"\x00" * 16
MP4 = b"\x00\x00\x00\x18ftypisom" + b"\x00" * 16
MOV = b"\x00\x00\x00\x14ftypqt  " + b"\x00" * 16
WEBM = b"\x1a\x45\xdf\xa3" + b"\x00" * 24


def url_of(part: dict) -> str:
    field = part["type"]
    return part[field]["url"]


@pytest.mark.parametrize("data, mime", [(PNG, "image/png"), (JPEG, "image/jpeg"), (GIF, "image/gif"),
                                        (WEBP, "image/webp")])
def test_an_image_is_typed_from_its_bytes(data: bytes, mime: str, tmp_path) -> None:
    part = kimi.image(data)
    assert part["type"] == "image_url"
    assert url_of(part) == f"data:{mime};base64," + base64.b64encode(data).decode()
    misnamed = tmp_path / "photo.gif"             # the bytes win over the name
    misnamed.write_bytes(data)
    assert url_of(kimi.image(misnamed)).startswith(f"data:{mime};base64,")
    with open(misnamed, "rb") as fh:
        assert kimi.image(fh) == part


@pytest.mark.parametrize("data, mime", [(MP4, "video/mp4"), (MOV, "video/quicktime"), (WEBM, "video/webm")])
def test_a_video_is_typed_from_its_bytes(data: bytes, mime: str) -> None:
    part = kimi.video(data)
    assert part["type"] == "video_url" and url_of(part).startswith(f"data:{mime};base64,")


def test_what_the_platform_does_not_take_is_refused(tmp_path) -> None:
    with pytest.raises(ValueError, match="empty"):
        kimi.image(b"")
    with pytest.raises(ValueError, match="not a format"):
        kimi.image(b"%PDF-1.7 not an image")
    with pytest.raises(ValueError, match="not a format"):
        kimi.video(PNG)                             # an image is not a video
    with pytest.raises(ValueError, match="not a format"):
        kimi.image(MP4)
    with pytest.raises(TypeError, match="binary"):
        kimi.image(io.StringIO("text"))
    with pytest.raises(FileNotFoundError):
        kimi.image(tmp_path / "missing.png")
    with pytest.raises(TypeError, match="client"):
        kimi.image(PNG, upload=True)
    unknown = tmp_path / "clip.mkv"
    unknown.write_bytes(b"\x00" * 32)
    with pytest.raises(ValueError, match="unknown format"):
        kimi.video(unknown)
    named = tmp_path / "clip.avi"                  # no magic number: the extension decides
    named.write_bytes(b"\x00" * 32)
    assert url_of(kimi.video(named)).startswith("data:video/x-msvideo;base64,")


def test_image_parts_reach_the_server_and_count_as_the_platform_counts(make_client, server, tmp_path) -> None:
    client = make_client()
    path = tmp_path / "chart.png"
    path.write_bytes(PNG)
    messages = [{"role": "user", "content": [{"type": "text", "text": "Hello"}, kimi.image(path)]}]
    client.chat.completions.create(model=MODEL, messages=messages)
    sent = server.requests[-1].json["messages"][0]["content"][1]
    assert sent == {"type": "image_url", "image_url": {"url": "data:image/png;base64," + base64.b64encode(PNG).decode()}}
    # kimi.testing counts "Hello" as 2 tokens, 4 per message and 1024 per image.
    assert client.tokenizers.estimate_token_count(model=MODEL, messages=messages).total_tokens == 2 + 4 + 1024


def test_upload_gives_an_ms_id_of_a_file_for_the_kind(make_client, server, tmp_path) -> None:
    client = make_client()
    path = tmp_path / "frame.jpg"
    path.write_bytes(JPEG)
    part = kimi.image(path, upload=True, client=client)
    file_id = url_of(part).removeprefix("ms://")
    stored = server.files[file_id]
    assert (stored["purpose"], stored["filename"], stored["bytes"]) == ("image", "frame.jpg", len(JPEG))
    clip = kimi.video(MP4, upload=True, client=client)
    assert server.files[url_of(clip).removeprefix("ms://")]["purpose"] == "video"
    with pytest.raises(ValueError, match="not a format"):
        kimi.image(b"plain text", upload=True, client=client)

    async def main() -> str:
        aclient = kimi.AsyncKimi(api_key=KEY, base_url=server.base_url)
        part = await kimi.image(PNG, upload=True, client=aclient)
        await aclient.close()
        return url_of(part)

    uploaded = asyncio.run(main()).removeprefix("ms://")
    assert server.files[uploaded]["purpose"] == "image"


def test_to_param_echoes_a_tool_call_turn_with_its_reasoning(make_client, server) -> None:
    client = make_client()
    server.script(Reply.chat(content="", reasoning="Need the weather tool.",
                             tool_calls=[{"id": "get_weather:0", "name": "get_weather",
                                          "arguments": {"city": "Beijing"}}]))
    reply = client.chat.completions.create(model=MODEL, messages=MESSAGES)
    param = reply.choices[0].message.to_param()
    assert param == {
        "role": "assistant",
        "content": "",
        "reasoning_content": "Need the weather tool.",
        "tool_calls": [{"id": "get_weather:0", "type": "function",
                        "function": {"name": "get_weather", "arguments": '{"city": "Beijing"}'}}],
    }
    turn = [*MESSAGES, param, {"role": "tool", "tool_call_id": "get_weather:0", "content": "sunny"}]
    client.chat.completions.create(model=MODEL, messages=turn)
    assert server.requests[-1].json["messages"][1] == param    # sent back exactly


def test_to_param_reads_a_gateways_reasoning_and_a_streams_final(make_client, server) -> None:
    client = make_client()
    body = {"id": "x", "object": "chat.completion", "model": MODEL,
            "choices": [{"index": 0, "finish_reason": "stop",
                         "message": {"role": "assistant", "content": "Hi", "reasoning": "short thought"}}]}
    server.script(Reply.json(body))
    param = client.chat.completions.create(model=MODEL, messages=MESSAGES).choices[0].message.to_param()
    assert param == {"role": "assistant", "content": "Hi", "reasoning_content": "short thought"}
    server.script(Reply.chat("streamed", reasoning="thought"))
    with client.chat.completions.create(model=MODEL, messages=MESSAGES, stream=True) as stream:
        for _ in stream:
            pass
    assert stream.final().choices[0].message.to_param() == {
        "role": "assistant", "content": "streamed", "reasoning_content": "thought"}
