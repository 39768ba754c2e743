"""The package as it ships and as a fresh checkout sees it.

- An unbuilt checkout (a copy of kimi/ without the compiled extension): kimi.testing
  imports and serves, client names raise an ImportError that says how to build, and the
  CLI says so in one line.
- The sdist: it holds every tracked source, test, vector and benchmark file (so `make test`
  runs in it unpacked) and nothing built.
Every check runs a real child process; nothing here imports the copies in-process.
"""

from __future__ import annotations

import shutil
import subprocess
import sysconfig
import tarfile
from pathlib import Path, PurePosixPath

import pytest
from conftest import PYTHON, REPO

EXTENSION_SUFFIX = sysconfig.get_config_var("EXT_SUFFIX") or ".so"
#: Tracked files the sdist must carry: everything under these folders, and these files.
SDIST_FOLDERS = ("tests/", "benchmarks/", "ext/", "kimi/")
SDIST_FILES = ("Makefile", "README.md", "pyproject.toml", "setup.py", "MANIFEST.in", ".ci/run")
#: What setuptools adds to every sdist: metadata, not built code.
SDIST_METADATA = ("PKG-INFO", "setup.cfg")
BUILT_SUFFIXES = (".so", ".o", ".pyc", ".pyo")
BUILT_FOLDERS = ("__pycache__", ".venv", "bin", "build")


# -- an unbuilt checkout ------------------------------------------------------------------


@pytest.fixture
def unbuilt(tmp_path: Path) -> Path:
    """A directory holding a copy of kimi/ without any compiled extension."""
    shutil.copytree(
        REPO / "kimi", tmp_path / "kimi", ignore=shutil.ignore_patterns("*.so", "__pycache__")
    )
    assert not list((tmp_path / "kimi").rglob("*.so"))
    return tmp_path


def run_unbuilt(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run a child Python that sees only `root` and the standard library (-S: no site, so
    neither the venv's packages nor the checkout's .pth are on its path)."""
    return subprocess.run(
        [PYTHON, "-S", *args],
        cwd=root,
        env={"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
    )


SERVE_FROM_UNBUILT = """
import http.client, json, sys
import kimi.testing
from kimi.testing import KimiServer, Reply

assert kimi.testing.__file__.startswith(sys.argv[1]), kimi.testing.__file__
with KimiServer(api_key="sk-unbuilt", delay=0) as server:
    server.script(Reply.chat("served without the extension"))
    conn = http.client.HTTPConnection(server.host, server.port, timeout=10)
    body = {"model": "kimi-k2.6", "messages": [{"role": "user", "content": "hi"}]}
    conn.request("POST", "/v1/chat/completions", json.dumps(body),
                 {"Authorization": "Bearer sk-unbuilt"})
    reply = json.loads(conn.getresponse().read())
print(reply["choices"][0]["message"]["content"])
print("kimi._core" in sys.modules)
"""


def test_unbuilt_checkout_imports_kimi_testing_and_serves_a_reply(unbuilt: Path) -> None:
    done = run_unbuilt(unbuilt, "-c", SERVE_FROM_UNBUILT, str(unbuilt))
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["served without the extension", "False"]


CLIENT_NAMES_FROM_UNBUILT = """
import kimi
print(kimi.__version__)
for get in (lambda: kimi.Kimi, lambda: kimi.StreamError):
    try:
        get()
    except ImportError as exc:
        print(exc)
try:
    from kimi import Kimi
except ImportError as exc:
    print(type(exc).__name__, exc.name)
print(hasattr(kimi, "no_such_name"))
"""


def test_unbuilt_checkout_client_names_raise_import_error_saying_how_to_build(
    unbuilt: Path,
) -> None:
    done = run_unbuilt(unbuilt, "-c", CLIENT_NAMES_FROM_UNBUILT)
    assert done.returncode == 0, done.stderr
    version, kimi_error, stream_error, from_import, has_other = done.stdout.splitlines()
    assert version == "0.1.0"
    assert kimi_error == stream_error
    assert kimi_error.startswith("kimi: the C extension kimi._core is not built: ")
    for needle in ("make build", "pip install .", "libcurl4-openssl-dev libcjson-dev pkg-config"):
        assert needle in kimi_error
    assert "circular" not in kimi_error
    assert from_import == "ImportError kimi._core"
    assert has_other == "False"


PRINT_KIMI_IMPORT_ERROR = """
import kimi
try:
    kimi.Kimi
except ImportError as exc:
    print(exc)
"""


def test_extension_that_does_not_load_is_named_with_the_loader_reason(unbuilt: Path) -> None:
    (unbuilt / "kimi" / f"_core{EXTENSION_SUFFIX}").write_bytes(b"not an ELF file")
    done = run_unbuilt(unbuilt, "-c", PRINT_KIMI_IMPORT_ERROR)
    assert done.returncode == 0, done.stderr
    message = done.stdout.strip()
    assert message.startswith("kimi: the C extension kimi._core does not load (")
    assert f"_core{EXTENSION_SUFFIX}" in message and "make build" in message


def test_unbuilt_checkout_cli_says_how_to_build_in_one_line(unbuilt: Path) -> None:
    done = run_unbuilt(unbuilt, "-m", "kimi", "models")
    assert done.returncode == 1 and done.stdout == ""
    assert "Traceback" not in done.stderr
    (line,) = done.stderr.splitlines()
    assert line.startswith("kimi: the C extension kimi._core is not built: ")
    assert "make build" in line and "pip install ." in line


# -- the sdist ------------------------------------------------------------------------------


def tracked_files() -> list[str]:
    """`git ls-files` of the checkout; skips the test outside a git checkout (an sdist)."""
    try:
        done = subprocess.run(
            ["git", "-C", str(REPO), "ls-files"], capture_output=True, text=True, timeout=60
        )
    except FileNotFoundError:
        pytest.skip("git is not installed: the sdist is compared with `git ls-files`")
    if done.returncode != 0:
        pytest.skip("not a git checkout (an unpacked sdist?): nothing to compare the sdist with")
    return done.stdout.splitlines()


def sdist_members(out: Path) -> set[str]:
    """Build the sdist into `out` (metadata there too, so the checkout stays untouched) and
    return its file names without the leading ``kimi-<version>/``."""
    command = [PYTHON, "setup.py", "-q", "egg_info", "--egg-base", str(out)]
    command += ["sdist", "-d", str(out)]
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    (archive,) = out.glob("kimi-*.tar.gz")
    with tarfile.open(archive) as tar:
        names = [m.name for m in tar.getmembers() if not m.isdir()]
    return {str(PurePosixPath(*PurePosixPath(name).parts[1:])) for name in names}


def is_built(name: str) -> bool:
    """Whether a path names a build product rather than a source."""
    path = PurePosixPath(name)
    return path.suffix in BUILT_SUFFIXES or any(p in BUILT_FOLDERS for p in path.parts[:-1])


def test_sdist_holds_every_tracked_source_and_nothing_built(tmp_path: Path) -> None:
    tracked = tracked_files()
    assert list(REPO.glob(f"kimi/*{EXTENSION_SUFFIX}")), "build first: the exclusion is the point"
    members = sdist_members(tmp_path)
    wanted = {f for f in tracked if f.startswith(SDIST_FOLDERS) or f in SDIST_FILES}
    assert {"tests/conftest.py", "tests/vectors/README.md", "benchmarks/__main__.py"} <= wanted
    assert sorted(wanted - members) == []
    assert sorted(m for m in members if is_built(m)) == []
    assert sorted(members - set(tracked) - set(SDIST_METADATA)) == []
