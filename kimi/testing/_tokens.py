"""The local server's token count: a fixed rule a test can work out by hand, not a tokenizer.

``POST /v1/tokenizers/estimate-token-count`` answers with it, and batch results report
it as their usage. Pure functions over the chat request's JSON.

The rule, for a request ``{"model", "messages", "tools"?}``:

- each message: 4 tokens of overhead, plus the tokens of its ``content``: a string, or
  each part of a list — a ``{"type": "text", "text"}`` part its text's tokens, an
  ``image_url`` part 1024, a ``video_url`` part 2048, any other part 0;
- a text's tokens: ceil(its ASCII characters / 4) + 1 per non-ASCII character, counted
  per string (so "Hello" is 2 and "你好" is 2);
- a ``tools`` list adds the tokens of its compact JSON text
  (``json.dumps(tools, ensure_ascii=False, separators=(",", ":"))``).

Other message fields (role, name, tool calls) count nothing beyond the overhead.
"""

from __future__ import annotations

import json
from typing import Any

MESSAGE_OVERHEAD = 4
IMAGE_TOKENS = 1024
VIDEO_TOKENS = 2048
_PART_TOKENS = {"image_url": IMAGE_TOKENS, "video_url": VIDEO_TOKENS}


def text_tokens(text: str) -> int:
    """ceil(ASCII characters / 4) + 1 per non-ASCII character."""
    ascii_count = len(text.encode("ascii", "ignore"))
    return -(-ascii_count // 4) + len(text) - ascii_count


def _part_tokens(part: Any) -> int:
    if not isinstance(part, dict):
        return 0
    if part.get("type") == "text":
        text = part.get("text")
        return text_tokens(text) if isinstance(text, str) else 0
    return _PART_TOKENS.get(part.get("type"), 0)


def content_tokens(content: Any) -> int:
    """The tokens of a message's ``content`` (a string or a list of parts)."""
    if isinstance(content, str):
        return text_tokens(content)
    if isinstance(content, list):
        return sum(_part_tokens(part) for part in content)
    return 0


def _message_tokens(message: Any) -> int:
    content = message.get("content") if isinstance(message, dict) else None
    return MESSAGE_OVERHEAD + content_tokens(content)


def estimate_tokens(request: dict[str, Any]) -> int:
    """The token count of a request's messages and tools (the module's rule)."""
    messages = request.get("messages")
    total = sum(_message_tokens(m) for m in messages) if isinstance(messages, list) else 0
    tools = request.get("tools")
    if isinstance(tools, list):
        total += text_tokens(json.dumps(tools, ensure_ascii=False, separators=(",", ":")))
    return total


def estimate_body(total: int) -> dict[str, Any]:
    """The endpoint's answer for `total` tokens (§7, in the balance's wrapper)."""
    return {"code": 0, "data": {"total_tokens": total}, "scode": "0x0", "status": True}
