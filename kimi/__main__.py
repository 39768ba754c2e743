"""The kimi command line (also ``python -m kimi``): chat, models, balance, demo, and the
platform's files, batches and token counts.

    kimi chat "Why is the sky blue?" [--model M] [--system S] [--provider P] [--max-tokens N]
                                     [--continue-on-length N] [--allow-http]
    kimi models                     # kimi models check ID: listed? its context length
    kimi balance
    kimi tokens [--model M] TEXT... # or the text on stdin
    kimi files upload|list|extract|content|delete ...
    kimi batch submit|status|wait|results ...
    kimi demo                       # the local kimi.testing server without a key

Reasoning is shown dimmed before the answer when stdout is a terminal. Settings come from
the environment (MOONSHOT_API_KEY, KIMI_BASE_URL, KIMI_MODEL, KIMI_ALLOW_HTTP). Exit
status: 0 done, 1 the request failed (or no key, or the extension is not built, or a
batch ended failed, expired or cancelled), 2 a setting or argument the command cannot
use (a missing input file, a malformed batch line), 130 interrupted, 141 its reader went
away (``kimi chat ... | head``), quietly, as a tool killed by SIGPIPE would.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any, Sequence, TextIO

from ._cli import (
    EXIT_BROKEN_PIPE,
    EXIT_CONFIG,
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    CommandError,
    fail,
    make_client,
)
from ._cli_platform import add_platform_commands

DEFAULT_MODEL = "kimi-k2.6"
DEMO_PROMPT = "In two sentences: what makes streaming responses feel fast?"
DIM, RESET = "\033[2m", "\033[0m"


def program_name(argv0: str) -> str:
    """``python -m kimi`` when run as a module, else the script's own name (``kimi``)."""
    name = os.path.basename(argv0)
    return "python -m kimi" if name in ("__main__.py", "") else name


def _stream_chat(
    client: Any, model: str, messages: list[dict[str, str]], out: TextIO, **options: Any
) -> None:
    """Print a streamed reply; reasoning dimmed on a terminal only.  A reply cut by its
    token budget is said on stderr, in the command's own words."""
    import warnings

    with warnings.catch_warnings(record=True) as told:
        warnings.simplefilter("always", _truncated_warning())
        _print_stream(client.chat.completions.create(model=model, messages=messages, stream=True, **options), out)
    for warning in told:
        print(f"kimi: {warning.message}", file=sys.stderr)


def _truncated_warning() -> type[Warning]:
    from ._exceptions import TruncatedWarning

    return TruncatedWarning


def _print_stream(stream: Any, out: TextIO) -> None:
    tty = out.isatty()
    in_reasoning = False
    with stream:
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


# -- commands -----------------------------------------------------------------------------


def _cmd_chat(args: argparse.Namespace) -> int:
    options: dict[str, Any] = {}
    if args.max_tokens is not None:
        options["max_completion_tokens"] = args.max_tokens
    if args.continue_on_length:
        options["continue_on_length"] = args.continue_on_length
    _stream_chat(make_client(args), args.model, _messages(args.prompt, args.system), sys.stdout, **options)
    return 0


def _count(text: str, least: int = 0) -> int:
    """An argument that is a whole number >= least."""
    try:
        value = int(text)
    except ValueError:
        value = least - 1
    if value < least:
        raise argparse.ArgumentTypeError(f"expected a whole number >= {least}, got {text!r}")
    return value


def _budget(text: str) -> int:
    return _count(text, 1)


def _model_line(model: Any) -> str:
    """``kimi-k2.6  context 262144``, the context left out when the listing has none."""
    context = model.context_length
    return f"{model.id}  context {context}" if context else model.id


def _cmd_models(args: argparse.Namespace) -> int:
    for model in make_client(args).models.list():
        print(_model_line(model))
    return 0


def _cmd_models_check(args: argparse.Namespace) -> int:
    # ModelNotFoundError (a KimiError: exit 1) names the listed ids closest to a typo.
    print(_model_line(make_client(args).models.check(args.id)))
    return 0


def _cmd_tokens(args: argparse.Namespace) -> int:
    client = make_client(args)  # a missing key is said before stdin is waited on
    text = " ".join(args.text) if args.text else sys.stdin.read()
    if not text.strip():
        raise CommandError("no text to count: give TEXT, or pipe it on stdin", EXIT_CONFIG)
    count = client.tokenizers.estimate_token_count(model=args.model, messages=_messages(text, None))
    print(count.total_tokens)
    return 0


def _cmd_balance(args: argparse.Namespace) -> int:
    balance = make_client(args).users.balance()
    print(f"available {balance.available_balance}")
    print(f"voucher   {balance.voucher_balance}")
    print(f"cash      {balance.cash_balance}")
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    import kimi

    messages = _messages(args.prompt, None)
    if os.environ.get("MOONSHOT_API_KEY"):
        _stream_chat(make_client(args), args.model, messages, sys.stdout)
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
    chat.add_argument("--provider", help="the route (kimi.providers: openrouter, cloudflare, ...); "
                      "its key comes from its own variable (OPENROUTER_API_KEY, ...)")
    chat.add_argument("--max-tokens", type=_budget, metavar="N", help="max_completion_tokens of the reply")
    chat.add_argument(
        "--continue-on-length", type=_count, default=0, metavar="N",
        help="continue a reply cut by its token budget, up to N times (Partial Mode)",
    )
    chat.set_defaults(run=_cmd_chat)

    models = sub.add_parser(
        "models",
        parents=[common],
        help="list the models (models check ID: is it listed?)",
        description="Without a command: the models this key may use, one a line with its "
        "context length. `models check ID`: that model's line, or exit 1 naming the "
        "listed ids closest to ID.",
    )
    models.set_defaults(run=_cmd_models)
    checks = models.add_subparsers(dest="models_command", metavar="check")
    check = checks.add_parser(
        "check", parents=[common], help="print the model's id and context length if listed"
    )
    check.add_argument("id", metavar="ID")
    check.set_defaults(run=_cmd_models_check)
    balance = sub.add_parser("balance", parents=[common], help="show the account balance")
    balance.set_defaults(run=_cmd_balance)

    tokens = sub.add_parser(
        "tokens", parents=[common], help="the platform's token count of a prompt"
    )
    tokens.add_argument("text", nargs="*", metavar="TEXT", help="the prompt (default: stdin)")
    tokens.add_argument("--model", default=model_default)
    tokens.set_defaults(run=_cmd_tokens)
    add_platform_commands(sub, common)

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


def _run(args: argparse.Namespace) -> int:
    """Run the chosen command; errors from the kimi package become one stderr line."""
    try:
        from kimi import KimiError
    except ImportError as exc:  # an unbuilt checkout: the message says how to build
        return fail(str(exc).removeprefix("kimi: "), EXIT_FAILED)
    try:
        return args.run(args)
    except KimiError as exc:
        return fail(str(exc), EXIT_FAILED, newline=True)


def main(argv: Sequence[str] | None = None) -> int:
    """The console script's entry point: parse `argv`, run, return the exit status."""
    args = _parser(program_name(sys.argv[0])).parse_args(argv)
    try:
        status = _run(args)
        sys.stdout.flush()  # block-buffered output meets a reader that left here
        return status
    except CommandError as exc:
        return fail(str(exc), exc.status)
    except KeyboardInterrupt:
        return fail("interrupted", EXIT_INTERRUPTED, newline=True)
    except BrokenPipeError:
        _silence_stdout()
        return EXIT_BROKEN_PIPE


if __name__ == "__main__":
    sys.exit(main())
