"""Shared state of one local server: scripts, recorded requests, counters, the latency,
and the platform's account (the clock, stored files, batches and their limits).

Written by the serving loop's thread and read or written by the test's threads; every
mutation happens under `lock` (the file and batch stores keep locks of their own).
Nothing here does I/O or knows about asyncio; the file store writes to disk itself.
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass
from typing import Any

from ._account import AccountSettings, checked_seconds
from ._batches import BatchStore
from ._files import FileStore
from ._replies import Reply


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the server received it.

    `path` includes any query string; `headers` has lower-case names (repeated headers
    joined with ", "); `json` is the parsed body, or None if it was empty or not JSON.
    An upload (``POST /v1/files``) is recorded with ``body=b""``: its bytes went to disk
    as they arrived, and a record must not hold a 100 MB file in memory.
    """

    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    json: Any


def checked_latency(value: float) -> float:
    """`value` as seconds of service time (see `checked_seconds`)."""
    return checked_seconds("latency", value)


class ServerState:
    """Scripts, records and counters of one server (thread-safe), and its account:
    `clock`, the `files` and `batches` stores, the upload limits.

    `in_flight` counts requests from their head read to their reply written;
    `max_in_flight` is its peak since creation or `reset_counters`.
    """

    #: The gateway whose face the server shows (`_gateways.py`), or None for the API's.
    gateway: str | None = None

    def __init__(
        self,
        api_key: str | None,
        default: Reply,
        latency: float,
        account: AccountSettings | None = None,
    ) -> None:
        account = account if account is not None else AccountSettings()
        self.clock = account.clock
        self.max_file_bytes = account.max_file_bytes
        self.max_files = account.max_files
        self.files = FileStore(account.clock)
        self.batches = BatchStore(account.clock, self.files, account.batch_timing)
        self.api_key = api_key
        self.default = default
        self.latency = checked_latency(latency)
        self.lock = threading.Lock()
        self.requests: list[RecordedRequest] = []
        self.connections = 0
        self.in_flight = 0
        self.max_in_flight = 0
        self._chat: deque[Reply] = deque()
        self._by_path: dict[str, deque[Reply]] = {}

    def record(self, request: RecordedRequest) -> None:
        with self.lock:
            self.requests.append(request)

    def count_connection(self) -> None:
        with self.lock:
            self.connections += 1

    def begin_request(self) -> None:
        with self.lock:
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)

    def end_request(self) -> None:
        with self.lock:
            self.in_flight -= 1

    def reset_counters(self) -> None:
        """Count the peak afresh, starting from the requests in flight now."""
        with self.lock:
            self.max_in_flight = self.in_flight

    def script(self, replies: tuple[Reply, ...]) -> None:
        _check(replies)
        with self.lock:
            self._chat.extend(replies)

    def script_for(self, path: str, replies: tuple[Reply, ...]) -> None:
        _check(replies)
        with self.lock:
            self._by_path.setdefault(path, deque()).extend(replies)

    def reset(self, default: Reply) -> None:
        _check((default,))
        with self.lock:
            self._chat.clear()
            self._by_path.clear()
            del self.requests[:]
            self.default = default
        self.batches.clear()
        self.files.clear()

    def pending(self) -> int:
        with self.lock:
            return len(self._chat) + sum(len(q) for q in self._by_path.values())

    def take_for(self, path: str) -> Reply | None:
        """The next reply scripted for `path` with `script_for`, if any."""
        with self.lock:
            queue = self._by_path.get(path)
            return queue.popleft() if queue else None

    def take_chat(self) -> Reply:
        """The next chat reply: `script_for` queue, then `script` queue, then the default."""
        with self.lock:
            queue = self._by_path.get("/v1/chat/completions")
            if queue:
                return queue.popleft()
            if self._chat:
                return self._chat.popleft()
            return self.default


def _check(replies: tuple[Reply, ...]) -> None:
    for reply in replies:
        if not isinstance(reply, Reply):
            raise TypeError(f"script: expected Reply, got {type(reply).__name__}")
