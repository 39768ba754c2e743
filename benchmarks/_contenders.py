"""The streaming loops under test, and the process that times one of them.

    python -m benchmarks._contenders NAME URL [--repeat R]

prints one JSON line: client CPU seconds, wall seconds, content chunks and characters
seen, peak RSS (the whole process, imports included). Imports and client construction happen before the clock starts; the
request itself and the whole read loop are inside it. Every loop touches the content of
every chunk and counts the non-empty ones, so all contenders do the same work for the
caller. `curl` is timed from outside, as a child process (its CPU from RUSAGE_CHILDREN).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from typing import Any, Callable
from urllib.parse import urlsplit

from ._harness import API_KEY, MESSAGES, MODEL, check_loopback, emit, kimi_origin

#: A prepared contender: run() streams once and returns (content chunks, characters);
#: after() (outside the clock) returns extra facts to check.
Prepared = tuple[Callable[[], tuple[int, int]], Callable[[], dict[str, Any]]]

REQUEST_BODY = {"model": MODEL, "messages": MESSAGES, "stream": True}


def _no_after() -> dict[str, Any]:
    return {}


def kimi_chunks(url: str) -> Prepared:
    import kimi

    client = kimi.Kimi(api_key=API_KEY, base_url=url)
    streams: list[Any] = []

    def run() -> tuple[int, int]:
        n = chars = 0
        stream = client.chat.completions.create(model=MODEL, messages=MESSAGES, stream=True)
        for chunk in stream:
            content = chunk.choices[0].delta.content
            if content:
                n += 1
                chars += len(content)
        streams.append(stream)
        return n, chars

    def after() -> dict[str, Any]:
        usage = streams[-1].final().usage
        return {"completion_tokens": usage.completion_tokens if usage else None}

    return run, after


def kimi_text(url: str) -> Prepared:
    import kimi

    client = kimi.Kimi(api_key=API_KEY, base_url=url)

    def run() -> tuple[int, int]:
        n = chars = 0
        stream = client.chat.completions.create(model=MODEL, messages=MESSAGES, stream=True)
        for text in stream.text():
            if text:
                n += 1
                chars += len(text)
        return n, chars

    return run, _no_after


def openai_python(url: str) -> Prepared:
    import openai

    client: Any = openai.OpenAI(base_url=url, api_key=API_KEY)

    def run() -> tuple[int, int]:
        n = chars = 0
        stream = client.chat.completions.create(model=MODEL, messages=MESSAGES, stream=True)
        for chunk in stream:
            content = chunk.choices[0].delta.content
            if content:
                n += 1
                chars += len(content)
        return n, chars

    return run, _no_after


def import_httpx() -> Any:
    """The httpx module, under either of the names it is published as."""
    try:
        import httpx  # type: ignore[import-not-found, unused-ignore]
    except ImportError:
        import httpx2 as httpx  # the name openai-python 3.x depends on
    return httpx


def httpx_loop(url: str) -> Prepared:
    httpx = import_httpx()
    client = httpx.Client(timeout=60.0)
    headers = {"Authorization": f"Bearer {API_KEY}", "Accept": "text/event-stream"}
    target = url + "/chat/completions"

    def run() -> tuple[int, int]:
        n = chars = 0
        with client.stream("POST", target, json=REQUEST_BODY, headers=headers) as response:
            response.raise_for_status()
            for line in response.iter_lines():
                if not line.startswith("data: "):
                    continue
                data = line[6:]
                if data == "[DONE]":
                    break
                content = json.loads(data)["choices"][0]["delta"].get("content")
                if content:
                    n += 1
                    chars += len(content)
        return n, chars

    return run, _no_after


def stdlib_loop(url: str) -> Prepared:
    import http.client

    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=60.0)
    path = parts.path + "/chat/completions"
    payload = json.dumps(REQUEST_BODY).encode("utf-8")
    headers = {
        "Authorization": f"Bearer {API_KEY}",
        "Content-Type": "application/json",
        "Accept": "text/event-stream",
    }

    def run() -> tuple[int, int]:
        n = chars = 0
        conn.request("POST", path, body=payload, headers=headers)
        response = conn.getresponse()
        if response.status != 200:
            raise RuntimeError(f"stdlib loop: HTTP {response.status}")
        for line in response:
            if not line.startswith(b"data: "):
                continue
            if line.startswith(b"data: [DONE]"):
                break
            content = json.loads(line[6:])["choices"][0]["delta"].get("content")
            if content:
                n += 1
                chars += len(content)
        return n, chars

    return run, _no_after


CONTENDERS: dict[str, Callable[[str], Prepared]] = {
    "kimi": kimi_chunks,
    "kimi-text": kimi_text,
    "openai": openai_python,
    "httpx": httpx_loop,
    "stdlib": stdlib_loop,
}

LABELS = {
    "kimi": "kimi (chunk objects)",
    "kimi-text": "kimi `.text()`",
    "openai": "openai-python",
    "httpx": "httpx + json loop",
    "stdlib": "stdlib http.client + json loop",
    "curl": "curl -N (anchor)",
}


def time_python(name: str, url: str) -> dict[str, Any]:
    run, after = CONTENDERS[name](url)
    cpu0 = time.process_time()
    wall0 = time.perf_counter()
    chunks, chars = run()
    wall = time.perf_counter() - wall0
    cpu = time.process_time() - cpu0
    return {
        "name": name, "cpu": cpu, "wall": wall, "chunks": chunks, "chars": chars,
        "rss_mb": peak_rss_mb(), "kimi_from": kimi_origin(), **after(),
    }


def peak_rss_mb() -> float | None:
    """This process's peak resident set (VmHWM). Not ru_maxrss: Linux carries that over
    from the parent across fork and exec."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def time_curl(url: str) -> dict[str, Any]:
    """curl -N to /dev/null; CPU from RUSAGE_CHILDREN, wall from curl's own time_total
    (the transfer, not the process start), bytes from size_download."""
    cmd = [
        "curl", "-N", "-s", "-S", "-o", "/dev/null", "-w", "%{http_code} %{size_download} %{time_total}",
        "--noproxy", "*",
        "-H", f"Authorization: Bearer {API_KEY}", "-H", "Content-Type: application/json",
        "--data-binary", json.dumps(REQUEST_BODY), url + "/chat/completions",
    ]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    wall0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    process_wall = time.perf_counter() - wall0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise RuntimeError(f"curl exited with {proc.returncode}: {proc.stderr.strip()}")
    status, size, total = proc.stdout.split()
    if status != "200":
        raise RuntimeError(f"curl: HTTP {status}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {
        "name": "curl", "cpu": cpu, "wall": float(total), "process_wall": process_wall,
        "bytes": int(size), "rss_mb": None,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks._contenders")
    parser.add_argument("name", choices=[*CONTENDERS, "curl"])
    parser.add_argument("url")
    args = parser.parse_args(argv)
    url = check_loopback(args.url)
    emit(time_curl(url) if args.name == "curl" else time_python(args.name, url))
    return 0


if __name__ == "__main__":
    sys.exit(main())
