"""Running one batch request and the lines of a batch's output and error files.

A request is judged by the live chat route's own checks (`_validation.chat_problem`), so
it fails in a batch exactly as it would live; a valid one is answered with a normal
``chat.completion`` whose content is its last user message, so a test can see each
result joined to its request. Pure: bytes and dicts, no files or clocks.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from typing import Any

from ._batch_input import BatchLine
from ._chunks import chat_body
from ._plan import choice_count, last_user_content
from ._replies import ChatSpec, Reply
from ._tokens import estimate_tokens, text_tokens
from ._validation import chat_problem

#: Why the requests a batch never ran have no response (the platform's wording).
NOT_RUN_MESSAGES = {
    "batch_expired": "This request could not be executed before the completion window expired.",
    "batch_cancelled": "This request was not executed because the batch was cancelled.",
}


@dataclass(frozen=True)
class LineResult:
    """What one request got: an HTTP status and the body the live route would send."""

    custom_id: str
    status_code: int
    body: dict[str, Any]

    @property
    def ok(self) -> bool:
        return self.status_code == 200


def run_line(line: BatchLine, created: int) -> LineResult:
    """Answer one batch request as ``POST /v1/chat/completions`` would, non-streaming;
    `created` is the server clock's reading for the completion."""
    problem = chat_problem(line.body)
    if problem is not None:
        error = Reply.moonshot_error("invalid_request_error", problem)
        return LineResult(line.custom_id, 400, error)
    content = last_user_content(line.body)
    prompt, completion = estimate_tokens(line.body), text_tokens(content)
    usage = {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }
    spec = Reply.chat(content=content, usage=usage).spec
    assert isinstance(spec, ChatSpec)
    body = chat_body([spec] * choice_count(line.body), line.body["model"], created)
    return LineResult(line.custom_id, 200, body)


def _dumps_line(obj: dict[str, Any]) -> bytes:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode("utf-8") + b"\n"


def result_line(result: LineResult) -> bytes:
    """The output (or error) file line of a request that ran."""
    return _dumps_line(
        {
            "id": "batch_req_" + secrets.token_hex(12),
            "custom_id": result.custom_id,
            "response": {
                "status_code": result.status_code,
                "request_id": secrets.token_hex(16),
                "body": result.body,
            },
            "error": None,
        }
    )


def not_run_line(custom_id: str, code: str) -> bytes:
    """The error file line of a request the batch never ran (`code` batch_expired or
    batch_cancelled): no response, the reason in ``error``."""
    return _dumps_line(
        {
            "id": "batch_req_" + secrets.token_hex(12),
            "custom_id": custom_id,
            "response": None,
            "error": {"code": code, "message": NOT_RUN_MESSAGES[code]},
        }
    )
