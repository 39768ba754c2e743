"""A raw loopback TCP server for the faults kimi.testing cannot script: bodies that never
end, servers that read slowly, oversized or repeated headers, hand-made gzip.

Each connection goes to `handler(conn)` in a thread of its own; the handler reads the
request with `read_request` and writes whatever bytes it likes.  With an SSL context the
server speaks TLS.  Only 127.0.0.1 is used.
"""

from __future__ import annotations

import socket
import ssl
import threading
from typing import Callable

Handler = Callable[[socket.socket], None]


def read_request(conn: socket.socket, read_body: bool = True) -> tuple[bytes, bytes]:
    """(head, body) of one request with a Content-Length body (or none)."""
    data = b""
    while b"\r\n\r\n" not in data:
        piece = conn.recv(65536)
        if not piece:
            return data, b""
        data += piece
    head, _, body = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    while read_body and len(body) < length:
        piece = conn.recv(65536)
        if not piece:
            break
        body += piece
    return head, body


def chunk(data: bytes) -> bytes:
    """One HTTP/1.1 chunk."""
    return b"%x\r\n%s\r\n" % (len(data), data)


class RawServer:
    """``with RawServer(handler) as srv: ... srv.base_url ...``"""

    def __init__(self, handler: Handler, tls: ssl.SSLContext | None = None) -> None:
        self._handler = handler
        self._tls = tls
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.1)
        self._stop = threading.Event()
        self._conns: list[socket.socket] = []
        self._lock = threading.Lock()
        self.connections = 0
        self._thread = threading.Thread(target=self._accept, daemon=True)

    @property
    def base_url(self) -> str:
        scheme = "https" if self._tls is not None else "http"
        return f"{scheme}://127.0.0.1:{self._listener.getsockname()[1]}/v1"

    @property
    def stopping(self) -> threading.Event:
        """Set when the server closes: long-running handlers end on it."""
        return self._stop

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except OSError:
                continue
            with self._lock:
                self.connections += 1
                self._conns.append(conn)
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        try:
            if self._tls is not None:
                conn.settimeout(5)
                conn = self._tls.wrap_socket(conn, server_side=True)
                conn.settimeout(None)
            self._handler(conn)
        except OSError:  # ssl.SSLError included: a client that refused us
            pass
        finally:
            conn.close()

    def __enter__(self) -> RawServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(2)
        with self._lock:
            for conn in self._conns:
                try:
                    conn.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
        self._listener.close()
