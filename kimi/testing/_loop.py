"""The serving loop: one daemon thread running its own asyncio event loop, which accepts on
a listening socket and serves every connection as a task on that loop.

No thread per connection, so thousands of connections cost tasks, not threads. `start`
and `stop` may be called from any thread but the loop's own; the HTTP is `_handler.py`.
"""

from __future__ import annotations

import asyncio
import os
import socket
import threading
import traceback

from ._handler import serve_connection
from ._request import MAX_LINE
from ._state import ServerState

#: The listen backlog: room for thousands of simultaneous connects.
BACKLOG = 4096


def listening_socket(host: str, family: socket.AddressFamily, port: int) -> socket.socket:
    """A socket bound to (host, port) and listening; bound here so errors reach the caller."""
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(BACKLOG)
    except BaseException:
        sock.close()
        raise
    return sock


class ServingLoop:
    """Serves `state` on `sock` from a daemon thread until `stop`; owns the socket."""

    def __init__(self, sock: socket.socket, state: ServerState, name: str) -> None:
        self._sock = sock
        self._state = state
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._ready = threading.Event()
        self._failure: BaseException | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None
        self._connections: dict[asyncio.Task[None], asyncio.StreamWriter] = {}
        self._pid = os.getpid()

    def start(self) -> None:
        """Start the thread and return once it accepts; re-raise what kept it from that."""
        self._thread.start()
        self._ready.wait()
        if self._failure is not None:
            self._thread.join()
            raise self._failure

    def stop(self, budget: float) -> None:
        """Stop accepting, cut every connection (stalled ones too), end the loop, and join
        the thread for at most `budget` seconds. In a forked child it only lets go."""
        if os.getpid() != self._pid:
            return  # the loop and its thread live in the parent
        loop, stopping = self._loop, self._stopping
        if loop is not None and stopping is not None:
            try:
                loop.call_soon_threadsafe(stopping.set)
            except RuntimeError:
                pass  # the loop has already ended
        if threading.current_thread() is not self._thread:
            self._thread.join(budget)

    # On the loop's thread ------------------------------------------------------------
    def _run(self) -> None:
        try:
            asyncio.run(self._serve())
        except BaseException as exc:  # noqa: BLE001 - reported to start() or printed
            if not self._ready.is_set():
                self._failure = exc
            else:
                traceback.print_exc()
        finally:
            self._sock.close()
            self._ready.set()

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stopping = asyncio.Event()
        server = await asyncio.start_server(
            self._connected, sock=self._sock, backlog=BACKLOG, limit=MAX_LINE
        )
        self._ready.set()
        try:
            await self._stopping.wait()
        finally:
            server.close()  # closes the listening socket at once
            while self._connections:  # also those accepted while the last ones were cut
                await self._cut_connections()

    def _connected(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """A new connection: count it, and serve it as a task of ours that `stop` cancels
        (a plain callback, so asyncio reports no cancelled connection task as an error)."""
        self._state.count_connection()
        transport = writer.transport
        try:  # each drip leaves at once, not after the client's delayed ACK
            transport.get_extra_info("socket").setsockopt(
                socket.IPPROTO_TCP, socket.TCP_NODELAY, 1
            )
        except OSError:
            pass  # already reset by the client: serving it finds out
        # No write buffer above the kernel's: drain() returns once a reply is written.
        transport.set_write_buffer_limits(high=0)
        task = asyncio.get_running_loop().create_task(
            serve_connection(self._state, reader, writer)
        )
        self._connections[task] = writer
        task.add_done_callback(self._connections.pop)

    async def _cut_connections(self) -> None:
        """Abort every open connection and wait for its task to finish."""
        connections = list(self._connections.items())
        for task, writer in connections:
            writer.transport.abort()
            task.cancel()
        await asyncio.gather(*(task for task, _ in connections), return_exceptions=True)
