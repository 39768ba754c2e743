"""Reading one HTTP/1.x request from an asyncio stream: request line, headers, body.

The rules are http.server's (line and header limits, the HTTP/0.9 form, the Connection
and Expect headers, email-style header fields), so clients meet the server they met
before it ran on asyncio. Nothing here writes to the socket or picks a reply.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass

from ._headers import Headers, parse_headers

#: The longest request or header line accepted; the stream's limit must be this.
MAX_LINE = 65536
MAX_HEADERS = 100
_BLANK = (b"\r\n", b"\n", b"")


class BadRequest(Exception):
    """A request refused before it is routed; the connection closes after the refusal.

    `reason` is the status line's phrase and `explain` the page's (None: the status's
    own); `method` is the request's, when it was read (a HEAD refusal has no body)."""

    def __init__(
        self,
        status: int,
        reason: str | None = None,
        explain: str | None = None,
        method: str | None = None,
    ) -> None:
        super().__init__(status, reason)
        self.status = status
        self.reason = reason
        self.explain = explain
        self.method = method


class BadFraming(ValueError):
    """A body whose Content-Length or chunked framing cannot be followed; the connection
    closes after the refusal."""


@dataclass(frozen=True)
class Request:
    """The head of one request; `keep_alive` is what its version and Connection ask for."""

    method: str
    path: str
    version: str
    headers: Headers
    keep_alive: bool
    expects_continue: bool


async def _readline(reader: asyncio.StreamReader) -> bytes:
    """A file's ``readline(MAX_LINE + 1)``: the line, the first MAX_LINE + 1 bytes of a
    longer one, or whatever is left when the client stops sending."""
    try:
        return await reader.readuntil(b"\n")
    except asyncio.LimitOverrunError:
        return await reader.read(MAX_LINE + 1)
    except asyncio.IncompleteReadError as exc:
        return exc.partial


def _version_number(version: str) -> tuple[int, int]:
    """(major, minor) of ``HTTP/x.y``; BadRequest 400 for anything else."""
    try:
        if not version.startswith("HTTP/"):
            raise ValueError
        parts = version.split("/", 1)[1].split(".")
        if len(parts) != 2 or not all(p.isdigit() and len(p) <= 10 for p in parts):
            raise ValueError
        return int(parts[0]), int(parts[1])
    except ValueError:
        raise BadRequest(400, f"Bad request version ({version!r})") from None


async def _read_headers(reader: asyncio.StreamReader, method: str) -> Headers:
    lines: list[bytes] = []
    while True:
        line = await _readline(reader)
        if len(line) > MAX_LINE:
            explain = f"got more than {MAX_LINE} bytes when reading header line"
            raise BadRequest(431, "Line too long", explain, method)
        lines.append(line)
        if len(lines) > MAX_HEADERS:
            explain = f"got more than {MAX_HEADERS} headers"
            raise BadRequest(431, "Too many headers", explain, method)
        if line in _BLANK:
            return parse_headers(lines)


async def read_head(reader: asyncio.StreamReader) -> Request | None:
    """The next request's head; None when the client closed (or sent a blank line).

    Raises BadRequest for a head the server refuses (414, 400, 505, 431)."""
    raw = await _readline(reader)
    if len(raw) > MAX_LINE:
        raise BadRequest(414)
    line = raw.decode("iso-8859-1").rstrip("\r\n")
    words = line.split()
    if not words:
        return None
    version, keep_alive = "HTTP/0.9", False
    if len(words) >= 3:
        version = words[-1]
        number = _version_number(version)
        keep_alive = number >= (1, 1)
        if number >= (2, 0):
            raise BadRequest(505, f"Invalid HTTP version ({version[5:]})")
    if not 2 <= len(words) <= 3:
        raise BadRequest(400, f"Bad request syntax ({line!r})")
    method, path = words[:2]
    if len(words) == 2:
        keep_alive = False
        if method != "GET":
            raise BadRequest(400, f"Bad HTTP/0.9 request type ({method!r})")
    if path.startswith("//"):
        path = "/" + path.lstrip("/")  # as http.server: never an open redirect
    headers = await _read_headers(reader, method)
    connection = headers.get("Connection").lower()
    if connection == "close":
        keep_alive = False
    elif connection == "keep-alive":
        keep_alive = True
    expects_continue = (
        headers.get("Expect").lower() == "100-continue" and version >= "HTTP/1.1"
    )
    return Request(method, path, version, headers, keep_alive, expects_continue)


#: The most bytes of a body read at once: a streamed body is held a piece at a time.
BODY_PIECE = 65536


async def _counted_pieces(reader: asyncio.StreamReader, length: int) -> AsyncIterator[bytes]:
    """The next `length` bytes in pieces of at most BODY_PIECE; fewer if the client stops."""
    while length > 0:
        piece = await reader.read(min(length, BODY_PIECE))
        if not piece:
            return
        length -= len(piece)
        yield piece


async def _chunked_pieces(reader: asyncio.StreamReader) -> AsyncIterator[bytes]:
    """A chunked request body (trailers are read and dropped), a chunk's bytes in pieces."""
    while True:
        size = int((await _readline(reader)).split(b";")[0].strip(), 16)
        if size < 0:
            raise ValueError("negative chunk size")
        if size == 0:
            while await _readline(reader) not in _BLANK:
                pass
            return
        async for piece in _counted_pieces(reader, size):
            yield piece
        await _readline(reader)


async def body_pieces(reader: asyncio.StreamReader, request: Request) -> AsyncIterator[bytes]:
    """The body `request`'s framing announces, in pieces as it arrives, so a large upload
    never sits whole in memory; BadFraming when the framing is unusable.

    A client that stops sending early ends the pieces early, as a file read would."""
    try:
        if "chunked" in request.headers.get("Transfer-Encoding").lower():
            pieces = _chunked_pieces(reader)
        else:
            length = int(request.headers.get("Content-Length") or 0)
            if length < 0:
                raise ValueError("negative Content-Length")
            pieces = _counted_pieces(reader, length)
        async for piece in pieces:
            yield piece
    except ValueError as exc:
        raise BadFraming(str(exc)) from exc


async def read_body(reader: asyncio.StreamReader, request: Request) -> bytes:
    """The whole body (see `body_pieces`); for the small JSON bodies of most endpoints."""
    return b"".join([piece async for piece in body_pieces(reader, request)])
