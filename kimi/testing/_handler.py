"""The HTTP/1.1 request handler and the loopback server class of `kimi.testing`.

The handler reads and records each request, checks auth, validates chat bodies, picks a
reply (script, then default) and writes its Plan with chunked framing done by hand.
One thread per connection; connections stay alive after a complete reply.
"""

from __future__ import annotations

import json
import select
import socket
import sys
import threading
import traceback
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from io import BufferedIOBase
from socketserver import TCPServer
from typing import Any
from urllib.parse import unquote, urlsplit

from ._fixtures import balance_body, find_model, model_not_found_message, models_body
from ._plan import MAX_CHOICES, Plan, is_choice_count, render
from ._replies import Reply
from ._state import RecordedRequest, ServerState

CHAT_PATH = "/v1/chat/completions"
MODELS_PATH = "/v1/models"
_MAX_LINE = 65536
_NO_JSON = object()


def _error(status: int, type_: str, message: str) -> Plan:
    return render(Reply.error(status, Reply.moonshot_error(type_, message)), None)


def _parse_json(body: bytes) -> Any:
    """The parsed body, or `_NO_JSON` when it is empty or not UTF-8 JSON."""
    if not body.strip():
        return _NO_JSON
    try:
        return json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return _NO_JSON


def _validate_chat(parsed: Any) -> str | None:
    """Why a chat request body is invalid, or None when it is acceptable."""
    if parsed is _NO_JSON:
        return "Invalid request: the request body is not valid JSON"
    if not isinstance(parsed, dict):
        return "Invalid request: the request body must be a JSON object"
    model = parsed.get("model")
    if not isinstance(model, str) or not model:
        return "Invalid request: field 'model' is required"
    messages = parsed.get("messages")
    if not isinstance(messages, list) or not messages:
        return "Invalid request: field 'messages' is required and must be a non-empty array"
    n = parsed.get("n")
    if n is not None and not is_choice_count(n):
        return f"Invalid request: n must be an integer from 1 to {MAX_CHOICES}, got {json.dumps(n)}"
    return None


def _model_plan(model_id: str) -> Plan:
    """GET /v1/models/{id}: the listed model object, or the API's 404."""
    model = find_model(model_id)
    if model is None:
        return _error(404, "resource_not_found_error", model_not_found_message(model_id))
    return render(Reply.json(model), None)


def _read_chunked(rfile: BufferedIOBase) -> bytes:
    """A chunked request body (trailers are read and dropped)."""
    parts: list[bytes] = []
    while True:
        size = int(rfile.readline(_MAX_LINE).split(b";")[0].strip(), 16)
        if size == 0:
            while rfile.readline(_MAX_LINE) not in (b"\r\n", b"\n", b""):
                pass
            return b"".join(parts)
        parts.append(rfile.read(size))
        rfile.readline(_MAX_LINE)


class KimiHandler(BaseHTTPRequestHandler):
    """Answers one connection's requests from the server's `ServerState`."""

    protocol_version = "HTTP/1.1"
    server_version = "kimi-testing/1"
    sys_version = ""
    server: LoopbackHTTPServer

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (base signature)
        """Silence the default per-request logging to stderr."""

    def version_string(self) -> str:
        return self.server_version

    def do_GET(self) -> None:
        self._dispatch()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_GET

    def _dispatch(self) -> None:
        self._started = False
        try:
            self._answer()
        except OSError:
            self.close_connection = True
        except Exception:
            self.close_connection = True
            if not self._started:
                self._write(_error(500, "server_error", "kimi.testing: handler failed"), None)
            raise

    def _answer(self) -> None:
        state = self.server.state
        try:
            body = self._read_body()
        except ValueError:
            self.close_connection = True
            self._write(
                _error(400, "invalid_request_error", "Invalid request: bad body framing"), None
            )
            return
        parsed = _parse_json(body)
        headers: dict[str, str] = {}
        for name, value in self.headers.items():
            key = name.lower()
            headers[key] = f"{headers[key]}, {value}" if key in headers else value
        json_value = None if parsed is _NO_JSON else parsed
        state.record(RecordedRequest(self.command, self.path, headers, body, json_value))
        plan = self._route(state, urlsplit(self.path).path, parsed, headers)
        self._write(plan, state)

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            return _read_chunked(self.rfile)
        length = int(self.headers.get("Content-Length") or 0)
        if length < 0:
            raise ValueError("negative Content-Length")
        return self.rfile.read(length) if length else b""

    def _route(self, state: ServerState, path: str, parsed: Any, headers: dict[str, str]) -> Plan:
        if state.api_key is not None and headers.get("authorization") != f"Bearer {state.api_key}":
            return _error(401, "invalid_authentication_error", "Invalid Authentication")
        request = None if parsed is _NO_JSON else parsed
        if path == CHAT_PATH and self.command == "POST":
            problem = _validate_chat(parsed)
            if problem is not None:
                return _error(400, "invalid_request_error", problem)
            return render(state.take_chat(), request)
        scripted = state.take_for(path)
        if scripted is not None:
            return render(scripted, request)
        if self.command == "GET" and path == MODELS_PATH:
            return render(Reply.json(models_body()), None)
        if self.command == "GET" and path.startswith(MODELS_PATH + "/"):
            return _model_plan(unquote(path[len(MODELS_PATH) + 1 :]))
        if self.command == "GET" and path == "/v1/users/me/balance":
            return render(Reply.json(balance_body()), None)
        return _error(404, "resource_not_found_error", f"Not found: {self.command} {path}")

    # Writing: headers, then a Content-Length body or hand-framed chunks, then the ending.
    def _write(self, plan: Plan, state: ServerState | None) -> None:
        self._started = True
        stop = state.stop if state is not None else threading.Event()
        if not plan.respond:
            if plan.ending == "stall":
                self._stall(stop)
            self.close_connection = True
            return
        self.send_response(plan.status)
        for name, value in plan.headers:
            self.send_header(name, value)
        if plan.body is not None:
            self.send_header("Content-Length", str(len(plan.body)))
            self.end_headers()
            self.wfile.write(plan.body)
            return
        # HTTP/1.0 has no chunked encoding: send the pieces bare and end by closing.
        framed = self.request_version != "HTTP/1.0"
        if framed:
            self.send_header("Transfer-Encoding", "chunked")
        else:
            self.close_connection = True
        self.end_headers()
        sent = 0
        for piece in plan.pieces:
            if plan.limit is not None and sent >= plan.limit:
                break
            if sent and plan.delay > 0 and stop.wait(plan.delay):
                self.close_connection = True
                return
            if piece:
                self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece) if framed else piece)
            sent += 1
        if plan.ending == "end":
            if framed:
                self.wfile.write(b"0\r\n\r\n")
            return
        if plan.ending == "stall":
            self._stall(stop)
        self.close_connection = True

    def _stall(self, stop: threading.Event) -> None:
        """Send nothing until the server closes or the client hangs up."""
        sock = self.connection
        while not stop.is_set():
            readable, _, _ = select.select([sock], [], [], 0.1)
            if not readable:
                continue
            try:
                if not sock.recv(1, socket.MSG_PEEK):
                    return
            except OSError:
                return
            stop.wait(0.1)


class LoopbackHTTPServer(ThreadingHTTPServer):
    """ThreadingHTTPServer that counts connections, sets TCP_NODELAY, and can cut every
    open connection at close (so idle keep-alive threads end promptly)."""

    daemon_threads = True
    request_queue_size = 128  # the listen backlog; the default 5 drops bursts of connects

    def __init__(
        self, address: tuple[str, int], family: socket.AddressFamily, state: ServerState
    ) -> None:
        self.address_family = family
        self.state = state
        self.active: set[socket.socket] = set()
        self.threads: set[threading.Thread] = set()
        super().__init__(address, KimiHandler)

    def server_bind(self) -> None:
        """Bind without HTTPServer's getfqdn() lookup, which can be slow."""
        TCPServer.server_bind(self)
        self.server_name = str(self.server_address[0])
        self.server_port = int(self.server_address[1])

    def process_request(self, request: Any, client_address: Any) -> None:
        request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.state.count_connection()
        thread = threading.Thread(
            target=self._serve_connection,
            args=(request, client_address),
            daemon=True,
            name=f"kimi.testing-conn-{client_address[1]}",
        )
        with self.state.lock:
            self.active.add(request)
            self.threads.add(thread)
        thread.start()

    def _serve_connection(self, request: Any, client_address: Any) -> None:
        try:
            self.finish_request(request, client_address)
        except Exception:
            self.handle_error(request, client_address)
        finally:
            self.shutdown_request(request)
            with self.state.lock:
                self.active.discard(request)
                self.threads.discard(threading.current_thread())

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Connection errors are expected (clients hang up); print anything else."""
        if isinstance(sys.exc_info()[1], OSError):
            return
        traceback.print_exc()

    def cut_connections(self) -> list[threading.Thread]:
        """Shut down every open connection; return the threads still serving them."""
        with self.state.lock:
            sockets = list(self.active)
            threads = list(self.threads)
        for sock in sockets:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        return threads
