"""Scenario "requests": client CPU per non-streaming ``chat.completions.create`` call.

The local server's default answer to a non-streaming chat request is one JSON body (a
chat completion of a few sentences, with usage, sent with Content-Length). Each contender
runs in its own process: imports, one client, one call outside the clock (the connection,
lazy imports, first-use caches), then `calls` calls on that same client, so on one
keep-alive connection, inside it: ``time.process_time()`` and ``time.perf_counter()``
around the loop. Every reply's ``choices[0].message.content`` must equal the reference
fetch's, or the run stops the benchmark. Rounds rotate and the table gives each
contender's best round, as in the streaming scenario. Given a baseline (see `_baseline`),
kimi also runs as it was at that commit.

    python -m benchmarks.bench_requests --run NAME URL --calls N   (one measurement)
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass
from typing import Any, Callable, Sequence

from ._baseline import Baseline, Rounds, check_origin, import_root, split, with_before
from ._contenders import import_httpx, peak_rss_mb
from ._harness import (
    API_KEY, MESSAGES, MODEL, BenchError, Server, check_loopback, emit, fmt_num, fmt_peak_rss,
    fmt_ratio, kimi_origin, post, run_json, table,
)

CONTENDERS = ("kimi", "httpx", "openai")
LABELS = {"kimi": "kimi", "httpx": "httpx + json.loads", "openai": "openai-python"}
CALLS = 2_000
REQUEST_BODY = {"model": MODEL, "messages": MESSAGES}

#: A prepared contender: one call, returning the reply's message content.
Call = Callable[[], Any]


def kimi_call(url: str) -> Call:
    import kimi

    client = kimi.Kimi(api_key=API_KEY, base_url=url)

    def call() -> Any:
        return client.chat.completions.create(model=MODEL, messages=MESSAGES).choices[0].message.content

    return call


def openai_call(url: str) -> Call:
    import openai

    client: Any = openai.OpenAI(base_url=url, api_key=API_KEY)

    def call() -> Any:
        return client.chat.completions.create(model=MODEL, messages=MESSAGES).choices[0].message.content

    return call


def httpx_call(url: str) -> Call:
    httpx = import_httpx()
    client = httpx.Client(timeout=60.0)
    headers = {"Authorization": f"Bearer {API_KEY}"}
    target = url + "/chat/completions"

    def call() -> Any:
        response = client.post(target, json=REQUEST_BODY, headers=headers)
        response.raise_for_status()
        return json.loads(response.content)["choices"][0]["message"]["content"]

    return call


CALLERS: dict[str, Callable[[str], Call]] = {
    "kimi": kimi_call,
    "openai": openai_call,
    "httpx": httpx_call,
}


def measure_one(name: str, url: str, calls: int) -> dict[str, Any]:
    """Time `calls` calls of contender `name` after one untimed call; count the replies
    whose content differs from the first one's."""
    call = CALLERS[name](url)
    first = call()
    wrong = 0
    cpu0 = time.process_time()
    wall0 = time.perf_counter()
    for _ in range(calls):
        if call() != first:
            wrong += 1
    wall = time.perf_counter() - wall0
    cpu = time.process_time() - cpu0
    return {
        "name": name, "cpu": cpu, "wall": wall, "calls": calls, "wrong": wrong,
        "content": first, "rss_mb": peak_rss_mb(), "kimi_from": kimi_origin(),
    }


# ---- the scenario ------------------------------------------------------------------------


@dataclass
class RequestResult(Rounds):
    """Every round of every contender, `calls` requests each."""

    LABELS = LABELS
    calls: int
    rounds: int
    content: str
    body_bytes: int

    def cpu_us(self, name: str) -> float:
        """Best (least) client CPU µs per request over the rounds."""
        return self.best(name) / self.calls * 1e6

    def median_cpu_us(self, name: str) -> float:
        return self.middle(name) / self.calls * 1e6

    def per_s(self, name: str) -> float:
        """Requests per second in the best (least) wall time."""
        return self.calls / self.best(name, "wall")


def reference(url: str) -> tuple[str, int]:
    """(message content, body bytes) of one non-streaming reply read with http.client."""
    status, body = post(url, "/chat/completions", REQUEST_BODY)
    if status != 200:
        raise BenchError(f"reference fetch: HTTP {status}: {body[:300]!r}")
    content = json.loads(body)["choices"][0]["message"]["content"]
    if not isinstance(content, str) or not content:
        raise BenchError(f"reference fetch: no message content in {body[:300]!r}")
    return content, len(body)


def check_run(result: RequestResult, run: dict[str, Any]) -> None:
    """BenchError unless every reply of `run` carried the reference content."""
    name = run["name"]
    label = result.label(name)
    check_origin(name, run, result.baseline, label)
    if run["calls"] != result.calls or run["wrong"] or run["content"] != result.content:
        raise BenchError(
            f"{label}: {run['wrong']} of {run['calls']} replies differ from the first, whose "
            f"content is {run['content']!r}; the server's is {result.content!r}"
        )


def run_one(result: RequestResult, name: str, url: str, wrapper: Sequence[str] = ()) -> dict[str, Any]:
    """One checked run of contender `name` (``kimi@before`` included) against `url`."""
    run = run_json(
        "benchmarks.bench_requests", ["--run", split(name)[0], url, "--calls", result.calls],
        import_root=import_root(name, result.baseline), wrapper=wrapper,
    )
    run["name"] = name
    check_run(result, run)
    return run


def measure(
    calls: int, rounds: int, log: Any = print, baseline: Baseline | None = None,
    contenders: Sequence[str] = CONTENDERS,
) -> RequestResult:
    """Start the local server, then run each contender `rounds` times, `calls` requests each."""
    names = with_before(tuple(contenders), baseline, ("kimi",))
    with Server() as server:
        content, body_bytes = reference(server.url)
        result = RequestResult(calls, rounds, content, body_bytes, baseline=baseline)
        result.play(names, rounds, lambda name: run_one(result, name, server.url), log)
    return result


def describe(result: RequestResult) -> str:
    return (
        f"{result.calls:,} non-streaming calls per run on one client (one untimed call "
        f"first), each answered with a {result.body_bytes:,}-byte JSON chat completion; best "
        f"of {result.rounds} run{'s' if result.rounds != 1 else ''} per contender, the "
        "median CPU per request beside it."
    )


def render(result: RequestResult) -> str:
    """The per-contender table: CPU per request, requests per second, the openai ratio."""
    base = result.cpu_us("openai") if result.has("openai") else None
    rows = []
    for name, runs in result.runs.items():
        us = result.cpu_us(name)
        rows.append([
            result.label(name),
            fmt_num(us),
            fmt_num(result.median_cpu_us(name)),
            fmt_num(result.per_s(name)),
            fmt_ratio(base / us) if base else "–",
            fmt_peak_rss(runs),
        ])
    headers = [
        "contender", "CPU µs/request", "median", "requests/s", "openai-python CPU ÷ this",
        "peak RSS MB",
    ]
    return table(headers, rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench_requests")
    parser.add_argument("--run", choices=CONTENDERS, required=True)
    parser.add_argument("url")
    parser.add_argument("--calls", type=int, default=CALLS)
    args = parser.parse_args(argv)
    emit(measure_one(args.run, check_loopback(args.url), args.calls))
    return 0


if __name__ == "__main__":
    sys.exit(main())
