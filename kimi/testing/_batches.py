"""The batches of one local server and the timeline each follows on the server's clock.

A batch does its work when it is read (retrieved, listed, cancelled, or seen through
`KimiServer.batches`), from what the clock says then; nothing runs in the background:

    validating   for validate_s after creation; then the input is checked (as of that
                 moment): a bad file -> failed (errors, no files), else
    in_progress  for run_s, its requests run in input order in proportion to the time
                 gone (all of them by the end), then
    finalizing   for finalize_s, then
    completed    results written: the output file (successes), the error file (failures).

A read at or after ``expires_at`` finds a batch that had not completed by its previous
read expired, as a platform too busy to finish it would leave it (so a test may jump
the clock past the window right after creating one): its input is still checked, as of
the end of validating, the requests run by earlier reads keep their results, and the
rest go to the error file as ``batch_expired``. A cancel (allowed while validating,
in_progress or finalizing) makes it cancelling for finalize_s, then cancelled, with the
checked requests not run reported as ``batch_cancelled``. Result files list lines in an
order of their own (shuffled by the batch id), as the platform promises none; a file
that would be empty is not made (its id stays null).

Thread-safe: every read and change happens under one lock. The requests due run on
the reading thread at once (10,000 take a few tenths of a second, which a read on the
serving loop holds it for).
"""

from __future__ import annotations

import copy
import random
import secrets
import threading
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from ._batch_input import BatchLine, LineProblem, read_batch_input
from ._batch_lines import LineResult, not_run_line, result_line, run_line
from ._clock import Clock
from ._files import BATCH_OUTPUT, FileStore

#: The statuses a batch is still working in (and may be cancelled from).
ACTIVE = ("validating", "in_progress", "finalizing")


class BatchTiming(NamedTuple):
    """Seconds of the server clock a batch spends validating, in progress, finalizing
    (finalize_s is also how long cancelling lasts)."""

    validate: float
    run: float
    finalize: float


@dataclass
class _Batch:
    """One batch's record; `marks` holds when each status began (clock seconds)."""

    id: str
    endpoint: str
    input_file_id: str
    completion_window: str
    metadata: dict[str, str] | None
    created: float
    expires: float
    requests: list[BatchLine]
    problems: list[LineProblem]
    status: str = "validating"
    marks: dict[str, float] = field(default_factory=dict)
    results: list[LineResult] = field(default_factory=list)
    total: int = 0
    completed: int = 0
    failed: int = 0
    output_file_id: str | None = None
    error_file_id: str | None = None


def _at(batch: _Batch, status: str) -> int | None:
    mark = batch.marks.get(status)
    return None if mark is None else int(mark)


def batch_object(batch: _Batch) -> dict[str, Any]:
    """The API's batch object (every field of the kimi-api.md §11 sample, plus errors)."""
    failed = batch.status == "failed"
    errors = [p.as_json() for p in batch.problems] if failed else None
    return {
        "id": batch.id,
        "object": "batch",
        "endpoint": batch.endpoint,
        "errors": None if errors is None else {"object": "list", "data": errors},
        "input_file_id": batch.input_file_id,
        "completion_window": batch.completion_window,
        "status": batch.status,
        "output_file_id": batch.output_file_id,
        "error_file_id": batch.error_file_id,
        "created_at": int(batch.created),
        "in_progress_at": _at(batch, "in_progress"),
        "expires_at": int(batch.expires),
        "finalizing_at": _at(batch, "finalizing"),
        "completed_at": _at(batch, "completed"),
        "failed_at": _at(batch, "failed"),
        "expired_at": _at(batch, "expired"),
        "cancelling_at": _at(batch, "cancelling"),
        "cancelled_at": _at(batch, "cancelled"),
        "request_counts": {
            "total": batch.total,
            "completed": batch.completed,
            "failed": batch.failed,
        },
        "metadata": copy.deepcopy(batch.metadata),
    }


class BatchStore:
    """Batches by id, in creation order, moved along their timelines when read."""

    def __init__(self, clock: Clock, files: FileStore, timing: BatchTiming) -> None:
        self._clock = clock
        self._files = files
        self._timing = timing
        self._lock = threading.Lock()
        self._batches: dict[str, _Batch] = {}

    # Requests ------------------------------------------------------------------------
    def create(
        self,
        input_file_id: str,
        endpoint: str,
        completion_window: str,
        window_seconds: float,
        metadata: dict[str, str] | None,
    ) -> dict[str, Any] | None:
        """A new batch over a stored input file (checked by the caller); None if the
        file has gone. The input is read now, its verdict shown once validating ends."""
        opened = self._files.open(input_file_id)
        if opened is None:
            return None
        with opened[1] as handle:
            requests, problems = read_batch_input(handle, endpoint)
        now = self._clock.now()
        batch = _Batch(
            id="batch_" + secrets.token_hex(12),
            endpoint=endpoint,
            input_file_id=input_file_id,
            completion_window=completion_window,
            metadata=copy.deepcopy(metadata),
            created=now,
            expires=now + window_seconds,
            requests=requests,
            problems=problems,
        )
        with self._lock:
            self._batches[batch.id] = batch
            return batch_object(batch)

    def get(self, batch_id: str) -> dict[str, Any] | None:
        """The batch as it stands now, or None."""
        with self._lock:
            batch = self._batches.get(batch_id)
            if batch is None:
                return None
            self._catch_up(batch, self._clock.now())
            return batch_object(batch)

    def cancel(self, batch_id: str) -> tuple[dict[str, Any] | None, str | None]:
        """(the batch now cancelling, None), (None, why it may not be cancelled), or
        (None, None) when there is no such batch."""
        with self._lock:
            batch = self._batches.get(batch_id)
            if batch is None:
                return None, None
            now = self._clock.now()
            self._catch_up(batch, now)
            if batch.status not in ACTIVE:
                why = f"batch {batch_id} cannot be cancelled: its status is {batch.status}"
                return None, f"Invalid request: {why}"
            batch.status = "cancelling"
            batch.marks["cancelling"] = now
            return batch_object(batch), None

    def listing(self, after: str | None, limit: int) -> tuple[list[dict[str, Any]], bool] | None:
        """(up to `limit` batches newest first, after the one `after` names; whether
        more follow), or None when `after` names no batch."""
        with self._lock:
            ordered = list(reversed(self._batches))
            start = 0
            if after is not None:
                if after not in self._batches:
                    return None
                start = ordered.index(after) + 1
            now = self._clock.now()
            page = []
            for batch_id in ordered[start : start + limit]:
                batch = self._batches[batch_id]
                self._catch_up(batch, now)
                page.append(batch_object(batch))
            return page, start + limit < len(ordered)

    def snapshot(self) -> dict[str, dict[str, Any]]:
        """Every batch as it stands now, by id, oldest first."""
        with self._lock:
            now = self._clock.now()
            for batch in self._batches.values():
                self._catch_up(batch, now)
            return {batch_id: batch_object(b) for batch_id, b in self._batches.items()}

    def clear(self) -> None:
        with self._lock:
            self._batches = {}

    # The timeline (under the lock) -------------------------------------------------------
    def _catch_up(self, batch: _Batch, now: float) -> None:
        """Move `batch` along its timeline to `now` (see the module docstring)."""
        validate, run, finalize = self._timing
        if batch.status == "cancelling":
            end = batch.marks["cancelling"] + finalize
            if now >= end:
                self._finish(batch, "cancelled", end, "batch_cancelled")
            return
        checked_at = batch.created + validate
        if batch.status == "validating" and checked_at <= now and checked_at < batch.expires:
            self._validate(batch, checked_at)
        if batch.status in ACTIVE and now >= batch.expires:
            self._finish(batch, "expired", batch.expires, "batch_expired")
            return
        if batch.status == "in_progress":
            started = batch.marks["in_progress"]
            self._run(batch, 1.0 if run <= 0 else (now - started) / run)
            if now >= started + run:
                batch.status = "finalizing"
                batch.marks["finalizing"] = started + run
        if batch.status == "finalizing":
            end = batch.marks["finalizing"] + finalize
            if now >= end:
                self._finish(batch, "completed", end, None)

    def _validate(self, batch: _Batch, at: float) -> None:
        """The input's verdict, shown at `at`: failed, or in_progress with its total."""
        if batch.problems:
            batch.status, batch.requests = "failed", []
            batch.marks["failed"] = at
            return
        batch.status = "in_progress"
        batch.marks["in_progress"] = at
        batch.total = len(batch.requests)

    def _run(self, batch: _Batch, fraction: float) -> None:
        """Run the requests due by `fraction` (0..1) of the in_progress time."""
        due = batch.total if fraction >= 1 else int(batch.total * max(0.0, fraction))
        created = int(self._clock.now())
        for line in batch.requests[len(batch.results) : due]:
            result = run_line(line, created)
            batch.results.append(result)
            if result.ok:
                batch.completed += 1
            else:
                batch.failed += 1

    def _finish(self, batch: _Batch, status: str, at: float, not_run: str | None) -> None:
        """End `batch` as `status` at `at` and write its result files; the requests not
        run go to the error file with the code `not_run` (None: every request ran)."""
        batch.status = status
        batch.marks[status] = at
        shuffle = random.Random(batch.id).shuffle
        done = list(batch.results)
        shuffle(done)
        output = [result_line(r) for r in done if r.ok]
        errors = [result_line(r) for r in done if not r.ok]
        if not_run is not None:  # only validated requests (total) are known to the API
            unrun = batch.requests[len(done) : batch.total]
            left = [not_run_line(line.custom_id, not_run) for line in unrun]
            shuffle(left)
            errors += left
        if output:
            name = f"{batch.id}_output.jsonl"
            batch.output_file_id = self._files.write(name, BATCH_OUTPUT, output)["id"]
        if errors:
            name = f"{batch.id}_error.jsonl"
            batch.error_file_id = self._files.write(name, BATCH_OUTPUT, errors)["id"]
        batch.requests, batch.results = [], []
