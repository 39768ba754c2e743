"""Shared fixtures: one local kimi.testing server for the session, and clients pointed at it.

Every test talks to the real server over loopback sockets.  Between tests the server's
scripted replies, records and default reply are reset, so no test sees another's leftovers.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

import kimi
from kimi.testing import KimiServer, Reply

KEY = "sk-test-secret-key"
MODEL = "kimi-k2.6"
MESSAGES = [{"role": "user", "content": "Hello"}]
REPO = Path(__file__).resolve().parent.parent
VECTORS = REPO / "tests" / "vectors"


@pytest.fixture(scope="session")
def server() -> Iterator[KimiServer]:
    with KimiServer(api_key=KEY, delay=0) as srv:
        yield srv


def reset_server(server: KimiServer) -> None:
    """Empty the script queues, forget recorded requests, restore the echo default."""
    server.reset(Reply.echo(delay=0))


@pytest.fixture(autouse=True)
def _clean_server(request: pytest.FixtureRequest) -> Iterator[None]:
    if "server" not in request.fixturenames:
        yield
        return
    server = request.getfixturevalue("server")
    reset_server(server)
    yield
    reset_server(server)


@pytest.fixture
def make_client(server: KimiServer) -> Callable[..., kimi.Kimi]:
    """Clients for the local server; keyword arguments override the defaults."""

    def make(**overrides: Any) -> kimi.Kimi:
        options: dict[str, Any] = {"api_key": KEY, "base_url": server.base_url, "max_retries": 0}
        options.update(overrides)
        return kimi.Kimi(**options)

    return make


@pytest.fixture
def client(make_client: Callable[..., kimi.Kimi]) -> kimi.Kimi:
    """A client that never retries, so each call consumes exactly one scripted reply."""
    return make_client()


# -- helpers shared by the test modules ---------------------------------------------


def sse(obj: Any) -> bytes:
    """One SSE event holding obj as compact UTF-8 JSON."""
    return b"data: " + json.dumps(obj, ensure_ascii=False, separators=(",", ":")).encode() + b"\n\n"


def delta_event(finish_reason: str | None = None, **delta: Any) -> bytes:
    """A chat.completion.chunk event whose choices[0].delta is `delta`."""
    choice = {"index": 0, "delta": delta, "finish_reason": finish_reason}
    return sse({"id": "chatcmpl-t", "object": "chat.completion.chunk", "model": MODEL, "choices": [choice]})


DONE = b"data: [DONE]\n\n"


def create(client: kimi.Kimi, **kwargs: Any) -> Any:
    """client.chat.completions.create with the usual model and messages."""
    kwargs.setdefault("model", MODEL)
    kwargs.setdefault("messages", MESSAGES)
    return client.chat.completions.create(**kwargs)


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    return port


def subprocess_env(**extra: str) -> dict[str, str]:
    """The environment for a child Python that imports this checkout of kimi."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH", "")]))
    env.pop("MOONSHOT_API_KEY", None)
    env.pop("KIMI_BASE_URL", None)
    env.update(extra)
    return env


PYTHON = sys.executable


# -- the command line in a child process (test_cli*.py) ------------------------------


def cli_env(server: KimiServer | None, **extra: str) -> dict[str, str]:
    """A child's environment: the key and base URL of `server` (if given), then `extra`.

    Output is block-buffered, as it is for a user's pipe, unless `extra` sets
    PYTHONUNBUFFERED."""
    settings = {"MOONSHOT_API_KEY": KEY, "KIMI_BASE_URL": server.base_url} if server else {}
    env = subprocess_env(**{**settings, **extra})
    if "PYTHONUNBUFFERED" not in extra:
        env.pop("PYTHONUNBUFFERED", None)
    return env


def run_kimi(
    env: dict[str, str], *args: str, input: str | None = None, timeout: float = 30
) -> subprocess.CompletedProcess[str]:
    """``python -m kimi ARGS`` to completion, output captured as text; stdin is `input`,
    or empty, so a command reading it never waits on the terminal running the tests."""
    return subprocess.run(
        [PYTHON, "-m", "kimi", *args], env=env, capture_output=True, text=True,
        input=input if input is not None else "", timeout=timeout,
    )


def assert_one_line_message(done: subprocess.CompletedProcess[str], status: int) -> str:
    """The command failed with `status` and said why in one ``kimi: `` line on stderr."""
    assert done.returncode == status, done.stderr
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("kimi: "), done.stderr
    return lines[0]
