"""How the platform account of one local server behaves: its clock, upload limits and
batch timing, checked once when the server is made.

Values only; the stores that follow them are `_files.py` and `_batches.py`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from ._batches import BatchTiming
from ._clock import Clock, SystemClock


def checked_seconds(name: str, value: float) -> float:
    """`value` as seconds; TypeError or ValueError unless a finite number >= 0."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name}: expected seconds as a number, got {type(value).__name__}")
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"{name}: must be a finite number >= 0, got {value!r}")
    return float(value)


def checked_count(name: str, value: int, least: int) -> int:
    """`value` as an int >= `least`; TypeError or ValueError otherwise."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name}: expected an int, got {type(value).__name__}")
    if value < least:
        raise ValueError(f"{name}: must be >= {least}, got {value!r}")
    return value


def checked_timing(timing: tuple[float, float, float]) -> BatchTiming:
    """(validate_s, run_s, finalize_s) as a BatchTiming of seconds >= 0."""
    if not isinstance(timing, (tuple, list)) or len(timing) != 3:
        raise TypeError("batch_timing: expected (validate_s, run_s, finalize_s)")
    names = ("validate_s", "run_s", "finalize_s")
    return BatchTiming(*(checked_seconds(f"batch_timing {n}", v) for n, v in zip(names, timing)))


#: The platform's upload limits (kimi-api.md §7: 100 MB a file; a cap on files stored).
MAX_FILE_BYTES = 100 * 1024 * 1024
MAX_FILES = 1000
#: Seconds a batch validates, runs, finalizes: quick enough for a test with real time.
BATCH_TIMING = BatchTiming(0.05, 0.2, 0.05)


@dataclass(frozen=True)
class AccountSettings:
    """How the server's platform account behaves: the clock its timestamps and batch
    timelines read, the upload limits, the batch timing. Build it with `checked`."""

    clock: Clock = field(default_factory=SystemClock)
    max_file_bytes: int = MAX_FILE_BYTES
    max_files: int = MAX_FILES
    batch_timing: BatchTiming = BATCH_TIMING

    @classmethod
    def checked(
        cls,
        clock: Clock | None,
        max_file_bytes: int,
        max_files: int,
        batch_timing: tuple[float, float, float],
    ) -> AccountSettings:
        """The settings from KimiServer's keywords; TypeError or ValueError if unusable."""
        if clock is not None and not callable(getattr(clock, "now", None)):
            raise TypeError(f"clock: expected an object with now(), got {type(clock).__name__}")
        return cls(
            clock if clock is not None else SystemClock(),
            checked_count("max_file_bytes", max_file_bytes, 1),
            checked_count("max_files", max_files, 0),
            checked_timing(batch_timing),
        )
