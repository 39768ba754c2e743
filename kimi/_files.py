"""client.files: uploads (multipart through libcurl's MIME API, streamed from disk),
listing, content, deletion, and the document-QA round trip ``files.extract``.

Each request is shaped once here (``shape_*``) for both clients.  What the platform
would refuse (an empty file, one over 100 MB, an unknown purpose) is refused before
anything is sent.
"""

from __future__ import annotations

import os
from contextlib import suppress

from . import _models
from ._base_client import Form
from ._resources import AsyncResource, Resource

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Mapping

    from ._async_client import AsyncKimi
    from ._client import Kimi

__all__ = ["Files", "AsyncFiles", "FileContent", "PURPOSES", "MAX_FILE_BYTES"]

PURPOSES = ("file-extract", "image", "video", "batch")
#: The platform's limit on one file (kimi-api.md §7).
MAX_FILE_BYTES = 100 * 1024 * 1024


def _content_type(filename: str) -> str:
    import mimetypes

    guessed, _ = mimetypes.guess_type(filename)
    return guessed or "application/octet-stream"


def _disk_path(fileobj: Any) -> str | None:
    """The path of a file object opened on a regular file at its start, which can be
    streamed from disk instead of read into memory."""
    name = getattr(fileobj, "name", None)
    if not isinstance(name, (str, bytes, os.PathLike)) or isinstance(name, int):
        return None
    try:
        if fileobj.tell() != 0 or not os.path.isfile(name):
            return None
        if os.path.samestat(os.fstat(fileobj.fileno()), os.stat(name)):
            return os.fsdecode(name)
    except (OSError, AttributeError, ValueError):
        return None
    return None


def file_part(file: Any) -> tuple[str, bytes | None, str | None, int]:
    """(filename, data, path, size) of what ``files.create`` was given: a path, bytes,
    a file object, or a ``(filename, bytes | file object | path)`` pair."""
    name: str | None = None
    if isinstance(file, tuple):
        if len(file) != 2 or not isinstance(file[0], str):
            raise TypeError("files.create: a tuple file must be (filename, bytes | file object | path)")
        name, file = file
    if isinstance(file, (str, os.PathLike)):
        path = os.fspath(file)
        if not os.path.isfile(path):
            raise FileNotFoundError(f"files.create: no such file: {path!r}")
        return name or os.path.basename(path), None, path, os.path.getsize(path)
    if isinstance(file, (bytes, bytearray, memoryview)):
        data = bytes(file)
        return name or "file", data, None, len(data)
    if hasattr(file, "read"):
        path = _disk_path(file)
        label = name or os.path.basename(os.fsdecode(getattr(file, "name", "file") or "file"))
        if path is not None:
            return label, None, path, os.path.getsize(path)
        data = file.read()
        if isinstance(data, str):
            raise TypeError("files.create: open the file in binary mode ('rb')")
        return label, bytes(data), None, len(data)
    raise TypeError(f"files.create: file must be a path, bytes, a binary file object or (filename, data); got {type(file).__name__}")


def shape_upload(
    file: Any, purpose: Any, extra_headers: Mapping[str, str] | None, timeout: Any
) -> tuple[Any, ...]:
    if purpose not in PURPOSES:
        raise ValueError(f"files.create: purpose must be one of {', '.join(PURPOSES)}; got {purpose!r}")
    filename, data, path, size = file_part(file)
    if size == 0:
        raise ValueError(f"files.create: {filename!r} is empty; the platform refuses empty files")
    if size > MAX_FILE_BYTES:
        raise ValueError(
            f"files.create: {filename!r} is {size:,} bytes; the platform accepts at most {MAX_FILE_BYTES:,} (100 MB)"
        )
    # A Linux file name need not be UTF-8: the path goes to the core as the file
    # system's bytes, the name the server sees with undecodable bytes replaced.
    filename = filename.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    disk = None if path is None else os.fsencode(path)
    form = Form((("purpose", None, None, purpose.encode(), None), ("file", filename, _content_type(filename), data, disk)))
    return ("POST", "/files", form, False, _models.FileObject, None, extra_headers, timeout)


def uploaded_id(uploaded: Any) -> str:
    """The id of the file an upload made; APIResponseValidationError if the reply
    names none."""
    file_id = getattr(uploaded, "id", None)
    if not isinstance(file_id, str) or not file_id:
        from ._exceptions import APIResponseValidationError

        raise APIResponseValidationError(f"files.create: the reply names no file id: {uploaded!r}"[:300])
    return file_id


def _file_path(file_id: Any) -> str:
    if not isinstance(file_id, str) or not file_id:
        raise ValueError("files: file_id must be a non-empty str")
    from urllib.parse import quote

    return "/files/" + quote(file_id, safe="")


def shape_list(extra_headers: Mapping[str, str] | None, timeout: Any) -> tuple[Any, ...]:
    return ("GET", "/files", None, False, _models.FileList, None, extra_headers, timeout)


def shape_retrieve(file_id: Any, extra_headers: Mapping[str, str] | None, timeout: Any) -> tuple[Any, ...]:
    return ("GET", _file_path(file_id), None, False, _models.FileObject, None, extra_headers, timeout)


def shape_delete(file_id: Any, extra_headers: Mapping[str, str] | None, timeout: Any) -> tuple[Any, ...]:
    return ("DELETE", _file_path(file_id), None, False, _models.FileDeleted, None, extra_headers, timeout)


def shape_content(file_id: Any, extra_headers: Mapping[str, str] | None, timeout: Any) -> tuple[Any, ...]:
    # No result class: the body comes back as bytes.
    return ("GET", _file_path(file_id) + "/content", None, False, None, None, extra_headers, timeout)


class FileContent:
    """A file's content, as openai-python's ``files.content()`` gives it:
    ``.content`` (bytes), ``.text``, ``.json()``, ``.read()``,
    ``.write_to_file(path)``; ``bytes(c)`` and ``len(c)`` work too."""

    __slots__ = ("content",)

    def __init__(self, content: bytes) -> None:
        self.content = content

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", errors="replace")

    def json(self) -> Any:
        import json

        return json.loads(self.content)

    def read(self) -> bytes:
        return self.content

    def write_to_file(self, path: Any) -> None:
        with open(path, "wb") as out:
            out.write(self.content)

    def __bytes__(self) -> bytes:
        return self.content

    def __len__(self) -> int:
        return len(self.content)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, FileContent):
            return self.content == other.content
        if isinstance(other, (bytes, bytearray)):
            return self.content == other
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"<FileContent {len(self.content)} bytes>"


def extracted_text(content: bytes) -> str:
    """The text of a file-extract file's content: the platform answers a JSON object
    whose ``content`` is the text (with filename and type beside it); plain text is
    taken as it is."""
    text = content.decode("utf-8", errors="replace")
    if text.lstrip().startswith("{"):
        import json

        try:
            parsed = json.loads(text)
        except ValueError:
            return text
        if isinstance(parsed, dict) and isinstance(parsed.get("content"), str):
            return parsed["content"]
    return text


class Files(Resource):
    """Files on the platform: uploads for document QA (``file-extract``), images,
    videos and batch input."""

    _not_raw = frozenset({"extract", "content"})

    def create(
        self,
        *,
        file: Any,
        purpose: str,
        extra_headers: Mapping[str, str] | None = None,
        timeout: float | None = None,
    ) -> _models.FileObject:
        """Upload ``file`` (a path, bytes, a binary file object, or ``(filename,
        data)``) for ``purpose`` (``file-extract``, ``image``, ``video``, ``batch``).
        A path or a file opened on disk is streamed, never read into memory; empty
        files, files over 100 MB and unknown purposes are refused before sending."""
        return self._client._request(shape_upload(file, purpose, extra_headers, timeout))

    def list(self, *, extra_headers: Mapping[str, str] | None = None, timeout: float | None = None) -> _models.FileList:
        """The account's files, as a ``FileList`` (iterable)."""
        return self._client._request(shape_list(extra_headers, timeout))

    def retrieve(
        self, file_id: str, *, extra_headers: Mapping[str, str] | None = None, timeout: float | None = None
    ) -> _models.FileObject:
        return self._client._request(shape_retrieve(file_id, extra_headers, timeout))

    def content(
        self, file_id: str, *, extra_headers: Mapping[str, str] | None = None, timeout: float | None = None
    ) -> FileContent:
        """The file's content (``.content`` bytes, ``.text``, ``.json()``): the
        extracted text (as the platform's JSON) for ``file-extract`` files, the raw
        bytes for the others (batch output)."""
        return FileContent(self._client._request(shape_content(file_id, extra_headers, timeout)))

    def delete(
        self, file_id: str, *, extra_headers: Mapping[str, str] | None = None, timeout: float | None = None
    ) -> _models.FileDeleted:
        return self._client._request(shape_delete(file_id, extra_headers, timeout))

    def extract(self, file: Any, *, keep: bool = False) -> str:
        """The text of a document, ready to put in a message: upload it for
        ``file-extract``, read the extracted text, then delete the file (unless
        ``keep=True``)."""
        file_id = uploaded_id(self.create(file=file, purpose="file-extract"))
        try:
            text = extracted_text(self.content(file_id).content)
        except BaseException:
            if not keep:
                with suppress(Exception):      # the first failure is the one to see
                    self.delete(file_id)
            raise
        if not keep:
            self.delete(file_id)
        return text


class AsyncFiles(AsyncResource):
    """client.files of AsyncKimi (see ``Kimi.files``)."""

    _not_raw = frozenset({"extract", "content"})

    async def create(
        self,
        *,
        file: Any,
        purpose: str,
        extra_headers: Mapping[str, str] | None = None,
        timeout: float | None = None,
    ) -> _models.FileObject:
        return await self._client._request(shape_upload(file, purpose, extra_headers, timeout))

    async def list(
        self, *, extra_headers: Mapping[str, str] | None = None, timeout: float | None = None
    ) -> _models.FileList:
        return await self._client._request(shape_list(extra_headers, timeout))

    async def retrieve(
        self, file_id: str, *, extra_headers: Mapping[str, str] | None = None, timeout: float | None = None
    ) -> _models.FileObject:
        return await self._client._request(shape_retrieve(file_id, extra_headers, timeout))

    async def content(
        self, file_id: str, *, extra_headers: Mapping[str, str] | None = None, timeout: float | None = None
    ) -> FileContent:
        return FileContent(await self._client._request(shape_content(file_id, extra_headers, timeout)))

    async def delete(
        self, file_id: str, *, extra_headers: Mapping[str, str] | None = None, timeout: float | None = None
    ) -> _models.FileDeleted:
        return await self._client._request(shape_delete(file_id, extra_headers, timeout))

    async def extract(self, file: Any, *, keep: bool = False) -> str:
        file_id = uploaded_id(await self.create(file=file, purpose="file-extract"))
        try:
            text = extracted_text((await self.content(file_id)).content)
        except BaseException:
            if not keep:
                with suppress(Exception):      # the first failure is the one to see
                    await self.delete(file_id)
            raise
        if not keep:
            await self.delete(file_id)
        return text
