"""Tests of kimi.testing's platform endpoints: files, batches and the token estimate.

Everything goes over real loopback sockets, twice over: http.client (and a raw socket
where the framing itself is under test) with hand-built multipart bodies, and
openai-python, a third-party client, which proves the server speaks the platform's wire
format. Batches run on a `ManualClock`, so each status is reached by moving the clock.
"""

from __future__ import annotations

import contextlib
import glob
import http.client
import json
import os
import re
import socket
import tempfile
import time
import tracemalloc
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest

from kimi.testing import KimiServer, ManualClock, Reply
from kimi.testing._multipart import PART_END, MultipartParser, PartHead

KEY = "sk-test"
BOUNDARY = "kimi-test-boundary-7d3f"
#: validate_s, run_s, finalize_s: round numbers of the manual clock's seconds.
TIMING = (10.0, 100.0, 10.0)
START = 1776761000
DAY = 86400
BATCH_FIELDS = {
    "id", "object", "endpoint", "errors", "input_file_id", "completion_window", "status",
    "output_file_id", "error_file_id", "created_at", "in_progress_at", "expires_at",
    "finalizing_at", "completed_at", "failed_at", "expired_at", "cancelling_at",
    "cancelled_at", "request_counts", "metadata",
}  # fmt: skip


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def server(clock: ManualClock) -> Iterator[KimiServer]:
    with KimiServer(api_key=KEY, delay=0, clock=clock, batch_timing=TIMING) as srv:
        yield srv


@pytest.fixture
def client(server: KimiServer) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(api_key=KEY, base_url=server.base_url, max_retries=0) as c:
        yield c


# Helpers ------------------------------------------------------------------------------------


def form(*parts: tuple[str, str | None, bytes], boundary: str = BOUNDARY) -> bytes:
    """A multipart/form-data body of (field name, filename or None, bytes) parts."""
    out = []
    for name, filename, data in parts:
        disposition = f'form-data; name="{name}"'
        if filename is not None:
            disposition += f'; filename="{filename}"'
        out.append(f"--{boundary}\r\nContent-Disposition: {disposition}\r\n".encode())
        if filename is not None:
            out.append(b"Content-Type: application/octet-stream\r\n")
        out.append(b"\r\n" + data + b"\r\n")
    out.append(f"--{boundary}--\r\n".encode())
    return b"".join(out)


def upload_body(data: bytes, purpose: str = "batch", filename: str = "input.jsonl") -> bytes:
    return form(("purpose", None, purpose.encode()), ("file", filename, data))


@contextlib.contextmanager
def connect(srv: KimiServer) -> Iterator[http.client.HTTPConnection]:
    """One keep-alive connection to `srv`, closed at the end."""
    conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=30)
    try:
        yield conn
    finally:
        conn.close()


def call(
    conn: http.client.HTTPConnection,
    method: str,
    path: str,
    body: Any = None,
    content_type: str = "application/json",
) -> tuple[int, http.client.HTTPMessage, bytes]:
    """(status, headers, body) of one exchange on `conn` (kept open for the next)."""
    headers = {"Authorization": f"Bearer {KEY}"}
    if body is not None:
        headers["Content-Type"] = content_type
        if not isinstance(body, (bytes, bytearray)):
            body = json.dumps(body).encode()
    conn.request(method, path, body, headers)
    response = conn.getresponse()
    return response.status, response.headers, response.read()


def upload(
    conn: http.client.HTTPConnection, body: bytes, boundary: str = BOUNDARY
) -> tuple[int, Any]:
    status, _, data = call(conn, "POST", "/v1/files", body, f"multipart/form-data; boundary={boundary}")
    return status, json.loads(data)


def error_of(data: bytes | dict[str, Any]) -> tuple[str, str]:
    body = json.loads(data) if isinstance(data, bytes) else data
    return body["error"]["type"], body["error"]["message"]


def chat_line(custom_id: str, text: str, **body: Any) -> dict[str, Any]:
    request = {"model": "kimi-k2.6", "messages": [{"role": "user", "content": text}], **body}
    return {"custom_id": custom_id, "method": "POST", "url": "/v1/chat/completions", "body": request}


def jsonl(path: Path, entries: list[Any]) -> Path:
    path.write_text("".join(e if isinstance(e, str) else json.dumps(e) + "\n" for e in entries))
    return path


def batch_of(
    client: openai.OpenAI, path: Path, window: str = "24h", **extra: Any
) -> Any:
    with path.open("rb") as handle:
        stored = client.files.create(file=handle, purpose="batch")
    return client.batches.create(
        input_file_id=stored.id,
        endpoint="/v1/chat/completions",
        completion_window=window,  # type: ignore[arg-type]
        **extra,
    )


def result_lines(client: openai.OpenAI, file_id: str | None) -> list[dict[str, Any]]:
    if file_id is None:
        return []
    return [json.loads(line) for line in client.files.content(file_id).text.splitlines()]


def scratch_dirs() -> set[str]:
    return set(glob.glob(os.path.join(tempfile.gettempdir(), "kimi-testing-*")))


# Multipart parsing --------------------------------------------------------------------------


def _events(parser: MultipartParser, pieces: list[bytes]) -> list[Any]:
    """The parser's events for `pieces`, adjacent content bytes joined."""
    events: list[Any] = []
    for piece in pieces:
        for event in parser.feed(piece):
            if isinstance(event, bytes) and events and isinstance(events[-1], bytes):
                events[-1] += event
            else:
                events.append(event)
    parser.close()
    return events


def test_multipart_parser_gives_the_same_parts_however_the_body_is_split() -> None:
    # Content that holds a CRLF, a dash run and a near-boundary, split at every byte.
    tricky = b"a\r\n--kimi-test-boundary-7d3 not quite\r\n--\r\nend"
    body = b"preamble\r\n" + form(("purpose", None, b"batch"), ("file", "x.bin", tricky))
    expected = [
        PartHead("purpose", None, "text/plain"), b"batch", PART_END,
        PartHead("file", "x.bin", "application/octet-stream"), tricky, PART_END,
    ]  # fmt: skip
    boundary = BOUNDARY.encode()
    assert _events(MultipartParser(boundary), [body]) == expected
    assert _events(MultipartParser(boundary), [bytes([b]) for b in body]) == expected
    for at in range(len(body) + 1):
        assert _events(MultipartParser(boundary), [body[:at], body[at:]]) == expected, at


# Uploads ----------------------------------------------------------------------------------------


def test_upload_answers_the_platform_file_object_and_keeps_the_bytes(
    server: KimiServer, clock: ManualClock
) -> None:
    data = b'{"custom_id": "a"}\n'
    clock.advance(5)
    with connect(server) as conn:
        status, stored = upload(conn, upload_body(data))
        assert status == 200
        assert set(stored) == {
            "id", "object", "bytes", "created_at", "filename", "purpose", "status",
            "status_details",
        }  # fmt: skip
        assert re.fullmatch(r"file-[0-9a-f]{24}", stored["id"])
        assert stored["object"] == "file" and stored["bytes"] == len(data)
        assert stored["created_at"] == START + 5
        assert (stored["filename"], stored["purpose"]) == ("input.jsonl", "batch")
        assert (stored["status"], stored["status_details"]) == ("ok", "")
        status, headers, content = call(conn, "GET", f"/v1/files/{stored['id']}/content")
        assert status == 200 and content == data
        assert headers["Content-Type"] == "application/octet-stream"
    assert server.files == {stored["id"]: stored}
    assert server.requests[0].body == b"" and server.requests[0].json is None


def test_chunked_upload_after_100_continue_is_stored_whole(server: KimiServer) -> None:
    data = bytes(range(256)) * 300
    body = upload_body(data, purpose="image", filename="pixels.png")
    chunks = b"".join(
        b"%x\r\n%s\r\n" % (len(body[i : i + 997]), body[i : i + 997])
        for i in range(0, len(body), 997)
    )
    head = (
        f"POST /v1/files HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {KEY}\r\n"
        f"Content-Type: multipart/form-data; boundary={BOUNDARY}\r\n"
        "Transfer-Encoding: chunked\r\nExpect: 100-continue\r\n\r\n"
    )
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(head.encode())
        assert sock.recv(100) == b"HTTP/1.1 100 Continue\r\n\r\n"
        sock.sendall(chunks + b"0\r\n\r\n")
        response = http.client.HTTPResponse(sock)
        response.begin()
        stored = json.loads(response.read())
    assert response.status == 200
    assert (stored["bytes"], stored["purpose"], stored["filename"]) == (len(data), "image", "pixels.png")


@pytest.mark.parametrize(
    ("body", "content_type", "message"),
    [
        (upload_body(b""), None, "file is empty"),
        (form(("file", "a.jsonl", b"x")), None, "purpose must be one of"),
        (upload_body(b"x", purpose="fine-tune"), None, "purpose must be one of"),
        (form(("purpose", None, b"batch")), None, "field 'file' is required"),
        (form(("purpose", None, b"batch"), ("file", None, b"x")), None, "field 'file' is required"),
        (upload_body(b"x")[:-20], None, "closing boundary"),
        (b'{"purpose": "batch"}', "application/json", "multipart/form-data"),
        (upload_body(b"x"), "multipart/form-data", "multipart/form-data"),
    ],
    ids=[
        "empty", "no-purpose", "unknown-purpose", "no-file", "no-filename", "truncated",
        "json", "no-boundary",
    ],
)  # fmt: skip
def test_refused_upload_is_a_400_stores_nothing_and_keeps_the_connection(
    server: KimiServer, body: bytes, content_type: str | None, message: str
) -> None:
    content_type = content_type or f"multipart/form-data; boundary={BOUNDARY}"
    with connect(server) as conn:
        status, _, data = call(conn, "POST", "/v1/files", body, content_type)
        assert status == 400
        kind, text = error_of(data)
        assert kind == "invalid_request_error" and message in text
        assert call(conn, "GET", "/v1/files")[0] == 200
    assert server.files == {} and server.connections == 1


def test_upload_over_max_file_bytes_is_read_through_then_refused_naming_the_limit(
    clock: ManualClock,
) -> None:
    before = scratch_dirs()
    with KimiServer(api_key=KEY, clock=clock, max_file_bytes=1000) as srv, connect(srv) as conn:
        status, refused = upload(conn, upload_body(b"x" * 5000))
        assert status == 400 and "1000" in error_of(refused)[1]
        status, stored = upload(conn, upload_body(b"x" * 1000))  # the limit itself is fine
        assert status == 200 and stored["bytes"] == 1000
        assert list(srv.files) == [stored["id"]] and srv.connections == 1
        (directory,) = scratch_dirs() - before
        assert len(os.listdir(directory)) == 1  # the refused upload left no scratch file
    assert not os.path.exists(directory)  # close removes every stored byte


def test_upload_beyond_max_files_is_refused_until_one_is_deleted(clock: ManualClock) -> None:
    with KimiServer(api_key=KEY, clock=clock, max_files=2) as srv, connect(srv) as conn:
        ids = [upload(conn, upload_body(b"x"))[1]["id"] for _ in range(2)]
        status, refused = upload(conn, upload_body(b"x"))
        assert status == 400 and "2 files" in error_of(refused)[1]
        assert call(conn, "DELETE", f"/v1/files/{ids[0]}")[0] == 200
        assert upload(conn, upload_body(b"x"))[0] == 200


def test_upload_needs_the_key_and_a_scripted_reply_wins_with_the_body_read(
    server: KimiServer,
) -> None:
    body = upload_body(b"data")
    content_type = f"multipart/form-data; boundary={BOUNDARY}"
    server.script_for("/v1/files", Reply.error(500, Reply.moonshot_error("server_error", "down")))
    with connect(server) as conn:
        conn.request("POST", "/v1/files", body, {"Content-Type": content_type})
        response = conn.getresponse()
        assert response.status == 401 and b"invalid_authentication_error" in response.read()
        status, _, data = call(conn, "POST", "/v1/files", body, content_type)
        assert status == 500 and error_of(data) == ("server_error", "down")
        assert upload(conn, body)[0] == 200  # the script is used up: the real upload
    assert server.connections == 1 and len(server.files) == 1
    assert [r.body for r in server.requests] == [b"", b"", b""]


def test_a_100_mib_upload_and_download_keep_the_server_memory_flat(
    client: openai.OpenAI, server: KimiServer, tmp_path: Path
) -> None:
    size = 100 * 1024 * 1024  # exactly max_file_bytes: the largest upload allowed
    big = tmp_path / "big.jsonl"
    with big.open("wb") as handle:
        handle.truncate(size)  # sparse: no 100 MB of test data in memory either
    tracemalloc.start()
    try:
        with big.open("rb") as handle:
            stored = client.files.create(file=handle, purpose="batch")
        _, upload_peak = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        with client.files.with_streaming_response.content(stored.id) as response:
            received = sum(len(piece) for piece in response.iter_bytes(65536))
        _, download_peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert stored.bytes == size and received == size
    assert upload_peak < 8 * 1024 * 1024, upload_peak
    assert download_peak < 8 * 1024 * 1024, download_peak


# Files with openai-python ---------------------------------------------------------------------


def test_openai_files_create_list_retrieve_content_delete(
    client: openai.OpenAI, server: KimiServer, clock: ManualClock, tmp_path: Path
) -> None:
    first = tmp_path / "requests.jsonl"
    first.write_bytes(b'{"a": 1}\n')
    second = tmp_path / "notes.txt"
    second.write_bytes("Kimi says 你好\n".encode())
    with first.open("rb") as a:
        one = client.files.create(file=a, purpose="batch")
    clock.advance(1)
    with second.open("rb") as b:
        two = client.files.create(file=b, purpose="file-extract")
    assert (one.filename, one.purpose, one.bytes, one.status) == ("requests.jsonl", "batch", 9, "ok")
    assert two.created_at == one.created_at + 1
    assert [f.id for f in client.files.list()] == [two.id, one.id]  # newest first, one page
    assert [f.id for f in client.files.list(purpose="batch")] == [one.id]
    assert client.files.retrieve(one.id) == one
    assert client.files.content(one.id).content == b'{"a": 1}\n'
    deleted = client.files.delete(one.id)
    assert (deleted.id, deleted.object, deleted.deleted) == (one.id, "file", True)
    with pytest.raises(openai.NotFoundError) as missing:
        client.files.retrieve(one.id)
    assert missing.value.type == "resource_not_found_error"
    assert [f.id for f in client.files.list()] == [two.id] and list(server.files) == [two.id]


@pytest.mark.parametrize(
    ("filename", "file_type"),
    [("notes.txt", "text/plain"), ("paper.pdf", "application/pdf"), ("page.html", "text/html")],
)
def test_file_extract_content_is_the_extraction_json(
    server: KimiServer, filename: str, file_type: str
) -> None:
    data = "Kimi 你好\n".encode() + b"\xff tail"
    with connect(server) as conn:
        stored = upload(conn, upload_body(data, purpose="file-extract", filename=filename))[1]
        status, headers, body = call(conn, "GET", f"/v1/files/{stored['id']}/content")
    assert status == 200 and headers["Content-Type"] == "application/json"
    assert json.loads(body) == {
        "content": "Kimi 你好\n\ufffd tail",
        "file_type": file_type,
        "filename": filename,
        "title": "",
        "type": "file",
    }


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/v1/files/file-nope"),
        ("DELETE", "/v1/files/file-nope"),
        ("GET", "/v1/files/file-nope/content"),
        ("GET", "/v1/batches/batch_nope"),
        ("POST", "/v1/batches/batch_nope/cancel"),
    ],
)
def test_unknown_ids_are_the_api_404(server: KimiServer, method: str, path: str) -> None:
    with connect(server) as conn:
        status, _, body = call(conn, method, path)
    kind, message = error_of(body)
    assert status == 404 and kind == "resource_not_found_error" and "nope" in message


# Batch creation -------------------------------------------------------------------------------


def test_batch_create_answers_every_field_of_the_platform_sample(
    client: openai.OpenAI, server: KimiServer, tmp_path: Path
) -> None:
    path = jsonl(tmp_path / "in.jsonl", [chat_line("a", "hi")])
    with path.open("rb") as handle:
        stored = client.files.create(file=handle, purpose="batch")
    with connect(server) as conn:
        create = {
            "input_file_id": stored.id,
            "endpoint": "/v1/chat/completions",
            "completion_window": "24h",
            "metadata": {"job": "demo"},
        }
        status, _, body = call(conn, "POST", "/v1/batches", create)
    batch = json.loads(body)
    assert status == 200 and set(batch) == BATCH_FIELDS
    assert re.fullmatch(r"batch_[0-9a-f]{24}", batch["id"])
    assert batch["object"] == "batch" and batch["status"] == "validating"
    assert (batch["created_at"], batch["expires_at"]) == (START, START + DAY)
    assert batch["input_file_id"] == stored.id and batch["completion_window"] == "24h"
    assert batch["request_counts"] == {"total": 0, "completed": 0, "failed": 0}
    assert batch["metadata"] == {"job": "demo"} and batch["errors"] is None
    for field in ("in_progress_at", "finalizing_at", "completed_at", "output_file_id"):
        assert batch[field] is None
    assert client.batches.retrieve(batch["id"]).metadata == {"job": "demo"}


def _bad_creates(batch_file: str, extract_file: str) -> list[tuple[dict[str, Any], str]]:
    good = {"input_file_id": batch_file, "endpoint": "/v1/chat/completions", "completion_window": "24h"}
    return [
        ({**good, "input_file_id": "file-missing"}, "not found"),
        ({**good, "input_file_id": extract_file}, "purpose"),
        ({k: v for k, v in good.items() if k != "input_file_id"}, "input_file_id"),
        ({**good, "endpoint": "/v1/embeddings"}, "endpoint"),
        ({**good, "completion_window": "11h"}, "completion_window"),
        ({**good, "completion_window": "8d"}, "completion_window"),
        ({**good, "completion_window": "24"}, "completion_window"),
        ({**good, "completion_window": "1w"}, "completion_window"),
        ({**good, "completion_window": 24}, "completion_window"),
        ({**good, "metadata": ["job"]}, "metadata"),
        ({**good, "metadata": {f"k{i}": "v" for i in range(17)}}, "metadata"),
        ({**good, "metadata": {"k" * 65: "v"}}, "metadata"),
        ({**good, "metadata": {"k": "v" * 513}}, "metadata"),
        ({**good, "metadata": {"k": 1}}, "metadata"),
    ]


def test_batch_create_refuses_what_the_platform_refuses(
    client: openai.OpenAI, server: KimiServer, tmp_path: Path
) -> None:
    path = jsonl(tmp_path / "in.jsonl", [chat_line("a", "hi")])
    with path.open("rb") as handle:
        batch_file = client.files.create(file=handle, purpose="batch").id
    with path.open("rb") as handle:
        extract_file = client.files.create(file=handle, purpose="file-extract").id
    with connect(server) as conn:
        for create, fragment in _bad_creates(batch_file, extract_file):
            status, _, body = call(conn, "POST", "/v1/batches", create)
            kind, message = error_of(body)
            assert (status, kind) == (400, "invalid_request_error"), create
            assert fragment in message, (create, message)
        status, _, _ = call(conn, "POST", "/v1/batches", b"not json")
        assert status == 400
    assert server.batches == {}
    for window in ("12h", "24h", "3d", "7d", "168h"):
        edge = {"k" * 64: "v" * 512, **{f"k{i}": "v" for i in range(15)}}
        created = batch_of(client, path, window=window, metadata=edge)
        assert created.completion_window == window and created.metadata == edge


# Batch lifecycle ------------------------------------------------------------------------------


def test_batch_walks_validating_in_progress_finalizing_completed_on_the_clock(
    client: openai.OpenAI, clock: ManualClock, tmp_path: Path
) -> None:
    path = jsonl(tmp_path / "in.jsonl", [chat_line(f"r{i}", f"say {i}") for i in range(4)])
    batch = batch_of(client, path)
    clock.advance(9.9)
    assert client.batches.retrieve(batch.id).status == "validating"
    clock.advance(0.1)
    seen = client.batches.retrieve(batch.id)
    assert (seen.status, seen.in_progress_at) == ("in_progress", START + 10)
    assert seen.request_counts.model_dump() == {"total": 4, "completed": 0, "failed": 0}
    clock.advance(50)  # half the run: half the requests have run
    assert client.batches.retrieve(batch.id).request_counts.completed == 2
    clock.advance(50)
    seen = client.batches.retrieve(batch.id)
    assert (seen.status, seen.finalizing_at) == ("finalizing", START + 110)
    assert seen.request_counts.model_dump() == {"total": 4, "completed": 4, "failed": 0}
    assert seen.output_file_id is None
    clock.advance(10)
    done = client.batches.retrieve(batch.id)
    assert (done.status, done.completed_at) == ("completed", START + 120)
    assert done.error_file_id is None and done.errors is None
    assert (done.failed_at, done.expired_at, done.cancelled_at) == (None, None, None)
    output = client.files.retrieve(done.output_file_id)
    assert (output.purpose, output.filename) == ("batch_output", f"{batch.id}_output.jsonl")
    lines = result_lines(client, done.output_file_id)
    assert sorted(line["custom_id"] for line in lines) == ["r0", "r1", "r2", "r3"]
    for line in lines:
        completion = line["response"]["body"]
        said = completion["choices"][0]["message"]["content"]
        assert said == "say " + line["custom_id"][1:]  # joined to its own request
        assert line["error"] is None and line["response"]["status_code"] == 200
        assert re.fullmatch(r"batch_req_[0-9a-f]+", line["id"])
        assert re.fullmatch(r"[0-9a-f]+", line["response"]["request_id"])
        assert completion["object"] == "chat.completion" and completion["model"] == "kimi-k2.6"
        assert completion["created"] in (START + 60, START + 110)  # the read that ran it
        assert completion["id"].startswith("chatcmpl-")
        assert completion["choices"][0]["finish_reason"] == "stop"
        # "say N": 4 + ceil(5/4); the answer is the same 5 characters.
        assert completion["usage"] == {"prompt_tokens": 6, "completion_tokens": 2, "total_tokens": 8}


def test_batch_requests_failing_the_chat_checks_go_to_the_error_file(
    client: openai.OpenAI, clock: ManualClock, tmp_path: Path
) -> None:
    no_model = chat_line("no-model", "hi")
    del no_model["body"]["model"]
    parts = chat_line("parts", "")
    parts["body"]["messages"] = [
        {"role": "user", "content": "first"},
        {"role": "assistant", "content": "ok"},
        {"role": "user", "content": [{"type": "text", "text": "last"}, {"type": "text", "text": "one"}]},
    ]
    entries = [
        chat_line("fine", "hello there"),
        chat_line("too-long", "x", max_completion_tokens=262145),
        chat_line("too-long-old", "x", max_tokens=10**6),
        chat_line("at-limit", "x", max_tokens=262144),
        chat_line("n-bad", "x", n=9),
        chat_line("n-two", "two", n=2),       # kimi-k2.6 fixes n at 1
        no_model,
        parts,
    ]
    batch = batch_of(client, jsonl(tmp_path / "in.jsonl", entries))
    clock.advance(sum(TIMING))
    done = client.batches.retrieve(batch.id)
    assert done.status == "completed"
    assert done.request_counts.model_dump() == {"total": 8, "completed": 3, "failed": 5}
    ok = {line["custom_id"]: line["response"]["body"] for line in result_lines(client, done.output_file_id)}
    assert {cid: [c["message"]["content"] for c in body["choices"]] for cid, body in ok.items()} == {
        "fine": ["hello there"],
        "at-limit": ["x"],
        "parts": ["last one"],
    }
    failed = {line["custom_id"]: line["response"] for line in result_lines(client, done.error_file_id)}
    assert set(failed) == {"too-long", "too-long-old", "n-bad", "n-two", "no-model"}
    assert all(r["status_code"] == 400 for r in failed.values())
    limit = "Invalid request: Your request exceeded model token limit: 262144"
    assert failed["too-long"]["body"] == {"error": {"type": "invalid_request_error", "message": limit}}
    assert error_of(failed["too-long-old"]["body"])[1] == limit
    assert "n must be an integer" in error_of(failed["n-bad"]["body"])[1]
    assert error_of(failed["n-two"]["body"])[1] == "invalid n: only 1 is allowed for this model"
    assert error_of(failed["no-model"]["body"])[1] == "Invalid request: field 'model' is required"
    assert client.files.retrieve(done.error_file_id).filename == f"{batch.id}_error.jsonl"


def test_batch_with_an_invalid_input_file_fails_with_each_problem_and_its_line(
    client: openai.OpenAI, clock: ManualClock, tmp_path: Path
) -> None:
    wrong_method = {**chat_line("m", "x"), "method": "GET"}
    wrong_url = {**chat_line("u", "x"), "url": "/v1/embeddings"}
    entries = [
        chat_line("a", "fine"),
        "{not json\n",
        "[1, 2]\n",
        {k: v for k, v in chat_line("x", "x").items() if k != "custom_id"},
        chat_line("a", "again"),
        wrong_method,
        wrong_url,
        {**chat_line("s", "x"), "body": "hello"},
        "\n",
        chat_line("k", "x", model="kimi-k2.5"),
        {**chat_line("n", "x"), "custom_id": 7},
    ]
    batch = batch_of(client, jsonl(tmp_path / "in.jsonl", entries))
    clock.advance(10)
    failed = client.batches.retrieve(batch.id)
    assert (failed.status, failed.failed_at, failed.in_progress_at) == ("failed", START + 10, None)
    assert failed.errors is not None and failed.errors.object == "list"
    assert [(e.code, e.line) for e in failed.errors.data or []] == [
        ("invalid_json_line", 2),
        ("invalid_json_line", 3),
        ("missing_custom_id", 4),
        ("duplicate_custom_id", 5),
        ("invalid_method", 6),
        ("invalid_url", 7),
        ("invalid_body", 8),
        ("mismatched_model", 10),
        ("missing_custom_id", 11),
    ]
    assert all(e.message for e in failed.errors.data or [])
    assert (failed.output_file_id, failed.error_file_id) == (None, None)
    assert failed.request_counts.total == 0
    clock.advance(DAY * 2)  # failed is final: the window passing changes nothing
    assert client.batches.retrieve(batch.id).status == "failed"


@pytest.mark.parametrize("content", ["", "\n\n  \n"], ids=["empty", "blank-lines"])
def test_batch_over_a_file_without_requests_fails_as_empty(
    client: openai.OpenAI, clock: ManualClock, server: KimiServer, content: str
) -> None:
    with connect(server) as conn:
        body = upload_body(content.encode() or b"\n")
        stored = upload(conn, body)[1]
    batch = client.batches.create(
        input_file_id=stored["id"], endpoint="/v1/chat/completions", completion_window="24h"
    )
    clock.advance(10)
    failed = client.batches.retrieve(batch.id)
    assert failed.status == "failed"
    assert [(e.code, e.line) for e in failed.errors.data or []] == [("empty_file", None)]


def test_batch_past_its_window_expires_keeping_the_results_already_run(
    client: openai.OpenAI, clock: ManualClock, tmp_path: Path
) -> None:
    path = jsonl(tmp_path / "in.jsonl", [chat_line(f"r{i}", f"say {i}") for i in range(4)])
    batch = batch_of(client, path)
    clock.advance(10 + 50)
    assert client.batches.retrieve(batch.id).request_counts.completed == 2
    clock.advance(DAY)
    expired = client.batches.retrieve(batch.id)
    assert (expired.status, expired.expired_at) == ("expired", START + DAY)
    assert expired.completed_at is None and expired.request_counts.completed == 2
    ran = result_lines(client, expired.output_file_id)
    assert sorted(line["custom_id"] for line in ran) == ["r0", "r1"]
    not_run = result_lines(client, expired.error_file_id)
    assert sorted(line["custom_id"] for line in not_run) == ["r2", "r3"]
    for line in not_run:
        assert line["response"] is None
        assert line["error"] == {
            "code": "batch_expired",
            "message": "This request could not be executed before the completion window expired.",
        }


def test_batch_read_first_after_its_window_expires_with_every_request_unrun(
    client: openai.OpenAI, clock: ManualClock, tmp_path: Path
) -> None:
    path = jsonl(tmp_path / "in.jsonl", [chat_line(f"r{i}", "x") for i in range(3)])
    batch = batch_of(client, path)
    clock.advance(25 * 3600)
    expired = client.batches.retrieve(batch.id)
    assert (expired.status, expired.expired_at, expired.in_progress_at) == (
        "expired", START + DAY, START + 10,
    )  # fmt: skip
    assert expired.output_file_id is None and expired.request_counts.total == 3
    not_run = result_lines(client, expired.error_file_id)
    codes = {line["custom_id"]: line["error"]["code"] for line in not_run}
    assert codes == {"r0": "batch_expired", "r1": "batch_expired", "r2": "batch_expired"}


def test_cancel_mid_run_is_cancelling_then_cancelled_with_the_rest_unrun(
    client: openai.OpenAI, clock: ManualClock, tmp_path: Path
) -> None:
    path = jsonl(tmp_path / "in.jsonl", [chat_line(f"r{i}", "x") for i in range(4)])
    batch = batch_of(client, path)
    clock.advance(10 + 75)
    cancelling = client.batches.cancel(batch.id)
    assert (cancelling.status, cancelling.cancelling_at) == ("cancelling", START + 85)
    assert cancelling.request_counts.completed == 3
    clock.advance(9)
    assert client.batches.retrieve(batch.id).status == "cancelling"
    clock.advance(1)
    cancelled = client.batches.retrieve(batch.id)
    assert (cancelled.status, cancelled.cancelled_at) == ("cancelled", START + 95)
    assert [line["custom_id"] for line in result_lines(client, cancelled.error_file_id)] == ["r3"]
    assert result_lines(client, cancelled.error_file_id)[0]["error"]["code"] == "batch_cancelled"
    assert len(result_lines(client, cancelled.output_file_id)) == 3
    with pytest.raises(openai.BadRequestError) as refused:
        client.batches.cancel(batch.id)
    assert refused.value.type == "invalid_request_error" and "cancelled" in refused.value.message


def test_cancel_while_validating_ends_cancelled_without_files_and_a_done_batch_refuses(
    client: openai.OpenAI, clock: ManualClock, tmp_path: Path
) -> None:
    path = jsonl(tmp_path / "in.jsonl", [chat_line("a", "x")])
    early, late = batch_of(client, path), batch_of(client, path)
    assert client.batches.cancel(early.id).status == "cancelling"
    clock.advance(sum(TIMING))
    cancelled = client.batches.retrieve(early.id)
    assert (cancelled.status, cancelled.in_progress_at) == ("cancelled", None)
    assert (cancelled.output_file_id, cancelled.error_file_id) == (None, None)
    assert client.batches.retrieve(late.id).status == "completed"
    with pytest.raises(openai.BadRequestError) as refused:
        client.batches.cancel(late.id)
    assert "completed" in refused.value.message


def test_batch_on_the_wall_clock_completes_within_its_default_timing(tmp_path: Path) -> None:
    path = jsonl(tmp_path / "in.jsonl", [chat_line("a", "hello")])
    with KimiServer(api_key=KEY) as srv:
        client = openai.OpenAI(api_key=KEY, base_url=srv.base_url, max_retries=0)
        batch = batch_of(client, path)
        assert abs(batch.created_at - time.time()) < 5
        deadline = time.monotonic() + 5
        while client.batches.retrieve(batch.id).status != "completed":
            assert time.monotonic() < deadline
            time.sleep(0.02)
        assert srv.batches[batch.id]["request_counts"]["completed"] == 1


def test_ten_thousand_requests_run_fast_and_every_result_joins_its_request(
    client: openai.OpenAI, clock: ManualClock, tmp_path: Path
) -> None:
    entries = [
        chat_line(f"req-{i}", f"line {i}", **({"max_tokens": 300000} if i % 100 == 7 else {}))
        for i in range(10_000)
    ]
    batch = batch_of(client, jsonl(tmp_path / "in.jsonl", entries))
    clock.advance(sum(TIMING))
    started = time.perf_counter()
    done = client.batches.retrieve(batch.id)
    assert time.perf_counter() - started < 2.0
    assert done.status == "completed"
    assert done.request_counts.model_dump() == {"total": 10_000, "completed": 9_900, "failed": 100}
    ok = result_lines(client, done.output_file_id)
    failed = result_lines(client, done.error_file_id)
    order = [line["custom_id"] for line in ok + failed]
    assert sorted(order) == sorted(f"req-{i}" for i in range(10_000))  # each exactly once
    assert [line["custom_id"] for line in ok] != [f"req-{i}" for i in range(10_000) if i % 100 != 7]
    for line in ok:
        said = line["response"]["body"]["choices"][0]["message"]["content"]
        assert said == "line " + line["custom_id"][4:]
    assert {int(line["custom_id"][4:]) % 100 for line in failed} == {7}


def test_batch_list_pages_newest_first_with_after_limit_and_has_more(
    client: openai.OpenAI, server: KimiServer, clock: ManualClock, tmp_path: Path
) -> None:
    path = jsonl(tmp_path / "in.jsonl", [chat_line("a", "x")])
    ids = []
    for _ in range(5):
        ids.append(batch_of(client, path).id)
        clock.advance(1)
    newest = ids[::-1]
    with connect(server) as conn:
        _, _, body = call(conn, "GET", "/v1/batches?limit=2")
        page = json.loads(body)
        assert page["object"] == "list" and page["has_more"] is True
        assert [b["id"] for b in page["data"]] == newest[:2]
        assert (page["first_id"], page["last_id"]) == (newest[0], newest[1])
        _, _, body = call(conn, "GET", f"/v1/batches?limit=2&after={newest[1]}")
        assert [b["id"] for b in json.loads(body)["data"]] == newest[2:4]
        _, _, body = call(conn, "GET", f"/v1/batches?limit=2&after={newest[3]}")
        last = json.loads(body)
        assert [b["id"] for b in last["data"]] == newest[4:] and last["has_more"] is False
        _, _, body = call(conn, "GET", f"/v1/batches?after={newest[4]}")
        assert json.loads(body) == {
            "object": "list", "data": [], "has_more": False, "first_id": None, "last_id": None,
        }  # fmt: skip
        _, _, body = call(conn, "GET", "/v1/batches")
        assert len(json.loads(body)["data"]) == 5  # limit defaults to 20
        for limit in ("0", "101", "x", "-1"):
            status, _, body = call(conn, "GET", f"/v1/batches?limit={limit}")
            assert status == 400 and "limit" in error_of(body)[1]
        assert call(conn, "GET", "/v1/batches?after=batch_nope")[0] == 404
    assert [b.id for b in client.batches.list(limit=2)] == newest  # the SDK follows the pages
    assert list(server.batches) == ids


def test_snapshots_are_copies_and_reset_drops_files_and_batches(
    client: openai.OpenAI, server: KimiServer, tmp_path: Path
) -> None:
    batch = batch_of(client, jsonl(tmp_path / "in.jsonl", [chat_line("a", "x")]))
    snapshot = server.batches
    snapshot[batch.id]["status"] = "completed"
    server.files[batch.input_file_id]["purpose"] = "image"
    assert server.batches[batch.id]["status"] == "validating"
    assert server.files[batch.input_file_id]["purpose"] == "batch"
    server.reset()
    assert server.files == {} and server.batches == {}
    with pytest.raises(openai.NotFoundError):
        client.batches.retrieve(batch.id)


# Token estimate and the chat route's token limit ------------------------------------------------


def test_token_estimate_follows_the_documented_rule(server: KimiServer) -> None:
    request = {
        "model": "kimi-k2.6",
        "messages": [
            {"role": "system", "content": "You are Kimi."},  # 4 + ceil(13/4) = 8
            {"role": "user", "content": "你好, Kimi!"},  # 4 + ceil(7/4) + 2 = 8
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "Describe"},  # ceil(8/4) = 2
                    {"type": "image_url", "image_url": {"url": "ms://file-x"}},  # 1024
                    {"type": "video_url", "video_url": {"url": "ms://file-y"}},  # 2048
                ],
            },  # 4 + 2 + 1024 + 2048 = 3078
        ],
        # [{"type":"function","function":{"name":"get_weather"}}]: 55 characters, 14 tokens
        "tools": [{"type": "function", "function": {"name": "get_weather"}}],
    }
    with connect(server) as conn:
        status, _, body = call(conn, "POST", "/v1/tokenizers/estimate-token-count", request)
        assert status == 200
        assert json.loads(body) == {
            "code": 0, "data": {"total_tokens": 8 + 8 + 3078 + 14}, "scode": "0x0", "status": True,
        }  # fmt: skip
        short = {"model": "kimi-k2.6", "messages": [{"role": "user", "content": "Hello"}]}
        _, _, body = call(conn, "POST", "/v1/tokenizers/estimate-token-count", short)
        assert json.loads(body)["data"]["total_tokens"] == 4 + 2


@pytest.mark.parametrize(
    ("request_body", "status", "message"),
    [
        ({"messages": [{"role": "user", "content": "x"}]}, 400, "'model' is required"),
        ({"model": "kimi-k2.6"}, 400, "'messages' is required"),
        ({"model": "kimi-k2.6", "messages": ["x"]}, 400, "every message"),
        (
            {"model": "nope", "messages": [{"role": "user", "content": "x"}]},
            404,
            "Not found the model nope or Permission denied",
        ),
    ],
)
def test_token_estimate_refuses_a_request_without_model_messages_or_a_known_model(
    server: KimiServer, request_body: dict[str, Any], status: int, message: str
) -> None:
    with connect(server) as conn:
        got, _, body = call(conn, "POST", "/v1/tokenizers/estimate-token-count", request_body)
    assert got == status and message in error_of(body)[1]


def test_scripted_replies_win_on_every_platform_path(server: KimiServer) -> None:
    paths = [
        ("GET", "/v1/files"),
        ("GET", "/v1/files/file-x/content"),
        ("POST", "/v1/batches"),
        ("GET", "/v1/batches"),
        ("POST", "/v1/batches/batch_x/cancel"),
        ("POST", "/v1/tokenizers/estimate-token-count"),
    ]
    for _, path in paths:
        server.script_for(path, Reply.error(503))
    with connect(server) as conn:
        for method, path in paths:
            assert call(conn, method, path, {})[0] == 503, path
        assert call(conn, "GET", "/v1/files")[0] == 200


@pytest.mark.parametrize(
    ("model", "cap", "status"),
    [
        ("kimi-k2.6", {"max_completion_tokens": 262145}, 400),
        ("kimi-k2.6", {"max_tokens": 262145}, 400),
        ("kimi-k2.6", {"max_completion_tokens": 262144}, 200),
        ("some-new-model", {"max_tokens": 262145}, 400),
        ("moonshot-v1-8k", {"max_tokens": 8193}, 400),
        ("moonshot-v1-8k", {"max_tokens": 8192}, 200),
    ],
)
def test_chat_refuses_a_completion_cap_above_the_model_context(
    server: KimiServer, model: str, cap: dict[str, int], status: int
) -> None:
    request = {"model": model, "messages": [{"role": "user", "content": "hi"}], **cap}
    with connect(server) as conn:
        got, _, body = call(conn, "POST", "/v1/chat/completions", request)
    assert got == status
    if status == 400:
        limit = 8192 if model == "moonshot-v1-8k" else 262144
        assert error_of(body) == (
            "invalid_request_error",
            f"Invalid request: Your request exceeded model token limit: {limit}",
        )


# The clock and the server's new keywords -------------------------------------------------------


def test_manual_clock_moves_only_forward_and_only_when_told() -> None:
    clock = ManualClock()
    assert clock.now() == START and clock.advance(2.5) == START + 2.5 == clock.now()
    with pytest.raises(ValueError):
        clock.advance(-1)
    with pytest.raises(TypeError):
        clock.advance("1")  # type: ignore[arg-type]
    assert ManualClock(start=10).now() == 10.0
    with KimiServer(clock=clock) as srv:
        assert srv.clock is clock
    with KimiServer() as srv:
        assert abs(srv.clock.now() - time.time()) < 5


@pytest.mark.parametrize(
    ("keywords", "error"),
    [
        ({"max_file_bytes": 0}, ValueError),
        ({"max_file_bytes": 1.5}, TypeError),
        ({"max_files": -1}, ValueError),
        ({"batch_timing": (1, 2)}, TypeError),
        ({"batch_timing": (1, -2, 3)}, ValueError),
        ({"clock": object()}, TypeError),
    ],
)
def test_server_keywords_are_checked(keywords: dict[str, Any], error: type[Exception]) -> None:
    with pytest.raises(error):
        KimiServer(**keywords)
