"""Scenario "threads": how much speed a CPU-bound Python thread keeps while another
thread of the same process streams, or runs many requests at once.

In one process per contender: a thread spins a pure-Python loop for S-second windows,
alternately alone and while a second thread loads the client (request after request): A S
A S ... A, five loaded windows. The retained fraction is each loaded window's rate over the
mean of the windows alone on either side of it (the median of the five), so drift in the
machine's speed cancels out.
Three loads: a paced stream (the server's default answer with 1 ms between events, faster
than a real model emits tokens); the bulk stream at full speed, where the streaming
thread is itself CPU-bound and both threads contend for the GIL; and non-streaming
requests to nginx's fixed reply, 64 in flight at all times, through
``Kimi(...).chat.completions.map(concurrency=64)`` (skipped, with the reason, while this
tree's kimi has no map) and, for reference, through 64 threads sharing one ``kimi.Kimi``.
Every reply of that load must carry the content of one untimed call made first.

    python -m benchmarks.bench_threads --run NAME URL --seconds S   (one measurement)
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any, Callable

from ._harness import (
    API_KEY, MESSAGES, MODEL, Server, check_loopback, emit, fmt_num, median, run_json,
    skipped_note, table, wait_settled,
)
from . import _nginx

CONTENDERS = ("kimi", "openai", "kimi-map", "kimi-threads")
IN_FLIGHT = 64
LABELS = {
    "kimi": "kimi (chunk objects)",
    "openai": "openai-python",
    "kimi-map": f"`Kimi.map`, concurrency {IN_FLIGHT}",
    "kimi-threads": f"kimi, {IN_FLIGHT} threads calling create",
}
INNER = 1000  # additions per counted iteration of the spinning loop

#: A load: runs until `stop` is set, counting chunks or replies in seen[0].
Load = Callable[[threading.Event, list[int]], None]


class Unavailable(Exception):
    """The load's API is not in the kimi being measured (yet)."""


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


def _client(name: str, url: str) -> Any:
    """A kimi or openai-python client on `url`: both share the OpenAI call shape."""
    if name == "openai":
        import openai

        return openai.OpenAI(base_url=url, api_key=API_KEY)
    import kimi

    return kimi.Kimi(api_key=API_KEY, base_url=url)


def streams(client: Any) -> Load:
    """Stream request after request, counting chunks."""

    def stream_until(stop: threading.Event, seen: list[int]) -> None:
        while not stop.is_set():
            with client.chat.completions.create(model=MODEL, messages=MESSAGES, stream=True) as stream:
                for chunk in stream:
                    _ = chunk.choices[0].delta.content if chunk.choices else None
                    seen[0] += 1
                    if stop.is_set():
                        break

    return stream_until


def _reply(client: Any) -> str:
    return str(client.chat.completions.create(model=MODEL, messages=MESSAGES).choices[0].message.content)


def mapped(client: Any) -> Load:
    """Non-streaming requests through map, IN_FLIGHT at a time, until stopped, counting
    replies; each must carry the content of one untimed call made first."""
    completions = client.chat.completions
    if not hasattr(completions, "map"):
        raise Unavailable("kimi.Kimi(...).chat.completions has no map() in this tree")
    expected = _reply(client)
    request = {"model": MODEL, "messages": MESSAGES}

    def map_until(stop: threading.Event, seen: list[int]) -> None:
        def requests() -> Any:
            while not stop.is_set():
                yield request

        results = completions.map(requests(), concurrency=IN_FLIGHT, ordered=False, return_exceptions=True)
        for result in results:
            if result.error is not None:
                raise RuntimeError(f"map result {result.index}: {result.error!r}")
            if result.response.choices[0].message.content != expected:
                raise RuntimeError(f"map result {result.index}: not the server's reply")
            seen[0] += 1

    return map_until


def threaded(client: Any) -> Load:
    """Non-streaming requests from IN_FLIGHT threads sharing `client`, until stopped,
    counting replies; each must carry the content of one untimed call made first."""
    expected = _reply(client)
    lock = threading.Lock()

    def threads_until(stop: threading.Event, seen: list[int]) -> None:
        def worker() -> None:
            while not stop.is_set():
                if _reply(client) != expected:
                    raise RuntimeError("a reply that is not the server's")
                with lock:
                    seen[0] += 1

        with ThreadPoolExecutor(IN_FLIGHT) as pool:
            for future in [pool.submit(worker) for _ in range(IN_FLIGHT)]:
                future.result()

    return threads_until


LOADERS: dict[str, Callable[[Any], Load]] = {
    "kimi": streams, "openai": streams, "kimi-map": mapped, "kimi-threads": threaded,
}


def _spin_while_streaming(stream_until: Load, seconds: float) -> tuple[float, float]:
    """(spin rate, chunks or replies per second) over one window with a loading thread."""
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
        raise RuntimeError("nothing arrived while the spinning thread ran")
    return rate, seen_window / window


def measure_one(name: str, url: str, seconds: float, windows: int = 5) -> dict[str, Any]:
    """Alternate windows alone and while `name` loads `url`: A S A S ... A.

    Each loaded window is compared with the mean of the two windows around it, so a
    drift of the machine's speed (other load, frequency) does not read as a loss; the
    result is the median of those ratios.
    """
    try:
        stream_until = LOADERS[name](_client(name, url))
    except Unavailable as why:
        return {"name": name, "skipped": str(why)}
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
            if row_load == load and run["name"] == name and "skipped" not in run:
                return float(run["retained"])
        return None

    def skipped(self, load: str, name: str) -> str | None:
        """Why `name` did not run under `load`, or None."""
        for row_load, run in self.rows:
            if row_load == load and run["name"] == name:
                return run.get("skipped")
        return None


@dataclass(frozen=True)
class LoadSpec:
    """A load of the table: its label, the unit it counts, its contenders, its server
    (for a `with` block) with the base URL the clients use on it, and why that server
    cannot run here (None: it can)."""

    label: str
    unit: str
    contenders: tuple[str, ...]
    server: Callable[[], AbstractContextManager[Any]]
    url: Callable[[Any], str]
    unavailable: Callable[[], str | None] = lambda: None


LOADS = {
    "paced": LoadSpec("paced (1 ms between events)", "chunks", ("kimi", "openai"),
                      lambda: Server("--delay", "0.001"), lambda server: server.url),
    "bulk": LoadSpec("bulk, full speed", "chunks", ("kimi", "openai"),
                     lambda: Server("--bulk", "100000"), lambda server: server.url),
    "map": LoadSpec(f"nginx's fixed reply, {IN_FLIGHT} requests in flight", "replies",
                    ("kimi-map", "kimi-threads"), lambda: _nginx.Nginx(verify=("fast",)),
                    lambda server: server.url("fast"), _nginx.unavailable),
}


def run(seconds: float, log: Any = print) -> ThreadsResult:
    result = ThreadsResult(seconds=seconds)
    for load, spec in LOADS.items():
        why = spec.unavailable()
        if why:
            result.rows += [(load, {"name": name, "skipped": why}) for name in spec.contenders]
            log(f"  threads {load:<6} skipped: {why}")
            continue
        with spec.server() as server:
            for name in spec.contenders:
                out = run_json("benchmarks.bench_threads", ["--run", name, spec.url(server), "--seconds", seconds])
                result.rows.append((load, out))
                if "skipped" in out:
                    log(f"  threads {load:<6} {LABELS[name]:<34} skipped: {out['skipped']}")
                    continue
                log(f"  threads {load:<6} {LABELS[name]:<34} retained {out['retained'] * 100:.1f}% "
                    f"({out['chunks_per_s']:.0f} {spec.unit}/s meanwhile)")
                wait_settled()
    return result


def render(result: ThreadsResult) -> str:
    rows = []
    for load, out in result.rows:
        label, unit = LOADS[load].label, LOADS[load].unit
        if "skipped" in out:
            rows.append([label, LABELS[out["name"]], "–", "–", "skipped", "–"])
            continue
        rows.append([
            label,
            LABELS[out["name"]],
            fmt_num(out["alone"] / 1e6),
            fmt_num(out["during"] / 1e6),
            f"{out['retained'] * 100:.1f}%",
            f"{fmt_num(out['chunks_per_s'])} {unit}/s",
        ])
    headers = [
        "load", "loading thread", "spin alone M add/s", "spin while loaded M add/s",
        "retained", "streamed or answered meanwhile",
    ]
    notes = skipped_note({LABELS[out["name"]]: out["skipped"] for _, out in result.rows if "skipped" in out})
    return table(headers, rows, align="llrrrr") + notes


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
