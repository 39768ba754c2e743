"""CLI: ``python -m kimi.testing`` runs the local server until SIGTERM or SIGINT.

Prints one line ``KIMI_TESTING_URL=http://127.0.0.1:PORT/v1`` (flushed) once it serves,
so a parent process (a benchmark, a demo) can read the address. Loopback hosts only.
"""

from __future__ import annotations

import argparse
import signal
import sys
import time
from types import FrameType

from ._replies import Reply
from ._server import KimiServer, loopback_address


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m kimi.testing",
        description="Serve a local Kimi-compatible API until killed.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="loopback address (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=0, help="port (default 0: pick a free one)")
    parser.add_argument(
        "--api-key",
        default="sk-test",
        help="key required as 'Authorization: Bearer KEY' (default sk-test; '' disables the check)",
    )
    parser.add_argument(
        "--delay", type=float, default=0.02, help="seconds between events of the default reply"
    )
    parser.add_argument(
        "--bulk", type=int, metavar="N", help="default reply: a bulk stream of N content chunks"
    )
    parser.add_argument(
        "--text", default="tok ", help="content of each bulk chunk (default 'tok ')"
    )
    parser.add_argument(
        "--latency",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="service time waited before each reply starts (default 0)",
    )
    return parser


def _terminate(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(0)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        loopback_address(args.host)
    except ValueError as exc:
        print(f"python -m kimi.testing: {exc}", file=sys.stderr)
        return 2
    if args.bulk is not None and args.bulk < 0:
        print("python -m kimi.testing: --bulk must be >= 0", file=sys.stderr)
        return 2
    if not 0 <= args.latency < float("inf"):
        print("python -m kimi.testing: --latency must be a number of seconds >= 0", file=sys.stderr)
        return 2
    default = Reply.bulk(args.bulk, text=args.text) if args.bulk is not None else None
    server = KimiServer(
        api_key=args.api_key or None,
        host=args.host,
        port=args.port,
        delay=args.delay,
        default=default,
        latency=args.latency,
    )
    signal.signal(signal.SIGTERM, _terminate)
    try:
        server.start()
        print(f"KIMI_TESTING_URL={server.base_url}", flush=True)
        while True:
            time.sleep(3600)
    except (KeyboardInterrupt, SystemExit):
        pass
    finally:
        server.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
