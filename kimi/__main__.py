"""The kimi command line: python -m kimi chat|models|balance|demo.

    python -m kimi chat "Why is the sky blue?" [--model M] [--system S]
    python -m kimi models
    python -m kimi balance
    python -m kimi demo      # the local kimi.testing server without a key

Reasoning is shown dimmed before the answer when stdout is a terminal.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any, Sequence, TextIO

DEFAULT_MODEL = "kimi-k2.6"
DEMO_PROMPT = "In two sentences: what makes streaming responses feel fast?"
DIM, RESET = "\033[2m", "\033[0m"


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


def _cmd_chat(args: argparse.Namespace) -> int:
    import kimi

    client = kimi.Kimi()
    _stream_chat(client, args.model, _messages(args.prompt, args.system), sys.stdout)
    return 0


def _cmd_models(args: argparse.Namespace) -> int:
    import kimi

    for model in kimi.Kimi().models.list():
        context = model.context_length
        extra = f"  context {context}" if context else ""
        print(f"{model.id}{extra}")
    return 0


def _cmd_balance(args: argparse.Namespace) -> int:
    import kimi

    balance = kimi.Kimi().users.balance()
    print(f"available {balance.available_balance}")
    print(f"voucher   {balance.voucher_balance}")
    print(f"cash      {balance.cash_balance}")
    return 0


def _cmd_demo(args: argparse.Namespace) -> int:
    import kimi

    messages = _messages(args.prompt, None)
    if os.environ.get("MOONSHOT_API_KEY"):
        _stream_chat(kimi.Kimi(), args.model, messages, sys.stdout)
        return 0
    from kimi.testing import KimiServer

    print("No MOONSHOT_API_KEY set: answering from kimi.testing, the embedded local Kimi-compatible server.")
    with KimiServer(api_key="sk-demo") as server:
        client = kimi.Kimi(api_key="sk-demo", base_url=server.base_url)
        _stream_chat(client, args.model, messages, sys.stdout)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m kimi", description="Talk to Kimi from the terminal.")
    sub = parser.add_subparsers(dest="command", required=True)
    model_default = os.environ.get("KIMI_MODEL", DEFAULT_MODEL)

    chat = sub.add_parser("chat", help="stream an answer to a prompt")
    chat.add_argument("prompt")
    chat.add_argument("--model", default=model_default)
    chat.add_argument("--system", help="a system message")
    chat.set_defaults(run=_cmd_chat)

    sub.add_parser("models", help="list the models").set_defaults(run=_cmd_models)
    sub.add_parser("balance", help="show the account balance").set_defaults(run=_cmd_balance)

    demo = sub.add_parser("demo", help="stream a demo answer (local server without MOONSHOT_API_KEY)")
    demo.add_argument("prompt", nargs="?", default=DEMO_PROMPT)
    demo.add_argument("--model", default=model_default)
    demo.set_defaults(run=_cmd_demo)

    args = parser.parse_args(argv)
    from kimi import KimiError

    try:
        return args.run(args)
    except KimiError as exc:
        print(f"\nkimi: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\nkimi: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
