"""Scenario "streaming": one long SSE stream of small chunks, every contender on it.

The local server sends N content chunks of "tok " (the OpenAI/Moonshot chunk shape, about
196 bytes each on the wire), a final chunk with usage, then ``data: [DONE]``. Each
contender streams it in its own process (see `_contenders`), once per round, in an order
that rotates between rounds. The table gives each contender's best round (least CPU,
least wall): on a shared machine other processes only ever add time, so the best round is
the closest to the client's own cost (timeit's reasoning); the median CPU is shown beside
it. Every run is checked: N non-empty content chunks, N times the chunk's characters,
curl's byte count equal to the reference fetch, kimi's usage equal to N, and kimi
imported from the tree the contender names. Given a baseline (see `_baseline`), the two
kimi loops also run against kimi as it was at that commit, labelled "before".
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Iterator, Sequence

from ._baseline import Baseline, Rounds, check_origin, import_root, split, with_before
from ._contenders import LABELS, REQUEST_BODY
from ._harness import (
    BenchError, Server, fmt_num, fmt_peak_rss, fmt_ratio, post, run_json, table,
)

CONTENDERS = ("curl", "kimi", "kimi-text", "stdlib", "httpx", "openai")
#: The contenders that also run against the baseline (as NAME@before).
KIMI = ("kimi", "kimi-text")
TEXT = "tok "


@dataclass
class StreamResult(Rounds):
    """Every round of every contender on one stream shape."""

    LABELS = LABELS
    chunks: int
    text_len: int
    body_bytes: int
    rounds: int

    def cpu(self, name: str) -> float:
        """Best (least) client CPU seconds over the rounds."""
        return self.best(name, "cpu")

    def wall(self, name: str) -> float:
        """Best (least) wall seconds over the rounds."""
        return self.best(name, "wall")

    def cpu_us_per_chunk(self, name: str) -> float:
        return self.cpu(name) / self.chunks * 1e6

    def median_cpu_us_per_chunk(self, name: str) -> float:
        return self.middle(name) / self.chunks * 1e6

    def mb_per_s(self, name: str) -> float:
        return self.body_bytes / self.wall(name) / 1e6


def reference_fetch(url: str) -> tuple[int, int]:
    """(body bytes, data events) of one stream read raw with http.client, unparsed, after
    checking that it ends with ``data: [DONE]``."""
    status, body = post(url, "/chat/completions", REQUEST_BODY)
    if status != 200:
        raise BenchError(f"reference fetch: HTTP {status}: {body[:300]!r}")
    if not body.endswith(b"data: [DONE]\n\n"):
        raise BenchError(f"reference fetch: the stream does not end with data: [DONE]: {body[-200:]!r}")
    return len(body), body.count(b"data: ")


def check_run(result: StreamResult, run: dict[str, Any]) -> None:
    """BenchError unless `run` saw exactly the stream that was sent."""
    name = run["name"]
    label = result.label(name)
    check_origin(name, run, result.baseline, label)
    if name == "curl":
        if run["bytes"] != result.body_bytes:
            raise BenchError(f"curl read {run['bytes']} bytes, the stream has {result.body_bytes}")
        return
    want_chars = result.chunks * result.text_len
    if run["chunks"] != result.chunks or run["chars"] != want_chars:
        raise BenchError(
            f"{label} saw {run['chunks']} content chunks / {run['chars']} characters; "
            f"the stream has {result.chunks} / {want_chars}"
        )
    if "completion_tokens" in run and run["completion_tokens"] != result.chunks:
        raise BenchError(
            f"{label}: final().usage.completion_tokens is {run['completion_tokens']}, "
            f"the stream reported {result.chunks}"
        )


@contextmanager
def stream_server(chunks: int, text: str) -> Iterator[tuple[str, int]]:
    """A bulk server of `chunks` × `text` for a `with` block: its URL and the byte count
    of its stream, checked by one reference fetch."""
    with Server("--bulk", chunks, "--text", text) as server:
        body_bytes, events = reference_fetch(server.url)
        # The role chunk carries content too: N content events + final chunk + [DONE].
        if events != chunks + 2:
            raise BenchError(f"reference fetch: {events} data events, expected {chunks + 2}")
        yield server.url, body_bytes


def run_one(result: StreamResult, name: str, url: str, wrapper: Sequence[str] = ()) -> dict[str, Any]:
    """One checked run of contender `name` (``NAME@before`` included) on the stream at `url`."""
    run = run_json(
        "benchmarks._contenders", [split(name)[0], url],
        import_root=import_root(name, result.baseline), wrapper=wrapper,
    )
    run["name"] = name
    check_run(result, run)
    return run


def measure(
    chunks: int,
    text: str,
    rounds: int,
    contenders: Sequence[str] = CONTENDERS,
    log: Any = print,
    baseline: Baseline | None = None,
) -> StreamResult:
    """Start a bulk server of `chunks` × `text`, then run each contender (and, given a
    baseline, the old kimi beside the new) `rounds` times."""
    names = with_before(tuple(contenders), baseline, KIMI)
    with stream_server(chunks, text) as (url, body_bytes):
        result = StreamResult(
            chunks=chunks, text_len=len(text), body_bytes=body_bytes, rounds=rounds,
            baseline=baseline,
        )
        result.play(names, rounds, lambda name: run_one(result, name, url), log)
    return result


def render(result: StreamResult) -> str:
    """The per-contender table: CPU per chunk, rates, and CPU ratios."""
    base_openai = result.cpu_us_per_chunk("openai") if result.has("openai") else None
    base_stdlib = result.cpu_us_per_chunk("stdlib") if result.has("stdlib") else None
    rows = []
    for name in result.runs:
        us = result.cpu_us_per_chunk(name)
        rows.append([
            result.label(name),
            fmt_num(us),
            fmt_num(result.median_cpu_us_per_chunk(name)),
            fmt_num(result.chunks / result.wall(name), 3),
            fmt_num(result.mb_per_s(name)),
            fmt_ratio(base_openai / us) if base_openai else "–",
            fmt_ratio(base_stdlib / us) if base_stdlib else "–",
            fmt_peak_rss(result.runs[name]),
        ])
    headers = [
        "contender", "CPU µs/chunk", "median", "chunks/s", "MB/s",
        "openai-python CPU ÷ this", "stdlib loop CPU ÷ this", "peak RSS MB",
    ]
    return table(headers, rows)


def describe(result: StreamResult) -> str:
    per_chunk = result.body_bytes / (result.chunks + 2)
    return (
        f"{result.chunks:,} content chunks of {result.text_len} characters "
        f"({result.body_bytes / 1e6:.1f} MB of SSE, about {per_chunk:.0f} bytes per event), "
        f"best of {result.rounds} run{'s' if result.rounds != 1 else ''} per contender "
        "(CPU per chunk and wall rates each from the contender's best round; the median CPU "
        "per chunk beside it)."
    )
