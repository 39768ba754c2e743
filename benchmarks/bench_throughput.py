"""Scenario "throughput": the same contenders on a stream of large chunks.

Each content chunk carries 4,096 characters, so per-chunk costs (object building, the
Python loop) shrink and bytes per second shows how close each client gets to curl, which
only moves bytes. The run count follows the streaming scenario: N/20 chunks, about as many
megabytes as the small-chunk stream.
"""

from __future__ import annotations

from typing import Any

from ._baseline import Baseline
from .bench_streaming import CONTENDERS, StreamResult, measure

TEXT = "tok " * 1024


def chunks_for(streaming_chunks: int) -> int:
    return max(100, streaming_chunks // 20)


def run(
    streaming_chunks: int, rounds: int, log: Any = print, baseline: Baseline | None = None
) -> StreamResult:
    return measure(chunks_for(streaming_chunks), TEXT, rounds, CONTENDERS, log, baseline)
