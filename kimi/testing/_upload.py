"""``POST /v1/files``: a multipart upload read from the socket piece by piece into the file store.

The file part goes straight to a scratch file on disk, so the server's memory stays flat
however large the upload; past the size limit the rest is read and dropped. Every answer
(a FileObject, a 400, a 401, a scripted reply) comes after the whole body is read, so
the connection stays usable. The checks and their order are the platform's (§7).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import BinaryIO

from ._files import UPLOAD_PURPOSES, FileStore
from ._multipart import PART_END, Event, MultipartError, MultipartParser, PartHead, boundary_of
from ._paths import FILES_PATH
from ._plan import Plan, invalid_plan, json_plan, render
from ._routes import unauthorized
from ._state import ServerState

#: The most bytes of a non-file field kept (a purpose is a dozen characters).
_MAX_FIELD = 1024


def is_upload(method: str, path: str) -> bool:
    """Whether the request is an upload, whose body must be streamed, not read whole."""
    return method == "POST" and path == FILES_PATH


class _Field:
    """A small form field's bytes, kept up to _MAX_FIELD."""

    def __init__(self) -> None:
        self.data = bytearray()

    def write(self, piece: bytes) -> None:
        self.data += piece[: max(0, _MAX_FIELD - len(self.data))]

    def close(self) -> None:
        pass


class _FilePart:
    """The file part, written to a scratch file while it stays within `limit` bytes; past
    that the scratch file is removed and the rest only counted."""

    def __init__(self, scratch: BinaryIO, filename: str, limit: int) -> None:
        self.handle: BinaryIO | None = scratch
        self.path = scratch.name
        self.filename = filename
        self.limit = limit
        self.size = 0

    def write(self, piece: bytes) -> None:
        self.size += len(piece)
        if self.handle is None:
            return
        if self.size > self.limit:
            self.discard()
            return
        self.handle.write(piece)

    def close(self) -> None:
        if self.handle is not None:
            self.handle.close()

    def discard(self) -> None:
        """Drop what was written (an over-limit or refused upload)."""
        self.close()
        self.handle = None
        FileStore.discard(self.path)


class _Form:
    """The fields of one upload as the parser's events arrive: the first part named
    ``file`` with a filename goes to disk, ``purpose`` is kept, other fields dropped."""

    def __init__(self, state: ServerState) -> None:
        self._state = state
        self.file: _FilePart | None = None
        self.purpose: _Field | None = None
        self._current: _Field | _FilePart | None = None

    def take(self, event: Event) -> None:
        if isinstance(event, PartHead):
            self._current = self._part(event)
        elif event is PART_END:
            if self._current is not None:
                self._current.close()
            self._current = None
        elif self._current is not None and isinstance(event, bytes):
            self._current.write(event)

    def _part(self, head: PartHead) -> _Field | _FilePart | None:
        if head.name == "file" and head.filename is not None and self.file is None:
            scratch = self._state.files.scratch()
            self.file = _FilePart(scratch, head.filename, self._state.max_file_bytes)
            return self.file
        if head.name == "purpose" and self.purpose is None:
            self.purpose = _Field()
            return self.purpose
        return None

    def discard(self) -> None:
        if self.file is not None:
            self.file.discard()


async def _drain(pieces: AsyncIterator[bytes]) -> None:
    """Read the rest of the body and drop it."""
    async for _ in pieces:
        pass


def _purpose_of(form: _Form) -> str | None:
    if form.purpose is None:
        return None
    return bytes(form.purpose.data).decode("utf-8", "replace").strip()


def _stored_plan(state: ServerState, form: _Form) -> Plan:
    """The answer to a completely read form: the FileObject, or the platform's 400."""
    part = form.file
    if part is None:
        form.discard()
        why = "field 'file' is required (a file part with a filename)"
        return invalid_plan(f"Invalid request: {why}")
    purpose = _purpose_of(form)
    if purpose not in UPLOAD_PURPOSES:
        form.discard()
        allowed = ", ".join(UPLOAD_PURPOSES)
        return invalid_plan(f"Invalid request: purpose must be one of {allowed}, got {purpose!r}")
    if part.size == 0:
        form.discard()
        return invalid_plan("file is empty")
    if part.size > part.limit:
        form.discard()
        return invalid_plan(
            f"file size is too large: {part.size} bytes, the limit is {part.limit} bytes"
        )
    stored = state.files.add(part.path, part.filename, purpose, cap=state.max_files)
    if stored is None:
        return invalid_plan(
            f"too many files: at most {state.max_files} files may be stored, delete some first"
        )
    return json_plan(stored)


async def _receive(
    state: ServerState, content_type: str, pieces: AsyncIterator[bytes]
) -> Plan:
    """Parse the form as it arrives, then answer; a malformed body is read to its end
    and refused, and an upload cut short leaves no scratch file behind."""
    boundary = boundary_of(content_type)
    if boundary is None:
        await _drain(pieces)
        return invalid_plan("Invalid request: the body must be multipart/form-data with a boundary")
    parser = MultipartParser(boundary)
    form = _Form(state)
    try:
        try:
            async for piece in pieces:
                for event in parser.feed(piece):
                    form.take(event)
            parser.close()
        except MultipartError as exc:
            form.discard()
            await _drain(pieces)
            return invalid_plan(f"Invalid request: {exc}")
    except BaseException:
        form.discard()  # a cut connection or a closing server leaves no scratch file
        raise
    return _stored_plan(state, form)


async def upload_plan(
    state: ServerState, headers: dict[str, str], pieces: AsyncIterator[bytes]
) -> Plan:
    """The answer to ``POST /v1/files`` with lower-case `headers` and the body's `pieces`:
    the key check, then a reply scripted for the path, then the upload itself."""
    refused = unauthorized(state, headers)
    if refused is not None:
        await _drain(pieces)
        return refused
    scripted = state.take_for(FILES_PATH)
    if scripted is not None:
        await _drain(pieces)
        return render(scripted, None)
    return await _receive(state, headers.get("content-type", ""), pieces)
