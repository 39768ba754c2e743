"""Images and videos as message content parts: ``kimi.image(...)``, ``kimi.video(...)``.

The platform takes a part's ``url`` as a ``data:<mime>;base64,...`` URL or as
``ms://<file id>`` of a file uploaded for purpose ``image`` or ``video`` (kimi-api.md §2);
http(s) URLs are not documented as supported, so they are not offered here.  The type
is read from the bytes themselves (their magic numbers), the file name only as a
fallback, and what the platform does not take is refused before anything is sent.
"""

from __future__ import annotations

import os

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = ["image", "video", "IMAGE_TYPES", "VIDEO_TYPES"]

#: What the platform documents for each kind.
IMAGE_TYPES = ("image/png", "image/jpeg", "image/webp", "image/gif")
VIDEO_TYPES = ("video/mp4", "video/mpeg", "video/quicktime", "video/x-msvideo", "video/x-flv", "video/webm",
               "video/x-ms-wmv", "video/3gpp")
# A request body is at most 100 MB; the base64 of a part must fit in it.
MAX_BODY = 100 * 1024 * 1024
_EXTENSIONS = {
    ".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".webp": "image/webp", ".gif": "image/gif",
    ".mp4": "video/mp4", ".m4v": "video/mp4", ".mpeg": "video/mpeg", ".mpg": "video/mpeg", ".mov": "video/quicktime",
    ".avi": "video/x-msvideo", ".flv": "video/x-flv", ".webm": "video/webm", ".wmv": "video/x-ms-wmv",
    ".3gp": "video/3gpp",
}


def sniff(head: bytes) -> str | None:
    """The media type the first bytes of a file announce, or None."""
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "image/gif"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    if head[:4] == b"RIFF" and head[8:12] == b"AVI ":
        return "video/x-msvideo"
    if head[4:8] == b"ftyp":
        brand = head[8:12]
        if brand.startswith(b"3g"):
            return "video/3gpp"
        return "video/quicktime" if brand == b"qt  " else "video/mp4"
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        return "video/webm"
    if head.startswith(b"FLV"):
        return "video/x-flv"
    if head.startswith(b"\x30\x26\xb2\x75\x8e\x66\xcf\x11"):
        return "video/x-ms-wmv"
    if head[:4] in (b"\x00\x00\x01\xba", b"\x00\x00\x01\xb3"):
        return "video/mpeg"
    return None


def _read(source: Any, what: str) -> tuple[bytes, str | None]:
    """(the bytes, a file name if any) of a path, bytes or binary file object."""
    if isinstance(source, (str, os.PathLike)):
        path = os.fspath(source)
        if not os.path.isfile(path):
            raise FileNotFoundError(f"kimi.{what}: no such file: {path!r}")
        size = os.path.getsize(path)
        if size * 4 // 3 > MAX_BODY:
            raise ValueError(f"kimi.{what}: {path!r} is {size:,} bytes; as base64 it would pass the 100 MB request limit "
                             f"(upload it: kimi.{what}(path, upload=True, client=client))")
        with open(path, "rb") as fh:
            return fh.read(), path
    if isinstance(source, (bytes, bytearray, memoryview)):
        return bytes(source), None
    if hasattr(source, "read"):
        data = source.read()
        if isinstance(data, str):
            raise TypeError(f"kimi.{what}: open the file in binary mode ('rb')")
        return bytes(data), getattr(source, "name", None) if isinstance(getattr(source, "name", None), str) else None
    raise TypeError(f"kimi.{what}: expected a path, bytes or a binary file object, got {type(source).__name__}")


def media_type(data: bytes, name: str | None, allowed: tuple[str, ...], what: str) -> str:
    """The part's media type: from the bytes, else from the name's extension; one the
    platform takes for this kind, or ValueError."""
    if not data:
        raise ValueError(f"kimi.{what}: the {what} is empty")
    kind = sniff(data[:16])
    if kind is None and name:
        kind = _EXTENSIONS.get(os.path.splitext(name)[1].lower())
    if kind not in allowed:
        shown = kind or "an unknown format"
        raise ValueError(f"kimi.{what}: {shown} is not a format the platform takes for a {what} "
                         f"({', '.join(t.split('/')[1] for t in allowed)})")
    return kind


def _part(kind: str, url: str) -> dict[str, Any]:
    field = "image_url" if kind == "image" else "video_url"
    return {"type": field, field: {"url": url}}


def _data_part(source: Any, kind: str, allowed: tuple[str, ...]) -> dict[str, Any]:
    import base64

    data, name = _read(source, kind)
    mime = media_type(data, name, allowed, kind)
    encoded = base64.b64encode(data).decode("ascii")
    if len(encoded) > MAX_BODY:
        raise ValueError(f"kimi.{kind}: as base64 the {kind} would pass the 100 MB request limit; upload it")
    return _part(kind, f"data:{mime};base64,{encoded}")


def _media(source: Any, kind: str, allowed: tuple[str, ...], upload: bool, client: Any) -> Any:
    if not upload:
        return _data_part(source, kind, allowed)
    if client is None:
        raise TypeError(f"kimi.{kind}: upload=True needs the client to upload with (client=...)")
    if isinstance(source, (str, os.PathLike)):
        path = os.fspath(source)
        with open(path, "rb") as fh:
            head = fh.read(16)
        media_type(head, path, allowed, kind)
        file: Any = path
    else:
        data, name = _read(source, kind)
        mime = media_type(data, name, allowed, kind)
        file = (name and os.path.basename(name) or f"{kind}.{mime.split('/')[1]}", data)
    created = client.files.create(file=file, purpose=kind)
    if hasattr(created, "__await__"):

        async def part() -> dict[str, Any]:
            uploaded = await created
            return _part(kind, f"ms://{uploaded.id}")

        return part()
    return _part(kind, f"ms://{created.id}")


def image(source: Any, *, upload: bool = False, client: Any = None) -> Any:
    """An image content part: ``{"type": "image_url", "image_url": {"url": ...}}``.

    ``source`` is a path, bytes or a binary file object (png, jpeg, webp or gif, read
    from its bytes).  The url is a ``data:`` URL, or with ``upload=True`` the
    ``ms://<id>`` of the file uploaded through ``client.files`` (purpose ``image``);
    with an ``AsyncKimi`` the result is awaited: ``await kimi.image(p, upload=True,
    client=aclient)``."""
    return _media(source, "image", IMAGE_TYPES, upload, client)


def video(source: Any, *, upload: bool = False, client: Any = None) -> Any:
    """A video content part: ``{"type": "video_url", "video_url": {"url": ...}}``, as
    ``kimi.image`` (mp4, mpeg, mov, avi, flv, webm, wmv or 3gpp); a video is usually
    better uploaded (``upload=True``): a data URL must fit the 100 MB request limit."""
    return _media(source, "video", VIDEO_TYPES, upload, client)
