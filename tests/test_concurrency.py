"""Threads and signals: the GIL is released while the core waits on the network, one
client serves many threads at once, and Ctrl-C stops a stalled call promptly.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from conftest import MODEL, PYTHON, create, subprocess_env

import kimi
from kimi.testing import Reply


def _count_until(stop: threading.Event, out: list[float]) -> None:
    n = 0
    start = time.perf_counter()
    while not stop.is_set():
        n += 1
    out.append(n / (time.perf_counter() - start))


def _counting_rate(work) -> float:
    """Iterations per second of a pure-Python counting thread while `work()` runs."""
    stop = threading.Event()
    out: list[float] = []
    counter = threading.Thread(target=_count_until, args=(stop, out))
    counter.start()
    try:
        work()
    finally:
        stop.set()
        counter.join()
    return out[0]


def test_gil_is_released_while_a_stream_waits(client, server):
    """A counting thread keeps most of its speed while another thread streams a slow reply.

    The threshold is loose (50%) because CI machines are noisy; benchmarks measure it
    precisely.  Up to three attempts, so one unlucky scheduling slice cannot fail it.
    """
    ratios = []
    for _ in range(3):
        alone = _counting_rate(lambda: time.sleep(0.3))
        server.script(Reply.chat("g" * 30, chunk_size=1, delay=0.01))
        received: list[str] = []
        during = _counting_rate(lambda: received.extend(create(client, stream=True).text()))
        assert "".join(received) == "g" * 30
        ratios.append(during / alone)
        if ratios[-1] > 0.5:
            break
    assert max(ratios) > 0.5, ratios


def test_gil_is_released_while_a_non_stream_call_waits(client, server):
    server.script(Reply.stream("slow", stall_after=1))
    slow = client.with_options(timeout=0.4)
    ratios = []
    for _ in range(3):
        alone = _counting_rate(lambda: time.sleep(0.3))

        def call() -> None:
            with pytest.raises(kimi.APITimeoutError):
                create(slow)

        during = _counting_rate(call)
        ratios.append(during / alone)
        if ratios[-1] > 0.5:
            break
        server.script(Reply.stream("slow", stall_after=1))
    assert max(ratios) > 0.5, ratios


def test_many_threads_share_one_client_and_each_gets_its_own_stream(client, server):
    def work(i: int) -> tuple[int, str, str, str]:
        messages = [{"role": "user", "content": f"thread-{i}"}]
        streamed = "".join(client.chat.completions.create(model=MODEL, messages=messages,
                                                          stream=True).text())
        stream = client.chat.completions.create(model=MODEL, messages=messages, stream=True)
        final = stream.final().choices[0].message.content
        plain = client.chat.completions.create(model=MODEL, messages=messages).choices[0].message.content
        return i, streamed, final, plain

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(work, range(24)))
    for i, streamed, final, plain in results:
        expected = f"You said “thread-{i}”."
        assert streamed.startswith(expected)
        assert streamed == final == plain
    assert len(server.requests) == 72
    # Lanes were returned: never more idle than the pool keeps, at least one.
    assert 1 <= client._core_client.idle_lanes <= 8


def test_threads_streaming_concurrently_overlap_in_time(client, server):
    """Four slow streams on four threads take about as long as one, not four times."""
    reply = Reply.chat("c" * 20, chunk_size=1, delay=0.01)  # ~0.2 s each
    server.script(*[reply] * 4)
    start = time.monotonic()
    with ThreadPoolExecutor(max_workers=4) as pool:
        texts = list(pool.map(lambda _: "".join(create(client, stream=True).text()), range(4)))
    elapsed = time.monotonic() - start
    assert texts == ["c" * 20] * 4
    assert elapsed < 0.6, elapsed


def test_more_concurrent_streams_than_idle_lanes(client, server):
    """Twelve streams at once need twelve lanes; afterwards the pool keeps at most eight."""
    server.script(*[Reply.chat(f"lane {i:02d}", chunk_size=2, delay=0.01) for i in range(12)])
    barrier = threading.Barrier(12)

    def work(_: int) -> str:
        barrier.wait()
        return "".join(create(client, stream=True).text())

    with ThreadPoolExecutor(max_workers=12) as pool:
        texts = sorted(pool.map(work, range(12)))
    assert texts == [f"lane {i:02d}" for i in range(12)]
    assert client._core_client.idle_lanes == 8


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_after_fork_the_child_uses_its_own_connection(client, server):
    assert len(client.models.list()) == 8
    before = server.connections
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report through the pipe, never return into pytest
        try:
            ok = len(client.models.list()) == 8 and create(client).object == "chat.completion"
            os.write(write_end, b"ok" if ok else b"wrong answer")
        except BaseException as exc:  # noqa: BLE001 - reported to the parent
            os.write(write_end, repr(exc).encode()[:500])
        finally:
            os._exit(0)
    os.close(write_end)
    _, status = os.waitpid(pid, 0)
    with os.fdopen(read_end, "rb") as pipe:
        report = pipe.read()
    assert status == 0
    assert report == b"ok"
    # The parent's kept-alive connection is still its own and still works.
    assert create(client).object == "chat.completion"
    assert server.connections == before + 1


# -- Ctrl-C ----------------------------------------------------------------------------

STREAM_CHILD = r"""
import kimi
from kimi.testing import KimiServer, Reply
with KimiServer(api_key="sk-child", delay=0) as server:
    server.script(Reply.chat("first then silence", chunk_size=5, stall_after=2))
    client = kimi.Kimi(api_key="sk-child", base_url=server.base_url, max_retries=0)
    stream = client.chat.completions.create(
        model="kimi-k2.6", messages=[{"role": "user", "content": "x"}], stream=True)
    next(stream)
    next(stream)
    print("ready", flush=True)
    for chunk in stream:
        pass
    print("stream ended without interruption", flush=True)
"""

# A listening socket that never accepts: the request is sent, no byte ever comes back.
SILENT_CHILD = r"""
import socket, kimi
listener = socket.socket()
listener.bind(("127.0.0.1", 0))
listener.listen(4)
client = kimi.Kimi(api_key="sk-child", base_url="http://127.0.0.1:{}/v1".format(listener.getsockname()[1]),
                   max_retries=0)
print("ready", flush=True)
client.chat.completions.create(model="kimi-k2.6", messages=[{"role": "user", "content": "x"}]STREAM)
print("call returned without interruption", flush=True)
"""

# The same with the local server: headers and part of the body, then silence.
BODY_STALL_CHILD = r"""
import kimi
from kimi.testing import KimiServer, Reply
with KimiServer(api_key="sk-child", delay=0) as server:
    server.script(Reply.stream("never completes", stall_after=1))
    client = kimi.Kimi(api_key="sk-child", base_url=server.base_url, max_retries=0)
    print("ready", flush=True)
    client.chat.completions.create(model="kimi-k2.6", messages=[{"role": "user", "content": "x"}])
    print("call returned without interruption", flush=True)
"""


def _interrupt(code: str) -> tuple[float, subprocess.CompletedProcess]:
    child = subprocess.Popen([PYTHON, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             env=subprocess_env(), text=True)
    try:
        line = child.stdout.readline()
        assert line == "ready\n", child.stderr.read() if not line else line
        time.sleep(0.15)  # let the child enter the blocking wait
        sent = time.monotonic()
        child.send_signal(signal.SIGINT)
        out, err = child.communicate(timeout=5)
        elapsed = time.monotonic() - sent
    finally:
        if child.poll() is None:
            child.kill()
            child.communicate()
    return elapsed, subprocess.CompletedProcess(child.args, child.returncode, out, err)


def test_ctrl_c_interrupts_a_stalled_stream(server):
    elapsed, done = _interrupt(STREAM_CHILD)
    assert "KeyboardInterrupt" in done.stderr
    assert "without interruption" not in done.stdout
    assert done.returncode != 0
    assert elapsed < 2.0


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
def test_ctrl_c_interrupts_a_call_waiting_for_headers(server, stream):
    elapsed, done = _interrupt(SILENT_CHILD.replace("STREAM", ", stream=True" if stream else ""))
    assert "KeyboardInterrupt" in done.stderr
    assert "without interruption" not in done.stdout
    assert elapsed < 2.0


def test_ctrl_c_interrupts_a_non_stream_call_stalled_mid_body(server):
    elapsed, done = _interrupt(BODY_STALL_CHILD)
    assert "KeyboardInterrupt" in done.stderr
    assert "without interruption" not in done.stdout
    assert elapsed < 2.0


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
def test_keyboard_interrupt_mid_call_leaves_the_client_usable(client, server, stream):
    """A signal handler raising during a stalled call ends it and frees its lane."""
    if threading.current_thread() is not threading.main_thread():
        pytest.skip("signals are delivered to the main thread only")
    server.script(Reply.stream("abc", stall_after=2))
    client.models.list()
    timer = threading.Timer(0.2, signal.raise_signal, args=(signal.SIGUSR1,))

    def handler(signum, frame):
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGUSR1, handler)
    try:
        timer.start()
        start = time.monotonic()
        with pytest.raises(KeyboardInterrupt):
            if stream:
                opened = create(client, stream=True)
                for _ in opened:
                    pass
            else:
                create(client)
        assert time.monotonic() - start < 1.5
    finally:
        timer.cancel()
        signal.signal(signal.SIGUSR1, previous)
    if stream:
        assert opened.closed
    assert client._core_client.idle_lanes == 1
    assert create(client).choices[0].finish_reason == "stop"
