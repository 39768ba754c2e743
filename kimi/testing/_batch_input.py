"""Validating a batch's input file: JSONL lines of ``{custom_id, method, url, body}``.

The platform's rules (kimi-api.md §7): every line a JSON object with a unique string
``custom_id``, ``method`` POST, ``url`` the batch's endpoint, an object ``body``; one
model for the whole file; at least one line. A file that breaks any of them fails the
whole batch, each problem reported with its 1-based line. Whether each request's body is
a valid chat request is not checked here: that happens per line when it runs. Pure.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class BatchLine:
    """One request of a batch: its ``custom_id`` and its chat request ``body``."""

    custom_id: str
    body: dict[str, Any]


@dataclass(frozen=True)
class LineProblem:
    """Why a batch failed validation: an error ``code``, its ``message`` and the 1-based
    ``line`` it is about (None for the file as a whole)."""

    code: str
    message: str
    line: int | None

    def as_json(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, "line": self.line}


def _json_line(raw: bytes) -> Any:
    try:
        return json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return None


class _Checker:
    """The checks that span lines: custom_ids seen, the file's model."""

    def __init__(self, endpoint: str) -> None:
        self.endpoint = endpoint
        self.seen: set[str] = set()
        self.model: str | None = None

    def problem(self, entry: Any) -> tuple[str, str] | None:
        """(code, message) of the first rule `entry` breaks, or None."""
        if not isinstance(entry, dict):
            return "invalid_json_line", "This line is not a JSON object."
        custom_id = entry.get("custom_id")
        if not isinstance(custom_id, str) or not custom_id:
            return "missing_custom_id", "custom_id is required and must be a non-empty string."
        if custom_id in self.seen:
            return "duplicate_custom_id", f"custom_id {custom_id!r} is used by an earlier line."
        self.seen.add(custom_id)
        if entry.get("method") != "POST":
            return "invalid_method", "method must be POST."
        if entry.get("url") != self.endpoint:
            return "invalid_url", f"url must be the batch's endpoint {self.endpoint}."
        body = entry.get("body")
        if not isinstance(body, dict):
            return "invalid_body", "body must be a JSON object (a chat request)."
        model = body.get("model")
        if isinstance(model, str):
            if self.model is None:
                self.model = model
            elif model != self.model:
                message = f"All requests of a batch must use one model: {self.model}, not {model}."
                return "mismatched_model", message
        return None


def read_batch_input(
    lines: Iterable[bytes], endpoint: str
) -> tuple[list[BatchLine], list[LineProblem]]:
    """The requests of a batch file's `lines` and the problems that fail it (none: valid).

    Blank lines are skipped but keep their place in the numbering."""
    checker = _Checker(endpoint)
    requests: list[BatchLine] = []
    problems: list[LineProblem] = []
    for number, raw in enumerate(lines, start=1):
        if not raw.strip():
            continue
        entry = _json_line(raw)
        found = checker.problem(entry)
        if found is not None:
            problems.append(LineProblem(*found, line=number))
        else:
            requests.append(BatchLine(entry["custom_id"], entry["body"]))
    if not requests and not problems:
        problems.append(LineProblem("empty_file", "The batch input file has no requests.", None))
    return requests, problems
