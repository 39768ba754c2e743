"""The kimi command line: ``kimi chat|models|balance|demo`` (also ``python -m kimi``).

    kimi chat "Why is the sky blue?" [--model M] [--system S] [--allow-http]
    kimi models
    kimi balance
    kimi demo      # the local kimi.testing server without a key

Reasoning is shown dimmed before the answer when stdout is a terminal. Settings come from
the environment (MOONSHOT_API_KEY, KIMI_BASE_URL, KIMI_MODEL, KIMI_ALLOW_HTTP). Exit
status: 0 done, 1 the request failed (or no key, or the extension is not built), 2 a
setting or argument the command cannot use, 130 interrupted, 141 its reader went away
(``kimi chat ... | head``), quietly, as a tool killed by SIGPIPE would.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any, Sequence, TextIO

DEFAULT_MODEL = "kimi-k2.6"
DEMO_PROMPT = "In two sentences: what makes streaming responses feel fast?"
DIM, RESET = "\033[2m", "\033[0m"
EXIT_FAILED, EXIT_CONFIG, EXIT_INTERRUPTED = 1, 2, 130
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE: what a shell reports for a writer whose reader left
_TRUE_WORDS = ("1", "true", "yes", "on")


class CommandError(Exception):
    """Why the command cannot start; `main` prints ``kimi: <message>`` and exits `status`."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


def program_name(argv0: str) -> str:
    """``python -m kimi`` when run as a module, else the script's own name (``kimi``)."""
    name = os.path.basename(argv0)
    return "python -m kimi" if name in ("__main__.py", "") else name


def _stream_chat(client: Any, model: str, messages: list[dict[str, str]], out: TextIO) -> None:
    """Print a streamed reply; reasoning dimmed on a terminal only."""
    tty = out.isatty()
    in_reasoning = False
    with client.chat.completions.create(model=model, messages=messages, stream=True) as stream:
        for chunk in stream:
            for choice in chunk.choices or ():
                delta = choice.delta
                if delta is None:
                    continue
                thought = delta.reasoning_content or delta.reasoning
                if thought and tty:
                    if not in_reasoning:
                        out.write(DIM)
                        in_reasoning = True
                    out.write(thought)
                if delta.content:
                    if in_reasoning:
                        out.write(RESET + "\n\n")
                        in_reasoning = False
                    out.write(delta.content)
                out.flush()
    if in_reasoning:
        out.write(RESET)
    out.write("\n")
    out.flush()


def _messages(prompt: str, system: str | None) -> list[dict[str, str]]:
    messages = [{"role": "system", "content": system}] if system else []
    messages.append({"role": "user", "content": prompt})
    return messages


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


def _client(args: argparse.Namespace) -> Any:
    """kimi.Kimi from MOONSHOT_API_KEY and KIMI_BASE_URL, or a CommandError saying which
    setting is missing or unusable. The key is checked here, before the client, so the
    message names the variable to set."""
    import kimi

    if not os.environ.get("MOONSHOT_API_KEY"):
        raise CommandError(
            f"no API key: set MOONSHOT_API_KEY, or try `{args.prog} demo`, which needs none",
            EXIT_FAILED,
        )
    allow_http = _allows_http(args)
    try:
        return kimi.Kimi(allow_http=allow_http)
    except ValueError as exc:  # only the base URL can be invalid: nothing else is passed
        raise _base_url_problem(exc, allow_http) from None
    except kimi.KimiError as exc:
        raise CommandError(_without_client_prefix(str(exc)), EXIT_FAILED) from None


# -- commands -----------------------------------------------------------------------------


def _cmd_chat(args: argparse.Namespace) -> int:
    _stream_chat(_client(args), args.model, _messages(args.prompt, args.system), sys.stdout)
    return 0


def _cmd_models(args: argparse.Namespace) -> int:
    for model in _client(args).models.list():
        context = model.context_length
        extra = f"  context {context}" if context else ""
        print(f"{model.id}{extra}")
    return 0


def _cmd_balance(args: argparse.Namespace) -> int:
    balance = _client(args).users.balance()
    print(f"available {balance.available_balance}")
    print(f"voucher   {balance.voucher_balance}")
    print(f"cash      {balance.cash_balance}")
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    import kimi

    messages = _messages(args.prompt, None)
    if os.environ.get("MOONSHOT_API_KEY"):
        _stream_chat(_client(args), args.model, messages, sys.stdout)
        return 0
    from kimi.testing import KimiServer

    print(
        "No MOONSHOT_API_KEY set: answering from kimi.testing, "
        "the embedded local Kimi-compatible server."
    )
    with KimiServer(api_key="sk-demo") as server:
        client = kimi.Kimi(api_key="sk-demo", base_url=server.base_url)
        _stream_chat(client, args.model, messages, sys.stdout)
    return 0


# -- arguments and outcomes -----------------------------------------------------------------


def _parser(prog: str) -> argparse.ArgumentParser:
    """The argument parser; --allow-http is accepted before or after the command."""
    allow_http_help = (
        "allow plain http:// to a host that is not loopback (a development server you "
        "trust; the key travels unencrypted). Also KIMI_ALLOW_HTTP=1"
    )
    parser = argparse.ArgumentParser(prog=prog, description="Talk to Kimi from the terminal.")
    parser.set_defaults(prog=prog)
    parser.add_argument("--allow-http", action="store_true", help=allow_http_help)
    # SUPPRESS: a command that does not repeat the flag keeps the value given before it.
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--allow-http", action="store_true", default=argparse.SUPPRESS, help=allow_http_help
    )
    sub = parser.add_subparsers(dest="command", required=True)
    model_default = os.environ.get("KIMI_MODEL", DEFAULT_MODEL)

    chat = sub.add_parser("chat", parents=[common], help="stream an answer to a prompt")
    chat.add_argument("prompt")
    chat.add_argument("--model", default=model_default)
    chat.add_argument("--system", help="a system message")
    chat.set_defaults(run=_cmd_chat)

    models = sub.add_parser("models", parents=[common], help="list the models")
    models.set_defaults(run=_cmd_models)
    balance = sub.add_parser("balance", parents=[common], help="show the account balance")
    balance.set_defaults(run=_cmd_balance)

    demo = sub.add_parser(
        "demo",
        parents=[common],
        help="stream a demo answer (local server without MOONSHOT_API_KEY)",
    )
    demo.add_argument("prompt", nargs="?", default=DEMO_PROMPT)
    demo.add_argument("--model", default=model_default)
    demo.set_defaults(run=_cmd_demo)
    return parser


def _silence_stdout() -> None:
    """Point stdout at /dev/null, so the interpreter's final flush into the pipe whose
    reader left does not print "Exception ignored ... BrokenPipeError" at exit."""
    try:
        descriptor = sys.stdout.fileno()
    except (AttributeError, OSError, ValueError):  # not a real file (main() called in-process)
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, descriptor)
    os.close(devnull)


def _fail(message: str, status: int, newline: bool = False) -> int:
    """Print ``kimi: <message>`` on stderr (after a newline if output may be mid-line)."""
    start = "\n" if newline else ""
    print(f"{start}kimi: {message}", file=sys.stderr)
    return status


def _run(args: argparse.Namespace) -> int:
    """Run the chosen command; errors from the kimi package become one stderr line."""
    try:
        from kimi import KimiError
    except ImportError as exc:  # an unbuilt checkout: the message says how to build
        return _fail(str(exc).removeprefix("kimi: "), EXIT_FAILED)
    try:
        return args.run(args)
    except KimiError as exc:
        return _fail(str(exc), EXIT_FAILED, newline=True)


def main(argv: Sequence[str] | None = None) -> int:
    """The console script's entry point: parse `argv`, run, return the exit status."""
    args = _parser(program_name(sys.argv[0])).parse_args(argv)
    try:
        status = _run(args)
        sys.stdout.flush()  # block-buffered output meets a reader that left here
        return status
    except CommandError as exc:
        return _fail(str(exc), exc.status)
    except KeyboardInterrupt:
        return _fail("interrupted", EXIT_INTERRUPTED, newline=True)
    except BrokenPipeError:
        _silence_stdout()
        return EXIT_BROKEN_PIPE


if __name__ == "__main__":
    sys.exit(main())
