"""One connection of the local server: read a request, answer it, again while it stays alive.

A coroutine on the serving loop (`_loop.py`); every await lets the other connections run.
Each request counts as in flight from its head read to its reply written, and waits the
server's latency before its reply starts. Reading is `_request.py`, deciding `_routes.py`,
writing `_response.py`.
"""

from __future__ import annotations

import asyncio
import traceback
from urllib.parse import urlsplit

from ._plan import Plan, error_plan, invalid_plan
from ._request import BadFraming, BadRequest, Request, body_pieces, read_body, read_head
from ._response import CONTINUE, refusal, send
from ._gateways import gateway_route
from ._routes import route
from ._state import RecordedRequest, ServerState
from ._upload import is_upload, upload_plan
from ._validation import NO_JSON, parse_json

METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE"})


async def serve_connection(
    state: ServerState, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> None:
    """Answer requests on one connection until either side ends it, then close it.

    A client hanging up is expected and ends quietly; any other failure is printed."""
    try:
        while await _exchange(state, reader, writer):
            pass
    except OSError:
        pass
    except Exception:
        traceback.print_exc()
    finally:
        writer.close()


async def _exchange(
    state: ServerState, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> bool:
    """One request and its answer; True if the connection stays open for another."""
    try:
        request = await read_head(reader)
    except BadRequest as refused:
        writer.write(refusal(refused))
        await writer.drain()
        return False
    if request is None:
        return False
    if request.expects_continue:
        writer.write(CONTINUE)
        await writer.drain()
    if request.method not in METHODS:
        unsupported = f"Unsupported method ({request.method!r})"
        writer.write(refusal(BadRequest(501, unsupported, method=request.method)))
        await writer.drain()
        return False
    state.begin_request()
    try:
        return await _answer(state, request, reader, writer)
    finally:
        state.end_request()


async def _answer(
    state: ServerState,
    request: Request,
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
) -> bool:
    """Read the body, record, route, wait the latency, write; a 500 if deciding fails."""
    try:
        plan, keep_alive = await _decide(state, request, reader)
    except Exception:
        failed = error_plan(500, "server_error", "kimi.testing: handler failed")
        await send(failed, request, reader, writer)
        raise
    latency = state.latency
    if latency > 0:
        await asyncio.sleep(latency)
    return await send(plan, request, reader, writer) and keep_alive


async def _decide(
    state: ServerState, request: Request, reader: asyncio.StreamReader
) -> tuple[Plan, bool]:
    """The Plan for `request`, and whether its framing lets the connection go on.

    An upload's body streams to the file store and is recorded as b""; any other body
    is read whole, recorded and routed."""
    target = urlsplit(request.path)
    headers = request.headers.recorded()
    try:
        if is_upload(request.method, target.path):
            state.record(RecordedRequest(request.method, request.path, headers, b"", None))
            return await upload_plan(state, headers, body_pieces(reader, request)), True
        body = await read_body(reader, request)
    except BadFraming:
        return invalid_plan("Invalid request: bad body framing"), False
    parsed = parse_json(body)
    json_value = None if parsed is NO_JSON else parsed
    state.record(RecordedRequest(request.method, request.path, headers, body, json_value))
    answer = route if state.gateway is None else gateway_route
    return answer(state, request.method, target.path, parsed, headers, target.query), True
