"""Scenario "threads": how much speed a CPU-bound Python thread keeps while another
thread of the same process streams.

In one process per contender: a thread spins a pure-Python loop for S-second windows,
alternately alone and while a second thread streams (request after request): A S A S ... A,
five streaming windows. The retained fraction is each streaming window's rate over the
mean of the windows alone on either side of it (the median of the five), so drift in the
machine's speed cancels out.
Two loads: a paced stream (the server's default answer with 1 ms between events, faster
than a real model emits tokens) and the bulk stream at full speed, where the streaming
thread is itself CPU-bound and both threads contend for the GIL.

    python -m benchmarks.bench_threads --run NAME URL --seconds S   (one measurement)
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from ._harness import (
    API_KEY, MESSAGES, MODEL, Server, check_loopback, emit, fmt_num, median, run_json, table,
    wait_settled,
)

CONTENDERS = ("kimi", "openai")
LABELS = {"kimi": "kimi (chunk objects)", "openai": "openai-python"}
INNER = 1000  # additions per counted iteration of the spinning loop


def spin(seconds: float) -> float:
    """Additions per second a pure-Python loop reaches in a thread of its own."""
    out: dict[str, float] = {}

    def body() -> None:
        n = 0
        start = time.perf_counter()
        deadline = start + seconds
        while True:
            x = 0
            for i in range(INNER):
                x += i
            n += 1
            if not n & 15 and time.perf_counter() >= deadline:
                break
        out["rate"] = n * INNER / (time.perf_counter() - start)

    thread = threading.Thread(target=body, name="spin")
    thread.start()
    thread.join()
    return out["rate"]


def make_streamer(name: str, url: str) -> Callable[[threading.Event, list[int]], None]:
    """A function that streams request after request until `stop` is set, counting chunks
    in seen[0]. Both clients share the OpenAI call shape, so the loop is the same."""
    client: Any
    if name == "kimi":
        import kimi

        client = kimi.Kimi(api_key=API_KEY, base_url=url)
    else:
        import openai

        client = openai.OpenAI(base_url=url, api_key=API_KEY)

    def stream_until(stop: threading.Event, seen: list[int]) -> None:
        while not stop.is_set():
            with client.chat.completions.create(model=MODEL, messages=MESSAGES, stream=True) as stream:
                for chunk in stream:
                    _ = chunk.choices[0].delta.content if chunk.choices else None
                    seen[0] += 1
                    if stop.is_set():
                        break

    return stream_until


def _spin_while_streaming(
    stream_until: Callable[[threading.Event, list[int]], None], seconds: float
) -> tuple[float, float]:
    """(spin rate, chunks per second streamed) over one window with a streaming thread."""
    stop = threading.Event()
    seen = [0]
    errors: list[BaseException] = []

    def streamer() -> None:
        try:
            stream_until(stop, seen)
        except BaseException as exc:  # re-raised below, never swallowed
            errors.append(exc)

    thread = threading.Thread(target=streamer, name="stream")
    thread.start()
    time.sleep(0.1)  # the first request is under way before the clock starts
    seen_start = seen[0]
    wall0 = time.perf_counter()
    rate = spin(seconds)
    window = time.perf_counter() - wall0
    seen_window = seen[0] - seen_start
    stop.set()
    thread.join(60)
    if errors:
        raise errors[0]
    if thread.is_alive():
        raise RuntimeError("the streaming thread did not stop")
    if seen_window == 0:
        raise RuntimeError("no chunk arrived while the spinning thread ran")
    return rate, seen_window / window


def measure_one(name: str, url: str, seconds: float, windows: int = 5) -> dict[str, Any]:
    """Alternate windows alone and while `name` streams from `url`: A S A S ... A.

    Each streaming window is compared with the mean of the two windows around it, so a
    drift of the machine's speed (other load, frequency) does not read as a loss; the
    result is the median of those ratios.
    """
    stream_until = make_streamer(name, url)
    alone = [spin(seconds)]
    during: list[float] = []
    rates: list[float] = []
    for _ in range(windows):
        rate, chunks_per_s = _spin_while_streaming(stream_until, seconds)
        during.append(rate)
        rates.append(chunks_per_s)
        alone.append(spin(seconds))
    ratios = [d / ((a + b) / 2) for d, a, b in zip(during, alone, alone[1:])]
    return {
        "name": name, "alone": median(alone), "during": median(during),
        "retained": median(ratios), "ratios": ratios, "alone_all": alone,
        "chunks_per_s": median(rates),
    }


@dataclass
class ThreadsResult:
    seconds: float
    rows: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    def retained(self, load: str, name: str) -> float | None:
        for row_load, run in self.rows:
            if row_load == load and run["name"] == name:
                return float(run["retained"])
        return None


LOADS = {
    "paced": ("paced (1 ms between events)", ("--delay", "0.001")),
    "bulk": ("bulk, full speed", ("--bulk", "100000")),
}


def run(seconds: float, log: Any = print) -> ThreadsResult:
    result = ThreadsResult(seconds=seconds)
    for load, (_, server_args) in LOADS.items():
        with Server(*server_args) as server:
            for name in CONTENDERS:
                out = run_json("benchmarks.bench_threads", ["--run", name, server.url, "--seconds", seconds])
                result.rows.append((load, out))
                log(f"  threads {load:<6} {LABELS[name]:<22} retained {out['retained'] * 100:.1f}% "
                    f"({out['chunks_per_s']:.0f} chunks/s streamed)")
                wait_settled()
    return result


def render(result: ThreadsResult) -> str:
    rows = []
    for load, out in result.rows:
        rows.append([
            LOADS[load][0],
            LABELS[out["name"]],
            fmt_num(out["alone"] / 1e6),
            fmt_num(out["during"] / 1e6),
            f"{out['retained'] * 100:.1f}%",
            fmt_num(out["chunks_per_s"]),
        ])
    headers = [
        "stream", "streaming thread", "spin alone M add/s", "spin while streaming M add/s",
        "retained", "chunks/s streamed meanwhile",
    ]
    return table(headers, rows, align="llrrrr")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench_threads")
    parser.add_argument("--run", choices=CONTENDERS, required=True)
    parser.add_argument("url")
    parser.add_argument("--seconds", type=float, default=0.5)
    args = parser.parse_args(argv)
    emit(measure_one(args.run, check_loopback(args.url), args.seconds))
    return 0


if __name__ == "__main__":
    sys.exit(main())
