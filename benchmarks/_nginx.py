"""nginx as the server of the concurrency scenarios: fixed replies at almost no CPU.

The Python test server would spend more CPU than the clients it serves once hundreds of
requests are in flight on a 2-core machine, so these scenarios use Debian's nginx with
one worker process, keep-alive on and room for thousands of connections, started for a
`with` block on a free loopback port from a configuration generated under ``build/``
(its own prefix, pid file, error log and temp paths; ``daemon off``, so it is a child of
the benchmark, which stops it at the end). Each location answers
``POST <location>/v1/chat/completions``:

- ``/fast``: the fixed chat completion at once (``return 200``);
- ``/stream``: the fixed streamed reply at once, from a file (an nginx string holds at
  most 4 KB);
- ``/slow``: the fixed chat completion after 50 ms (echo module: ``echo_sleep``);
- ``/paced``: the streamed reply one chunk every 20 ms (echo module: each event, then
  ``echo_flush`` and ``echo_sleep``), about 4 s a stream.

Every location is fetched with curl before use: twice on one connection (keep-alive
after a POST body), bodies compared byte for byte with `_replies`, the delays checked.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Sequence

from ._harness import API_KEY, MESSAGES, MODEL, REPO, BenchError, child_env, raise_nofile
from ._replies import CHUNK_INTERVAL, completion_body, stream_events

ECHO_MODULE = "ngx_http_echo_module.so"
MODULE_DIRS = ("/usr/lib/nginx/modules", "/usr/share/nginx/modules", "/usr/lib64/nginx/modules")
SLOW_SECONDS = 0.05
LOCATIONS = ("fast", "stream", "slow", "paced")
_REQUEST = json.dumps({"model": MODEL, "messages": MESSAGES})


def binary() -> str | None:
    """The nginx executable (also where a non-root PATH lacks /usr/sbin), or None."""
    return shutil.which("nginx") or next(
        (p for p in ("/usr/sbin/nginx", "/usr/local/sbin/nginx") if os.access(p, os.X_OK)), None
    )


def echo_module() -> str | None:
    """The echo module's shared object (Debian: libnginx-mod-http-echo), or None."""
    return next((str(Path(d) / ECHO_MODULE) for d in MODULE_DIRS if (Path(d) / ECHO_MODULE).is_file()), None)


def unavailable() -> str | None:
    """Why the nginx scenarios cannot run here, or None."""
    missing = [what for what, found in (
        ("nginx", binary()), ("nginx's echo module (libnginx-mod-http-echo)", echo_module()),
        ("curl", shutil.which("curl")),
    ) if not found]
    if missing:
        return (f"{' and '.join(missing)} not found; `make bench` installs nginx and the "
                "module when run as root, else `sudo apt-get install nginx libnginx-mod-http-echo curl`")
    return None


def _quoted(body: bytes) -> str:
    """`body` as an nginx configuration string: single-quoted, newlines as ``\\n``."""
    text = body.decode("ascii")
    if any(c in text for c in "'\\$\r"):
        raise BenchError("a fixed reply holds a character nginx's strings treat specially")
    return "'" + text.replace("\n", "\\n") + "'"


def _paced_directives() -> str:
    """Each event of the streamed reply, flushed, with the chunk interval after each
    content chunk."""
    events = stream_events()
    lines = []
    for i, event in enumerate(events):
        lines.append(f"echo -n {_quoted(event)}; echo_flush;")
        if i < len(events) - 2:  # not after the final chunk and [DONE]
            lines.append(f"echo_sleep {CHUNK_INTERVAL};")
    return "\n            ".join(lines)


def config(prefix: Path, port: int, nofile: int) -> str:
    """The whole nginx.conf for a server under `prefix` listening on 127.0.0.1:`port`."""
    tmp = prefix / "tmp"
    json_body = _quoted(completion_body())
    return f"""\
load_module {echo_module()};
worker_processes 1;
worker_rlimit_nofile {nofile};
daemon off;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{
    worker_connections {max(1024, nofile - 64)};
    multi_accept on;
}}
http {{
    access_log off;
    client_body_temp_path {tmp}/body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    keepalive_timeout 300s;
    keepalive_requests 10000000;
    client_body_buffer_size 64k;
    server {{
        listen 127.0.0.1:{port} backlog=4096;
        location = /fast/v1/chat/completions {{
            default_type application/json;
            add_header x-request-id bench-fast;
            return 200 {json_body};
        }}
        location = /stream/v1/chat/completions {{
            alias {prefix}/stream.sse;
            default_type text/event-stream;
            add_header cache-control no-cache;
            # The static module refuses POST with 405; serve the file to it anyway.
            error_page 405 =200 $uri;
        }}
        location = /slow/v1/chat/completions {{
            default_type application/json;
            echo_sleep {SLOW_SECONDS};
            echo -n {json_body};
        }}
        location = /paced/v1/chat/completions {{
            default_type text/event-stream;
            {_paced_directives()}
        }}
    }}
}}
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Nginx:
    """nginx for a `with` block; ``url(location)`` is a base URL for the clients
    (``http://127.0.0.1:PORT/<location>/v1``). `verify` names the locations to check
    with curl on start (the paced one takes 4 s)."""

    def __init__(self, verify: Sequence[str] = LOCATIONS) -> None:
        self.verify = tuple(verify)
        self.port = 0
        self.prefix: Path | None = None
        self._proc: subprocess.Popen[bytes] | None = None

    def url(self, location: str) -> str:
        return f"http://127.0.0.1:{self.port}/{location}/v1"

    def __enter__(self) -> "Nginx":
        why = unavailable()
        if why:
            raise BenchError(why)
        (REPO / "build").mkdir(exist_ok=True)
        self.prefix = Path(tempfile.mkdtemp(prefix="bench-nginx-", dir=REPO / "build"))
        self.prefix.chmod(0o755)  # run as root, nginx's worker is `nobody`: it reads stream.sse
        (self.prefix / "tmp").mkdir()
        nofile = raise_nofile()
        try:
            for _ in range(5):  # a port taken between choosing and binding: another one
                if self._start(nofile):
                    break
            else:
                raise BenchError(f"nginx did not start: {self.error_log()}")
            for location in self.verify:
                self._check(location)
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def _start(self, nofile: int) -> bool:
        """Start nginx on a fresh port; True once it accepts connections, False if the
        port was taken, BenchError on any other failure."""
        assert self.prefix is not None
        self.port = _free_port()
        conf = self.prefix / "nginx.conf"
        conf.write_text(config(self.prefix, self.port, nofile), encoding="ascii")
        (self.prefix / "stream.sse").write_bytes(b"".join(stream_events()))
        cmd = [binary() or "nginx", "-p", str(self.prefix), "-c", str(conf), "-e", str(self.prefix / "error.log")]
        self._proc = subprocess.Popen(
            cmd, cwd=self.prefix, env=child_env(), stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                if "Address already in use" in self.error_log():
                    return False
                raise BenchError(f"nginx exited with {self._proc.returncode}: {self.error_log()}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return True
            except OSError:
                time.sleep(0.02)
        raise BenchError(f"nginx did not accept connections within 10 s: {self.error_log()}")

    def error_log(self, limit: int = 2000) -> str:
        try:
            return (self.prefix / "error.log").read_text(errors="replace")[-limit:] if self.prefix else ""
        except OSError:
            return ""

    def _check(self, location: str) -> None:
        """Fetch `location` twice on one connection with curl: status, content type, the
        body byte for byte, one connection for both, and the delay of slow and paced
        (paced once: it takes seconds)."""
        assert self.prefix is not None
        json_body = completion_body()
        want, kind, delay = {
            "fast": (json_body, "application/json", 0.0),
            "stream": (b"".join(stream_events()), "text/event-stream", 0.0),
            "slow": (json_body, "application/json", SLOW_SECONDS),
            "paced": (b"".join(stream_events()), "text/event-stream",
                      (len(stream_events()) - 2) * CHUNK_INTERVAL),
        }[location]
        times = 1 if location == "paced" else 2
        outs = [self.prefix / f"check-{location}-{i}" for i in range(times)]
        cmd = ["curl", "-s", "-S", "--noproxy", "*", "-H", f"Authorization: Bearer {API_KEY}",
               "-H", "Content-Type: application/json",
               "-w", "%{http_code} %{content_type} %{time_total} %{num_connects}\\n"]
        for out in outs:
            cmd += ["--data-binary", _REQUEST, "-o", str(out), self.url(location) + "/chat/completions"]
        proc = subprocess.run(cmd, capture_output=True, text=True, env=child_env(), timeout=60)
        if proc.returncode != 0:
            raise BenchError(f"curl {location}: exit {proc.returncode}: {proc.stderr.strip()}")
        lines = proc.stdout.split("\n")[:times]
        connects = 0
        for out, line in zip(outs, lines):
            status, ctype, total, n = line.split()
            body = out.read_bytes()
            connects += int(n)
            if status != "200" or not ctype.startswith(kind) or body != want:
                raise BenchError(
                    f"nginx {location}: HTTP {status} {ctype}, {len(body)} bytes, not the "
                    f"{len(want)}-byte fixed reply: {body[:200]!r}"
                )
            if float(total) < delay * 0.95:
                raise BenchError(f"nginx {location}: answered in {float(total):.3f} s, expected at least {delay} s")
        if connects != 1:
            raise BenchError(f"nginx {location}: {connects} connections for {times} requests (no keep-alive)")

    def __exit__(self, *exc: object) -> None:
        proc = self._proc
        if proc is not None and proc.poll() is None:
            proc.terminate()  # the master's fast shutdown, which stops its worker
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)  # the group start_new_session made for it
                proc.wait(10)
        if self.prefix is not None:
            shutil.rmtree(self.prefix, ignore_errors=True)


def version() -> str:
    """What ``nginx -v`` prints (``nginx/1.22.1``), and whether the echo module is there."""
    exe = binary()
    if exe is None:
        return "not installed"
    proc = subprocess.run([exe, "-v"], capture_output=True, text=True, check=False)
    found = proc.stderr.strip().rsplit(" ", 1)[-1] or "unknown version"
    return found if echo_module() else f"{found}, without the echo module"
