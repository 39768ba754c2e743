"""The fixed replies nginx serves in the concurrency scenarios, and what a client must
decode from them.

Pure data: one non-streaming chat completion and one streamed reply (content chunks in
the OpenAI/Moonshot chunk shape, a final chunk with usage, then ``data: [DONE]``), both
as bytes. The contenders never see these objects; they are told the expected content and
check what they decoded against it. The text avoids the characters nginx's configuration
strings treat specially (quotes, backslashes, ``$``) so it can be written there as is.
"""

from __future__ import annotations

import json
from typing import Any

from ._harness import MODEL

#: The message content of the non-streaming reply.
CONTENT = (
    "Hello! This reply comes from nginx on the loopback interface: a fixed answer for the "
    "benchmarks. Every request gets the same bytes, so each client can check the content "
    "it decoded."
)
#: Content chunks in each streamed reply, and the time between them in the paced one.
STREAM_CHUNKS = 200
CHUNK_INTERVAL = 0.02
_CREATED = 1767225600
_USAGE = {"prompt_tokens": 12, "completion_tokens": STREAM_CHUNKS, "total_tokens": 12 + STREAM_CHUNKS}


def _dumps(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode("ascii")


def completion_body() -> bytes:
    """The non-streaming ``chat.completion`` JSON."""
    return _dumps({
        "id": "chatcmpl-bench0000000000000000",
        "object": "chat.completion",
        "created": _CREATED,
        "model": MODEL,
        "choices": [{
            "index": 0,
            "message": {"role": "assistant", "content": CONTENT},
            "finish_reason": "stop",
        }],
        "usage": {"prompt_tokens": 12, "completion_tokens": 40, "total_tokens": 52},
    })


def chunk_text(i: int) -> str:
    """The content of chunk `i`: each differs, so a lost or repeated chunk shows."""
    return f"t{i} "


#: What a client must assemble from one streamed reply.
STREAM_CONTENT = "".join(chunk_text(i) for i in range(STREAM_CHUNKS))


def stream_events() -> list[bytes]:
    """The streamed reply, one ``data: ...`` event per item: STREAM_CHUNKS content chunks
    (the first with the role), the final chunk with ``finish_reason`` and usage inside the
    choice (as Moonshot sends it), then ``[DONE]``."""
    base = {"id": "chatcmpl-bench0000000000000000", "object": "chat.completion.chunk",
            "created": _CREATED, "model": MODEL}
    events = []
    for i in range(STREAM_CHUNKS):
        delta = {"role": "assistant", "content": chunk_text(i)} if i == 0 else {"content": chunk_text(i)}
        events.append(_dumps({**base, "choices": [{"index": 0, "delta": delta, "finish_reason": None}]}))
    final = {"index": 0, "delta": {}, "finish_reason": "stop", "usage": _USAGE}
    events.append(_dumps({**base, "choices": [final]}))
    events.append(b"[DONE]")
    return [b"data: " + e + b"\n\n" for e in events]
