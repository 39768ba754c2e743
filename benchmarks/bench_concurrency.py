"""Scenario "concurrency": many non-streaming requests in flight at once, against nginx.

nginx answers each ``POST /fast/v1/chat/completions`` at once with the fixed chat
completion (see `_nginx`), so the run measures the client: requests per second through
256 concurrent requests (64 threads for the thread contenders, as a pipeline on threads
would use them) and client CPU per request. Each contender runs `--requests` requests
(10,000 by default) in its own process (see `_many`), fewer for the slow ones so the run
stays short; figures are per request, so counts compare. Rounds rotate and the tables
give each contender's best round, as elsewhere. Every reply's message content must equal
the fixed reply's, or the run stops the benchmark. Contenders whose API this tree's kimi
lacks (`AsyncKimi`, `map`) are skipped and the reason shown.

`ManyResult` and `play` are shared with the fixed-latency scenario (`bench_latency`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from . import _many
from ._baseline import Rounds, check_origin
from ._harness import BenchError, fmt_num, fmt_peak_rss, fmt_ratio, run_json, skipped_note, table
from ._replies import CONTENT

REQUESTS = 10_000
CONCURRENCY = 256
THREADS = 64
#: Contender -> (its share of --requests, its concurrency), in table order.
PLAN: dict[str, tuple[float, int]] = {
    "kimi-threads": (1, THREADS),
    "kimi-map": (1, CONCURRENCY),
    "async-kimi": (1, CONCURRENCY),
    "async-kimi-map": (1, CONCURRENCY),
    "aiohttp": (1, CONCURRENCY),
    "httpx-async": (0.2, CONCURRENCY),
    "openai-threads": (0.2, THREADS),
    "async-openai": (0.2, CONCURRENCY),
    "litellm": (0.1, CONCURRENCY),
}
#: (A, B) pairs of the ratio table: A's throughput ÷ B's, B's CPU per request ÷ A's.
PAIRS = (
    ("kimi-map", "kimi-threads"),
    ("async-kimi", "aiohttp"),
    ("kimi-map", "async-openai"),
    ("async-kimi", "async-openai"),
    ("async-kimi-map", "async-kimi"),
    ("kimi-threads", "openai-threads"),
)


@dataclass(kw_only=True)
class ManyResult(Rounds):
    """Every round of every contender: `requests` and `concurrency` per contender."""

    location: str
    rounds: int
    requests: dict[str, int] = field(default_factory=dict)
    concurrency: dict[str, int] = field(default_factory=dict)

    def label(self, name: str) -> str:
        return _many.label(name, self.concurrency[name])

    def cpu_us(self, name: str) -> float:
        """Best (least) client CPU µs per request over the rounds."""
        return self.best(name) / self.requests[name] * 1e6

    def median_cpu_us(self, name: str) -> float:
        return self.middle(name) / self.requests[name] * 1e6

    def per_s(self, name: str) -> float:
        """Requests per second in the best (least) wall time."""
        return self.requests[name] / self.best(name, "wall")


def check_run(result: ManyResult, run: dict[str, Any]) -> None:
    """BenchError unless every reply of `run` carried the fixed reply's content."""
    name = run["name"]
    label = result.label(name)
    check_origin(name, run, None, label)
    n = result.requests[name]
    if run["contents"] != {CONTENT: n}:
        others = {k[:60]: v for k, v in run["contents"].items() if k != CONTENT}
        raise BenchError(
            f"{label}: {run['contents'].get(CONTENT, 0)} of {n} replies carried the fixed "
            f"content; the others: {others}"
        )


def play(
    url: str, location: str, plan: dict[str, tuple[int, int]], rounds: int, log: Callable[[str], None],
) -> ManyResult:
    """Run each contender of `plan` (name -> (requests, concurrency)) `rounds` times
    against `url`, checked."""
    result = ManyResult(location=location, rounds=rounds)
    for name, (n, concurrency) in plan.items():
        result.requests[name] = n
        result.concurrency[name] = concurrency

    def run_one(name: str) -> dict[str, Any]:
        args = [name, url, "--requests", result.requests[name], "--concurrency", result.concurrency[name]]
        run = run_json("benchmarks._many", args)
        if "skipped" not in run:
            check_run(result, run)
        return run

    result.play(tuple(plan), rounds, run_one, log)
    return result


def counts(requests: int) -> dict[str, tuple[int, int]]:
    """PLAN with shares turned into request counts (at least 100 each)."""
    return {name: (max(100, int(requests * share)), c) for name, (share, c) in PLAN.items()}


def measure(url: str, requests: int, rounds: int, log: Any = print) -> ManyResult:
    return play(url, "fast", counts(requests), rounds, log)


def describe(result: ManyResult) -> str:
    most = max(result.requests.values())
    return (
        f"Non-streaming `chat.completions.create` calls against nginx's fixed reply, "
        f"{CONCURRENCY} in flight at once ({THREADS} for thread pools); {most:,} requests per "
        f"run, fewer for the slower contenders (the requests column), best of {result.rounds} "
        f"run{'s' if result.rounds != 1 else ''} per contender, the median CPU per request "
        "beside it. CPU is the whole client process's, every thread included."
    )


def skipped(result: ManyResult) -> str:
    """The note under a table naming the contenders that did not run, and why."""
    return skipped_note({result.label(name): why for name, why in result.skipped.items()})


def render(result: ManyResult) -> str:
    """The per-contender table, the ratio table, and what was skipped."""
    base = "async-openai" if result.has("async-openai") else None
    rows = []
    for name in result.runs:
        us = result.cpu_us(name)
        rows.append([
            result.label(name), f"{result.requests[name]:,}", fmt_num(result.per_s(name)),
            fmt_num(us), fmt_num(result.median_cpu_us(name)),
            fmt_ratio(result.per_s(name) / result.per_s(base)) if base else "–",
            fmt_ratio(result.cpu_us(base) / us) if base else "–",
            fmt_peak_rss(result.runs[name]),
        ])
    headers = ["contender", "requests", "requests/s", "CPU µs/request", "median",
               "throughput ÷ AsyncOpenAI's", "AsyncOpenAI CPU ÷ this", "peak RSS MB"]
    pairs = []
    for a, b in PAIRS:
        if a not in result.concurrency or b not in result.concurrency:
            continue
        what = f"{result.label(a)} vs {result.label(b)}"
        if result.has(a) and result.has(b):
            pairs.append([what, fmt_ratio(result.per_s(a) / result.per_s(b)),
                          fmt_ratio(result.cpu_us(b) / result.cpu_us(a))])
        else:
            pairs.append([what, "– (skipped)", "– (skipped)"])
    pair_headers = ["A vs B", "throughput, A ÷ B", "CPU per request, B ÷ A (above 1×: A is cheaper)"]
    return table(headers, rows) + "\n\n" + table(pair_headers, pairs) + skipped(result)
