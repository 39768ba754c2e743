"""chat.completions.map on the sync client, against the local server: order, per-item
errors and retries, lazy input, return_exceptions=False, Ctrl-C, progress."""

from __future__ import annotations

import itertools
import json
import signal
import subprocess
import sys
import textwrap
import time
import tracemalloc

import pytest

import kimi
from kimi.testing import Reply

from conftest import KEY, MODEL, REPO


def rows(n, start=0):
    return [{"model": MODEL, "messages": [{"role": "user", "content": f"row {i}"}]} for i in range(start, start + n)]


def content(result):
    return result.response.choices[0].message.content


def test_results_come_in_input_order_with_their_requests(make_client):
    requests = rows(100)
    results = list(make_client().chat.completions.map(requests, concurrency=16))
    assert [r.index for r in results] == list(range(100))
    for r in results:
        assert r.error is None
        assert r.request is requests[r.index]
        assert f"row {r.index}\u201d" in content(r)
    index, request, response, error = results[3]     # unpacks like a tuple
    assert (index, request, error) == (3, requests[3], None)


def test_unordered_results_come_as_they_finish(server, make_client):
    # The first reply's body comes in two parts 0.5 s apart, so the others overtake it.
    body = json.dumps({"id": "slow", "object": "chat.completion", "created": 1, "model": MODEL,
                       "choices": [{"index": 0, "message": {"role": "assistant", "content": "slow"},
                                    "finish_reason": "stop"}]}).encode()
    server.script(Reply.raw([body[:20], body[20:]], content_type="application/json", delay=0.5))
    results = list(make_client().chat.completions.map(rows(8), concurrency=8, ordered=False))
    assert sorted(r.index for r in results) == list(range(8))
    assert all(r.error is None for r in results)
    # Whichever request reached the server first got the slow reply, and came last.
    assert content(results[-1]) == "slow"
    assert [content(r) for r in results].count("slow") == 1
    # In order, results wait for the slow one whatever its place.
    server.script(Reply.raw([body[:20], body[20:]], content_type="application/json", delay=0.5))
    results = list(make_client().chat.completions.map(rows(8), concurrency=8))
    assert [r.index for r in results] == list(range(8))


def test_per_item_failures_are_results_and_the_rest_go_on(server, make_client):
    server.script(Reply.error(400))
    results = list(make_client().chat.completions.map(rows(5), concurrency=1))
    assert isinstance(results[0].error, kimi.BadRequestError)
    assert results[0].response is None
    assert [r.error for r in results[1:]] == [None] * 4


def test_a_malformed_row_is_an_error_result_not_a_crash(make_client):
    requests = [{"model": MODEL}, "not a dict", {"model": MODEL, "messages": [{"role": "user", "content": "x"}], "stream": True}]
    results = list(make_client().chat.completions.map(requests + rows(1)))
    assert isinstance(results[0].error, TypeError)
    assert isinstance(results[1].error, TypeError)
    assert isinstance(results[2].error, ValueError)
    assert results[3].error is None


def test_each_item_is_retried_on_its_own(server, make_client):
    server.script(Reply.error(500), Reply.error(503), Reply.error(429, headers={"Retry-After": "0"}))
    results = list(make_client(max_retries=3).chat.completions.map(rows(6), concurrency=1))
    assert all(r.error is None for r in results)
    assert len(server.requests) == 9
    # A failure that is never retried stays a result.
    server.script(Reply.error(401))
    results = list(make_client(max_retries=3).chat.completions.map(rows(2), concurrency=1))
    assert isinstance(results[0].error, kimi.AuthenticationError)
    assert results[1].error is None


def test_return_exceptions_false_raises_the_first_failure(server, make_client):
    server.script(Reply.error(404))
    seen = []
    with pytest.raises(kimi.NotFoundError):
        for result in make_client().chat.completions.map(rows(50), concurrency=4, return_exceptions=False):
            seen.append(result)
    assert seen == []


def test_a_million_row_generator_is_read_lazily_with_flat_memory(make_client):
    pulled = itertools.count()

    def million():
        for i in range(1_000_000):
            next(pulled)
            yield {"model": MODEL, "messages": [{"role": "user", "content": f"row {i}"}]}

    client = make_client()
    results = client.chat.completions.map(million(), concurrency=8)
    first = [next(results) for _ in range(200)]
    tracemalloc.start(32)
    before = tracemalloc.take_snapshot()
    for _ in range(500):
        next(results)
    after = tracemalloc.take_snapshot()
    tracemalloc.stop()
    # The server runs in this process and records every request: its threads' memory
    # is not the map's.
    server_side = [tracemalloc.Filter(False, "*/kimi/testing/*", all_frames=True),
                   tracemalloc.Filter(False, "*/threading.py", all_frames=True)]
    grown = sum(stat.size_diff for stat in after.filter_traces(server_side).compare_to(before.filter_traces(server_side), "filename"))
    results.close()
    assert [r.index for r in first] == list(range(200))
    # Read ahead by at most the ordered window (4 per slot), never the whole input.
    assert next(pulled) <= 700 + 8 * 4 + 1
    assert grown < 256 * 1024


def test_progress_prints_a_counter_without_tqdm(make_client, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "tqdm", None)
    monkeypatch.setitem(sys.modules, "tqdm.auto", None)
    results = list(make_client().chat.completions.map(rows(5), progress=True))
    assert len(results) == 5
    err = capsys.readouterr().err
    assert "map: 5/5 done, 0 failed" in err


def test_bad_arguments_are_refused(make_client):
    completions = make_client().chat.completions
    with pytest.raises(ValueError):
        list(completions.map(rows(1), concurrency=0))
    with pytest.raises(TypeError):
        list(completions.map(rows(1), ordered="yes"))


def test_ctrl_c_stops_a_map_quickly_and_cleanly(server):
    script = textwrap.dedent(
        f"""
        import kimi, sys, time
        client = kimi.Kimi(api_key={KEY!r}, base_url={server.base_url!r}, max_retries=0)
        rows = ({{"model": "kimi-k2.6", "messages": [{{"role": "user", "content": str(i)}}]}} for i in range(10**6))
        print("started", flush=True)
        try:
            for r in client.chat.completions.map(rows, concurrency=4):
                pass
        except KeyboardInterrupt:
            print("interrupted", flush=True)
            sys.exit(3)
        """
    )
    server.default = Reply.no_response(stall=True)
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO)
    assert proc.stdout.readline().strip() == "started"
    time.sleep(0.5)
    sent = time.monotonic()
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=10)
    assert time.monotonic() - sent < 2
    assert proc.returncode == 3, err
    assert "interrupted" in out
