"""client.batches: the Batch API end to end.

The four calls of the API (create, retrieve, list, cancel) are shaped once here for both
clients.  Above them, a job in three calls::

    job = client.batches.submit(requests)     # JSONL written, checked, uploaded, created
    job.wait(progress=True)                   # polls with backoff until it ends
    for r in job.results(): ...               # BatchResult in input order

What is pure (writing and checking the JSONL, the poll schedule, joining the output and
error files by ``custom_id``) lives in plain functions that the sync and async jobs
share; they differ only in how they wait and fetch.
"""

from __future__ import annotations

import os
import sys
import time
from contextlib import suppress

from . import _core, _models
from ._exceptions import APIResponseValidationError, BatchFailedError, BatchRequestError
from ._files import MAX_FILE_BYTES, uploaded_id
from ._resources import AsyncResource, Resource, refuse_partial, shape_chat

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, AsyncIterator, Iterable, Iterator, Mapping

    from ._async_client import AsyncKimi
    from ._client import Kimi

__all__ = ["Batches", "AsyncBatches", "BatchJob", "AsyncBatchJob", "BatchResult"]

ENDPOINT = "/v1/chat/completions"
TERMINAL = frozenset({"completed", "failed", "expired", "cancelled"})
STATUSES = TERMINAL | {"validating", "in_progress", "finalizing", "cancelling"}
# The platform keeps at most 16 metadata pairs, keys to 64 characters, values to 512.
_META_PAIRS, _META_KEY, _META_VALUE = 16, 64, 512
# create() arguments that are not body fields.
_CALL_ARGS = ("model", "messages", "stream", "extra_body", "extra_headers", "timeout")


class BatchResult:
    """One request of a batch: ``custom_id``, ``response`` (a ``ChatCompletion``, or
    None) and ``error`` (the typed error the request met, or None), with ``index``
    its place in the input."""

    __slots__ = ("index", "custom_id", "response", "error")

    def __init__(self, index: int, custom_id: str, response: Any, error: Exception | None) -> None:
        self.index = index
        self.custom_id = custom_id
        self.response = response
        self.error = error

    def __repr__(self) -> str:
        outcome = f"error={self.error!r}" if self.error is not None else "response=..."
        return f"BatchResult(index={self.index}, custom_id={self.custom_id!r}, {outcome})"


# -- the API's four calls ----------------------------------------------------


def checked_batch(batch: Any) -> Any:
    """A batch reply the job can follow: an object with a str id and a str status;
    APIResponseValidationError otherwise (a job must not poll forever a reply that
    can never end)."""
    if not isinstance(batch, _models.Batch) or not isinstance(batch.id, str) or not batch.id:
        raise APIResponseValidationError(f"batches: the reply is not a batch object with an id: {_shown(batch)}")
    if not isinstance(batch.status, str):
        raise APIResponseValidationError(f"batches: batch {batch.id} has no status: {_shown(batch)}")
    return batch


def _shown(value: Any) -> str:
    text = repr(value.to_dict() if isinstance(value, _models.KimiObject) else value)
    return text if len(text) <= 200 else text[:200] + "..."


def _count(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def _file_id(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def check_window(window: Any) -> str:
    """A completion window the platform accepts: hours or days from 12h to 7d."""
    hours = 0
    if isinstance(window, str) and window[-1:] in ("h", "d") and window[:-1].isascii() and window[:-1].isdigit():
        hours = int(window[:-1]) * (24 if window[-1] == "d" else 1)
    if not 12 <= hours <= 168:
        raise ValueError(f'batches: completion_window must be from "12h" to "7d" (e.g. "24h", "3d"), got {window!r}')
    return window


def check_metadata(metadata: Any) -> dict[str, str] | None:
    if metadata is None:
        return None
    if not isinstance(metadata, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()):
        raise TypeError("batches: metadata must be a dict of str to str")
    if len(metadata) > _META_PAIRS:
        raise ValueError(f"batches: metadata holds at most {_META_PAIRS} pairs, got {len(metadata)}")
    for key, value in metadata.items():
        if len(key) > _META_KEY or len(value) > _META_VALUE:
            raise ValueError(f"batches: metadata keys are at most {_META_KEY} characters and values {_META_VALUE}: {key!r}")
    return dict(metadata)


def shape_create(
    input_file_id: Any, endpoint: Any, completion_window: Any, metadata: Any, extra_headers: Any, timeout: Any
) -> tuple[Any, ...]:
    if not isinstance(input_file_id, str) or not input_file_id:
        raise ValueError("batches.create: input_file_id must be a non-empty str")
    if endpoint != ENDPOINT:
        raise ValueError(f"batches.create: endpoint must be {ENDPOINT!r} (the only one the platform batches)")
    body: dict[str, Any] = {
        "input_file_id": input_file_id,
        "endpoint": endpoint,
        "completion_window": check_window(completion_window),
    }
    meta = check_metadata(metadata)
    if meta is not None:
        body["metadata"] = meta
    return ("POST", "/batches", body, False, _models.Batch, None, extra_headers, timeout)


def _batch_path(batch_id: Any) -> str:
    if not isinstance(batch_id, str) or not batch_id:
        raise ValueError("batches: batch_id must be a non-empty str")
    from urllib.parse import quote

    return "/batches/" + quote(batch_id, safe="")


def shape_retrieve(batch_id: Any, extra_headers: Any = None, timeout: Any = None) -> tuple[Any, ...]:
    return ("GET", _batch_path(batch_id), None, False, _models.Batch, None, extra_headers, timeout)


def shape_cancel(batch_id: Any, extra_headers: Any = None, timeout: Any = None) -> tuple[Any, ...]:
    return ("POST", _batch_path(batch_id) + "/cancel", None, False, _models.Batch, None, extra_headers, timeout)


def shape_page(after: Any, limit: Any, extra_headers: Any, timeout: Any) -> tuple[Any, ...]:
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= 100:
        raise ValueError(f"batches.list: limit must be an int from 1 to 100, got {limit!r}")
    from urllib.parse import urlencode

    query = {"limit": limit} if after is None else {"after": after, "limit": limit}
    return ("GET", "/batches?" + urlencode(query), None, False, _models.BatchList, None, extra_headers, timeout)


def page_items(page: Any) -> list[Any]:
    """The batches of one page; APIResponseValidationError for a page that is not a
    list of batch objects."""
    data = page.data if isinstance(page, _models.BatchList) else None
    if data is None:
        data = []
    if not isinstance(data, list) or not all(isinstance(b, _models.Batch) for b in data):
        raise APIResponseValidationError(f"batches.list: the page is not a list of batches: {_shown(page)}")
    return data


def next_cursor(page: Any, data: list[Any], after: str | None) -> str | None:
    """The ``after`` of the page following this one, or None at the end; a cursor
    that does not move is refused (a server could otherwise page forever)."""
    if page.has_more is not True or not data:
        return None
    cursor = page.last_id if isinstance(page.last_id, str) and page.last_id else data[-1].id
    if not isinstance(cursor, str) or not cursor or cursor == after:
        raise APIResponseValidationError(f"batches.list: the next page's cursor does not move ({cursor!r})")
    return cursor


# -- writing the input file --------------------------------------------------


def _line_of(index: int, item: Any, defaults: Any) -> tuple[str | None, dict[str, Any]]:
    """(custom_id or None, body) of one request given to submit()."""
    custom_id = None
    if isinstance(item, tuple):
        if len(item) != 2:
            raise TypeError(f"batches.submit: request {index}: a tuple must be (custom_id, dict)")
        custom_id, item = item
        if not isinstance(custom_id, str) or not custom_id:
            raise ValueError(f"batches.submit: request {index}: custom_id must be a non-empty str")
    if not isinstance(item, dict):
        raise TypeError(f"batches.submit: request {index}: expected a dict of create() arguments, got {type(item).__name__}")
    if item.get("stream"):
        raise ValueError(f"batches.submit: request {index}: a batch request cannot stream")
    rest = {k: v for k, v in item.items() if k not in _CALL_ARGS}
    try:
        refuse_partial(rest)
        shape = shape_chat(item.get("model"), item.get("messages"), False, item.get("extra_body"), None, None, rest, defaults)
    except (TypeError, ValueError) as exc:
        raise type(exc)(f"batches.submit: request {index}: {exc}") from None
    return custom_id, shape[2]


def write_jsonl(requests: Iterable[Any], defaults: Any, out: Any, limit: int = MAX_FILE_BYTES) -> tuple[list[str], str]:
    """Write the batch input file to the binary file ``out``; return (custom ids in
    input order, the model).  Refused before anything is uploaded: a duplicate
    ``custom_id``, a second model (the platform takes one per file), a file over
    ``limit`` bytes, a request create() would refuse."""
    import json

    encoder = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    order: list[str] = []
    seen: set[str] = set()
    model = None
    size = 0
    for index, item in enumerate(requests):
        custom_id, body = _line_of(index, item, defaults)
        if custom_id is None:
            custom_id = f"request-{index}"
        if custom_id in seen:
            raise ValueError(f"batches.submit: request {index}: duplicate custom_id {custom_id!r}")
        seen.add(custom_id)
        if model is None:
            model = body["model"]
        elif body["model"] != model:
            raise ValueError(
                f"batches.submit: request {index}: model {body['model']!r} differs from {model!r}; "
                "the platform takes one model per batch file"
            )
        try:
            line = encoder.encode({"custom_id": custom_id, "method": "POST", "url": ENDPOINT, "body": body})
        except (TypeError, ValueError) as exc:
            raise TypeError(f"batches.submit: request {index}: body is not JSON-serialisable: {exc}") from None
        data = (line + "\n").encode("utf-8")
        size += len(data)
        if size > limit:
            raise ValueError(f"batches.submit: the input file would pass {limit:,} bytes (the platform's limit) at request {index}")
        out.write(data)
        order.append(custom_id)
    if not order:
        raise ValueError("batches.submit: no requests")
    return order, model


def input_file(requests: Iterable[Any], defaults: Any) -> tuple[str, list[str], str]:
    """(path of a temporary JSONL file holding the requests, their custom ids): on
    disk, so a 100 MB batch is streamed to the upload, not held in memory.  The
    caller removes the file.  Also the one model the requests name."""
    import tempfile

    fd, path = tempfile.mkstemp(prefix="kimi-batch-", suffix=".jsonl")
    try:
        with os.fdopen(fd, "wb") as out:
            order, model = write_jsonl(requests, defaults, out)
    except BaseException:
        os.unlink(path)
        raise
    return path, order, model


def input_order(content: bytes) -> list[str]:
    """The custom ids of an input file, in its order (to re-attach to a job);
    APIResponseValidationError when a line does not name one, or names one twice."""
    order: list[str] = []
    for number, raw in enumerate(content.splitlines(), 1):
        if not raw.strip():
            continue
        try:
            line = _core.parse(raw, dict)
        except ValueError:
            line = None
        custom_id = line.get("custom_id") if isinstance(line, dict) else None
        if not isinstance(custom_id, str) or not custom_id:
            raise APIResponseValidationError(f"batches: line {number} of the job's input file names no custom_id")
        order.append(custom_id)
    if len(set(order)) != len(order):
        raise APIResponseValidationError("batches: the job's input file names a custom_id twice")
    return order


# -- reading the results -----------------------------------------------------


def _lines(content: bytes | None, unreadable: list[int]) -> Iterator[Any]:
    """The lines of an output or error file that name a request; the number of
    those that cannot be read (not JSON, no custom_id) is added to unreadable[0]."""
    for raw in (content or b"").splitlines():
        if not raw.strip():
            continue
        try:
            line = _core.parse(raw, _models.BatchOutputLine)
        except ValueError:
            line = None
        if isinstance(line, _models.KimiObject) and isinstance(line.custom_id, str):
            yield line
        else:
            unreadable[0] += 1


def _outcome(line: Any) -> tuple[Any, Exception | None]:
    """(response, error) of one output or error file line."""
    response = line.response
    if not isinstance(response, _models.KimiObject):
        response = None
    status = response.status_code if response is not None else None
    if isinstance(status, bool) or not isinstance(status, int):
        status = None
    if status == 200 and isinstance(response.body, _models.ChatCompletion):
        return response.body, None
    if status is not None and status >= 400:
        import json

        body = response.body
        body = body.to_dict() if isinstance(body, _models.KimiObject) else body
        try:
            raw = json.dumps(body).encode()
        except (TypeError, ValueError):
            raw = b""
        exc = _core.status_error(min(status, 999), raw)
        if isinstance(response.request_id, str) and exc.request_id is None:
            exc.request_id = response.request_id
        return None, exc
    error = line.error if isinstance(line.error, dict) else {}
    code = error.get("code") if isinstance(error.get("code"), str) else None
    message = error.get("message") if isinstance(error.get("message"), str) else None
    if message is None:
        message = f"the request was not run ({code})" if code else "its result line holds no reply"
    return None, BatchRequestError(f"{line.custom_id}: {message}", code=code, custom_id=line.custom_id)


def join_results(order: list[str], output: bytes | None, errors: bytes | None, status: str) -> Iterator[BatchResult]:
    """The results in input order: each custom id's line from the output or error
    file (they come in any order); a request in neither file was never run, or its
    line could not be read."""
    found: dict[str, Any] = {}
    unreadable = [0]
    for line in _lines(output, unreadable):
        found[line.custom_id] = line
    for line in _lines(errors, unreadable):
        found.setdefault(line.custom_id, line)
    for index, custom_id in enumerate(order):
        line = found.get(custom_id)
        if line is None:
            code = {"expired": "batch_expired", "cancelled": "batch_cancelled"}.get(status, "missing")
            why = f"; {unreadable[0]} line(s) of it could not be read" if unreadable[0] else ""
            exc = BatchRequestError(f"{custom_id}: no result in the job's output ({status}{why})", code=code,
                                    custom_id=custom_id)
            yield BatchResult(index, custom_id, None, exc)
            continue
        response, error = _outcome(line)
        yield BatchResult(index, custom_id, response, error)


def _input_file(batch: Any) -> str:
    file_id = _file_id(batch.input_file_id)
    if file_id is None:
        raise APIResponseValidationError(f"batches: batch {batch.id} names no input file")
    return file_id


def files_to_read(job: Any) -> tuple[str | None, str | None, str | None]:
    """The files an ended job's results come from: (its input file when the order of
    its requests is not known yet, its output file, its error file), None where there
    is none; BatchFailedError when the job failed as a whole."""
    batch = job.batch
    if batch.status == "failed":
        raise failure_of(batch)
    input_id = _input_file(batch) if job._order is None else None
    return input_id, _file_id(batch.output_file_id), _file_id(batch.error_file_id)


def failure_of(batch: Any) -> BatchFailedError:
    errors = batch.errors if isinstance(batch.errors, _models.BatchErrors) else None
    data = errors.data if errors is not None and isinstance(errors.data, list) else []
    entries = [e for e in data if isinstance(e, _models.BatchError)]
    said = "; ".join(f"line {e.line}: {e.code}: {e.message}" if e.line else f"{e.code}: {e.message}" for e in entries[:10])
    more = f" (and {len(entries) - 10} more)" if len(entries) > 10 else ""
    return BatchFailedError(f"batch {batch.id} failed: {said or 'no reason given'}{more}", batch, entries)


# -- waiting -------------------------------------------------------------------


class Poll:
    """When to look at a job next: soon at first, then less often (x1.5 up to a
    minute), as a job of hours need not be asked every second."""

    def __init__(self, interval: float | None, timeout: float | None) -> None:
        for name, value in (("poll_interval", interval), ("timeout", timeout)):
            if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0):
                raise ValueError(f"batches: wait's {name} must be a number of seconds > 0 or None, got {value!r}")
        self.delay = 1.0 if interval is None else interval
        self.fixed = interval is not None
        self.deadline = None if timeout is None else time.monotonic() + timeout

    def next_delay(self, batch_id: str) -> float:
        delay = self.delay
        if not self.fixed:
            self.delay = min(self.delay * 1.5, 60.0)
        if self.deadline is not None:
            left = self.deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"batch {batch_id} is still running after the wait's timeout")
            delay = min(delay, left)
        return delay

    def left(self) -> float | None:
        """What a retrieve may take of the wait's timeout (None: no timeout)."""
        if self.deadline is None:
            return None
        return max(self.deadline - time.monotonic(), 0.001)


class Watch:
    """What a waiting job shows: a tqdm bar (or a counter line on stderr) of the
    requests done, and each status change logged on the ``kimi`` logger."""

    def __init__(self, progress: bool, secret: str) -> None:
        from ._map import _Progress

        self.secret = secret
        self.progress = _Progress(progress, None, "batch") if progress else None
        self.status: str | None = None
        self.completed = self.failed = 0
        self.total = None

    def see(self, batch: Any) -> None:
        if batch.status != self.status:
            logging = sys.modules.get("logging")
            if logging is not None:
                # Both come from the server: only a documented status is shown as
                # sent, and the id is redacted of the key as every record is.
                from ._logging import redact

                status = batch.status if batch.status in STATUSES else "an unknown status"
                logging.getLogger("kimi").info("batch %s: %s", redact(batch.id, self.secret), status)
            self.status = batch.status
        counts = batch.request_counts
        if self.progress is None or not isinstance(counts, _models.BatchRequestCounts):
            return
        total = _count(counts.total)
        if total and total != self.total:
            self.total = total
            self.progress.set_total(total)
        completed, failed = _count(counts.completed), _count(counts.failed)
        self.progress.update(False, completed - self.completed)
        self.progress.update(True, failed - self.failed)
        self.completed, self.failed = max(completed, self.completed), max(failed, self.failed)

    def close(self) -> None:
        if self.progress is not None:
            self.progress.close()


# -- the sync job --------------------------------------------------------------


class BatchJob:
    """A batch job: ``batch`` is the last state seen, ``id`` its id.  Results are
    read from the platform, so a job re-attached after a restart
    (``client.batches.job(id)``) loses nothing."""

    def __init__(self, client: "Kimi", batch: Any, order: list[str] | None = None, batch_id: str | None = None) -> None:
        self._client = client
        self.batch = checked_batch(batch)
        self.id = batch_id or batch.id      # the id asked for, when one was
        self._order = order

    @property
    def status(self) -> str:
        return self.batch.status

    def refresh(self, timeout: float | None = None) -> Any:
        self.batch = checked_batch(self._client.batches.retrieve(self.id, timeout=timeout))
        return self.batch

    def cancel(self) -> Any:
        self.batch = checked_batch(self._client.batches.cancel(self.id))
        return self.batch

    def wait(self, *, progress: bool = False, poll_interval: float | None = None, timeout: float | None = None) -> Any:
        """Poll until the job ends (completed, failed, expired or cancelled) and
        return its ``Batch``; ``TimeoutError`` after ``timeout`` seconds."""
        poll = Poll(poll_interval, timeout)
        watch = Watch(progress, self._client.api_key)
        try:
            while True:
                watch.see(self.batch)
                if self.batch.status in TERMINAL:
                    return self.batch
                time.sleep(poll.next_delay(self.id))
                self.refresh(poll.left())
        finally:
            watch.close()

    def results(self) -> Iterator[BatchResult]:
        """Every request's ``BatchResult``, in input order (waiting for the job
        first if it has not ended).  ``BatchFailedError`` when the whole job
        failed; a request that never ran (the job expired or was cancelled) has a
        ``BatchRequestError``; one the API refused, its typed API error."""
        if self.batch.status not in TERMINAL:
            self.wait()
        read = self._client.files.content
        contents = [read(file_id).content if file_id else None for file_id in files_to_read(self)]
        if contents[0] is not None:
            self._order = input_order(contents[0])
        return join_results(self._order, contents[1], contents[2], self.batch.status)


class Batches(Resource):
    """The Batch API: ``create``, ``retrieve``, ``list``, ``cancel``, and the whole job
    with ``submit`` / ``job``."""

    _not_raw = frozenset({"list", "submit", "job"})

    def create(
        self,
        *,
        input_file_id: str,
        endpoint: str = ENDPOINT,
        completion_window: str = "24h",
        metadata: Mapping[str, str] | None = None,
        extra_headers: Mapping[str, str] | None = None,
        timeout: float | None = None,
    ) -> Any:
        """Start a batch over an uploaded ``batch`` file; returns its ``Batch``."""
        shape = shape_create(input_file_id, endpoint, completion_window, metadata, extra_headers, timeout)
        return self._client._request(shape)

    def retrieve(self, batch_id: str, *, extra_headers: Mapping[str, str] | None = None, timeout: float | None = None) -> Any:
        return self._client._request(shape_retrieve(batch_id, extra_headers, timeout))

    def cancel(self, batch_id: str, *, extra_headers: Mapping[str, str] | None = None, timeout: float | None = None) -> Any:
        """Cancel a batch that is validating, in progress or finalizing: it goes to
        ``cancelling``, then ``cancelled``."""
        return self._client._request(shape_cancel(batch_id, extra_headers, timeout))

    def list(
        self,
        *,
        limit: int = 20,
        after: str | None = None,
        extra_headers: Mapping[str, str] | None = None,
        timeout: float | None = None,
    ) -> Iterator[Any]:
        """Every batch, newest first, fetched ``limit`` at a time as the iteration
        goes (following ``after`` / ``has_more``)."""
        shape_page(after, limit, extra_headers, timeout)      # checked now, not at the first next()
        return self._pages(limit, after, extra_headers, timeout)

    def _pages(self, limit: int, after: str | None, extra_headers: Any, timeout: Any) -> Iterator[Any]:
        while True:
            page = self._client._request(shape_page(after, limit, extra_headers, timeout))
            data = page_items(page)
            yield from data
            after = next_cursor(page, data, after)
            if after is None:
                return

    def submit(
        self,
        requests: Iterable[Any],
        *,
        completion_window: str = "24h",
        metadata: Mapping[str, str] | None = None,
    ) -> BatchJob:
        """Run many chat requests as one batch job: ``requests`` are dicts of
        ``chat.completions.create()`` arguments, or ``(custom_id, dict)`` pairs
        (ids are generated when not given).  The JSONL file is written to a
        temporary file, checked (unique ids, one model, 100 MB), uploaded and the
        batch created; returns the ``BatchJob``."""
        check_window(completion_window)
        check_metadata(metadata)
        path, order, model = input_file(requests, self._client._defaults)
        try:
            if self._client.check_models:
                self._client.models.check(model)
            uploaded = self._client.files.create(file=path, purpose="batch")
        finally:
            os.unlink(path)
        file_id = uploaded_id(uploaded)
        try:
            batch = self.create(input_file_id=file_id, completion_window=completion_window, metadata=metadata)
        except BaseException:
            # The file would count against the account's file cap for nothing.
            with suppress(Exception):      # the first failure is the one to see
                self._client.files.delete(file_id)
            raise
        return BatchJob(self._client, batch, order)

    def job(self, batch_id: str) -> BatchJob:
        """The job of an existing batch (after a restart, say)."""
        return BatchJob(self._client, self.retrieve(batch_id), batch_id=batch_id)


# -- the async job -------------------------------------------------------------


class AsyncBatchJob:
    """A batch job of AsyncKimi (see ``BatchJob``): ``await job.wait()``,
    ``async for r in job.results()``."""

    def __init__(
        self, client: "AsyncKimi", batch: Any, order: list[str] | None = None, batch_id: str | None = None
    ) -> None:
        self._client = client
        self.batch = checked_batch(batch)
        self.id = batch_id or batch.id
        self._order = order

    @property
    def status(self) -> str:
        return self.batch.status

    async def refresh(self, timeout: float | None = None) -> Any:
        self.batch = checked_batch(await self._client.batches.retrieve(self.id, timeout=timeout))
        return self.batch

    async def cancel(self) -> Any:
        self.batch = checked_batch(await self._client.batches.cancel(self.id))
        return self.batch

    async def wait(self, *, progress: bool = False, poll_interval: float | None = None, timeout: float | None = None) -> Any:
        import asyncio

        poll = Poll(poll_interval, timeout)
        watch = Watch(progress, self._client.api_key)
        try:
            while True:
                watch.see(self.batch)
                if self.batch.status in TERMINAL:
                    return self.batch
                await asyncio.sleep(poll.next_delay(self.id))
                await self.refresh(poll.left())
        finally:
            watch.close()

    async def results(self) -> AsyncIterator[BatchResult]:
        if self.batch.status not in TERMINAL:
            await self.wait()
        read = self._client.files.content
        contents = [(await read(file_id)).content if file_id else None for file_id in files_to_read(self)]
        if contents[0] is not None:
            self._order = input_order(contents[0])
        for result in join_results(self._order, contents[1], contents[2], self.batch.status):
            yield result


class AsyncBatches(AsyncResource):
    """The Batch API of AsyncKimi (see ``Kimi.batches``)."""

    _not_raw = frozenset({"list", "submit", "job"})

    async def create(
        self,
        *,
        input_file_id: str,
        endpoint: str = ENDPOINT,
        completion_window: str = "24h",
        metadata: Mapping[str, str] | None = None,
        extra_headers: Mapping[str, str] | None = None,
        timeout: float | None = None,
    ) -> Any:
        shape = shape_create(input_file_id, endpoint, completion_window, metadata, extra_headers, timeout)
        return await self._client._request(shape)

    async def retrieve(self, batch_id: str, *, extra_headers: Mapping[str, str] | None = None, timeout: float | None = None) -> Any:
        return await self._client._request(shape_retrieve(batch_id, extra_headers, timeout))

    async def cancel(self, batch_id: str, *, extra_headers: Mapping[str, str] | None = None, timeout: float | None = None) -> Any:
        return await self._client._request(shape_cancel(batch_id, extra_headers, timeout))

    def list(
        self,
        *,
        limit: int = 20,
        after: str | None = None,
        extra_headers: Mapping[str, str] | None = None,
        timeout: float | None = None,
    ) -> AsyncIterator[Any]:
        """Every batch, newest first, as an async iterator (see ``Kimi.batches.list``)."""
        shape_page(after, limit, extra_headers, timeout)
        return self._pages(limit, after, extra_headers, timeout)

    async def _pages(self, limit: int, after: str | None, extra_headers: Any, timeout: Any) -> AsyncIterator[Any]:
        while True:
            page = await self._client._request(shape_page(after, limit, extra_headers, timeout))
            data = page_items(page)
            for batch in data:
                yield batch
            after = next_cursor(page, data, after)
            if after is None:
                return

    async def submit(
        self,
        requests: Iterable[Any],
        *,
        completion_window: str = "24h",
        metadata: Mapping[str, str] | None = None,
    ) -> AsyncBatchJob:
        check_window(completion_window)
        check_metadata(metadata)
        path, order, model = input_file(requests, self._client._defaults)
        try:
            if self._client.check_models:
                await self._client.models.check(model)
            uploaded = await self._client.files.create(file=path, purpose="batch")
        finally:
            os.unlink(path)
        file_id = uploaded_id(uploaded)
        try:
            batch = await self.create(input_file_id=file_id, completion_window=completion_window, metadata=metadata)
        except BaseException:
            with suppress(Exception):      # the first failure is the one to see
                await self._client.files.delete(file_id)
            raise
        return AsyncBatchJob(self._client, batch, order)

    async def job(self, batch_id: str) -> AsyncBatchJob:
        return AsyncBatchJob(self._client, await self.retrieve(batch_id), batch_id=batch_id)
