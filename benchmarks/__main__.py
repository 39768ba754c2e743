"""python -m benchmarks: run every scenario, print Markdown tables, rewrite README.md.

    python -m benchmarks                 100,000-chunk streams, 3 rounds (make bench)
    python -m benchmarks --quick         10,000-chunk streams, shorter thread windows
    python -m benchmarks --chunks N      another stream length
    python -m benchmarks --only import   some scenarios (README.md is then left alone)

Progress goes to stderr; the tables go to stdout. A contender that sees the wrong
number of chunks or characters stops the run with an error: no table is better than a
wrong one.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import importlib.util
import os
import platform
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import bench_import, bench_streaming, bench_threads, bench_throughput
from ._harness import BenchError, fmt_num, fmt_ratio, table

SCENARIOS = ("streaming", "throughput", "import", "threads")
README = Path(__file__).resolve().parent / "README.md"

INTRO = """\
# Benchmarks

`python -m benchmarks` (or `make bench`, which first installs `openai` into `.venv`) measures
kimi against [openai-python](https://github.com/openai/openai-python), httpx with a `json.loads`
loop, a standard-library loop (`http.client` + `json`) and `curl`. This file is rewritten by
each run; the text above "Results" lives in `benchmarks/__main__.py`.

## How it is measured

- One local server, `python -m kimi.testing --bulk N`, runs in its own process and answers
  every streamed chat request with the same SSE stream: N content chunks in the
  OpenAI/Moonshot chunk shape, a final chunk with usage, then `data: [DONE]`. Its CPU is
  never counted.
- Each contender runs in its own fresh process. **Client CPU** is `time.process_time()`
  around the request and the whole read loop, after imports and client construction;
  **wall** is `time.perf_counter()` over the same span. Every loop reads
  `chunk.choices[0].delta.content` (or the dict equivalent) of every chunk, and counts
  chunks and characters. A run that does not see exactly N chunks and N times the chunk's
  characters (and, for kimi, `usage.completion_tokens == N`) aborts the benchmark.
- `curl -N -s -o /dev/null` is the bytes-per-second anchor: it moves the same bytes but
  parses neither SSE nor JSON and builds no objects. Its CPU is
  `getrusage(RUSAGE_CHILDREN)` around `subprocess.run` (so it includes curl's start-up), its
  wall is curl's own `time_total`, and its byte count must equal a reference fetch.
- Each contender streams once per round, the order rotating between rounds. Tables give
  each contender's best round, as `timeit` does: other processes on the machine only ever
  add time, so the least is the closest to the client's own cost. The median round's CPU
  is printed beside it. CPU per chunk divides by the N content chunks; MB/s is the SSE
  body's bytes over the wall time.
- Two stream shapes: many small chunks (`tok ` each, like a real token stream) and fewer
  4 KB chunks, where per-chunk costs matter less and bytes per second more.
- **Import** is a fresh interpreter per run: the wall time of `python -c "import X"`
  minus that of `python -c "pass"`, and the cumulative time `-X importtime` reports.
- **Threads**: a pure-Python counting loop in one thread, alternately alone and while a
  second thread of the same process streams; the retained fraction compares each streaming
  window with the windows alone around it.

## What it does not show

- Loopback only: no TLS, no real network latency or bandwidth limits, no proxies. On the
  real API the model's token rate, not the client, sets the pace; what these numbers show
  is the CPU a client spends per chunk, which is what it takes away from the rest of your
  program (and how many streams one core can serve).
- One machine, one invocation (a few rounds per contender, not a statistical study). Small
  VMs share their cores with neighbours: expect variation between runs, most of all in the
  threads scenario and in curl's very short transfers; the load average is recorded below.
- Only the testing server's bulk stream: identical ASCII `content` deltas. Reasoning, tool
  calls, non-ASCII text and non-streaming calls are not timed here.
- CPU time of the whole client process, so background threads a client may start count
  against it; memory is only the peak RSS of each process.
"""


@dataclass
class Config:
    chunks: int
    rounds: int
    thread_seconds: float
    import_runs: int
    scenarios: tuple[str, ...]
    write_readme: bool


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# ---- the machine ----------------------------------------------------------------------


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def _httpx_version() -> str:
    for dist in ("httpx", "httpx2"):
        version = _version(dist)
        if version != "not installed":
            return f"{dist} {version}"
    return "not installed"


def _curl_cli() -> str:
    try:
        out = subprocess.run(["curl", "--version"], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return "not found"
    return " ".join(out.splitlines()[0].split()[:2])


def machine() -> list[tuple[str, str]]:
    import kimi
    from kimi import _core

    load = os.getloadavg()
    return [
        ("platform", platform.platform()),
        ("CPU", f"{_cpu_model()}, {os.cpu_count()} logical cores"),
        ("load average at start (1/5/15 min)", " / ".join(f"{x:.2f}" for x in load)),
        ("Python", f"{platform.python_implementation()} {platform.python_version()}"),
        ("kimi", kimi.__version__),
        ("libcurl (kimi._core.curl_version)", _core.curl_version),
        ("cJSON (kimi._core.cjson_version)", _core.cjson_version),
        ("openai-python", _version("openai")),
        ("httpx", _httpx_version()),
        ("curl CLI", _curl_cli()),
    ]


# ---- targets --------------------------------------------------------------------------


@dataclass
class Target:
    what: str
    measured: str
    required: str
    required_met: bool | None
    budget: str
    budget_met: bool | None


def _met(value: bool | None) -> str:
    return "–" if value is None else ("yes" if value else "**no**")


def targets(results: dict[str, Any]) -> list[Target]:
    out: list[Target] = []
    streaming = results.get("streaming")
    if streaming is not None:
        kimi_us = streaming.cpu_us_per_chunk("kimi")
        r_openai = streaming.cpu_us_per_chunk("openai") / kimi_us
        r_stdlib = streaming.cpu_us_per_chunk("stdlib") / kimi_us
        out.append(Target(
            "client CPU per chunk, kimi vs openai-python", f"{fmt_ratio(r_openai)} less",
            "≥ 10× less", r_openai >= 10, "≥ 20× less", r_openai >= 20,
        ))
        out.append(Target(
            "client CPU per chunk, kimi vs the stdlib loop", f"{fmt_ratio(r_stdlib)} less",
            "≥ 2× less", r_stdlib >= 2, "≥ 3× less", r_stdlib >= 3,
        ))
    imports = results.get("import")
    if imports is not None:
        ratio = imports.ratio()
        out.append(Target(
            "`import kimi` vs `import openai` (wall − bare)", f"{fmt_ratio(ratio)} faster",
            "≥ 10× faster", ratio >= 10, "≥ 20× faster", ratio >= 20,
        ))
    for key, shape in (("streaming", "small chunks"), ("throughput", "4 KB chunks")):
        res = results.get(key)
        if res is None:
            continue
        share = res.mb_per_s("kimi") / res.mb_per_s("curl")
        out.append(Target(
            f"bytes/s, kimi vs `curl -N` ({shape})", f"{share * 100:.1f}% of curl",
            "–", None, "≥ 50%", share >= 0.5,
        ))
    threads = results.get("threads")
    if threads is not None:
        retained = threads.retained("paced", "kimi")
        if retained is not None:
            out.append(Target(
                "a CPU-bound thread's speed while kimi streams (paced stream)",
                f"{retained * 100:.1f}% kept", "–", None, "≥ 90%", retained >= 0.9,
            ))
    return out


def render_targets(items: list[Target]) -> str:
    rows = [[t.what, t.measured, t.required, _met(t.required_met), t.budget, _met(t.budget_met)]
            for t in items]
    headers = ["target", "measured", "required", "met", "DESIGN.md budget", "met"]
    return table(headers, rows, align="lrrlrl")


# ---- the run --------------------------------------------------------------------------


def run(config: Config) -> tuple[dict[str, Any], list[str]]:
    """Run the chosen scenarios; return their results and the Markdown sections."""
    results: dict[str, Any] = {}
    sections: list[str] = []
    if "streaming" in config.scenarios:
        log(f"streaming: {config.chunks:,} chunks, {config.rounds} rounds")
        res = bench_streaming.measure(config.chunks, bench_streaming.TEXT, config.rounds, log=log)
        results["streaming"] = res
        sections.append(
            "### Streaming: small chunks\n\n" + bench_streaming.describe(res) + "\n\n"
            + bench_streaming.render(res)
        )
    if "throughput" in config.scenarios:
        log(f"throughput: {bench_throughput.chunks_for(config.chunks):,} chunks of 4 KB, {config.rounds} rounds")
        big = bench_throughput.run(config.chunks, config.rounds, log=log)
        results["throughput"] = big
        sections.append(
            "### Throughput: 4 KB chunks\n\n" + bench_streaming.describe(big) + "\n\n"
            + bench_streaming.render(big)
        )
    if "import" in config.scenarios:
        log(f"import: {config.import_runs} fresh interpreters each")
        imp = bench_import.run(config.import_runs, log=log)
        results["import"] = imp
        sections.append(
            f"### Import time\n\nMedian of {imp.runs} fresh interpreters each.\n\n" + bench_import.render(imp)
        )
    if "threads" in config.scenarios:
        log(f"threads: {config.thread_seconds:g} s windows")
        thr = bench_threads.run(config.thread_seconds, log=log)
        results["threads"] = thr
        sections.append(
            f"### Threads\n\nA pure-Python loop (`x += i`) in one thread, {config.thread_seconds:g} s "
            "windows alone and while another thread streams, alternating (A S A S … A, five "
            "streaming windows); retained = median over the streaming windows of each one's rate "
            "over the mean of its two neighbours alone. "
            "In the bulk case the streaming thread is itself busy all the time, so the two "
            "threads share the GIL and the cores.\n\n" + bench_threads.render(thr)
        )
    return results, sections


def settings_line(config: Config, elapsed: float) -> str:
    return (
        f"Run on {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} with "
        f"`--chunks {config.chunks}`, {config.rounds} rounds, {config.thread_seconds:g} s thread windows, "
        f"{config.import_runs} import runs; the whole run took {elapsed:.0f} s; "
        f"load average at the end {os.getloadavg()[0]:.2f}."
    )


def readme(machine_rows: list[tuple[str, str]], sections: list[str], items: list[Target], settings: str) -> str:
    parts = [
        INTRO,
        "## Machine and versions\n\n" + table(["", ""], machine_rows, align="ll"),
        "## Results\n\n" + settings,
        *sections,
        "## Targets\n\n"
        "\"Required\" is the minimum kimi must meet; the DESIGN.md budget is the stricter goal "
        "of the design document's performance budget. Both are judged on the "
        "figures of this one run (best rounds for streaming, medians for import and threads).\n\n" + render_targets(items),
    ]
    return "\n\n".join(p.rstrip() for p in parts) + "\n"


def parse_args(argv: list[str] | None) -> Config:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.split("\n\n")[0])
    parser.add_argument("--chunks", type=int, help="content chunks per stream (default 100000)")
    parser.add_argument("--quick", action="store_true", help="10,000 chunks, shorter thread windows")
    parser.add_argument("--rounds", type=int, default=3, help="runs per contender (default 3)")
    parser.add_argument("--only", action="append", choices=SCENARIOS, help="run only this scenario (repeatable)")
    parser.add_argument("--no-readme", action="store_true", help="do not rewrite benchmarks/README.md")
    args = parser.parse_args(argv)
    chunks = args.chunks if args.chunks is not None else (10_000 if args.quick else 100_000)
    if chunks < 100:
        parser.error("--chunks must be at least 100")
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    scenarios = tuple(args.only) if args.only else SCENARIOS
    return Config(
        chunks=chunks,
        rounds=args.rounds,
        thread_seconds=0.25 if args.quick else 0.5,
        import_runs=5 if args.quick else 7,
        scenarios=scenarios,
        write_readme=not args.no_readme and set(scenarios) == set(SCENARIOS),
    )


def main(argv: list[str] | None = None) -> int:
    config = parse_args(argv)
    if importlib.util.find_spec("openai") is None:
        log("python -m benchmarks: openai-python is not installed; run `make bench` or "
            f"`{sys.executable} -m pip install openai`")
        return 2
    started = time.perf_counter()
    machine_rows = machine()
    try:
        results, sections = run(config)
    except BenchError as exc:
        log(f"python -m benchmarks: FAILED: {exc}")
        return 1
    items = targets(results)
    settings = settings_line(config, time.perf_counter() - started)
    out = [settings, *sections]
    if items:
        out.append("### Targets\n\n" + render_targets(items))
    print("\n\n".join(out))
    if config.write_readme:
        README.write_text(readme(machine_rows, sections, items, settings), encoding="utf-8")
        log(f"wrote {README}")
    else:
        log("benchmarks/README.md left unchanged (--no-readme, or only some scenarios ran)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
