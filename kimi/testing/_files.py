"""The files of one local server: bytes on disk in a temporary directory, FileObjects in memory.

Uploads (`_upload.py`) and batch results (`_batches.py`) land here; the file routes
(`_file_routes.py`) read them back. The directory is made on first use and removed by
`close`, so a server that never stores a file touches no disk. Thread-safe: the serving
loop writes while a test reads `KimiServer.files`. No HTTP here.
"""

from __future__ import annotations

import copy
import os
import secrets
import tempfile
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, BinaryIO

from ._clock import Clock

#: The purposes an upload may name (kimi-api.md §7); results are stored as BATCH_OUTPUT.
UPLOAD_PURPOSES = ("file-extract", "image", "video", "batch")
BATCH_OUTPUT = "batch_output"


@dataclass(frozen=True)
class StoredFile:
    """One file: its FileObject (the JSON the API answers with) and where its bytes are."""

    object: dict[str, Any]
    path: str

    @property
    def id(self) -> str:
        return str(self.object["id"])


def file_object(
    file_id: str, size: int, created_at: int, filename: str, purpose: str
) -> dict[str, Any]:
    """The platform's FileObject (kimi-api.md §7)."""
    return {
        "id": file_id,
        "object": "file",
        "bytes": size,
        "created_at": created_at,
        "filename": filename,
        "purpose": purpose,
        "status": "ok",
        "status_details": "",
    }


def _remove(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


class FileStore:
    """Stored files by id, in upload order (thread-safe); see the module docstring."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._files: dict[str, StoredFile] = {}
        self._directory: tempfile.TemporaryDirectory[str] | None = None

    # Writing ---------------------------------------------------------------------------
    def scratch(self) -> BinaryIO:
        """A new empty file in the store's directory, open for writing; `add` keeps it,
        and a caller that does not add it removes it (`discard`)."""
        with self._lock:
            if self._directory is None:
                self._directory = tempfile.TemporaryDirectory(prefix="kimi-testing-")
            directory = self._directory.name
        return tempfile.NamedTemporaryFile(dir=directory, delete=False)  # noqa: SIM115

    @staticmethod
    def discard(path: str) -> None:
        """Remove a scratch file that is not to be kept."""
        _remove(path)

    def add(
        self, path: str, filename: str, purpose: str, cap: int | None = None
    ) -> dict[str, Any] | None:
        """Keep the written file at `path` under a new id and return (a copy of) its
        FileObject; None, and the file removed, when `cap` files are stored already."""
        size = os.path.getsize(path)
        with self._lock:
            if cap is not None and len(self._files) >= cap:
                _remove(path)
                return None
            file_id = "file-" + secrets.token_hex(12)
            stored = file_object(file_id, size, int(self._clock.now()), filename, purpose)
            self._files[file_id] = StoredFile(stored, path)
            return copy.deepcopy(stored)

    def write(self, filename: str, purpose: str, lines: Iterable[bytes]) -> dict[str, Any]:
        """Store `lines` (each with its own newline) as a new file; its FileObject."""
        with self.scratch() as handle:
            handle.writelines(lines)
        stored = self.add(handle.name, filename, purpose)
        assert stored is not None  # no cap: always kept
        return stored

    # Reading ---------------------------------------------------------------------------
    def get(self, file_id: str) -> StoredFile | None:
        with self._lock:
            return self._files.get(file_id)

    def open(self, file_id: str) -> tuple[dict[str, Any], BinaryIO] | None:
        """(FileObject copy, the bytes open for reading) of `file_id`, or None. The open
        file stays readable even if the file is deleted meanwhile."""
        with self._lock:
            stored = self._files.get(file_id)
            if stored is None:
                return None
            return copy.deepcopy(stored.object), open(stored.path, "rb")  # noqa: SIM115

    def listing(self) -> list[dict[str, Any]]:
        """Copies of every FileObject, newest first (the API's list order)."""
        with self._lock:
            return [copy.deepcopy(f.object) for f in reversed(self._files.values())]

    def snapshot(self) -> dict[str, dict[str, Any]]:
        """Copies of every FileObject by id, oldest first."""
        with self._lock:
            return {file_id: copy.deepcopy(f.object) for file_id, f in self._files.items()}

    # Removing --------------------------------------------------------------------------
    def delete(self, file_id: str) -> bool:
        """Forget `file_id` and remove its bytes; False if there was no such file."""
        with self._lock:
            stored = self._files.pop(file_id, None)
        if stored is None:
            return False
        _remove(stored.path)
        return True

    def clear(self) -> None:
        """Forget and remove every stored file (the directory stays for later uploads)."""
        with self._lock:
            stored, self._files = list(self._files.values()), {}
        for f in stored:
            _remove(f.path)

    def close(self) -> None:
        """Forget every file and remove the directory with whatever is in it. Idempotent."""
        with self._lock:
            directory, self._directory = self._directory, None
            self._files = {}
        if directory is not None:
            directory.cleanup()
