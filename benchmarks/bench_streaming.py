"""Scenario "streaming": one long SSE stream of small chunks, every contender on it.

The local server sends N content chunks of "tok " (the OpenAI/Moonshot chunk shape, about
196 bytes each on the wire), a final chunk with usage, then ``data: [DONE]``. Each
contender streams it in its own process (see `_contenders`), once per round, in an order
that rotates between rounds. The table gives each contender's best round (least CPU,
least wall): on a shared machine other processes only ever add time, so the best round is
the closest to the client's own cost (timeit's reasoning); the median CPU is shown beside
it. Every run is checked: N non-empty content chunks, N times the chunk's characters,
curl's byte count equal to the reference fetch, kimi's usage equal to N.
"""

from __future__ import annotations

import http.client
import json
from dataclasses import dataclass, field
from typing import Any, Sequence
from urllib.parse import urlsplit

from ._contenders import LABELS, REQUEST_BODY
from ._harness import (
    API_KEY, BenchError, Server, fmt_num, fmt_ratio, median, run_json, table, wait_settled,
)

CONTENDERS = ("curl", "kimi", "kimi-text", "stdlib", "httpx", "openai")
TEXT = "tok "


@dataclass
class StreamResult:
    """Every round of every contender on one stream shape."""

    chunks: int
    text_len: int
    body_bytes: int
    rounds: int
    runs: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    def cpu(self, name: str) -> float:
        """Best (least) client CPU seconds over the rounds."""
        return float(min(r["cpu"] for r in self.runs[name]))

    def wall(self, name: str) -> float:
        """Best (least) wall seconds over the rounds."""
        return float(min(r["wall"] for r in self.runs[name]))

    def cpu_us_per_chunk(self, name: str) -> float:
        return self.cpu(name) / self.chunks * 1e6

    def median_cpu_us_per_chunk(self, name: str) -> float:
        return median(r["cpu"] for r in self.runs[name]) / self.chunks * 1e6

    def mb_per_s(self, name: str) -> float:
        return self.body_bytes / self.wall(name) / 1e6

    def has(self, name: str) -> bool:
        return name in self.runs


def reference_fetch(url: str) -> tuple[int, int]:
    """(body bytes, data events) of one stream read raw with http.client, unparsed, after
    checking that it ends with ``data: [DONE]``."""
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=60)
    try:
        conn.request(
            "POST", parts.path + "/chat/completions", body=json.dumps(REQUEST_BODY).encode(),
            headers={"Authorization": f"Bearer {API_KEY}", "Content-Type": "application/json"},
        )
        response = conn.getresponse()
        body = response.read()
    finally:
        conn.close()
    if response.status != 200:
        raise BenchError(f"reference fetch: HTTP {response.status}: {body[:300]!r}")
    if not body.endswith(b"data: [DONE]\n\n"):
        raise BenchError(f"reference fetch: the stream does not end with data: [DONE]: {body[-200:]!r}")
    return len(body), body.count(b"data: ")


def check_run(result: StreamResult, run: dict[str, Any]) -> None:
    """BenchError unless `run` saw exactly the stream that was sent."""
    name = run["name"]
    if name == "curl":
        if run["bytes"] != result.body_bytes:
            raise BenchError(f"curl read {run['bytes']} bytes, the stream has {result.body_bytes}")
        return
    want_chars = result.chunks * result.text_len
    if run["chunks"] != result.chunks or run["chars"] != want_chars:
        raise BenchError(
            f"{LABELS[name]} saw {run['chunks']} content chunks / {run['chars']} characters; "
            f"the stream has {result.chunks} / {want_chars}"
        )
    if "completion_tokens" in run and run["completion_tokens"] != result.chunks:
        raise BenchError(
            f"{LABELS[name]}: final().usage.completion_tokens is {run['completion_tokens']}, "
            f"the stream reported {result.chunks}"
        )


def measure(
    chunks: int, text: str, rounds: int, contenders: Sequence[str] = CONTENDERS, log: Any = print
) -> StreamResult:
    """Start a bulk server of `chunks` × `text`, then run each contender `rounds` times."""
    with Server("--bulk", chunks, "--text", text) as server:
        body_bytes, events = reference_fetch(server.url)
        # The role chunk carries content too: N content events + final chunk + [DONE].
        if events != chunks + 2:
            raise BenchError(f"reference fetch: {events} data events, expected {chunks + 2}")
        result = StreamResult(chunks=chunks, text_len=len(text), body_bytes=body_bytes, rounds=rounds)
        for round_no in range(1, rounds + 1):
            # Each round starts one contender later, so none always runs first or last.
            shift = (round_no - 1) % len(contenders)
            for name in (*contenders[shift:], *contenders[:shift]):
                run = run_json("benchmarks._contenders", [name, server.url])
                check_run(result, run)
                result.runs.setdefault(name, []).append(run)
                log(f"  round {round_no}/{rounds} {LABELS[name]:<32} "
                    f"cpu {run['cpu']:.3f} s  wall {run['wall']:.3f} s")
                wait_settled()
    return result


def render(result: StreamResult) -> str:
    """The per-contender table: CPU per chunk, rates, and CPU ratios."""
    base_openai = result.cpu_us_per_chunk("openai") if result.has("openai") else None
    base_stdlib = result.cpu_us_per_chunk("stdlib") if result.has("stdlib") else None
    rows = []
    for name in result.runs:
        us = result.cpu_us_per_chunk(name)
        rows.append([
            LABELS[name],
            fmt_num(us),
            fmt_num(result.median_cpu_us_per_chunk(name)),
            fmt_num(result.chunks / result.wall(name), 3),
            fmt_num(result.mb_per_s(name)),
            fmt_ratio(base_openai / us) if base_openai else "–",
            fmt_ratio(base_stdlib / us) if base_stdlib else "–",
            _rss(result.runs[name]),
        ])
    headers = [
        "contender", "CPU µs/chunk", "median", "chunks/s", "MB/s",
        "openai-python CPU ÷ this", "stdlib loop CPU ÷ this", "peak RSS MB",
    ]
    return table(headers, rows)


def _rss(runs: list[dict[str, Any]]) -> str:
    values = [r["rss_mb"] for r in runs if r.get("rss_mb") is not None]
    return fmt_num(max(values), 2) if values else "–"


def describe(result: StreamResult) -> str:
    per_chunk = result.body_bytes / (result.chunks + 2)
    return (
        f"{result.chunks:,} content chunks of {result.text_len} characters "
        f"({result.body_bytes / 1e6:.1f} MB of SSE, about {per_chunk:.0f} bytes per event), "
        f"best of {result.rounds} run{'s' if result.rounds != 1 else ''} per contender "
        "(CPU per chunk and wall rates each from the contender's best round; the median CPU "
        "per chunk beside it)."
    )
