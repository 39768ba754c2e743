"""Scenario "1,000 streams": that many concurrent streams in one asyncio loop.

nginx's paced location sends each stream's 200 content chunks 20 ms apart (about 4 s a
stream, see `_nginx`), so what limits the run is the client's work per chunk and per
stream, not the server. Each contender runs in its own process: imports, the client,
and one untimed stream from the unpaced location on a client of its own (lazy imports
and first-use caches), then all N streams at once on one fresh client, gathered in one
loop, while a task sleeps 5 ms again and again and records how late each wake-up is.
Measured: the wall and CPU time of the N streams; the peak RSS (VmHWM: ru_maxrss
without Linux's carry-over from the parent process) before and after, its growth
divided by N; the p99 and largest wake-up lag. Every stream's assembled content must
equal the fixed reply's, or the run stops the benchmark.

    python -m benchmarks.bench_streams --run NAME URL WARM_URL --streams N   (one run)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Awaitable, Callable

from ._contenders import peak_rss_mb
from ._harness import (
    API_KEY, MESSAGES, MODEL, BenchError, check_loopback, emit, fmt_num, fmt_ratio, kimi_origin,
    raise_nofile, run_json, skipped_note, table, wait_settled,
)
from ._replies import CHUNK_INTERVAL, STREAM_CHUNKS, STREAM_CONTENT

CONTENDERS = ("async-kimi", "aiohttp")
LABELS = {"async-kimi": "`AsyncKimi`", "aiohttp": "aiohttp + SSE lines + json.loads"}
STREAMS = 1_000
TICK = 0.005
REQUEST = {"model": MODEL, "messages": MESSAGES, "stream": True}
HEADERS = {"Authorization": f"Bearer {API_KEY}", "Accept": "text/event-stream"}

#: A prepared contender: one stream read to its end, as (content, content chunks).
StreamOnce = Callable[[], Awaitable[tuple[str, int]]]


class Unavailable(Exception):
    """The contender's API is not in the kimi being measured (yet)."""


async def async_kimi(url: str, streams: int) -> StreamOnce:
    import kimi

    if not hasattr(kimi, "AsyncKimi"):
        raise Unavailable("kimi has no AsyncKimi in this tree")
    client = kimi.AsyncKimi(api_key=API_KEY, base_url=url)

    async def once() -> tuple[str, int]:
        parts = []
        stream = await client.chat.completions.create(model=MODEL, messages=MESSAGES, stream=True)
        async with stream:
            async for chunk in stream:
                content = chunk.choices[0].delta.content if chunk.choices else None
                if content:
                    parts.append(content)
        return "".join(parts), len(parts)

    return once


async def aiohttp_sse(url: str, streams: int) -> StreamOnce:
    import aiohttp

    session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=streams))
    target = url + "/chat/completions"

    async def once() -> tuple[str, int]:
        parts = []
        async with session.post(target, json=REQUEST, headers=HEADERS) as response:
            response.raise_for_status()
            async for line in response.content:
                if not line.startswith(b"data: "):
                    continue
                data = line[6:].rstrip(b"\r\n")
                if data == b"[DONE]":
                    break
                choices = json.loads(data)["choices"]
                content = choices[0]["delta"].get("content") if choices else None
                if content:
                    parts.append(content)
        return "".join(parts), len(parts)

    return once


PREPARE: dict[str, Callable[[str, int], Awaitable[StreamOnce]]] = {
    "async-kimi": async_kimi,
    "aiohttp": aiohttp_sse,
}


async def _watch(lags: list[float], done: asyncio.Event) -> None:
    """Sleep TICK again and again until `done`; record how late each wake-up is."""
    while not done.is_set():
        t0 = time.perf_counter()
        await asyncio.sleep(TICK)
        lags.append(time.perf_counter() - t0 - TICK)


async def _measure(name: str, url: str, warm_url: str, streams: int) -> dict[str, Any]:
    # Warm: imports and first-use caches, through a client of its own.
    await (await PREPARE[name](warm_url, 1))()
    once = await PREPARE[name](url, streams)
    rss0 = peak_rss_mb() or 0.0
    lags: list[float] = []
    done = asyncio.Event()
    watcher = asyncio.create_task(_watch(lags, done))
    await asyncio.sleep(TICK * 4)
    cpu0 = time.process_time()
    wall0 = time.perf_counter()
    results = await asyncio.gather(*(once() for _ in range(streams)))
    wall = time.perf_counter() - wall0
    cpu = time.process_time() - cpu0
    done.set()
    await watcher
    rss1 = peak_rss_mb() or 0.0
    lags.sort()
    return {
        "name": name, "cpu": cpu, "wall": wall, "streams": streams,
        "contents": dict(Counter(content for content, _ in results)),
        "chunks": {str(n): k for n, k in Counter(n for _, n in results).items()},  # JSON keys
        "rss_before_mb": rss0, "rss_after_mb": rss1,
        "lag_p99_ms": lags[int(0.99 * (len(lags) - 1))] * 1e3 if lags else None,
        "lag_max_ms": lags[-1] * 1e3 if lags else None, "ticks": len(lags),
        "kimi_from": kimi_origin(),
    }


def measure_one(name: str, url: str, warm_url: str, streams: int) -> dict[str, Any]:
    raise_nofile()
    loop = asyncio.new_event_loop()
    try:
        return loop.run_until_complete(_measure(name, url, warm_url, streams))
    except Unavailable as why:
        return {"name": name, "skipped": str(why)}
    except ModuleNotFoundError as exc:
        if exc.name == "aiohttp":
            return {"name": name, "skipped": "aiohttp is not installed (`make bench` installs it)"}
        raise


# ---- the scenario ------------------------------------------------------------------------


@dataclass
class StreamsResult:
    """One run of each contender (a run takes seconds: the streams are paced)."""

    streams: int
    runs: dict[str, dict[str, Any]] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)

    def kb_per_stream(self, name: str) -> float:
        run = self.runs[name]
        return (run["rss_after_mb"] - run["rss_before_mb"]) * 1024 / self.streams

    def cpu_us_per_chunk(self, name: str) -> float:
        return self.runs[name]["cpu"] / (self.streams * STREAM_CHUNKS) * 1e6


def check_run(run: dict[str, Any], streams: int) -> None:
    """BenchError unless every stream of `run` assembled the fixed reply's content."""
    label = LABELS[run["name"]]
    # Counted by content, and by content chunks per stream (as a string: a JSON key).
    if run["contents"] != {STREAM_CONTENT: streams} or run["chunks"] != {str(STREAM_CHUNKS): streams}:
        wrong = {k[:40]: v for k, v in run["contents"].items() if k != STREAM_CONTENT}
        raise BenchError(
            f"{label}: of {streams} streams, {run['contents'].get(STREAM_CONTENT, 0)} assembled the "
            f"reply; content chunk counts {run['chunks']}; others began {wrong}"
        )


def measure(url: str, warm_url: str, streams: int = STREAMS, log: Any = print) -> StreamsResult:
    result = StreamsResult(streams)
    for name in CONTENDERS:
        run = run_json("benchmarks.bench_streams", ["--run", name, url, warm_url, "--streams", streams])
        if "skipped" in run:
            result.skipped[name] = run["skipped"]
            log(f"  streams {LABELS[name]}: skipped: {run['skipped']}")
            continue
        check_run(run, streams)
        result.runs[name] = run
        log(f"  streams {LABELS[name]:<34} wall {run['wall']:.2f} s  cpu {run['cpu']:.2f} s  "
            f"{result.kb_per_stream(name):.1f} KB/stream  lag p99 {run['lag_p99_ms']:.1f} ms")
        wait_settled()
    return result


def describe(result: StreamsResult) -> str:
    ideal = STREAM_CHUNKS * CHUNK_INTERVAL
    return (
        f"{result.streams:,} streams at once in one asyncio loop, each {STREAM_CHUNKS} content chunks "
        f"{CHUNK_INTERVAL * 1e3:.0f} ms apart from nginx (so at least {ideal:.1f} s; "
        f"{result.streams * STREAM_CHUNKS / ideal:,.0f} chunks/s in all), one run per contender. "
        f"Memory is the growth of peak RSS over the run divided by the streams; loop lag is how "
        f"late a task sleeping {TICK * 1e3:.0f} ms wakes, over the whole run."
    )


def render(result: StreamsResult) -> str:
    base = "aiohttp" if "aiohttp" in result.runs else None
    rows = []
    for name, run in result.runs.items():
        kb = result.kb_per_stream(name)
        us = result.cpu_us_per_chunk(name)
        rows.append([
            LABELS[name], f"{run['contents'][STREAM_CONTENT]:,} of {result.streams:,}",
            fmt_num(run["wall"]), fmt_num(run["cpu"]), fmt_num(us), fmt_num(kb),
            fmt_num(run["lag_p99_ms"]), fmt_num(run["lag_max_ms"]),
            fmt_ratio(result.cpu_us_per_chunk(base) / us) if base else "–",
            fmt_ratio(result.kb_per_stream(base) / kb) if base and kb > 0 else "–",
        ])
    for name in result.skipped:
        rows.append([LABELS[name], "skipped", *["–"] * 8])
    headers = [
        "contender", "streams correct", "wall s", "CPU s", "CPU µs/chunk", "peak RSS KB/stream",
        "loop lag p99 ms", "max ms", "aiohttp CPU ÷ this", "aiohttp KB ÷ this",
    ]
    notes = skipped_note({LABELS[name]: why for name, why in result.skipped.items()})
    return table(headers, rows, align="llrrrrrrrr") + notes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench_streams")
    parser.add_argument("--run", choices=CONTENDERS, required=True)
    parser.add_argument("url")
    parser.add_argument("warm_url")
    parser.add_argument("--streams", type=int, default=STREAMS)
    args = parser.parse_args(argv)
    emit(measure_one(args.run, check_loopback(args.url), check_loopback(args.warm_url), args.streams))
    sys.stdout.flush()
    os._exit(0)  # no teardown: open sessions and loops would only print warnings


if __name__ == "__main__":
    sys.exit(main())
