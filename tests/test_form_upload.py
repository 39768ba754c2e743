"""Multipart uploads of the core (ext/core/form.c): a _core.Request with ``form=`` parts,
sent over real sockets to a small multipart server written here with http.server.

Pinned: the parts arrive byte for byte (files streamed from disk, in-memory parts,
libcurl's framing and its Content-Type with the boundary); the form's arguments are
checked when the Request is built; a missing file fails before anything is sent and a
file that shrinks mid-upload fails at once; a 100 MB file is never held in memory; a
server reading slowly keeps the read timeout quiet while one that stops reading trips
it; one Request is sent again, from threads, by the async reactor and by the map runner,
each time reading its file afresh.
"""

from __future__ import annotations

import asyncio
import email.parser
import email.policy
import errno
import hashlib
import json
import os
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Iterator

import pytest

import kimi
from kimi import _core
from kimi._models import KimiObject

MB = 1024 * 1024
KEY = "sk-form-test-key"


# -- the multipart server --------------------------------------------------------------


@dataclass(frozen=True)
class Plan:
    """How the server reads the next request bodies."""

    keep: bool = True               # keep the body, else only its size and digest
    piece: int = MB                 # bytes per read
    slow_until: int = 0             # below this many bytes, sleep `pause` after each read
    pause: float = 0.0
    stall_at: int | None = None     # at this many bytes, stop reading for `stall_for` s
    stall_for: float = 0.0
    shrink_at: int | None = None    # at this many bytes, truncate `shrink_path` to 0
    shrink_path: str | None = None


@dataclass
class Seen:
    headers: dict[str, str]         # lower-case names
    body: bytes | None
    size: int                       # body bytes read
    digest: str                     # sha256 of them
    complete: bool                  # all of Content-Length arrived


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"   # and so http.server answers Expect: 100-continue

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        server: FormServer = self.server  # type: ignore[assignment]
        plan = server.plan
        length = int(self.headers["Content-Length"])
        digest = hashlib.sha256()
        kept = bytearray()
        got = 0
        stalled = shrunk = False
        try:
            while got < length:
                if plan.stall_at is not None and got >= plan.stall_at and not stalled:
                    stalled = True
                    time.sleep(plan.stall_for)
                if plan.shrink_at is not None and got >= plan.shrink_at and not shrunk:
                    shrunk = True
                    os.truncate(plan.shrink_path, 0)
                chunk = self.rfile.read(min(plan.piece, length - got))
                if not chunk:
                    break
                got += len(chunk)
                digest.update(chunk)
                if plan.keep:
                    kept += chunk
                if got < plan.slow_until:
                    time.sleep(plan.pause)
        except OSError:
            pass
        server.seen.append(
            Seen({k.lower(): v for k, v in self.headers.items()}, bytes(kept) if plan.keep else None,
                 got, digest.hexdigest(), got == length)
        )
        if got < length:
            self.close_connection = True
            return
        reply = json.dumps({"ok": True, "size": got}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(reply)))
        self.send_header("X-Upload-Size", str(got))
        self.end_headers()
        self.wfile.write(reply)


class FormServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.plan = Plan()
        self.seen: list[Seen] = []
        self.url = f"http://127.0.0.1:{self.server_address[1]}/v1/files"
        self._thread = threading.Thread(target=self.serve_forever, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self.shutdown()
        self.server_close()


@pytest.fixture(scope="module")
def form_server() -> Iterator[FormServer]:
    srv = FormServer()
    yield srv
    srv.stop()


@pytest.fixture
def srv(form_server: FormServer) -> FormServer:
    form_server.plan = Plan()
    form_server.seen.clear()
    return form_server


# -- helpers ---------------------------------------------------------------------------


def form_request(url: str, form: Any, *, read: float | None = 10.0, result_class: Any = KimiObject) -> Any:
    """A POST with a form, positional in the order of _core.Request's signature (as
    kimi/_base_client.py's _build_request calls it), with ``form`` after ``budget``."""
    headers = (f"Authorization: Bearer {KEY}", "Accept: application/json")
    return _core.Request(
        "POST", url, headers, None, False, 5.0, read, None, None,
        True, None, None, None, None, KEY, result_class, None, 0, form,
    )


def last_seen(srv: FormServer) -> Seen:
    """The last request the server read: a client that gave up may be told before the
    server noticed."""
    deadline = time.monotonic() + 10
    while not srv.seen and time.monotonic() < deadline:
        time.sleep(0.01)
    return srv.seen[-1]


def boundary_of(seen: Seen) -> str:
    kind, _, boundary = seen.headers["content-type"].partition("; boundary=")
    assert kind == "multipart/form-data" and boundary
    return boundary


def framing(boundary: str, name: str, filename: str | None, content_type: str | None) -> bytes:
    """What libcurl writes before a part's bytes."""
    disposition = f'Content-Disposition: form-data; name="{name}"'
    if filename is not None:
        disposition += f'; filename="{filename}"'
    head = f"--{boundary}\r\n{disposition}\r\n"
    if content_type is not None:
        head += f"Content-Type: {content_type}\r\n"
    return (head + "\r\n").encode()


def multipart(boundary: str, parts: list[tuple[str, str | None, str | None, bytes]]) -> bytes:
    """The whole body libcurl sends for parts of (name, filename, Content-Type line, bytes)."""
    out = bytearray()
    for name, filename, content_type, content in parts:
        out += framing(boundary, name, filename, content_type) + content + b"\r\n"
    return bytes(out + f"--{boundary}--\r\n".encode())


def sparse_file(path: Path, size: int) -> bytes:
    """A file of size bytes made without writing them (a hole, some marks); returns the
    marks' bytes at their offsets as a check of what was read."""
    with open(path, "wb") as f:
        f.truncate(size)
        for at in (0, size // 3, size - 8):
            f.seek(at)
            f.write(b"kimi%04d" % (at % 10000))
    return path.read_bytes()[:8]


def sha256_of_upload(boundary: str, name: str, filename: str, content_type: str, path: Path) -> str:
    digest = hashlib.sha256(framing(boundary, name, filename, content_type))
    with open(path, "rb") as f:
        while block := f.read(4 * MB):
            digest.update(block)
    digest.update(f"\r\n--{boundary}--\r\n".encode())
    return digest.hexdigest()


# -- what arrives ----------------------------------------------------------------------


def test_file_and_memory_parts_arrive_byte_for_byte(srv, tmp_path):
    notes = bytes(range(256)) * 40 + b"\r\n--not-a-boundary\r\n"
    (tmp_path / "notes.bin").write_bytes(notes)
    (tmp_path / "report.pdf").write_bytes(b"%PDF-1.4 tiny")
    form = (
        ("file", "notes.bin", "application/octet-stream", None, str(tmp_path / "notes.bin")),
        ("purpose", None, None, b"file-extract", None),
        ("blob", "r\u00e9sum\u00e9.txt", "text/plain; charset=utf-8", b"\x00caf\xc3\xa9\x00", None),
        # No type given: libcurl's guess from the filename.
        ("report", "report.pdf", None, None, str(tmp_path / "report.pdf")),
        ("empty", None, None, b"", None),
    )
    reply = _core.Client().send(form_request(srv.url, form))

    assert reply.ok is True
    seen = srv.seen[-1]
    boundary = boundary_of(seen)
    expected = multipart(boundary, [
        ("file", "notes.bin", "application/octet-stream", notes),
        ("purpose", None, None, b"file-extract"),
        ("blob", "r\u00e9sum\u00e9.txt", "text/plain; charset=utf-8", b"\x00caf\xc3\xa9\x00"),
        ("report", "report.pdf", "application/pdf", b"%PDF-1.4 tiny"),
        ("empty", None, None, b""),
    ])
    assert seen.body == expected
    assert seen.headers["content-length"] == str(len(expected))
    assert "expect" not in seen.headers             # below libcurl's 1 MiB mark
    assert seen.headers["authorization"] == f"Bearer {KEY}"
    assert reply.size == len(expected)
    assert reply._response[0] == 200 and b"X-Upload-Size: " in reply._response[1]

    # A standard multipart reader sees the same parts.
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        f"Content-Type: {seen.headers['content-type']}\r\n\r\n".encode() + seen.body
    )
    got = [(p.get_param("name", header="content-disposition"), p.get_filename(), p.get_payload(decode=True))
           for p in message.iter_parts()]
    assert got[0] == ("file", "notes.bin", notes)
    assert got[1] == ("purpose", None, b"file-extract")
    assert got[3] == ("report", "report.pdf", b"%PDF-1.4 tiny")


def test_the_python_side_sends_no_content_type_for_a_form_libcurl_does(srv, tmp_path):
    (tmp_path / "a.txt").write_bytes(b"a")
    body = _core.Client().send(form_request(srv.url, (("f", "a.txt", None, None, str(tmp_path / "a.txt")),),
                                            result_class=None))
    assert json.loads(body) == {"ok": True, "size": srv.seen[-1].size}
    assert srv.seen[-1].headers["content-type"].startswith("multipart/form-data; boundary=")
    assert b'filename="a.txt"\r\nContent-Type: text/plain\r\n\r\na\r\n' in srv.seen[-1].body


def test_quotes_and_newlines_in_names_are_escaped_not_sent_as_lines(srv):
    form = (('na"me\r\nX-Evil: 1', 'fi"le\r\n.txt', None, b"x", None),)
    assert _core.Client().send(form_request(srv.url, form)).ok is True
    head = srv.seen[-1].body.split(b"\r\n\r\n", 1)[0]
    assert b'name="na%22me%0D%0AX-Evil: 1"; filename="fi%22le%0D%0A.txt"' in head
    assert b"\r\nX-Evil" not in head


# -- arguments -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "form, error, words",
    [
        ([("f", None, None, b"x", None)], TypeError, "form must be a tuple"),
        ((), ValueError, "no parts"),
        ((("f", None, None, b"x"),), TypeError, "(name, filename, content_type, data, path)"),
        (("f",), TypeError, "form part 0 must be"),
        (((b"f", None, None, b"x", None),), TypeError, "name must be a str"),
        ((("f", 1, None, b"x", None),), TypeError, "filename must be a str or None"),
        ((("f", None, None, "text", None),), TypeError, "data must be bytes"),
        ((("f", None, None, b"x", Path("/tmp/x")),), TypeError, "path must be a str"),
        ((("f", None, None, None, None),), ValueError, "not neither"),
        ((("f", None, None, b"x", "/tmp/x"),), ValueError, "not both"),
        ((("f\x00g", None, None, b"x", None),), ValueError, "name contains NUL"),
        ((("f", "a\x00b", None, b"x", None),), ValueError, "filename contains NUL"),
        ((("f", None, None, None, "/tmp/a\x00b"),), ValueError, "path contains NUL"),
        ((("f", None, "text/plain\r\nX-Evil: 1", b"x", None),), ValueError, "NUL, CR or LF"),
        ((("ok", None, None, b"x", None), ("f", None, 3, b"x", None)), TypeError, "form part 1"),
    ],
)
def test_form_arguments_are_checked_when_the_request_is_built(form, error, words):
    with pytest.raises(error) as info:
        form_request("http://127.0.0.1:9/", form)
    assert words in str(info.value)


def test_a_form_with_a_body_or_without_post_is_refused():
    form = (("f", None, None, b"x", None),)
    base = ("http://127.0.0.1:9/", ("Accept: application/json",))
    with pytest.raises(ValueError, match="a form request has no body"):
        _core.Request("POST", *base, b"{}", False, None, None, None, None, True,
                      None, None, None, None, None, None, None, 0, form)
    with pytest.raises(ValueError, match="sent with POST"):
        _core.Request("GET", *base, None, False, None, None, None, None, True,
                      None, None, None, None, None, None, None, 0, form)
    # None (and leaving it out) is the request it always was.
    none = _core.Request("POST", *base, b"{}", False, None, None, None, None, True,
                         None, None, None, None, None, None, None, 0, None)
    assert none.url == "http://127.0.0.1:9/"


# -- files that cannot be read ---------------------------------------------------------


def test_a_missing_file_fails_before_anything_is_sent(srv, tmp_path):
    missing = tmp_path / "missing.pdf"
    request = form_request(srv.url, (("purpose", None, None, b"x", None),
                                     ("file", "m.pdf", None, None, str(missing))))
    with pytest.raises(FileNotFoundError) as info:
        _core.Client().send(request)
    assert info.value.errno == errno.ENOENT
    assert str(missing) in str(info.value)
    assert "cannot open" in str(info.value)
    assert srv.seen == []

    # The same Request works once the file is there: it is opened at each send.
    missing.write_bytes(b"now here")
    assert _core.Client().send(request).ok is True
    assert srv.seen[-1].body.endswith(b"\r\n\r\nnow here\r\n--" + boundary_of(srv.seen[-1]).encode() + b"--\r\n")


def test_a_directory_is_refused_as_a_file(srv, tmp_path):
    with pytest.raises(IsADirectoryError) as info:
        _core.Client().send(form_request(srv.url, (("file", None, None, None, str(tmp_path)),)))
    assert str(tmp_path) in str(info.value)
    assert srv.seen == []


def test_a_file_that_shrinks_mid_upload_fails_at_once(srv, tmp_path):
    path = tmp_path / "shrinking.bin"
    sparse_file(path, 64 * MB)
    srv.plan = Plan(keep=False, shrink_at=2 * MB, shrink_path=str(path))
    began = time.monotonic()
    with pytest.raises(OSError) as info:
        _core.Client().send(form_request(srv.url, (("file", "s.bin", None, None, str(path)),), read=30.0))
    assert time.monotonic() - began < 10        # not the 30 s read timeout
    assert not isinstance(info.value, kimi.KimiError)   # a local failure: never retried
    assert "shrank while it was sent" in str(info.value)
    assert str(path) in str(info.value)
    assert "of its 67108864 bytes" in str(info.value)
    assert last_seen(srv).complete is False


# -- large and slow uploads ------------------------------------------------------------

RSS_CHILD = r"""
import json, resource, sys
from kimi import _core

url, small, big = sys.argv[1:4]

def upload(path):
    form = (("purpose", None, None, b"batch", None),
            ("file", "big.bin", "application/octet-stream", None, path))
    request = _core.Request("POST", url, ("Accept: application/json",), None, False, 10.0, 60.0,
                            None, None, True, None, None, None, None, None, None, None, 0, form)
    return client.send(request)

client = _core.Client()
upload(small)       # the connection, libcurl's buffers: part of the baseline
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
reply = upload(big)
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"before_kb": before, "after_kb": after, "reply": json.loads(reply)}))
"""


def test_a_100_mb_file_streams_with_flat_client_memory(srv, tmp_path):
    big = tmp_path / "big.bin"
    small = tmp_path / "small.bin"
    sparse_file(big, 100 * MB)
    small.write_bytes(b"small")
    srv.plan = Plan(keep=False)
    env = dict(os.environ)
    root = str(Path(kimi.__file__).resolve().parent.parent)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [root, env.get("PYTHONPATH")]))
    # Through sh, which forks the child: a child exec'd straight from this process
    # would start with this process's peak as its own ru_maxrss (Linux keeps it across
    # exec), and could grow under it unseen.
    child = [sys.executable, "-c", RSS_CHILD, srv.url, str(small), str(big)]
    done = subprocess.run(["sh", "-c", '"$@"; exit $?', "sh", *child],
                          env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)

    assert report["before_kb"] < 100 * 1024, report     # the child's own baseline
    growth_mb = (report["after_kb"] - report["before_kb"]) / 1024
    assert growth_mb < 30, report
    seen = srv.seen[-1]
    assert seen.complete and report["reply"]["size"] == seen.size > 100 * MB
    assert seen.headers["expect"] == "100-continue"     # libcurl's, answered by http.server
    # Byte for byte, by digest: the data part, then the file, then the end.
    boundary = boundary_of(seen)
    digest = hashlib.sha256(framing(boundary, "purpose", None, None) + b"batch\r\n")
    digest.update(framing(boundary, "file", "big.bin", "application/octet-stream"))
    with open(big, "rb") as f:
        while block := f.read(4 * MB):
            digest.update(block)
    digest.update(f"\r\n--{boundary}--\r\n".encode())
    assert seen.digest == digest.hexdigest()


def test_a_slow_but_steady_reader_does_not_trip_the_read_timeout(srv, tmp_path):
    # 12 MB read in 64 KiB steps 10 ms apart (about 2 s, four read timeouts), then the
    # rest at once: more than the socket buffers hold, so the client sends all along.
    path = tmp_path / "steady.bin"
    sparse_file(path, 20 * MB)
    srv.plan = Plan(keep=False, piece=64 * 1024, slow_until=12 * MB, pause=0.01)
    began = time.monotonic()
    reply = _core.Client().send(form_request(srv.url, (("file", "s.bin", "application/octet-stream", None,
                                                         str(path)),), read=0.5))
    elapsed = time.monotonic() - began
    assert reply.ok is True
    assert srv.seen[-1].complete
    assert elapsed > 1.5, elapsed    # the timeout had its chances
    assert srv.seen[-1].digest == sha256_of_upload(boundary_of(srv.seen[-1]), "file", "s.bin",
                                                   "application/octet-stream", path)


def test_a_reader_that_stops_trips_the_read_timeout(srv, tmp_path):
    path = tmp_path / "stalled.bin"
    sparse_file(path, 64 * MB)
    srv.plan = Plan(keep=False, stall_at=MB, stall_for=1.5)
    began = time.monotonic()
    with pytest.raises(kimi.APITimeoutError) as info:
        _core.Client().send(form_request(srv.url, (("file", "s.bin", None, None, str(path)),), read=0.5))
    assert time.monotonic() - began < 2.5
    assert info.value.limit == "read"
    assert last_seen(srv).complete is False


# -- one Request, sent again and by every driver ---------------------------------------


def test_each_send_reads_the_file_afresh_and_threads_share_one_request(srv, tmp_path):
    path = tmp_path / "again.txt"
    path.write_bytes(b"first")
    request = form_request(srv.url, (("file", "again.txt", "text/plain", None, str(path)),))
    client = _core.Client()
    client.send(request)
    path.write_bytes(b"second, longer")
    client.send(request)
    assert [s.body.split(b"\r\n\r\n", 1)[1].split(b"\r\n")[0] for s in srv.seen] == [b"first", b"second, longer"]

    srv.seen.clear()
    replies: list[Any] = []
    threads = [threading.Thread(target=lambda: replies.append(client.send(request))) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert len(replies) == 6 and all(r.ok for r in replies)
    bodies = {s.body for s in srv.seen}
    assert len(srv.seen) == 6
    assert all(b"\r\n\r\nsecond, longer\r\n" in b for b in bodies)


def test_the_async_reactor_and_the_map_runner_send_forms_too(srv, tmp_path):
    path = tmp_path / "drivers.bin"
    content = bytes(range(256)) * 300
    path.write_bytes(content)
    request = form_request(srv.url, (("file", "d.bin", "application/octet-stream", None, str(path)),
                                     ("purpose", None, None, b"batch", None)))
    client = _core.Client()

    async def on_reactor() -> Any:
        reactor = _core.Reactor(client, asyncio.get_running_loop())
        try:
            exchange = reactor.start(request, None)
            value = exchange.poll()
            while value is _core.PENDING:
                await exchange.wait()
                value = exchange.poll()
            return value
        finally:
            reactor.close()

    reply = asyncio.run(asyncio.wait_for(on_reactor(), 30))
    assert reply.ok is True and reply._response[0] == 200

    runner = _core.Runner(client)
    try:
        for key in (1, 2):
            assert runner.start(request, key, None) is None
        results: list[Any] = []
        deadline = time.monotonic() + 30
        while len(results) < 2 and time.monotonic() < deadline:
            results += runner.step(0.1)
    finally:
        runner.close()
    assert sorted(key for key, _, _ in results) == [1, 2]
    assert all(exc is None and reply.ok for _, reply, exc in results)

    assert len(srv.seen) == 3
    for seen in srv.seen:
        assert seen.body == multipart(boundary_of(seen), [
            ("file", "d.bin", "application/octet-stream", content),
            ("purpose", None, None, b"batch"),
        ])
