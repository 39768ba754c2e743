"""What every ``kimi`` command shares: the exit statuses, CommandError, the client the
environment describes, and where output goes.

Not the commands themselves (``__main__.py``, ``_cli_platform.py``) nor the parser. A
module of its own so both command modules raise the one CommandError that ``main``
catches: ``python -m kimi`` runs ``__main__.py`` as ``__main__``, so a class defined there
and imported back as ``kimi.__main__`` would be a second, different class.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
from typing import IO, Any, Iterator

EXIT_FAILED, EXIT_CONFIG, EXIT_INTERRUPTED = 1, 2, 130
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE: what a shell reports for a writer whose reader left
_TRUE_WORDS = ("1", "true", "yes", "on")


class CommandError(Exception):
    """Why the command cannot go on; `main` prints ``kimi: <message>`` and exits `status`."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


# -- the client the environment describes ----------------------------------------------------


def _allows_http(args: argparse.Namespace) -> bool:
    """--allow-http, or KIMI_ALLOW_HTTP set to 1/true/yes/on."""
    env = os.environ.get("KIMI_ALLOW_HTTP", "").strip().lower()
    return bool(args.allow_http) or env in _TRUE_WORDS


def _without_client_prefix(message: str) -> str:
    """A kimi.Kimi message without its ``Kimi: `` prefix (the CLI prints ``kimi: ``)."""
    return message.removeprefix("Kimi: ")


def _base_url_problem(exc: Exception, allow_http: bool) -> CommandError:
    """The one-line complaint about a KIMI_BASE_URL that kimi.Kimi refused."""
    from urllib.parse import urlsplit

    message = f"KIMI_BASE_URL: {_without_client_prefix(str(exc))}"
    url = urlsplit(os.environ.get("KIMI_BASE_URL", ""))
    if not allow_http and url.scheme == "http" and url.hostname:
        message += " (on the command line: --allow-http, or KIMI_ALLOW_HTTP=1)"
    return CommandError(message, EXIT_CONFIG)


def make_client(args: argparse.Namespace) -> Any:
    """kimi.Kimi from MOONSHOT_API_KEY and KIMI_BASE_URL (with ``--provider``, that
    route's key variable; KIMI_BASE_URL still overrides its URL), or a CommandError saying
    which setting is missing or unusable. The key is checked here, before the client, so
    the message names the variable to set."""
    import kimi

    provider = getattr(args, "provider", None)
    options: dict[str, Any] = {}
    key_env = "MOONSHOT_API_KEY"
    if provider is not None:
        try:
            key_env = kimi.providers[provider].key_env
        except KeyError:
            known = ", ".join(sorted(kimi.providers))
            raise CommandError(f"--provider {provider}: unknown; known: {known}", EXIT_CONFIG) from None
        options = {"provider": provider, "base_url": os.environ.get("KIMI_BASE_URL") or None}
    if not os.environ.get(key_env):
        raise CommandError(
            f"no API key: set {key_env}, or try `{args.prog} demo`, which needs none",
            EXIT_FAILED,
        )
    allow_http = _allows_http(args)
    try:
        return kimi.Kimi(allow_http=allow_http, **options)
    except ValueError as exc:  # only the base URL can be invalid: nothing else is passed
        raise _base_url_problem(exc, allow_http) from None
    except kimi.KimiError as exc:
        raise CommandError(_without_client_prefix(str(exc)), EXIT_FAILED) from None


@contextlib.contextmanager
def refused_input() -> Iterator[None]:
    """Around a library call that checks what it was given before sending it (a path to
    upload, batch requests): its ValueError, TypeError or OSError means an argument the
    command cannot use, so exit 2 with the library's message, not a traceback. Network
    failures are KimiError, which pass through."""
    try:
        yield
    except (ValueError, TypeError, OSError) as exc:
        raise CommandError(str(exc), EXIT_CONFIG) from None


# -- where output goes ------------------------------------------------------------------------


def print_json(data: Any) -> None:
    """`data` as indented JSON on stdout, non-ASCII kept (for reading, and for jq)."""
    print(json.dumps(data, ensure_ascii=False, indent=2))


def print_text(text: str) -> None:
    """`text` on stdout ending in exactly one newline of its own, not a second one."""
    sys.stdout.write(text if text.endswith("\n") else text + "\n")


def opened(path: str, mode: str) -> IO[Any]:
    """The file at `path` opened with `mode` (text as UTF-8), or a CommandError naming it:
    a path that cannot be opened is an argument the command cannot use (exit 2)."""
    try:
        return open(path, mode) if "b" in mode else open(path, mode, encoding="utf-8")
    except OSError as exc:
        raise CommandError(f"{path}: {exc.strerror or exc}", EXIT_CONFIG) from None


@contextlib.contextmanager
def output(path: str | None, binary: bool = False) -> Iterator[IO[Any]]:
    """stdout (no `path`, or ``-``), else the file at `path`, created or truncated. Enter
    it once what goes in it has been fetched, so a failed request leaves an old file
    whole."""
    if path is None or path == "-":
        if binary:
            sys.stdout.flush()  # text printed before goes first
        yield sys.stdout.buffer if binary else sys.stdout
        return
    with opened(path, "wb" if binary else "w") as out:
        yield out


def fail(message: str, status: int, newline: bool = False) -> int:
    """Print ``kimi: <message>`` on stderr (after a newline if output may be mid-line)."""
    start = "\n" if newline else ""
    print(f"{start}kimi: {message}", file=sys.stderr)
    return status
