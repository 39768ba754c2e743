"""Scenario "callgrind": instructions per chunk and per request, kimi now and before.

Each measurement is one contender process of the streaming or requests scenario (the
same loops, the same checks) run under ``valgrind --tool=callgrind
--dump-before=time_process_time``. Callgrind writes out its counts whenever the process
enters the C function behind ``time.process_time()``, which a contender calls exactly
twice, at the start and at the end of its timed section; so the second of the three
parts counts the instructions of the timed section alone (the request or requests and
the whole read loop), without start-up, imports or the server, which runs natively in a
process of its own. Instructions executed are not time, but unlike time they hardly
move with the machine's load, so a small difference between two builds shows here when
the CPU figures are too noisy to tell. ``PYTHONHASHSEED=0`` fixes the string hashes; what
still varies is how the bytes happen to arrive (how many reads a stream takes), and
repeated runs of one build agree within about 1%.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import bench_requests, bench_streaming
from ._baseline import Baseline, before
from ._harness import BenchError, Server, fmt_num, fmt_ratio, table

#: (key, what the count is of) for each measurement, in table order.
MEASURES = (
    ("kimi", "instructions per chunk, chunk objects (small chunks)"),
    ("kimi-text", "instructions per chunk, `.text()` (small chunks)"),
    ("request", "instructions per non-streaming request"),
)


@dataclass
class CallgrindResult:
    """Instructions per unit of work: counts[key][version], version "now" or "before"."""

    chunks: int
    calls: int
    baseline: Baseline | None
    counts: dict[str, dict[str, float]] = field(default_factory=dict)

    def ratio(self, key: str) -> float | None:
        """Before ÷ now for `key` (above 1: now executes fewer instructions)."""
        pair = self.counts.get(key, {})
        if "now" not in pair or "before" not in pair:
            return None
        return pair["before"] / pair["now"]


def unavailable() -> str:
    """Why callgrind cannot run here, or "" when it can."""
    if shutil.which("valgrind") is None:
        return "valgrind is not installed"
    proc = subprocess.run(["valgrind", "--version"], capture_output=True, text=True, check=False)
    return "" if proc.returncode == 0 else f"valgrind --version failed: {proc.stderr.strip()}"


def wrapper(out: Path) -> list[str]:
    """The command a contender's interpreter runs under, writing parts to `out`.N."""
    return [
        "env", "PYTHONHASHSEED=0", "valgrind", "--tool=callgrind", "--quiet",
        f"--callgrind-out-file={out}", "--dump-before=time_process_time",
    ]


def timed_instructions(out: Path) -> int:
    """Instructions of the timed section from callgrind's parts `out`.1, `out`.2, `out`.
    BenchError unless there were exactly the two dumps the section's two clock reads cause."""
    parts = sorted(out.parent.glob(out.name + ".*"))
    if [p.name for p in parts] != [out.name + ".1", out.name + ".2"]:
        raise BenchError(
            f"callgrind wrote {[p.name for p in parts]}: time.process_time() was not called "
            "exactly twice"
        )
    for line in parts[1].read_text(encoding="utf-8", errors="replace").splitlines():
        if line.startswith("summary:"):
            return int(line.split()[1])
    raise BenchError(f"{parts[1]}: no summary line")


def _count(run_one: Any, result: Any, name: str, url: str, tmp: Path) -> int:
    """Instructions of one checked run of contender `name` under callgrind."""
    out = tmp / name.replace("@", "-")
    run_one(result, name, url, wrapper(out))
    return timed_instructions(out)


def _versions(name: str, baseline: Baseline | None) -> list[tuple[str, str]]:
    """(version, contender name) pairs: now, and before when there is a baseline."""
    pairs = [("now", name)]
    if baseline is not None:
        pairs.append(("before", before(name)))
    return pairs


def measure_streams(result: CallgrindResult, tmp: Path, log: Any) -> None:
    """Instructions per chunk of both kimi loops on a stream of `result.chunks` chunks."""
    text = bench_streaming.TEXT
    with bench_streaming.stream_server(result.chunks, text) as (url, body_bytes):
        stream = bench_streaming.StreamResult(
            result.chunks, len(text), body_bytes, rounds=1, baseline=result.baseline,
        )
        for key in ("kimi", "kimi-text"):
            for version, name in _versions(key, result.baseline):
                per_chunk = _count(bench_streaming.run_one, stream, name, url, tmp) / result.chunks
                result.counts.setdefault(key, {})[version] = per_chunk
                log(f"  callgrind {stream.label(name):<40} {per_chunk:,.0f} instructions per chunk")


def measure_requests(result: CallgrindResult, tmp: Path, log: Any) -> None:
    """Instructions per non-streaming request of kimi, `result.calls` calls."""
    with Server() as server:
        content, body_bytes = bench_requests.reference(server.url)
        requests = bench_requests.RequestResult(
            result.calls, 1, content, body_bytes, baseline=result.baseline
        )
        for version, name in _versions("kimi", result.baseline):
            per_call = _count(bench_requests.run_one, requests, name, server.url, tmp) / result.calls
            result.counts.setdefault("request", {})[version] = per_call
            log(f"  callgrind {requests.label(name):<40} {per_call:,.0f} instructions per request")


def run(chunks: int, calls: int, baseline: Baseline | None, log: Any = print) -> CallgrindResult:
    """Count instructions of kimi now (and before) per chunk and per request."""
    result = CallgrindResult(chunks, calls, baseline)
    with tempfile.TemporaryDirectory(prefix="kimi-callgrind-") as tmp:
        measure_streams(result, Path(tmp), log)
        measure_requests(result, Path(tmp), log)
    return result


def describe(result: CallgrindResult) -> str:
    return (
        f"Instructions executed by the client process in its timed section under callgrind "
        f"(one run each: a {result.chunks:,}-chunk stream of the small-chunk shape, "
        f"{result.calls:,} non-streaming calls), divided by the chunks or calls. Repeated "
        "runs of one build agree within about 1%."
    )


def render(result: CallgrindResult) -> str:
    """The table of counts, now beside before, with before ÷ now."""
    headers = ["measure", "kimi now"]
    if result.baseline is not None:
        headers += [f"kimi before ({result.baseline.rev})", "before ÷ now"]
    rows = []
    for key, what in MEASURES:
        pair = result.counts.get(key, {})
        row = [what, fmt_num(pair["now"], 0) if "now" in pair else "–"]
        if result.baseline is not None:
            ratio = result.ratio(key)
            row += [
                fmt_num(pair["before"], 0) if "before" in pair else "–",
                fmt_ratio(ratio) if ratio is not None else "–",
            ]
        rows.append(row)
    return table(headers, rows)
