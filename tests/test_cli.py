"""The kimi command line as a user meets it: real child processes against the local server.

Pinned here: a reader that leaves early (``kimi chat ... | head``) ends the command
quietly; unusable settings give one ``kimi: ...`` line and no traceback; the program name
follows how it was started; --allow-http / KIMI_ALLOW_HTTP reach plain-http hosts.
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest
from conftest import KEY, PYTHON, assert_one_line_message, cli_env, run_kimi

from kimi.testing import KimiServer, Reply

BROKEN_PIPE_EXIT = 141
UNRESOLVABLE_HTTP_URL = "http://localhost.invalid:1/v1"  # RFC 6761: never resolves

# What pip writes for the `kimi` entry point of pyproject's [project.scripts].
CONSOLE_SCRIPT = """\
import re
import sys
from kimi.__main__ import main
if __name__ == "__main__":
    sys.argv[0] = re.sub(r"(-script\\.pyw|\\.exe)?$", "", sys.argv[0])
    sys.exit(main())
"""


# -- (a) a reader that leaves early ------------------------------------------------------


def close_after(child: subprocess.Popen[bytes], n_bytes: int) -> bytes:
    """Read `n_bytes` of the child's stdout, then close our end of the pipe."""
    assert child.stdout is not None
    head = child.stdout.read(n_bytes)
    child.stdout.close()
    return head


def finish(child: subprocess.Popen[bytes]) -> str:
    """Wait for the child; its stderr as text."""
    assert child.stderr is not None
    try:
        child.wait(timeout=20)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    return child.stderr.read().decode()


def popen_kimi(env: dict[str, str], *args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [PYTHON, "-m", "kimi", *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )


def test_chat_whose_reader_leaves_exits_quietly(server: KimiServer) -> None:
    server.script(Reply.chat("word " * 400, chunk_size=5, delay=0.005))
    child = popen_kimi(cli_env(server), "chat", "hi")
    assert close_after(child, 20) == b"word word word word "
    err = finish(child)
    assert "Traceback" not in err and "BrokenPipe" not in err
    assert (child.returncode, err) == (BROKEN_PIPE_EXIT, "")


def test_demo_whose_reader_leaves_exits_quietly() -> None:
    child = popen_kimi(cli_env(None), "demo", "ping")
    assert close_after(child, 20) == b"No MOONSHOT_API_KEY "
    err = finish(child)
    assert (child.returncode, err) == (BROKEN_PIPE_EXIT, "")


@pytest.mark.parametrize(
    "buffering", [{}, {"PYTHONUNBUFFERED": "1"}], ids=["buffered", "unbuffered"]
)
def test_models_whose_reader_left_before_the_answer_exits_quietly(
    server: KimiServer, buffering: dict[str, str]
) -> None:
    # The answer is held back 0.5 s after the request arrives; the pipe closes before.
    body = b'{"object":"list","data":[{"id":"kimi-k2.6","object":"model"}]}'
    held_back = Reply.raw([b"", body], content_type="application/json", delay=0.5)
    server.script_for("/v1/models", held_back)
    child = popen_kimi(cli_env(server, **buffering), "models")
    deadline = time.monotonic() + 20
    while not server.requests and time.monotonic() < deadline:
        time.sleep(0.01)
    assert server.requests, "the CLI never asked for the models"
    assert close_after(child, 0) == b""
    err = finish(child)
    assert (child.returncode, err) == (BROKEN_PIPE_EXIT, "")


def test_shell_pipeline_into_head_shows_no_traceback(server: KimiServer) -> None:
    server.script(Reply.chat("word " * 400, chunk_size=5, delay=0.005))
    script = f'"{PYTHON}" -m kimi chat hi | head -c 20; echo " status=${{PIPESTATUS[0]}}"'
    done = subprocess.run(["bash", "-c", script], env=cli_env(server), capture_output=True,
                          text=True, timeout=30)
    assert done.stdout == f"word word word word  status={BROKEN_PIPE_EXIT}\n"
    assert done.stderr == ""


# -- (b) an unusable KIMI_BASE_URL -------------------------------------------------------


@pytest.mark.parametrize(
    "url,needle",
    [
        ("ftp://x", "must be an http(s) URL, got 'ftp://x'"),
        ("not a url", "must be an http(s) URL, got 'not a url'"),
        ("http://example.com/v1", "refusing plain http:// to 'example.com'"),
    ],
)
def test_bad_base_url_is_one_line_and_exit_2(server: KimiServer, url: str, needle: str) -> None:
    done = run_kimi(cli_env(server, KIMI_BASE_URL=url), "models")
    line = assert_one_line_message(done, 2)
    assert line.startswith("kimi: KIMI_BASE_URL: ") and needle in line
    assert done.stdout == "" and server.requests == []


# -- (c) no key --------------------------------------------------------------------------


@pytest.mark.parametrize("command", ["chat", "models", "balance"])
def test_missing_key_message_reads_cleanly(server: KimiServer, command: str) -> None:
    args = [command, "hi"] if command == "chat" else [command]
    done = run_kimi(cli_env(None, KIMI_BASE_URL=server.base_url), *args)
    line = assert_one_line_message(done, 1)
    assert line == (
        "kimi: no API key: set MOONSHOT_API_KEY, or try `python -m kimi demo`, which needs none"
    )
    assert server.requests == []


# -- (d) the program name ----------------------------------------------------------------


def test_help_as_a_module_says_python_m_kimi() -> None:
    done = run_kimi(cli_env(None), "--help")
    assert done.returncode == 0
    assert done.stdout.startswith("usage: python -m kimi [-h] [--allow-http]")


def test_help_as_the_console_script_says_kimi(tmp_path: Path) -> None:
    script = tmp_path / "bin" / "kimi"
    script.parent.mkdir()
    script.write_text(CONSOLE_SCRIPT)
    def run_script(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([PYTHON, str(script), *args], env=cli_env(None),
                              capture_output=True, text=True, timeout=30)

    done = run_script("--help")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("usage: kimi [-h] [--allow-http]")
    missing = run_script("models")
    assert "try `kimi demo`" in missing.stderr


# -- (e) --allow-http ----------------------------------------------------------------------


def test_plain_http_host_is_refused_with_a_pointer_to_allow_http() -> None:
    done = run_kimi(cli_env(None, MOONSHOT_API_KEY=KEY, KIMI_BASE_URL=UNRESOLVABLE_HTTP_URL),
                    "models")
    line = assert_one_line_message(done, 2)
    assert "refusing plain http:// to 'localhost.invalid'" in line
    assert "--allow-http" in line and "KIMI_ALLOW_HTTP=1" in line


@pytest.mark.parametrize(
    "args,extra_env",
    [
        (["--allow-http", "models"], {}),
        (["models", "--allow-http"], {}),
        (["chat", "hi", "--allow-http"], {}),
        (["models"], {"KIMI_ALLOW_HTTP": "1"}),
    ],
)
def test_allow_http_builds_the_client_and_tries_the_host(
    args: list[str], extra_env: dict[str, str]
) -> None:
    env = cli_env(None, MOONSHOT_API_KEY=KEY, KIMI_BASE_URL=UNRESOLVABLE_HTTP_URL, **extra_env)
    done = run_kimi(env, *args)
    line = assert_one_line_message(done, 1)
    assert "refusing" not in line
    assert "resolve host" in line and "localhost.invalid" in line


# -- (e) replies cut by their token budget ------------------------------------------------


def test_chat_continue_on_length_prints_the_whole_answer(server: KimiServer) -> None:
    env = cli_env(server)
    whole = run_kimi(env, "chat", "Why is the sky blue?")
    continued = run_kimi(env, "chat", "Why is the sky blue?", "--max-tokens", "30", "--continue-on-length", "9")
    assert continued.returncode == 0 and continued.stderr == ""
    assert continued.stdout == whole.stdout and "Script replies with server.script()" in whole.stdout
    partial = [r.json["messages"][-1] for r in server.requests[1:] if r.json["messages"][-1].get("partial")]
    assert len(partial) >= 2


def test_chat_cut_by_the_budget_says_so_on_stderr(server: KimiServer) -> None:
    cut = run_kimi(cli_env(server), "chat", "Why is the sky blue?", "--max-tokens", "30")
    assert cut.returncode == 0
    assert cut.stderr.startswith("kimi: kimi-k2.6") and "continue_on_length" in cut.stderr
    assert len(cut.stderr.strip().splitlines()) == 1 and "Traceback" not in cut.stderr
    bad = run_kimi(cli_env(server), "chat", "hi", "--continue-on-length", "-2")
    assert bad.returncode == 2 and "whole number" in bad.stderr


# -- --provider: a gateway's route --------------------------------------------------------


def test_chat_with_provider_goes_through_that_gateway() -> None:
    with KimiServer(api_key="or-key", delay=0, gateway="openrouter") as gateway:
        env = cli_env(None, OPENROUTER_API_KEY="or-key", KIMI_BASE_URL=gateway.base_url)
        done = run_kimi(env, "chat", "hi", "--provider", "openrouter")
        assert done.returncode == 0, done.stderr
        assert "You said “hi”" in done.stdout
        sent = gateway.requests[-1]
        assert (sent.path, sent.json["model"]) == ("/api/v1/chat/completions", "moonshotai/kimi-k2.6")


def test_chat_with_provider_names_its_key_variable() -> None:
    line = assert_one_line_message(run_kimi(cli_env(None, MOONSHOT_API_KEY=KEY), "chat", "hi", "--provider", "siliconflow"), 1)
    assert "set SILICONFLOW_API_KEY" in line


def test_chat_with_an_unknown_provider_exits_2() -> None:
    line = assert_one_line_message(run_kimi(cli_env(None), "chat", "hi", "--provider", "nowhere"), 2)
    assert "--provider nowhere: unknown" in line and "openrouter" in line


def test_chat_max_tokens_must_be_at_least_one(server: KimiServer) -> None:
    bad = run_kimi(cli_env(server), "chat", "hi", "--max-tokens", "0")
    assert bad.returncode == 2 and "--max-tokens: expected a whole number >= 1" in bad.stderr
    assert server.requests == []
