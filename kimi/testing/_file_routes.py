"""The answers of the file endpoints but the upload: list, retrieve, delete, content.

``/content`` of a ``file-extract`` file is the platform's extraction JSON (the bytes read
as UTF-8 text); of any other file the raw bytes, streamed from disk a piece at a time.
Decisions only: `_routes.py` calls in, `_upload.py` receives uploads.
"""

from __future__ import annotations

import functools
import mimetypes
from collections.abc import Iterator
from typing import BinaryIO
from urllib.parse import parse_qs

from ._files import FileStore
from ._paths import FILES_PATH, member_route
from ._plan import Plan, json_plan, not_found_plan
from ._request import BODY_PIECE


@functools.cache
def _types() -> mimetypes.MimeTypes:
    """Python's own table of types, not the host's /etc/mime.types: the same guess on
    every machine."""
    return mimetypes.MimeTypes()


def file_type(filename: str) -> str:
    """The MIME type a filename suggests (text/plain, application/pdf, ...)."""
    return _types().guess_type(filename, strict=False)[0] or "application/octet-stream"


def file_not_found(file_id: str) -> Plan:
    return not_found_plan(f"Not found the file {file_id} or Permission denied")


def _pieces(handle: BinaryIO) -> Iterator[bytes]:
    """The file's bytes a piece at a time; closes it at the end (or when dropped)."""
    with handle:
        while piece := handle.read(BODY_PIECE):
            yield piece


def _content_plan(files: FileStore, file_id: str) -> Plan:
    opened = files.open(file_id)
    if opened is None:
        return file_not_found(file_id)
    stored, handle = opened
    if stored["purpose"] != "file-extract":
        return Plan(200, [("Content-Type", "application/octet-stream")], pieces=_pieces(handle))
    with handle:
        text = handle.read().decode("utf-8", "replace")
    filename = stored["filename"]
    extracted = {
        "content": text,
        "file_type": file_type(filename),
        "filename": filename,
        "title": "",
        "type": "file",
    }
    return json_plan(extracted)


def _list_plan(files: FileStore, query: str) -> Plan:
    """Every file newest first; ``purpose=`` keeps one purpose, ``after=<id>`` the files
    after that one (so a cursor-paging client such as openai-python's stops)."""
    params = parse_qs(query)
    listing = files.listing()
    purpose = params.get("purpose", [None])[-1]
    if purpose is not None:
        listing = [f for f in listing if f["purpose"] == purpose]
    after = params.get("after", [None])[-1]
    if after is not None:
        ids = [f["id"] for f in listing]
        listing = listing[ids.index(after) + 1 :] if after in ids else []
    return json_plan({"object": "list", "data": listing})


def _retrieve_plan(files: FileStore, file_id: str) -> Plan:
    stored = files.get(file_id)
    return file_not_found(file_id) if stored is None else json_plan(stored.object)


def _delete_plan(files: FileStore, file_id: str) -> Plan:
    if not files.delete(file_id):
        return file_not_found(file_id)
    return json_plan({"id": file_id, "object": "file", "deleted": True})


#: What a method does to one file, by (method, what follows the id).
_ONE_FILE = {
    ("GET", ""): _retrieve_plan,
    ("DELETE", ""): _delete_plan,
    ("GET", "content"): _content_plan,
}


def file_route(files: FileStore, method: str, path: str, query: str) -> Plan | None:
    """The answer to a file endpoint but the upload, or None if `path` is not one."""
    if path == FILES_PATH:
        return _list_plan(files, query) if method == "GET" else None
    routed = member_route(path, FILES_PATH, method, _ONE_FILE)
    return None if routed is None else routed[0](files, routed[1])
