"""Writing one response to an asyncio stream: a Plan's head, its Content-Length body or its
pieces as hand-framed HTTP chunks, then its ending (terminator, abort or stall).

Also the short HTML refusal of a malformed request, worded as http.server words it.
Nothing here reads a request or picks a reply; see `_request.py` and `_routes.py`.
"""

from __future__ import annotations

import asyncio
import html
from collections.abc import Iterable
from email.utils import formatdate
from http import HTTPStatus

from ._plan import Plan
from ._request import BadRequest, Request

SERVER = "kimi-testing/1"
CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
_STATUSES = {status.value: status for status in HTTPStatus}
_REFUSAL_PAGE = """<!DOCTYPE HTML>
<html lang="en">
    <head>
        <meta charset="utf-8">
        <title>Error response</title>
    </head>
    <body>
        <h1>Error response</h1>
        <p>Error code: %(code)d</p>
        <p>Message: %(message)s.</p>
        <p>Error code explanation: %(code)s - %(explain)s.</p>
    </body>
</html>
"""


def _head(status: int, headers: Iterable[tuple[str, str]], reason: str | None = None) -> bytes:
    """Status line, Server and Date, then `headers`; latin-1 as HTTP/1.1 heads are."""
    known = _STATUSES.get(status)
    phrase = reason if reason is not None else known.phrase if known else ""
    lines = [f"HTTP/1.1 {status} {phrase}", f"Server: {SERVER}", f"Date: {formatdate(usegmt=True)}"]
    lines += [f"{name}: {value}" for name, value in headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def refusal(refused: BadRequest) -> bytes:
    """The whole response refusing a malformed request; the connection closes after it."""
    known = _STATUSES.get(refused.status)
    message = refused.reason or (known.phrase if known else "???")
    explain = refused.explain or (known.description if known else "???")
    fields = {
        "code": refused.status,
        "message": html.escape(message, quote=False),
        "explain": html.escape(explain, quote=False),
    }
    body = (_REFUSAL_PAGE % fields).encode("utf-8", "replace")
    headers = [
        ("Connection", "close"),
        ("Content-Type", "text/html;charset=utf-8"),
        ("Content-Length", str(len(body))),
    ]
    head = _head(refused.status, headers, message)
    return head if refused.method == "HEAD" else head + body


def _keeps_alive(keep_alive: bool, headers: Iterable[tuple[str, str]]) -> bool:
    """A reply's own Connection header overrides what the request asked for."""
    for name, value in headers:
        if name.lower() == "connection" and value.lower() in ("close", "keep-alive"):
            keep_alive = value.lower() == "keep-alive"
    return keep_alive


async def _stall(reader: asyncio.StreamReader) -> None:
    """Send nothing until the client hangs up (server close cancels the wait)."""
    while await reader.read(65536):
        pass


async def _write(writer: asyncio.StreamWriter, data: bytes) -> None:
    writer.write(data)
    await writer.drain()


async def send(
    plan: Plan, request: Request, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> bool:
    """Write `plan` as the answer to `request`; True if the connection may carry another.

    HTTP/1.0 has no chunked encoding, so its streams go bare and end by closing;
    HTTP/0.9 gets the body alone, with no head."""
    if not plan.respond:
        if plan.ending == "stall":
            await _stall(reader)
        return False
    keep_alive = _keeps_alive(request.keep_alive, plan.headers)
    headed = request.version != "HTTP/0.9"
    if plan.body is not None:
        length = ("Content-Length", str(len(plan.body)))
        head = _head(plan.status, [*plan.headers, length]) if headed else b""
        await _write(writer, head + plan.body)
        return keep_alive
    framed = request.version not in ("HTTP/1.0", "HTTP/0.9")
    if headed:
        framing = [("Transfer-Encoding", "chunked")] if framed else []
        await _write(writer, _head(plan.status, [*plan.headers, *framing]))
    sent = 0
    for piece in plan.pieces:
        if plan.limit is not None and sent >= plan.limit:
            break
        if sent and plan.delay > 0:
            await asyncio.sleep(plan.delay)
        if piece:
            await _write(writer, b"%x\r\n%s\r\n" % (len(piece), piece) if framed else piece)
        sent += 1
    if plan.ending == "end" and framed:
        await _write(writer, b"0\r\n\r\n")
    if plan.ending == "stall":
        await _stall(reader)
    return plan.ending == "end" and framed and keep_alive
