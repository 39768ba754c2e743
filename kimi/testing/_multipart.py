"""An incremental ``multipart/form-data`` parser (RFC 7578): bytes in as they arrive, events out.

It holds at most one piece of input plus a delimiter's length, so a 100 MB upload passes
through in constant memory. Pure: no I/O, no knowledge of which fields matter (that is
`_upload.py`). Not thread-safe; one parser per request.
"""

from __future__ import annotations

import email.message
import email.parser
import email.utils
from dataclasses import dataclass

#: The longest header block of one part accepted (a file part's head is a few lines).
MAX_PART_HEAD = 16384
#: How far past a delimiter its line may run (RFC 2046 transport padding) before it ends.
_MAX_DELIMITER_LINE = 1024


class MultipartError(ValueError):
    """The body is not well-formed multipart/form-data; the message says how."""


@dataclass(frozen=True)
class PartHead:
    """A part's headers, once complete: its field name, filename and content type."""

    name: str | None
    filename: str | None
    content_type: str


class _PartEnd:
    def __repr__(self) -> str:
        return "PART_END"


#: The event after a part's last content bytes.
PART_END = _PartEnd()
Event = PartHead | bytes | _PartEnd


def boundary_of(content_type: str) -> bytes | None:
    """The boundary of a ``multipart/form-data`` Content-Type, or None when the type is
    another or has no usable boundary (1 to 70 characters, RFC 2046)."""
    message = email.message.Message()
    message["Content-Type"] = content_type
    if message.get_content_type() != "multipart/form-data":
        return None
    boundary = message.get_boundary()
    if not boundary or len(boundary) > 70:
        return None
    try:
        return boundary.encode("ascii")
    except UnicodeEncodeError:
        return None


def _part_head(block: bytes) -> PartHead:
    """The PartHead of a part's header lines (UTF-8 filenames as browsers and httpx send
    them; RFC 2231 ``filename*=`` too)."""
    message = email.parser.HeaderParser().parsestr(block.decode("utf-8", "replace"))
    name = message.get_param("name", header="content-disposition")
    return PartHead(
        name=None if name is None else email.utils.collapse_rfc2231_value(name),
        filename=message.get_filename(),
        content_type=message.get_content_type(),
    )


class MultipartParser:
    """Feed a multipart body in any pieces; get its events in order.

    Events: a `PartHead` when a part's headers are complete, `bytes` of its content (in
    pieces, possibly empty ones omitted), `PART_END` when it ends. `close` raises
    MultipartError unless the closing delimiter came; bytes after it are ignored.
    """

    def __init__(self, boundary: bytes) -> None:
        self._delimiter = b"\r\n--" + boundary
        # Led by CRLF so the first delimiter looks like every other one.
        self._buffer = bytearray(b"\r\n")
        self._step = self._preamble

    def feed(self, data: bytes) -> list[Event]:
        """The events `data` completes, in order."""
        self._buffer += data
        events: list[Event] = []
        while self._step(events):
            pass
        return events

    def close(self) -> None:
        """Check the body ended with the closing delimiter."""
        if self._step != self._epilogue:
            raise MultipartError("the multipart body ends before its closing boundary")

    # Each step consumes what it can and says whether another step may make progress
    # on what is left (False: wait for more input).
    #
    #   preamble -> delimiter -> head -> content -> delimiter -> ... -> epilogue
    #   delimiter: "--" ends the body, else padding and CRLF start the next part's head.
    def _preamble(self, events: list[Event]) -> bool:
        at = self._buffer.find(self._delimiter)
        if at < 0:
            del self._buffer[: max(0, len(self._buffer) - len(self._delimiter) + 1)]
            return False
        del self._buffer[: at + len(self._delimiter)]
        self._step = self._after_delimiter
        return True

    def _after_delimiter(self, events: list[Event]) -> bool:
        if len(self._buffer) < 2:
            return False
        if self._buffer.startswith(b"--"):
            self._buffer.clear()
            self._step = self._epilogue
            return False
        end = self._buffer.find(b"\r\n")
        if end < 0:
            if len(self._buffer) > _MAX_DELIMITER_LINE:
                raise MultipartError("a boundary line runs on without its line end")
            return False
        if self._buffer[:end].strip(b" \t"):
            raise MultipartError("a boundary is followed by other text on its line")
        del self._buffer[: end + 2]
        self._step = self._head
        return True

    def _head(self, events: list[Event]) -> bool:
        if self._buffer.startswith(b"\r\n"):  # a part without header lines
            end, block = 2, b""
        else:
            at = self._buffer.find(b"\r\n\r\n")
            if at < 0:
                if len(self._buffer) > MAX_PART_HEAD:
                    raise MultipartError(f"a part's headers exceed {MAX_PART_HEAD} bytes")
                return False
            end, block = at + 4, bytes(self._buffer[: at + 2])
        if end - 2 > MAX_PART_HEAD:
            raise MultipartError(f"a part's headers exceed {MAX_PART_HEAD} bytes")
        del self._buffer[:end]
        events.append(_part_head(block))
        self._step = self._content
        return True

    def _content(self, events: list[Event]) -> bool:
        at = self._buffer.find(self._delimiter)
        if at >= 0:
            if at:
                events.append(bytes(self._buffer[:at]))
            events.append(PART_END)
            del self._buffer[: at + len(self._delimiter)]
            self._step = self._after_delimiter
            return True
        # Hold back what could be the start of a delimiter split across pieces.
        ready = len(self._buffer) - len(self._delimiter) + 1
        if ready > 0:
            events.append(bytes(self._buffer[:ready]))
            del self._buffer[:ready]
        return False

    def _epilogue(self, events: list[Event]) -> bool:
        self._buffer.clear()
        return False
