"""The answers of the batch endpoints: create (with the platform's checks), list, retrieve, cancel.

Create checks its arguments as kimi-api.md §7 gives them: an input file of purpose
``batch``, the chat endpoint, a completion window of 12h to 7d written ``<n>h`` or
``<n>d``, metadata of at most 16 string pairs. Decisions only; the timeline is
`_batches.py`'s.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qs

from ._batches import BatchStore
from ._files import FileStore
from ._paths import BATCHES_PATH, CHAT_PATH, member_route
from ._plan import Plan, invalid_plan, json_plan, not_found_plan
from ._validation import NO_JSON

#: The one endpoint a batch may run (kimi-api.md §7).
BATCH_ENDPOINT = CHAT_PATH
_WINDOW = re.compile(r"(\d+)([hd])")
_UNIT_SECONDS = {"h": 3600, "d": 86400}
MIN_WINDOW, MAX_WINDOW = 12 * 3600, 7 * 86400
MAX_METADATA_PAIRS, MAX_METADATA_KEY, MAX_METADATA_VALUE = 16, 64, 512
DEFAULT_LIMIT, MAX_LIMIT = 20, 100


def window_seconds(window: Any) -> int | None:
    """The seconds a completion window such as ``"24h"`` or ``"3d"`` allows, or None
    unless it is written so and lies within 12h..7d."""
    match = _WINDOW.fullmatch(window) if isinstance(window, str) else None
    if match is None:
        return None
    seconds = int(match.group(1)) * _UNIT_SECONDS[match.group(2)]
    return seconds if MIN_WINDOW <= seconds <= MAX_WINDOW else None


def _metadata_problem(metadata: Any) -> str | None:
    if metadata is None:
        return None
    if not isinstance(metadata, dict) or len(metadata) > MAX_METADATA_PAIRS:
        return f"metadata must be an object of at most {MAX_METADATA_PAIRS} pairs"
    for key, value in metadata.items():
        if len(key) > MAX_METADATA_KEY:
            return f"metadata keys must be at most {MAX_METADATA_KEY} characters"
        if not isinstance(value, str) or len(value) > MAX_METADATA_VALUE:
            return f"metadata values must be strings of at most {MAX_METADATA_VALUE} characters"
    return None


def _create_problem(files: FileStore, parsed: Any) -> str | None:
    """Why a create request is refused (without the "Invalid request: " lead), or None."""
    if parsed is NO_JSON or not isinstance(parsed, dict):
        return "the request body must be a JSON object"
    input_file_id = parsed.get("input_file_id")
    if not isinstance(input_file_id, str) or not input_file_id:
        return "field 'input_file_id' is required"
    stored = files.get(input_file_id)
    if stored is None:
        return f"input file {input_file_id} not found"
    if stored.object["purpose"] != "batch":
        purpose = stored.object["purpose"]
        return f"input file {input_file_id} has purpose {purpose}; a batch needs purpose batch"
    endpoint = parsed.get("endpoint")
    if endpoint != BATCH_ENDPOINT:
        return f"endpoint must be {BATCH_ENDPOINT}, got {endpoint!r}"
    window = parsed.get("completion_window")
    if window_seconds(window) is None:
        return f"completion_window must be from 12h to 7d, such as '24h' or '3d', got {window!r}"
    return _metadata_problem(parsed.get("metadata"))


def _create_plan(batches: BatchStore, files: FileStore, parsed: Any) -> Plan:
    problem = _create_problem(files, parsed)
    if problem is not None:
        return invalid_plan(f"Invalid request: {problem}")
    window = parsed["completion_window"]
    created = batches.create(
        parsed["input_file_id"],
        parsed["endpoint"],
        window,
        window_seconds(window) or 0,
        parsed.get("metadata"),
    )
    if created is None:  # deleted between the check and the read
        return invalid_plan(f"Invalid request: input file {parsed['input_file_id']} not found")
    return json_plan(created)


def _limit(params: dict[str, list[str]]) -> int | None:
    raw = params.get("limit", [str(DEFAULT_LIMIT)])[-1]
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_LIMIT:
        return None
    return int(raw)


def _list_plan(batches: BatchStore, query: str) -> Plan:
    """A page of batches newest first: ``limit`` (1..100, default 20), ``after=<id>``."""
    params = parse_qs(query)
    limit = _limit(params)
    if limit is None:
        given = params["limit"][-1]
        why = f"limit must be an integer from 1 to {MAX_LIMIT}, got {given!r}"
        return invalid_plan(f"Invalid request: {why}")
    after = params.get("after", [None])[-1]
    listed = batches.listing(after, limit)
    if listed is None:
        return batch_not_found(str(after))
    page, has_more = listed
    return json_plan(
        {
            "object": "list",
            "data": page,
            "has_more": has_more,
            "first_id": page[0]["id"] if page else None,
            "last_id": page[-1]["id"] if page else None,
        }
    )


def batch_not_found(batch_id: str) -> Plan:
    return not_found_plan(f"Not found the batch {batch_id} or Permission denied")


def _cancel_plan(batches: BatchStore, batch_id: str) -> Plan:
    cancelled, problem = batches.cancel(batch_id)
    if problem is not None:
        return invalid_plan(problem)
    return batch_not_found(batch_id) if cancelled is None else json_plan(cancelled)


def _retrieve_plan(batches: BatchStore, batch_id: str) -> Plan:
    batch = batches.get(batch_id)
    return batch_not_found(batch_id) if batch is None else json_plan(batch)


#: What a method does to one batch, by (method, what follows the id).
_ONE_BATCH = {("GET", ""): _retrieve_plan, ("POST", "cancel"): _cancel_plan}


def batch_route(
    batches: BatchStore, files: FileStore, method: str, path: str, query: str, parsed: Any
) -> Plan | None:
    """The answer to a batch endpoint, or None if `path` is not one."""
    if path == BATCHES_PATH:
        if method == "POST":
            return _create_plan(batches, files, parsed)
        return _list_plan(batches, query) if method == "GET" else None
    routed = member_route(path, BATCHES_PATH, method, _ONE_BATCH)
    return None if routed is None else routed[0](batches, routed[1])
