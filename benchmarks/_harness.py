"""Shared plumbing: the local server subprocess, contender subprocesses, checks, tables.

Every process the benchmarks start gets an environment without proxy settings or API
keys, and every URL they are handed is checked to be loopback, so no run can reach the
real API.
"""

from __future__ import annotations

import http.client
import json
import os
import resource
import selectors
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Iterable, Iterator, Sequence
from urllib.parse import urlsplit

REPO = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
API_KEY = "sk-test"
MODEL = "kimi-k2.6"
MESSAGES = [{"role": "user", "content": "hi"}]

_DROPPED_ENV = {
    "http_proxy", "https_proxy", "all_proxy", "ftp_proxy", "no_proxy",
    "moonshot_api_key", "kimi_base_url", "openai_api_key", "openai_base_url",
    "curl_ca_bundle", "pythonstartup",
}
_LOOPBACK = ("127.0.0.1", "::1", "localhost")


class BenchError(RuntimeError):
    """A benchmark could not run or a contender gave a wrong answer."""


def child_env() -> dict[str, str]:
    """os.environ without proxies or API keys, with loopback exempt from any proxy."""
    env = {k: v for k, v in os.environ.items() if k.lower() not in _DROPPED_ENV}
    env["NO_PROXY"] = env["no_proxy"] = "127.0.0.1,localhost,::1"
    env["PYTHONUNBUFFERED"] = "1"
    return env


def check_loopback(url: str) -> str:
    """`url` unchanged if it points at a loopback host, else BenchError."""
    host = urlsplit(url).hostname
    if host not in _LOOPBACK:
        raise BenchError(f"refusing a non-loopback URL {url!r}: benchmarks only use the local server")
    return url


def post(url: str, path: str, body: Any) -> tuple[int, bytes]:
    """(status, whole body) of one POST of `body` as JSON to `url` + `path`, read raw with
    http.client on a connection of its own: the reference the contenders are checked against."""
    parts = urlsplit(check_loopback(url))
    conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=60)
    try:
        conn.request(
            "POST", parts.path + path, body=json.dumps(body).encode(),
            headers={"Authorization": f"Bearer {API_KEY}", "Content-Type": "application/json"},
        )
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


class Server:
    """`python -m kimi.testing` in a subprocess, for a `with` block.

    `args` are passed to the server after ``--port 0``; ``url`` is the base URL it printed.
    """

    def __init__(self, *args: object, start_timeout: float = 20.0) -> None:
        self.args = [str(a) for a in args]
        self.start_timeout = start_timeout
        self.url = ""
        self._proc: subprocess.Popen[str] | None = None
        self._stderr = tempfile.TemporaryFile(mode="w+")

    def __enter__(self) -> "Server":
        cmd = [PYTHON, "-m", "kimi.testing", "--port", "0", *self.args]
        self._proc = subprocess.Popen(
            cmd, cwd=REPO, env=child_env(), stdout=subprocess.PIPE, stderr=self._stderr,
            stdin=subprocess.DEVNULL, text=True,
        )
        try:
            line = self._first_line()
            if not line.startswith("KIMI_TESTING_URL="):
                raise BenchError(f"kimi.testing printed {line!r}, not KIMI_TESTING_URL=...")
            self.url = check_loopback(line.split("=", 1)[1].strip())
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def _first_line(self) -> str:
        assert self._proc is not None and self._proc.stdout is not None
        with selectors.DefaultSelector() as sel:
            sel.register(self._proc.stdout, selectors.EVENT_READ)
            if not sel.select(self.start_timeout):
                raise BenchError(f"kimi.testing did not print its URL within {self.start_timeout} s")
        line = self._proc.stdout.readline()
        if not line:
            self._proc.wait(5)
            raise BenchError(
                f"kimi.testing exited with {self._proc.returncode} before serving: {self.stderr_tail()}"
            )
        return line.strip()

    def stderr_tail(self, limit: int = 2000) -> str:
        self._stderr.seek(0)
        return self._stderr.read()[-limit:]

    def __exit__(self, *exc: object) -> None:
        proc = self._proc
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)
        if proc is not None and proc.stdout is not None:
            proc.stdout.close()
        self._stderr.close()


def run_json(
    module: str,
    args: Sequence[Any],
    timeout: float = 600.0,
    import_root: Path | None = None,
    wrapper: Sequence[str] = (),
) -> dict[str, Any]:
    """Run ``python -m module args...`` from the repository root (or `import_root`);
    return the JSON object it printed on its last stdout line. A failed run raises
    BenchError with its stderr.

    `import_root`: another source tree whose packages come first (the process runs in it,
    with it and then the repository on PYTHONPATH). `wrapper`: a command the interpreter
    runs under (valgrind)."""
    cmd = [*wrapper, PYTHON, "-m", module, *(str(a) for a in args)]
    what = " ".join(cmd[len(wrapper) + 2:])
    env = child_env()
    if import_root is not None:
        env["PYTHONPATH"] = os.pathsep.join(
            p for p in (str(import_root), str(REPO), env.get("PYTHONPATH")) if p
        )
    try:
        proc = subprocess.run(
            cmd, cwd=import_root or REPO, env=env, stdin=subprocess.DEVNULL,
            capture_output=True, text=True, timeout=timeout,
        )
    except subprocess.TimeoutExpired:
        raise BenchError(f"{what}: no result within {timeout:.0f} s") from None
    if proc.returncode != 0:
        raise BenchError(f"{what} exited with {proc.returncode}:\n{proc.stderr.strip()[-3000:]}")
    lines = proc.stdout.strip().splitlines()
    if not lines:
        raise BenchError(f"{what} printed no result:\n{proc.stderr.strip()[-3000:]}")
    result = json.loads(lines[-1])
    if not isinstance(result, dict):
        raise BenchError(f"{what} printed {lines[-1]!r}, not a JSON object")
    return result


def rotated(names: Sequence[str], rounds: int) -> Iterator[tuple[int, str]]:
    """(round number from 1, name): every name once a round, each round starting one name
    later than the one before, so none always runs first or last."""
    for round_no in range(1, rounds + 1):
        shift = (round_no - 1) % len(names)
        for name in (*names[shift:], *names[:shift]):
            yield round_no, name


def emit(result: dict[str, Any]) -> None:
    """A contender process's result: one JSON line on stdout."""
    sys.stdout.write(json.dumps(result) + "\n")
    sys.stdout.flush()


def kimi_origin() -> str | None:
    """The directory this process imported the kimi package from (None: not imported),
    so the harness can check which tree a contender ran."""
    module = sys.modules.get("kimi")
    path = getattr(module, "__file__", None)
    return os.path.dirname(os.path.abspath(path)) if path else None


def raise_nofile() -> int:
    """Raise this process's soft limit of open files to its hard limit, for the scenarios
    that hold thousands of sockets (children inherit it); return the soft limit now."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = 65536 if hard == resource.RLIM_INFINITY else hard
    if soft == resource.RLIM_INFINITY or soft >= want:
        return want
    resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    return want


def median(values: Iterable[float]) -> float:
    return statistics.median(list(values))


def wait_settled(seconds: float = 0.3) -> None:
    """A short pause between contender processes so one's teardown does not overlap the next."""
    time.sleep(seconds)


# ---- formatting ------------------------------------------------------------------------


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]], align: str = "") -> str:
    """A Markdown table; `align` holds one of l/r per column (default: first l, rest r)."""
    align = align or "l" + "r" * (len(headers) - 1)
    cells = [[str(c) for c in row] for row in rows]
    widths = [max([len(h)] + [len(r[i]) for r in cells]) for i, h in enumerate(headers)]

    def line(values: Sequence[str]) -> str:
        padded = [v.ljust(w) if a == "l" else v.rjust(w) for v, w, a in zip(values, widths, align)]
        return "| " + " | ".join(padded) + " |"

    rule = "|" + "|".join(
        ("-" * (w + 1) + ":") if a == "r" else (":" + "-" * (w + 1)) for w, a in zip(widths, align)
    ) + "|"
    return "\n".join([line(headers), rule, *(line(r) for r in cells)])


def fmt_num(value: float, digits: int = 3) -> str:
    """`value` with about `digits` significant digits, thousands separated."""
    if value == 0:
        return "0"
    magnitude = len(str(int(abs(value)))) if abs(value) >= 1 else 0
    decimals = max(0, digits - magnitude)
    if abs(value) < 1:
        decimals = digits
    return f"{value:,.{decimals}f}"


def fmt_peak_rss(runs: Sequence[dict[str, Any]]) -> str:
    """The largest peak RSS (MB) of `runs`, or a dash if none reported one."""
    values = [r["rss_mb"] for r in runs if r.get("rss_mb") is not None]
    return fmt_num(max(values), 2) if values else "–"


def skipped_note(why: dict[str, str]) -> str:
    """The paragraph under a table naming the contenders that did not run (label ->
    reason), with a blank line before it; "" when all ran."""
    if not why:
        return ""
    return "\n\nSkipped: " + "; ".join(f"{label} ({reason})" for label, reason in why.items()) + "."


def fmt_ratio(value: float) -> str:
    if value >= 100:
        return f"{value:,.0f}×"
    if value >= 10:
        return f"{value:.1f}×"
    return f"{value:.2f}×"
