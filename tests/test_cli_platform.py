"""The platform commands of the kimi command line (models check, tokens, files, batch),
run as a user runs them: child processes against the local server.

Pinned here: what each command prints on stdout (ids, aligned lines, JSON), that the
request it makes is the one the library would, and its exit status with one ``kimi:``
line on stderr when it cannot finish: 1 for what the platform said (an unlisted model,
a batch that failed, expired or was cancelled), 2 for an input the command refuses
before sending anything. Most replies are scripted per path, so each outcome is exact;
the last section runs on the server's own files, batches and token count, end to end.
"""

from __future__ import annotations

import fcntl
import json
import os
import pty
import struct
import subprocess
import termios
from pathlib import Path
from typing import Any

import pytest
from conftest import KEY, PYTHON, assert_one_line_message, cli_env, run_kimi

from kimi.testing import KimiServer, Reply


def requests_to(server: KimiServer, prefix: str) -> list[Any]:
    """The recorded requests whose path starts with `prefix`."""
    return [r for r in server.requests if r.path.startswith(prefix)]


# -- models check ---------------------------------------------------------------------------


def test_models_check_prints_the_listed_id_and_its_context_length(server: KimiServer) -> None:
    done = run_kimi(cli_env(server), "models", "check", "moonshot-v1-8k")
    assert (done.returncode, done.stdout, done.stderr) == (0, "moonshot-v1-8k  context 8192\n", "")


def test_models_check_of_an_unlisted_id_names_the_close_ones_and_exits_1(
    server: KimiServer,
) -> None:
    done = run_kimi(cli_env(server), "models", "check", "kimi-k2.7")
    line = assert_one_line_message(done, 1)
    assert line.startswith("kimi: model 'kimi-k2.7' is not among the models this key may use")
    assert "did you mean 'kimi-k2.6'" in line
    assert done.stdout == ""


def test_models_without_a_command_still_lists_every_model(server: KimiServer) -> None:
    done = run_kimi(cli_env(server), "models")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "kimi-k2.6  context 262144"
    assert "moonshot-v1-8k  context 8192" in lines and len(lines) == 8


# -- tokens ---------------------------------------------------------------------------------

TOKENS_PATH = "/v1/tokenizers/estimate-token-count"


def test_tokens_counts_the_words_given_as_one_user_message(server: KimiServer) -> None:
    server.script_for(TOKENS_PATH, Reply.json({"code": 0, "data": {"total_tokens": 11}}))
    done = run_kimi(cli_env(server), "tokens", "--model", "moonshot-v1-8k", "How", "many?")
    assert (done.returncode, done.stdout) == (0, "11\n"), done.stderr
    (request,) = requests_to(server, TOKENS_PATH)
    assert request.json == {
        "model": "moonshot-v1-8k",
        "messages": [{"role": "user", "content": "How many?"}],
    }


def test_tokens_reads_the_text_from_stdin_when_none_is_given(server: KimiServer) -> None:
    server.script_for(TOKENS_PATH, Reply.json({"data": {"total_tokens": 4}}))
    done = run_kimi(cli_env(server, KIMI_MODEL="kimi-k2.5"), "tokens", input="line one\nline two\n")
    assert (done.returncode, done.stdout) == (0, "4\n"), done.stderr
    (request,) = requests_to(server, TOKENS_PATH)
    assert request.json["model"] == "kimi-k2.5"
    assert request.json["messages"] == [{"role": "user", "content": "line one\nline two\n"}]


def test_tokens_without_any_text_is_refused_with_exit_2(server: KimiServer) -> None:
    done = run_kimi(cli_env(server), "tokens", input="  \n")
    line = assert_one_line_message(done, 2)
    assert line == "kimi: no text to count: give TEXT, or pipe it on stdin"
    assert server.requests == []


# -- files ----------------------------------------------------------------------------------


def file_object(file_id: str, size: int, purpose: str, filename: str) -> dict[str, Any]:
    return {
        "id": file_id, "object": "file", "bytes": size, "created_at": 1700000000,
        "filename": filename, "purpose": purpose, "status": "ok",
    }


TWO_FILES = {
    "object": "list",
    "data": [
        file_object("file-a1", 1234, "file-extract", "annual report.pdf"),
        file_object("file-b22", 56, "batch", "requests.jsonl"),
    ],
}


def test_files_list_prints_id_bytes_purpose_filename_aligned(server: KimiServer) -> None:
    server.script_for("/v1/files", Reply.json(TWO_FILES))
    done = run_kimi(cli_env(server), "files", "list")
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "file-a1         1234  file-extract  annual report.pdf",
        "file-b22          56  batch         requests.jsonl",
    ]


def test_files_list_json_is_the_file_objects_as_sent(server: KimiServer) -> None:
    server.script_for("/v1/files", Reply.json(TWO_FILES))
    done = run_kimi(cli_env(server), "files", "list", "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == TWO_FILES["data"]


def test_files_delete_sends_delete_and_says_so(server: KimiServer) -> None:
    server.script_for("/v1/files/file-a1", Reply.json({"id": "file-a1", "object": "file", "deleted": True}))
    done = run_kimi(cli_env(server), "files", "delete", "file-a1")
    assert (done.returncode, done.stdout) == (0, "deleted file-a1\n"), done.stderr
    assert [(r.method, r.path) for r in server.requests] == [("DELETE", "/v1/files/file-a1")]


def test_files_delete_that_the_platform_declined_exits_1(server: KimiServer) -> None:
    server.script_for("/v1/files/file-a1", Reply.json({"id": "file-a1", "deleted": False}))
    done = run_kimi(cli_env(server), "files", "delete", "file-a1")
    assert assert_one_line_message(done, 1) == "kimi: file-a1 was not deleted"


def test_files_delete_of_an_unknown_id_exits_1_with_the_api_message(server: KimiServer) -> None:
    not_found = Reply.error(404, Reply.moonshot_error("resource_not_found_error", "file not found"))
    server.script_for("/v1/files/file-zz", not_found)
    done = run_kimi(cli_env(server), "files", "delete", "file-zz")
    line = assert_one_line_message(done, 1)
    assert "404" in line and "file not found" in line


BINARY = bytes(range(256)) + b"\r\n\x00end"


def test_files_content_writes_the_bytes_unchanged_to_stdout(server: KimiServer) -> None:
    server.script_for("/v1/files/file-b22/content", Reply.raw([BINARY], content_type="application/octet-stream"))
    done = subprocess.run([PYTHON, "-m", "kimi", "files", "content", "file-b22"],
                          env=cli_env(server), capture_output=True, timeout=30)
    assert (done.returncode, done.stdout, done.stderr) == (0, BINARY, b"")


def test_files_content_with_o_writes_the_file_and_nothing_to_stdout(
    server: KimiServer, tmp_path: Path
) -> None:
    server.script_for("/v1/files/file-b22/content", Reply.raw([BINARY], content_type="application/octet-stream"))
    out = tmp_path / "content.bin"
    done = run_kimi(cli_env(server), "files", "content", "file-b22", "-o", str(out))
    assert (done.returncode, done.stdout) == (0, ""), done.stderr
    assert out.read_bytes() == BINARY


def test_files_content_into_a_missing_directory_exits_2_naming_it(
    server: KimiServer, tmp_path: Path
) -> None:
    server.script_for("/v1/files/file-b22/content", Reply.raw([b"x"]))
    out = tmp_path / "no" / "such.bin"
    done = run_kimi(cli_env(server), "files", "content", "file-b22", "-o", str(out))
    assert assert_one_line_message(done, 2) == f"kimi: {out}: No such file or directory"


@pytest.mark.parametrize("command", ["upload", "extract"])
def test_files_of_a_missing_path_exit_2_before_any_request(
    server: KimiServer, tmp_path: Path, command: str
) -> None:
    missing = tmp_path / "missing.pdf"
    done = run_kimi(cli_env(server), "files", command, str(missing))
    line = assert_one_line_message(done, 2)
    assert line == f"kimi: files.create: no such file: {str(missing)!r}"
    assert server.requests == []


def test_files_upload_of_an_empty_file_exits_2_before_any_request(
    server: KimiServer, tmp_path: Path
) -> None:
    empty = tmp_path / "empty.txt"
    empty.write_bytes(b"")
    done = run_kimi(cli_env(server), "files", "upload", str(empty), "--purpose", "batch")
    line = assert_one_line_message(done, 2)
    assert "'empty.txt' is empty; the platform refuses empty files" in line
    assert server.requests == []


def test_files_upload_offers_the_purposes_the_library_accepts() -> None:
    from kimi._batches import ENDPOINT
    from kimi._cli_platform import BATCH_URL, FILE_PURPOSES
    from kimi._files import PURPOSES

    assert (FILE_PURPOSES, BATCH_URL) == (PURPOSES, ENDPOINT)


# -- batch status and wait --------------------------------------------------------------------


def batch(status: str, total: int = 3, completed: int = 0, failed: int = 0, **fields: Any) -> dict[str, Any]:
    """A Batch object as the platform sends it."""
    return {
        "id": "batch-7", "object": "batch", "endpoint": "/v1/chat/completions",
        "input_file_id": "file-in", "completion_window": "24h", "status": status,
        "created_at": 1700000000,
        "request_counts": {"total": total, "completed": completed, "failed": failed},
        **fields,
    }


BATCH_PATH = "/v1/batches/batch-7"


def test_batch_status_prints_the_status_then_the_request_counts(server: KimiServer) -> None:
    server.script_for(BATCH_PATH, Reply.json(batch("in_progress", total=10, completed=3, failed=1)))
    done = run_kimi(cli_env(server), "batch", "status", "batch-7")
    assert (done.returncode, done.stdout) == (0, "in_progress  3/10 completed, 1 failed\n"), done.stderr


def test_batch_status_json_is_the_batch_object_as_sent(server: KimiServer) -> None:
    sent = batch("validating", total=0, metadata={"job": "nightly"})
    server.script_for(BATCH_PATH, Reply.json(sent))
    done = run_kimi(cli_env(server), "batch", "status", "batch-7", "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == sent


def test_batch_wait_polls_until_completed_and_prints_the_end(server: KimiServer) -> None:
    server.script_for(
        BATCH_PATH,
        Reply.json(batch("validating")),
        Reply.json(batch("in_progress", completed=1)),
        Reply.json(batch("finalizing", completed=3)),
        Reply.json(batch("completed", completed=2, failed=1, output_file_id="file-out")),
    )
    done = run_kimi(cli_env(server), "batch", "wait", "batch-7", "--poll", "0.01")
    assert (done.returncode, done.stdout, done.stderr) == (0, "completed  2/3 completed, 1 failed\n", "")
    assert len(requests_to(server, BATCH_PATH)) == 4


def test_batch_wait_shows_progress_on_stderr_only_when_it_is_a_terminal(server: KimiServer) -> None:
    server.script_for(
        BATCH_PATH,
        Reply.json(batch("in_progress", completed=1)),
        Reply.json(batch("completed", completed=3, output_file_id="file-out")),
    )
    leader, follower = pty.openpty()
    # A terminal of 24 x 80: a bar (tqdm, which openai-python brings) draws nothing in
    # a terminal of no width.
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
    try:
        done = subprocess.run([PYTHON, "-m", "kimi", "batch", "wait", "batch-7", "--poll", "0.01"],
                              env=cli_env(server), stdout=subprocess.PIPE, stderr=follower,
                              stdin=subprocess.DEVNULL, text=True, timeout=30)
        os.close(follower)
        follower = -1
        shown = b""
        while True:
            try:
                data = os.read(leader, 4096)
            except OSError:  # EIO: the child's end is closed and drained
                break
            if not data:
                break
            shown += data
    finally:
        os.close(leader)
        if follower >= 0:
            os.close(follower)
    assert (done.returncode, done.stdout) == (0, "completed  3/3 completed, 0 failed\n")
    assert b"batch" in shown and b"3/3" in shown


FAILED = batch(
    "failed",
    total=0,
    errors={"object": "list", "data": [
        {"code": "invalid_request", "message": "model is required", "line": 2},
        {"code": "invalid_json", "message": "line is not JSON", "line": 5},
    ]},
)


def test_batch_wait_on_a_failed_batch_exits_1_naming_the_refused_lines(server: KimiServer) -> None:
    server.script_for(BATCH_PATH, Reply.json(FAILED))
    done = run_kimi(cli_env(server), "batch", "wait", "batch-7")
    line = assert_one_line_message(done, 1)
    assert line == (
        "kimi: batch batch-7 failed: line 2: invalid_request: model is required; "
        "line 5: invalid_json: line is not JSON"
    )
    assert done.stdout == "failed  0/0 completed, 0 failed\n"


@pytest.mark.parametrize(
    "status,said",
    [("expired", "expired before all its requests ran"), ("cancelled", "was cancelled")],
)
def test_batch_wait_that_ends_expired_or_cancelled_exits_1(
    server: KimiServer, status: str, said: str
) -> None:
    server.script_for(BATCH_PATH, Reply.json(batch(status, completed=1)))
    done = run_kimi(cli_env(server), "batch", "wait", "batch-7")
    assert assert_one_line_message(done, 1) == f"kimi: batch batch-7 {said}"
    assert done.stdout == f"{status}  1/3 completed, 0 failed\n"


def test_batch_wait_refuses_a_poll_that_is_not_a_positive_number(server: KimiServer) -> None:
    done = run_kimi(cli_env(server), "batch", "wait", "batch-7", "--poll", "0")
    assert done.returncode == 2
    assert "expected a positive number of seconds, got '0'" in done.stderr
    assert server.requests == []


# -- batch results ------------------------------------------------------------------------


def completion(content: str) -> dict[str, Any]:
    return {
        "id": "chatcmpl-1", "object": "chat.completion", "created": 1700000000,
        "model": "moonshot-v1-8k",
        "choices": [{"index": 0, "finish_reason": "stop",
                     "message": {"role": "assistant", "content": content}}],
        "usage": {"prompt_tokens": 5, "completion_tokens": 1, "total_tokens": 6},
    }


def jsonl(*lines: dict[str, Any]) -> bytes:
    return b"".join(json.dumps(line).encode() + b"\n" for line in lines)


def input_line(custom_id: str) -> dict[str, Any]:
    return {"custom_id": custom_id, "method": "POST", "url": "/v1/chat/completions",
            "body": {"model": "moonshot-v1-8k", "messages": [{"role": "user", "content": custom_id}]}}


def output_line(custom_id: str, status: int, body: dict[str, Any]) -> dict[str, Any]:
    return {"id": f"out-{custom_id}", "custom_id": custom_id,
            "response": {"status_code": status, "request_id": f"req-{custom_id}", "body": body},
            "error": None}


def script_finished_batch(server: KimiServer, status: str = "completed") -> None:
    """batch-7 ended with `status`: requests a, b, c, d in; c and a answered (out of order),
    b refused with a 429, d in neither file."""
    server.script_for(BATCH_PATH, Reply.json(batch(
        status, total=4, completed=2, failed=1,
        output_file_id="file-out", error_file_id="file-err",
    )))
    octets = "application/octet-stream"
    server.script_for("/v1/files/file-in/content",
                      Reply.raw([jsonl(*map(input_line, "abcd"))], content_type=octets))
    server.script_for("/v1/files/file-out/content", Reply.raw(
        [jsonl(output_line("c", 200, completion("C")), output_line("a", 200, completion("A")))],
        content_type=octets))
    refused = {"error": {"type": "rate_limit_reached_error", "message": "slow down"}}
    server.script_for("/v1/files/file-err/content",
                      Reply.raw([jsonl(output_line("b", 429, refused))], content_type=octets))


def test_batch_results_are_one_json_line_per_request_in_input_order(server: KimiServer) -> None:
    script_finished_batch(server, "expired")
    done = run_kimi(cli_env(server), "batch", "results", "batch-7")
    assert done.returncode == 0, done.stderr
    records = [json.loads(line) for line in done.stdout.splitlines()]
    assert [r["custom_id"] for r in records] == ["a", "b", "c", "d"]
    assert records[0] == {"custom_id": "a", "response": completion("A"), "error": None}
    assert records[2]["response"]["choices"][0]["message"]["content"] == "C"
    assert records[1]["response"] is None
    assert records[1]["error"]["type"] == "RateLimitReachedError"
    assert records[1]["error"]["status_code"] == 429
    assert "slow down" in records[1]["error"]["message"]
    assert records[3] == {"custom_id": "d", "response": None, "error": {
        "type": "BatchRequestError", "message": "d: no result in the job's output (expired)",
        "code": "batch_expired",
    }}


def test_batch_results_with_o_write_the_file_and_nothing_to_stdout(
    server: KimiServer, tmp_path: Path
) -> None:
    script_finished_batch(server)
    out = tmp_path / "results.jsonl"
    done = run_kimi(cli_env(server), "batch", "results", "batch-7", "-o", str(out))
    assert (done.returncode, done.stdout) == (0, ""), done.stderr
    lines = out.read_text(encoding="utf-8").splitlines()
    assert [json.loads(line)["custom_id"] for line in lines] == ["a", "b", "c", "d"]


def test_batch_results_of_a_failed_batch_exit_1_and_leave_no_file(
    server: KimiServer, tmp_path: Path
) -> None:
    server.script_for(BATCH_PATH, Reply.json(FAILED))
    out = tmp_path / "results.jsonl"
    done = run_kimi(cli_env(server), "batch", "results", "batch-7", "-o", str(out))
    line = assert_one_line_message(done, 1)
    assert line.startswith("kimi: batch batch-7 failed: line 2: invalid_request: model is required")
    assert not out.exists() and done.stdout == ""


def test_batch_results_wait_for_a_batch_still_running(server: KimiServer) -> None:
    server.script_for(BATCH_PATH, Reply.json(batch("in_progress", total=4)))
    script_finished_batch(server)
    done = run_kimi(cli_env(server), "batch", "results", "batch-7", "--poll", "0.01")
    assert done.returncode == 0, done.stderr
    assert len(done.stdout.splitlines()) == 4
    assert len(requests_to(server, BATCH_PATH)) == 2


# -- batch submit: the input file, refused before anything is sent ---------------------------


def write_lines(path: Path, *lines: Any) -> str:
    path.write_text("".join((line if isinstance(line, str) else json.dumps(line)) + "\n"
                            for line in lines), encoding="utf-8")
    return str(path)


PLAIN = {"model": "moonshot-v1-8k", "messages": [{"role": "user", "content": "hi"}]}


@pytest.mark.parametrize(
    "lines,said",
    [
        ([PLAIN, "{not json"], "line 2: not JSON: "),
        ([PLAIN, "", "[1, 2]"], "line 3: expected a JSON object, got [1, 2]"),
        ([{**input_line("a"), "url": "/v1/embeddings"}],
         "line 1: a batch line must be POST /v1/chat/completions, got POST /v1/embeddings"),
        ([{"custom_id": "a", "body": "hi"}], "line 1: body must be a JSON object"),
    ],
    ids=["not-json", "not-an-object", "other-url", "body-not-an-object"],
)
def test_batch_submit_names_the_line_it_cannot_read_and_exits_2(
    server: KimiServer, tmp_path: Path, lines: list[Any], said: str
) -> None:
    path = write_lines(tmp_path / "in.jsonl", *lines)
    done = run_kimi(cli_env(server), "batch", "submit", path)
    line = assert_one_line_message(done, 2)
    assert line.startswith(f"kimi: {path} {said}")
    assert server.requests == []


@pytest.mark.parametrize(
    "lines,said",
    [
        ([PLAIN, {**PLAIN, "model": "kimi-k2.6"}],
         "batches.submit: request 1: model 'kimi-k2.6' differs from 'moonshot-v1-8k'"),
        ([{**PLAIN, "custom_id": "x"}, input_line("x")],
         "batches.submit: request 1: duplicate custom_id 'x'"),
        ([{"model": "moonshot-v1-8k", "messages": "hi"}],
         "batches.submit: request 0: chat.completions.create: messages must be a list"),
    ],
    ids=["two-models", "duplicate-id", "messages-not-a-list"],
)
def test_batch_submit_passes_on_what_the_library_refuses_with_exit_2(
    server: KimiServer, tmp_path: Path, lines: list[Any], said: str
) -> None:
    path = write_lines(tmp_path / "in.jsonl", *lines)
    done = run_kimi(cli_env(server), "batch", "submit", path)
    assert assert_one_line_message(done, 2).startswith(f"kimi: {said}")
    assert server.requests == []


def test_batch_submit_of_a_missing_file_or_bad_window_exits_2(server: KimiServer, tmp_path: Path) -> None:
    missing = tmp_path / "missing.jsonl"
    done = run_kimi(cli_env(server), "batch", "submit", str(missing))
    assert assert_one_line_message(done, 2) == f"kimi: {missing}: No such file or directory"
    path = write_lines(tmp_path / "in.jsonl", PLAIN)
    done = run_kimi(cli_env(server), "batch", "submit", path, "--window", "1h")
    assert 'completion_window must be from "12h" to "7d"' in assert_one_line_message(done, 2)
    assert server.requests == []


def test_batch_submit_of_a_file_that_is_not_utf8_exits_2(server: KimiServer, tmp_path: Path) -> None:
    path = tmp_path / "in.jsonl"
    path.write_bytes(b'{"model": "\xff"}\n')
    done = run_kimi(cli_env(server), "batch", "submit", str(path))
    assert assert_one_line_message(done, 2) == f"kimi: {path}: not UTF-8 text"


# -- every command needs the key ----------------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        ["models", "check", "kimi-k2.6"],
        ["tokens", "hi"],
        ["files", "list"],
        ["files", "delete", "file-1"],
        ["batch", "status", "batch-1"],
        ["batch", "results", "batch-1"],
    ],
    ids=lambda args: "-".join(args[:2]),
)
def test_platform_commands_without_a_key_say_which_variable_to_set(
    server: KimiServer, args: list[str]
) -> None:
    done = run_kimi(cli_env(None, KIMI_BASE_URL=server.base_url), *args)
    line = assert_one_line_message(done, 1)
    assert line.startswith("kimi: no API key: set MOONSHOT_API_KEY")
    assert server.requests == []
    assert KEY not in done.stderr


# -- end to end: the local server's own files, batches and token count --------------------


def test_tokens_is_the_local_servers_count_of_the_prompt(server: KimiServer) -> None:
    # kimi.testing's rule: 4 per message, ceil(ASCII characters / 4), 1 per other character.
    done = run_kimi(cli_env(server), "tokens", "Hello", "world")  # 4 + ceil(11 / 4)
    assert (done.returncode, done.stdout) == (0, "7\n"), done.stderr
    done = run_kimi(cli_env(server), "tokens", input="你好")
    assert (done.returncode, done.stdout) == (0, "6\n"), done.stderr


def test_files_list_of_an_account_without_files_prints_nothing(server: KimiServer) -> None:
    done = run_kimi(cli_env(server), "files", "list")
    assert (done.returncode, done.stdout, done.stderr) == (0, "", "")
    done = run_kimi(cli_env(server), "files", "list", "--json")
    assert (done.returncode, json.loads(done.stdout)) == (0, [])


def cli(server: KimiServer, *args: str) -> str:
    """Run a command that must succeed; its stdout."""
    done = run_kimi(cli_env(server), *args)
    assert (done.returncode, done.stderr) == (0, ""), done.stderr
    return done.stdout


def test_files_upload_list_content_delete_round_trip(server: KimiServer, tmp_path: Path) -> None:
    document = tmp_path / "notes on kimi.txt"
    document.write_text("Streams are parsed in C.\n", encoding="utf-8")
    file_id = cli(server, "files", "upload", str(document)).strip()
    assert file_id in server.files and file_id.startswith("file-")
    size = len("Streams are parsed in C.\n")
    assert cli(server, "files", "list") == f"{file_id}  {size:>10}  file-extract  notes on kimi.txt\n"
    extracted = json.loads(cli(server, "files", "content", file_id))
    assert (extracted["content"], extracted["filename"]) == ("Streams are parsed in C.\n", "notes on kimi.txt")
    assert cli(server, "files", "delete", file_id) == f"deleted {file_id}\n"
    assert server.files == {} and cli(server, "files", "list") == ""


def test_files_upload_json_is_the_file_object_with_the_purpose_asked(
    server: KimiServer, tmp_path: Path
) -> None:
    data = tmp_path / "requests.jsonl"
    data.write_bytes(b"{}\n")
    uploaded = json.loads(cli(server, "files", "upload", str(data), "--purpose", "batch", "--json"))
    assert (uploaded["purpose"], uploaded["bytes"], uploaded["filename"]) == ("batch", 3, "requests.jsonl")
    assert server.files[uploaded["id"]]["purpose"] == "batch"


def test_files_extract_prints_the_text_and_removes_the_upload_unless_kept(
    server: KimiServer, tmp_path: Path
) -> None:
    document = tmp_path / "doc.md"
    document.write_text("# Title\n\nBody: 你好\n", encoding="utf-8")
    assert cli(server, "files", "extract", str(document)) == "# Title\n\nBody: 你好\n"
    assert server.files == {}
    assert cli(server, "files", "extract", str(document), "--keep") == "# Title\n\nBody: 你好\n"
    (kept,) = server.files.values()
    assert (kept["filename"], kept["purpose"]) == ("doc.md", "file-extract")


def mixed_requests(path: Path) -> str:
    """Three requests in both line shapes: a platform line, create() arguments with a
    custom_id, create() arguments without one (numbered by its place: request-2)."""
    ask = lambda text: [{"role": "user", "content": text}]  # noqa: E731
    return write_lines(
        path,
        {"custom_id": "first", "method": "POST", "url": "/v1/chat/completions",
         "body": {"model": "moonshot-v1-8k", "messages": ask("one"), "temperature": 0.3}},
        {"custom_id": "second", "model": "moonshot-v1-8k", "messages": ask("two")},
        "",
        {"model": "moonshot-v1-8k", "messages": ask("three")},
    )


def test_batch_submit_wait_then_results_in_input_order(server: KimiServer, tmp_path: Path) -> None:
    path = mixed_requests(tmp_path / "in.jsonl")
    lines = cli(server, "batch", "submit", path, "--wait", "--poll", "0.05").splitlines()
    assert len(lines) == 2 and lines[1] == "completed  3/3 completed, 0 failed"
    batch_id = lines[0]
    assert server.batches[batch_id]["status"] == "completed"
    (uploaded,) = [f for f in server.files.values() if f["purpose"] == "batch"]
    assert uploaded["id"] == server.batches[batch_id]["input_file_id"]

    records = [json.loads(line) for line in cli(server, "batch", "results", batch_id).splitlines()]
    assert [r["custom_id"] for r in records] == ["first", "second", "request-2"]
    answers = [r["response"]["choices"][0]["message"]["content"] for r in records]
    assert answers == ["one", "two", "three"]
    assert [r["error"] for r in records] == [None, None, None]


def test_batch_submit_status_wait_as_separate_commands(server: KimiServer, tmp_path: Path) -> None:
    path = mixed_requests(tmp_path / "in.jsonl")
    batch_id = cli(server, "batch", "submit", path, "--window", "3d").strip()
    assert server.batches[batch_id]["completion_window"] == "3d"
    status = cli(server, "batch", "status", batch_id).split()[0]
    assert status in ("validating", "in_progress", "finalizing", "completed")
    assert cli(server, "batch", "wait", batch_id, "--poll", "0.05") == "completed  3/3 completed, 0 failed\n"


def test_batch_results_carry_the_typed_error_of_a_request_the_api_refused(
    server: KimiServer, tmp_path: Path
) -> None:
    too_long = {"model": "moonshot-v1-8k", "messages": [{"role": "user", "content": "x"}],
                "max_completion_tokens": 100_000}  # over the model's 8192 context
    path = write_lines(tmp_path / "in.jsonl", {**PLAIN, "custom_id": "ok"}, {**too_long, "custom_id": "long"})
    batch_id = cli(server, "batch", "submit", path, "--wait", "--poll", "0.05").splitlines()[0]
    ok, refused = (json.loads(line) for line in cli(server, "batch", "results", batch_id).splitlines())
    assert (ok["custom_id"], ok["error"]) == ("ok", None)
    assert (refused["custom_id"], refused["response"]) == ("long", None)
    assert refused["error"]["type"] == "InvalidRequestError"
    assert refused["error"]["status_code"] == 400
