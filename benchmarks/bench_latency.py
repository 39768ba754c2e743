"""Scenario "fixed latency": 1,000 requests, 64 at a time, against a server that takes
50 ms for each.

nginx's slow location waits 50 ms (echo module, no CPU) and then sends the fixed chat
completion, so a client that keeps 64 requests in flight at all times needs 1,000 ÷ 64 ×
50 ms = 781 ms; anything above that is time the client let a slot stand empty (a slot's
16th request makes 800 ms the least possible in practice). The contenders are the same
processes as in the concurrency scenario (`_many`, `bench_concurrency.play`), all at
concurrency 64; the table gives each one's best wall time over the rounds against the
ideal.
"""

from __future__ import annotations

import math
from typing import Any

from ._harness import fmt_num, table
from ._nginx import SLOW_SECONDS
from .bench_concurrency import ManyResult, play, skipped

REQUESTS = 1_000
CONCURRENCY = 64
CONTENDERS = ("kimi-map", "async-kimi", "kimi-threads", "aiohttp")


def ideal(requests: int = REQUESTS, concurrency: int = CONCURRENCY) -> float:
    """Seconds a client needs with every slot busy all the time."""
    return requests / concurrency * SLOW_SECONDS


def measure(url: str, rounds: int, log: Any = print) -> ManyResult:
    return play(url, "slow", {n: (REQUESTS, CONCURRENCY) for n in CONTENDERS}, rounds, log)


def wall_over_ideal(result: ManyResult, name: str) -> float:
    return result.best(name, "wall") / ideal(result.requests[name], result.concurrency[name])


def describe(result: ManyResult) -> str:
    floor = math.ceil(REQUESTS / CONCURRENCY) * SLOW_SECONDS
    return (
        f"{REQUESTS:,} non-streaming requests, {CONCURRENCY} at a time, against nginx taking "
        f"{SLOW_SECONDS * 1e3:.0f} ms for each; ideal = {REQUESTS:,} ÷ {CONCURRENCY} × "
        f"{SLOW_SECONDS * 1e3:.0f} ms = {ideal() * 1e3:.0f} ms (whole batches make "
        f"{floor * 1e3:.0f} ms the least possible). Best of {result.rounds} "
        f"run{'s' if result.rounds != 1 else ''} per contender, the median beside it."
    )


def render(result: ManyResult) -> str:
    rows = []
    for name in result.runs:
        rows.append([
            result.label(name), fmt_num(result.best(name, "wall") * 1e3),
            fmt_num(result.middle(name, "wall") * 1e3), fmt_num(ideal() * 1e3),
            f"{wall_over_ideal(result, name):.3f}×", fmt_num(result.cpu_us(name)),
        ])
    headers = ["contender", "wall ms", "median", "ideal ms", "wall ÷ ideal", "CPU µs/request"]
    return table(headers, rows) + skipped(result)
