"""The clocks the local server reads for its platform objects' timestamps and timelines.

`SystemClock` is wall time; `ManualClock` moves only when a test says so, so a batch's
whole life (validating ... completed, or expired after its window) can be walked through
without waiting. Both are thread-safe; nothing here knows about HTTP.
"""

from __future__ import annotations

import math
import threading
import time
from typing import Protocol


class Clock(Protocol):
    """What the server needs of a clock: seconds since the epoch, as a float."""

    def now(self) -> float: ...


class SystemClock:
    """Wall time (`time.time()`): what a server reads unless given a `ManualClock`."""

    def now(self) -> float:
        return time.time()

    def __repr__(self) -> str:
        return "SystemClock()"


class ManualClock:
    """A clock that stands still until `advance` moves it (thread-safe).

    ::

        clock = ManualClock()
        with KimiServer(clock=clock) as server:
            ...  # create a batch
            clock.advance(25 * 3600)  # past a 24h completion window

    `start` is the first reading, in seconds since the epoch (default: the time of the
    kimi-api.md §11 batch sample, so timestamps read like the documented ones).
    """

    def __init__(self, start: float = 1776761000.0) -> None:
        self._now = _seconds("ManualClock", start)
        self._lock = threading.Lock()

    def now(self) -> float:
        """The current reading in seconds since the epoch."""
        with self._lock:
            return self._now

    def advance(self, seconds: float) -> float:
        """Move the clock forward by `seconds` (>= 0) and return the new reading."""
        step = _seconds("ManualClock.advance", seconds)
        if step < 0:
            raise ValueError(f"ManualClock.advance: a clock never goes back, got {seconds!r}")
        with self._lock:
            self._now += step
            return self._now

    def __repr__(self) -> str:
        return f"ManualClock({self.now()!r})"


def _seconds(what: str, value: float) -> float:
    """`value` as finite float seconds; TypeError or ValueError otherwise."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{what}: expected seconds as a number, got {type(value).__name__}")
    if not math.isfinite(value):
        raise ValueError(f"{what}: seconds must be finite, got {value!r}")
    return float(value)
