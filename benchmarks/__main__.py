"""python -m benchmarks: run every scenario, print Markdown tables, rewrite README.md.

    python -m benchmarks                 100,000-chunk streams, 3 rounds (make bench)
    python -m benchmarks --quick         10,000-chunk streams, shorter thread windows
    python -m benchmarks --chunks N      another stream length
    python -m benchmarks --calls N       non-streaming calls per run (default 2000)
    python -m benchmarks --requests N    requests per run in the concurrency scenario
                                         (default 10000; slower contenders run a share)
    python -m benchmarks --baseline REV  compare kimi now with kimi at REV (default 1f14ea6;
                                         `none`: no comparison)
    python -m benchmarks --no-callgrind  skip the instruction counts under valgrind
    python -m benchmarks --only import   some scenarios (README.md is then left alone)
    python -m benchmarks --only concurrency   many requests at once, fixed latency and
                                         1,000 streams, against nginx

Progress goes to stderr; the tables go to stdout. A contender that sees the wrong
number of chunks or characters, or a wrong reply, stops the run with an error: no table
is better than a wrong one.
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
from typing import Any, Callable

from . import (
    _nginx, bench_callgrind, bench_concurrency, bench_import, bench_latency, bench_requests,
    bench_streaming, bench_streams, bench_threads, bench_throughput,
)
from ._baseline import DEFAULT_REV, Baseline, before, prepare, working_tree
from ._harness import BenchError, fmt_num, fmt_ratio, table

SCENARIOS = ("streaming", "throughput", "requests", "concurrency", "import", "threads", "callgrind")
#: The scenarios a run needs to rewrite README.md ("callgrind" may be left out).
README_SCENARIOS = ("streaming", "throughput", "requests", "concurrency", "import", "threads")
#: The scenarios kimi before takes part in.
BASELINE_SCENARIOS = ("streaming", "throughput", "requests", "callgrind")
README = Path(__file__).resolve().parent / "README.md"

INTRO = """\
# Benchmarks

`python -m benchmarks` (or `make bench`, which first installs `openai`, `aiohttp`, `httpx` and
`litellm` into `.venv`, and nginx with its echo module from Debian) measures kimi against
[openai-python](https://github.com/openai/openai-python), httpx with a `json.loads` loop, a
standard-library loop (`http.client` + `json`) and `curl`, many requests at once against
aiohttp, httpx's `AsyncClient`, `AsyncOpenAI` and litellm, and against kimi itself as it was at
an earlier commit ("kimi before", by default `1f14ea6`, the last release). This file is
rewritten by each run; the text above "Results" lives in `benchmarks/__main__.py`.

## How it is measured

- One local server, `python -m kimi.testing --bulk N`, runs in its own process and answers
  every streamed chat request with the same SSE stream: N content chunks in the
  OpenAI/Moonshot chunk shape, a final chunk with usage, then `data: [DONE]`. For
  non-streaming requests another one, `python -m kimi.testing`, sends its default answer:
  one JSON chat completion of a few sentences with Content-Length. Servers' CPU is never
  counted.
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
- **Requests**: each contender process builds one client and makes one call outside the
  clock (the connection, lazy imports, first-use caches), then `--calls` non-streaming
  `chat.completions.create` calls (2,000 by default) on that client, so on one keep-alive
  connection, inside it; client CPU per request is `process_time()` over the loop divided
  by the calls. Every reply's `choices[0].message.content` must equal the reference
  fetch's. The httpx contender posts the same JSON and runs `json.loads` on each body.
  Rounds rotate and tables give the best round, as for the streams.
- **kimi before** runs beside kimi now in the streaming, throughput and requests scenarios,
  in the same rounds of the same run. The benchmark exports the commit `--baseline REV`
  names with `git archive` (without its `benchmarks/` and `tests/`) into
  `build/bench-baseline-<commit>/`, builds its extension there with the same interpreter
  (`setup.py build_ext --inplace`: the same compiler, flags, libcurl and cJSON), and reuses
  that build in later runs. Its processes run in that tree with it first on `PYTHONPATH`,
  and every run's `kimi.__file__` is checked to be the tree it was meant to use. kimi now
  is the working tree as `make` built it; its git revision is in the table below, with
  `-dirty` when it has uncommitted changes. Outside a git checkout holding the commit (an
  unpacked sdist, say) kimi before is skipped and the reason printed; `--baseline none`
  leaves it out.
- **Callgrind**: the same kimi contender processes (chunk objects and `.text()` on a
  shorter small-chunk stream, and non-streaming calls) once each under `valgrind
  --tool=callgrind --dump-before=time_process_time`; the two `time.process_time()` calls
  around the timed section split callgrind's counts, so the middle part is the
  instructions of that section alone. These counts hardly depend on the machine's load
  (repeated runs of one build agree within about 1%), so they tell small differences
  between kimi now and before apart when CPU times cannot.
  `--no-callgrind` skips them (about a minute of the run).
- **Concurrency** uses nginx instead of the Python server, which would cost more CPU than
  the clients once hundreds of requests are in flight on this machine: Debian's nginx, one
  worker, keep-alive, started by the benchmark on a free loopback port from a
  configuration it writes under `build/` (`daemon off`, its own pid file, logs and temp
  paths; stopped at the end). Each location is fetched with curl first and compared byte
  for byte with the fixed reply it should send. Its CPU is not counted.
  - **Many requests**: 10,000 non-streaming calls (`--requests`) answered at once by
    nginx's fixed chat completion, 256 in flight: kimi and openai-python each share one
    client among a `ThreadPoolExecutor(64)`; `Kimi.map` and `AsyncKimi.map` get the
    requests and `concurrency=256`; `AsyncKimi`, `AsyncOpenAI`, aiohttp (one
    `ClientSession`, `TCPConnector(limit=256)`, `json.loads` of each body), httpx's
    `AsyncClient` (`max_connections=256`) and litellm's `acompletion` (its OpenAI-compatible
    provider pointed at nginx) run 256 worker tasks in one loop, each awaiting the next
    request until all were sent. The slower contenders run a fifth (a tenth for litellm) of
    the requests so the run stays short; all figures are per request. Each contender runs
    in its own fresh process: imports, the client and one untimed request first, then the
    timed requests; **client CPU per request** is `time.process_time()` over them (the
    whole process, every thread included) divided by the requests, **requests/s** the
    requests over the `perf_counter()` wall time. Every reply's message content must equal
    the fixed reply's, and map results must come in input order with `ordered=True`.
    Rounds rotate; tables give the best round. Contenders whose API this tree's kimi does
    not have (`AsyncKimi`, `map`) are skipped, and the reason is printed.
  - **Fixed latency**: 1,000 calls, 64 in flight, against an nginx location that waits
    50 ms (the echo module's `echo_sleep`, no CPU) before the same reply; the best wall
    time against the ideal 1,000 ÷ 64 × 50 ms = 781 ms, for `Kimi.map`, `AsyncKimi`, kimi
    on 64 threads and aiohttp, the same processes as above.
  - **1,000 streams**: that many streams at once in one asyncio loop, each 200 content
    chunks 20 ms apart (nginx's echo module: each event, `echo_flush`, `echo_sleep`), so
    about 4 s a stream and 50,000 chunks/s in all; `AsyncKimi` and aiohttp (SSE lines and
    `json.loads`), one run each after one untimed stream on a client of its own. Every
    stream's assembled content must equal the fixed reply's. Memory is the growth of the
    process's peak RSS (VmHWM) over the run divided by the streams; loop lag is how late
    a task that sleeps 5 ms again and again wakes, p99 and largest over the run.
- **Import** is a fresh interpreter per run: the wall time of `python -c "import X"`
  minus that of `python -c "pass"`, and the cumulative time `-X importtime` reports.
- **Threads**: a pure-Python counting loop in one thread, alternately alone and while a
  second thread of the same process streams, or keeps 64 non-streaming requests to nginx
  in flight (through `Kimi.map`, and through 64 threads sharing one `kimi.Kimi` for
  reference); the retained fraction compares each loaded window with the windows alone
  around it.

## What it does not show

- Loopback only: no TLS, no real network latency or bandwidth limits, no proxies. On the
  real API the model's token rate, not the client, sets the pace; what these numbers show
  is the CPU a client spends per chunk, which is what it takes away from the rest of your
  program (and how many streams one core can serve).
- One machine, one invocation (a few rounds per contender, not a statistical study). Small
  VMs share their cores with neighbours, and other work may run on the machine meanwhile
  (the load averages below, against the core count, show how much): expect variation
  between runs, most of all in the threads scenario and in curl's very short transfers.
  Best rounds are the figures least disturbed by that load, but two best rounds some
  percent apart (kimi now vs before, say) can be noise; the ratio of the medians and the
  callgrind counts are printed beside them for that reason.
- Streams are only the testing server's bulk stream: identical ASCII `content` deltas.
  Reasoning, tool calls and non-ASCII text are not timed here. Requests are only one short
  answer (about 600 bytes of JSON): no large bodies, no tool calls, no errors or retries.
- kimi now vs before compares two whole trees: every change between the commits, C and
  Python, counts together, and the comparison does not say which one made a difference.
- Instruction counts are not time: cache misses, mispredicted branches and the kernel's
  share of a system call are not in them, and under valgrind the bytes arrive in other
  reads than at full speed.
- CPU time of the whole client process, so background threads a client may start count
  against it; memory is only the peak RSS of each process.
- nginx answers the concurrency scenarios from memory in microseconds; the real API takes
  seconds per request and limits requests and tokens per minute. So requests/s there is
  what the client can do with a core, not what an account gets, and the fixed-latency run
  only shows whether a client keeps its slots full. On 2 cores nginx and the client share
  the machine, so the fastest contenders' wall times include waiting for nginx.
"""


@dataclass
class Config:
    """What one invocation runs, from the command line."""

    chunks: int
    rounds: int
    calls: int
    requests: int
    thread_seconds: float
    import_runs: int
    baseline: str | None
    callgrind_chunks: int
    callgrind_calls: int
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
        ("kimi (now)", f"{kimi.__version__}, working tree at {working_tree()}"),
        ("libcurl (kimi._core.curl_version)", _core.curl_version),
        ("cJSON (kimi._core.cjson_version)", _core.cjson_version),
        ("openai-python", _version("openai")),
        ("httpx", _httpx_version()),
        ("aiohttp", _version("aiohttp")),
        ("litellm", _version("litellm")),
        ("nginx", _nginx.version()),
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
    requests = results.get("requests")
    if requests is not None:
        us = requests.cpu_us("kimi")
        out.append(Target(
            "client CPU per non-streaming request, kimi (sync)", f"{fmt_num(us)} µs",
            "–", None, "≤ 40 µs", us <= 40,
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
    concurrency = results.get("concurrency")
    if concurrency is not None:
        out += concurrency_targets(concurrency)
    threads = results.get("threads")
    if threads is not None:
        for load, name, what in (("paced", "kimi", "kimi streams (paced stream)"),
                                 ("map", "kimi-map", "`Kimi.map` keeps 64 requests in flight")):
            retained = threads.retained(load, name)
            out.append(Target(
                f"a CPU-bound thread's speed while {what}",
                f"{retained * 100:.1f}% kept" if retained is not None else _not_measured(threads.skipped(load, name)),
                "–", None, "≥ 90%", retained >= 0.9 if retained is not None else None,
            ))
    return out


def _not_measured(why: str | None) -> str:
    return "skipped" if why else "not run"


def concurrency_targets(res: "Concurrency") -> list[Target]:
    """The DESIGN.md budget for many requests and many streams, where measured."""
    out: list[Target] = []
    many, latency, streams = res.many, res.latency, res.streams
    for name, need in (("kimi-map", 15), ("async-kimi", 10)):
        ratio = (many.per_s(name) / many.per_s("async-openai")
                 if many.has(name) and many.has("async-openai") else None)
        out.append(Target(
            f"many requests: {many.label(name)} throughput vs AsyncOpenAI's",
            f"{fmt_ratio(ratio)}" if ratio is not None else _not_measured(many.skipped.get(name)),
            "–", None, f"≥ {need}×", ratio >= need if ratio is not None else None,
        ))
    for name in ("kimi-map", "async-kimi"):
        over = bench_latency.wall_over_ideal(latency, name) if latency.has(name) else None
        out.append(Target(
            f"50 ms server: {latency.label(name)} wall vs the ideal",
            f"{over:.3f}× ideal" if over is not None else _not_measured(latency.skipped.get(name)),
            "–", None, "≤ 1.10× ideal", over <= 1.10 if over is not None else None,
        ))
    kb = streams.kb_per_stream("async-kimi") if "async-kimi" in streams.runs else None
    out.append(Target(
        f"{streams.streams:,} concurrent streams in one `AsyncKimi` loop: peak RSS per stream",
        f"{fmt_num(kb)} KB" if kb is not None else _not_measured(streams.skipped.get("async-kimi")),
        "–", None, "≤ 64 KB", kb <= 64 if kb is not None else None,
    ))
    return out


def render_targets(items: list[Target]) -> str:
    rows = [[t.what, t.measured, t.required, _met(t.required_met), t.budget, _met(t.budget_met)]
            for t in items]
    headers = ["target", "measured", "required", "met", "DESIGN.md budget", "met"]
    return table(headers, rows, align="lrrlrl")


# ---- kimi now vs before ---------------------------------------------------------------

#: (result key, contender, what) of each CPU comparison, in table order.
COMPARED = (
    ("streaming", "kimi", "chunk objects, small chunks: CPU µs/chunk"),
    ("streaming", "kimi-text", "`.text()`, small chunks: CPU µs/chunk"),
    ("throughput", "kimi", "chunk objects, 4 KB chunks: CPU µs/chunk"),
    ("throughput", "kimi-text", "`.text()`, 4 KB chunks: CPU µs/chunk"),
    ("requests", "kimi", "non-streaming request: CPU µs/request"),
)


def _per_unit(res: Any, name: str, median_round: bool) -> float:
    """Best (or median) client CPU µs per chunk or per request of contender `name`."""
    if isinstance(res, bench_requests.RequestResult):
        return res.median_cpu_us(name) if median_round else res.cpu_us(name)
    return res.median_cpu_us_per_chunk(name) if median_round else res.cpu_us_per_chunk(name)


def _speedup(results: dict[str, Any], key: str, name: str, median_round: bool = False) -> float | None:
    """Before ÷ now of contender `name` in scenario `key` (above 1: now is cheaper)."""
    res = results.get(key)
    if res is None or not res.has(name) or not res.has(before(name)):
        return None
    return _per_unit(res, before(name), median_round) / _per_unit(res, name, median_round)


def ratio_line(results: dict[str, Any]) -> str:
    """The one-line summary: chunk, text and request CPU of kimi before ÷ now."""
    parts = []
    for what, key, name in (("chunk", "streaming", "kimi"), ("text", "streaming", "kimi-text"),
                            ("request", "requests", "kimi")):
        ratio = _speedup(results, key, name)
        parts.append(f"{what} CPU {fmt_ratio(ratio) if ratio is not None else '–'}")
    return "kimi now vs before: " + ", ".join(parts)


def comparison(results: dict[str, Any], baseline: Baseline) -> str:
    """The section that puts kimi now and kimi before side by side."""
    rows = []
    for key, name, what in COMPARED:
        res = results.get(key)
        best, mid = _speedup(results, key, name), _speedup(results, key, name, median_round=True)
        if res is None or best is None or mid is None:
            continue
        rows.append([
            what, fmt_num(_per_unit(res, name, False)), fmt_num(_per_unit(res, before(name), False)),
            fmt_ratio(best), fmt_ratio(mid),
        ])
    headers = ["measure (best round)", "kimi now", f"kimi before ({baseline.rev})",
               "before ÷ now", "before ÷ now, medians"]
    paragraphs = [
        f"kimi before is commit {baseline.commit[:12]} (“{baseline.subject}”), built by the "
        f"benchmark in `{baseline.where()}/`; it ran in the same rounds as kimi now.",
        f"**{ratio_line(results)}** (small-chunk stream and non-streaming requests; before ÷ "
        "now of the best rounds, so above 1× means now is cheaper).",
        table(headers, rows),
    ]
    counts = results.get("callgrind")
    if counts is not None:
        paragraphs += [bench_callgrind.describe(counts), bench_callgrind.render(counts)]
    return section(f"kimi now vs before ({baseline.rev})", *paragraphs)


# ---- the run --------------------------------------------------------------------------


def section(title: str, *paragraphs: str) -> str:
    """A results section: a level-3 heading, then the paragraphs (text, tables)."""
    return "\n\n".join([f"### {title}", *paragraphs])


#: What a scenario step gives back: its result (None: skipped) and its section (None: none).
Step = tuple[Any, str | None]


def step_streaming(config: Config, baseline: Baseline | None) -> Step:
    log(f"streaming: {config.chunks:,} chunks, {config.rounds} rounds")
    res = bench_streaming.measure(
        config.chunks, bench_streaming.TEXT, config.rounds, log=log, baseline=baseline
    )
    return res, section("Streaming: small chunks", bench_streaming.describe(res), bench_streaming.render(res))


def step_throughput(config: Config, baseline: Baseline | None) -> Step:
    log(f"throughput: {bench_throughput.chunks_for(config.chunks):,} chunks of 4 KB, {config.rounds} rounds")
    res = bench_throughput.run(config.chunks, config.rounds, log=log, baseline=baseline)
    return res, section("Throughput: 4 KB chunks", bench_streaming.describe(res), bench_streaming.render(res))


def step_requests(config: Config, baseline: Baseline | None) -> Step:
    log(f"requests: {config.calls:,} non-streaming calls, {config.rounds} rounds")
    res = bench_requests.measure(config.calls, config.rounds, log=log, baseline=baseline)
    return res, section("Non-streaming requests", bench_requests.describe(res), bench_requests.render(res))


@dataclass
class Concurrency:
    """The three scenarios run against one nginx."""

    many: bench_concurrency.ManyResult
    latency: bench_concurrency.ManyResult
    streams: bench_streams.StreamsResult


def step_concurrency(config: Config, baseline: Baseline | None) -> Step:
    why = _nginx.unavailable()
    if why:
        log(f"concurrency: skipped: {why}")
        return None, section("Concurrency", f"Skipped: {why}.")
    log(f"concurrency: nginx; {config.requests:,} requests at {bench_concurrency.CONCURRENCY}, "
        f"{bench_latency.REQUESTS:,} against 50 ms, {bench_streams.STREAMS:,} streams; {config.rounds} rounds")
    with _nginx.Nginx() as server:
        many = bench_concurrency.measure(server.url("fast"), config.requests, config.rounds, log=log)
        log("fixed latency: 50 ms per request")
        latency = bench_latency.measure(server.url("slow"), config.rounds, log=log)
        log(f"streams: {bench_streams.STREAMS:,} at once")
        streams = bench_streams.measure(server.url("paced"), server.url("stream"), log=log)
    text = "\n\n".join([
        section("Many requests at once", bench_concurrency.describe(many), bench_concurrency.render(many)),
        section("Fixed latency: 50 ms per request", bench_latency.describe(latency),
                bench_latency.render(latency)),
        section(f"{bench_streams.STREAMS:,} streams in one loop", bench_streams.describe(streams),
                bench_streams.render(streams)),
    ])
    return Concurrency(many, latency, streams), text


def step_import(config: Config, baseline: Baseline | None) -> Step:
    log(f"import: {config.import_runs} fresh interpreters each")
    res = bench_import.run(config.import_runs, log=log)
    return res, section("Import time", f"Median of {res.runs} fresh interpreters each.", bench_import.render(res))


def step_threads(config: Config, baseline: Baseline | None) -> Step:
    log(f"threads: {config.thread_seconds:g} s windows")
    res = bench_threads.run(config.thread_seconds, log=log)
    return res, section(
        "Threads",
        f"A pure-Python loop (`x += i`) in one thread, {config.thread_seconds:g} s "
        "windows alone and while another thread loads the client, alternating (A S A S … A, "
        "five loaded windows); retained = median over the loaded windows of each one's rate "
        "over the mean of its two neighbours alone. "
        "In the bulk case the streaming thread is itself busy all the time, so the two "
        "threads share the GIL and the cores. The last load keeps "
        f"{bench_threads.IN_FLIGHT} non-streaming requests to nginx in flight, through "
        f"`Kimi.map` or through {bench_threads.IN_FLIGHT} threads sharing one client.",
        bench_threads.render(res),
    )


def step_callgrind(config: Config, baseline: Baseline | None) -> Step:
    """Instruction counts; with a baseline they go into the comparison, not a section."""
    why = bench_callgrind.unavailable()
    if why:
        log(f"callgrind: skipped: {why}")
        return None, section("Instructions (callgrind)", f"Skipped: {why}.")
    log(f"callgrind: {config.callgrind_chunks:,} chunks, {config.callgrind_calls:,} calls")
    res = bench_callgrind.run(config.callgrind_chunks, config.callgrind_calls, baseline, log=log)
    if baseline is not None:
        return res, None
    return res, section("Instructions (callgrind)", bench_callgrind.describe(res), bench_callgrind.render(res))


STEPS: dict[str, Callable[[Config, Baseline | None], Step]] = {
    "streaming": step_streaming,
    "throughput": step_throughput,
    "requests": step_requests,
    "concurrency": step_concurrency,
    "import": step_import,
    "threads": step_threads,
    "callgrind": step_callgrind,
}


def run(config: Config, baseline: Baseline | None) -> tuple[dict[str, Any], list[str]]:
    """Run the chosen scenarios; return their results and the Markdown sections."""
    results: dict[str, Any] = {}
    sections: list[str] = []
    for name in SCENARIOS:
        if name not in config.scenarios:
            continue
        res, text = STEPS[name](config, baseline)
        if res is not None:
            results[name] = res
        if text is not None:
            sections.append(text)
    if baseline is not None and any(k in results for k in BASELINE_SCENARIOS):
        sections.append(comparison(results, baseline))
    return results, sections


def prepare_baseline(config: Config) -> tuple[Baseline | None, str]:
    """The built kimi before when a chosen scenario uses it, else (None, why not)."""
    if not set(config.scenarios) & set(BASELINE_SCENARIOS):
        return None, "no scenario of this run uses it"
    baseline, why = prepare(config.baseline, log=log)
    if baseline is None:
        log(f"kimi before: skipped: {why}")
    return baseline, why


def settings_line(config: Config, elapsed: float) -> str:
    return (
        f"Run on {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} with "
        f"`--chunks {config.chunks}`, `--calls {config.calls}`, `--requests {config.requests}`, "
        f"`--baseline {config.baseline or 'none'}`, {config.rounds} rounds, "
        f"{config.thread_seconds:g} s thread windows, {config.import_runs} import runs; the "
        f"whole run took {elapsed:.0f} s; load average at the end {os.getloadavg()[0]:.2f}."
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
        "figures of this one run (best rounds for streaming, requests and concurrency, the one "
        "run of the 1,000 streams, medians for import and threads).\n\n" + render_targets(items),
    ]
    return "\n\n".join(p.rstrip() for p in parts) + "\n"


def parse_args(argv: list[str] | None) -> Config:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.split("\n\n")[0])
    parser.add_argument("--chunks", type=int, help="content chunks per stream (default 100000)")
    parser.add_argument("--quick", action="store_true",
                        help="10,000 chunks, 500 calls, 2,000 requests, shorter thread windows and callgrind runs")
    parser.add_argument("--rounds", type=int, default=3, help="runs per contender (default 3)")
    parser.add_argument("--calls", type=int, help="non-streaming calls per run (default 2000)")
    parser.add_argument("--requests", type=int,
                        help="requests per run in the concurrency scenario (default 10000)")
    parser.add_argument("--baseline", default=DEFAULT_REV, metavar="REV",
                        help=f"compare with kimi at this commit (default {DEFAULT_REV}; 'none': do not)")
    parser.add_argument("--no-callgrind", action="store_true",
                        help="skip the instruction counts under valgrind")
    parser.add_argument("--only", action="append", choices=SCENARIOS, help="run only this scenario (repeatable)")
    parser.add_argument("--no-readme", action="store_true", help="do not rewrite benchmarks/README.md")
    args = parser.parse_args(argv)
    chunks = args.chunks if args.chunks is not None else (10_000 if args.quick else 100_000)
    calls = args.calls if args.calls is not None else (500 if args.quick else bench_requests.CALLS)
    requests = args.requests if args.requests is not None else (
        2_000 if args.quick else bench_concurrency.REQUESTS)
    if chunks < 100:
        parser.error("--chunks must be at least 100")
    if calls < 1:
        parser.error("--calls must be at least 1")
    if requests < 1:
        parser.error("--requests must be at least 1")
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    scenarios = tuple(args.only) if args.only else SCENARIOS
    if args.no_callgrind:
        scenarios = tuple(x for x in scenarios if x != "callgrind")
    return Config(
        chunks=chunks,
        rounds=args.rounds,
        calls=calls,
        requests=requests,
        thread_seconds=0.25 if args.quick else 0.5,
        import_runs=5 if args.quick else 7,
        baseline=None if args.baseline.lower() == "none" else args.baseline,
        callgrind_chunks=5_000 if args.quick else 20_000,
        callgrind_calls=200 if args.quick else 1_000,
        scenarios=scenarios,
        write_readme=not args.no_readme and set(README_SCENARIOS) <= set(scenarios),
    )


def main(argv: list[str] | None = None) -> int:
    config = parse_args(argv)
    if importlib.util.find_spec("openai") is None:
        log("python -m benchmarks: openai-python is not installed; run `make bench` or "
            f"`{sys.executable} -m pip install openai`")
        return 2
    started = time.perf_counter()
    try:
        baseline, why = prepare_baseline(config)
        machine_rows = machine()
        machine_rows.append(("kimi before", baseline.describe() if baseline else f"skipped: {why}"))
        results, sections = run(config, baseline)
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
