"""What kind of file a path really holds, from its first bytes (never from its name), for error messages.

A user who picks the wrong file (a photo instead of a checkpoint, a web page saved by a failed download,
a truncated transfer, a file of another model) must be told what they gave, not a reader's internal
complaint. :func:`file_kind` returns a :class:`FileKind`: a short phrase for messages (``"a JPEG image"``)
and a ``family`` the readers test (``"image"``, ``"safetensors"``, ``"torch"``, ``"pickle"``, ...).
Reading is limited to the first bytes, plus the zip directory for zip files.
"""

from __future__ import annotations

import struct
import zipfile
from dataclasses import dataclass
from pathlib import Path

HEAD_BYTES = 4096
"""How much of a file is read to recognise it."""

LEGACY_TORCH_MAGIC = b"\x80\x02\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19"
"""Start of a pre-1.6 ``torch.save`` file: a protocol-2 pickle of torch's magic number."""

_IMAGES = (
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"\x89PNG\r\n\x1a\n", "a PNG image"),
    (b"GIF87a", "a GIF image"),
    (b"GIF89a", "a GIF image"),
    (b"II*\x00", "a TIFF image"),
    (b"MM\x00*", "a TIFF image"),
)
_ARCHIVES = (
    (b"\x1f\x8b", "a gzip archive"),
    (b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive"),
    (b"Rar!\x1a\x07", "a RAR archive"),
    (b"GGUF", "a GGUF model file (llama.cpp / ComfyUI-GGUF format)"),
)


@dataclass(frozen=True)
class FileKind:
    """``description``: a phrase for messages (``"a JPEG image"``); ``family``: ``image``, ``safetensors``,
    ``torch`` (a ``torch.save`` zip or legacy file), ``pickle``, ``zip``, ``archive``, ``onnx``, ``html``,
    ``json``, ``text``, ``empty``, ``missing``, ``folder`` or ``binary``; ``damaged``: the file is
    recognisably of that family but cut short or corrupt (an incomplete download)."""

    description: str
    family: str
    damaged: bool = False


def file_kind(path: str | Path) -> FileKind:
    """Recognise the file at ``path`` by content (see the module docstring)."""
    path = Path(path)
    if path.is_dir():
        return FileKind("a folder", "folder")
    if not path.is_file():
        return FileKind("a path that does not exist", "missing")
    size = path.stat().st_size
    if size == 0:
        return FileKind("an empty file (0 bytes)", "empty", damaged=True)
    with path.open("rb") as handle:
        head = handle.read(HEAD_BYTES)
    for magic, description in _IMAGES:
        if head.startswith(magic):
            return FileKind(description, "image")
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return FileKind("a WebP image", "image")
    if head.startswith(b"PK\x03\x04") or head.startswith(b"PK\x05\x06"):
        return _zip_kind(path)
    if head.startswith(LEGACY_TORCH_MAGIC):
        return FileKind("a PyTorch weight file (legacy format)", "torch")
    if len(head) >= 2 and head[0] == 0x80 and 2 <= head[1] <= 5:
        return FileKind("a Python pickle", "pickle")
    for magic, description in _ARCHIVES:
        if head.startswith(magic):
            return FileKind(description, "archive")
    if len(head) > 262 and head[257:262] == b"ustar":
        return FileKind("a tar archive", "archive")
    safetensors = _safetensors_kind(head, size)
    if safetensors is not None:
        return safetensors
    if head[:1] == b"\x08" and (b"pytorch" in head[:64] or b"onnx" in head[:256] or path.suffix == ".onnx"):
        return FileKind("an ONNX model", "onnx")
    return _text_kind(head)


def binary_kind(head: bytes) -> str | None:
    """The description of a file that is certainly not text, from its first bytes alone (an image, an
    archive, a pickle, a weight or ONNX file; zips are not opened), or ``None``: text of any encoding
    (UTF-16 included, so NUL bytes alone do not count) or an unknown kind. For readers that already hold
    the bytes (an upload, a text reader)."""
    for magic, description in (*_IMAGES, *_ARCHIVES):
        if head.startswith(magic):
            return description
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "a WebP image"
    if head.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        return "a zip archive (a PyTorch weight file or a zipped folder)"
    if head.startswith(LEGACY_TORCH_MAGIC):
        return "a PyTorch weight file (legacy format)"
    if len(head) >= 2 and head[0] == 0x80 and 2 <= head[1] <= 5:
        return "a Python pickle"
    if len(head) > 262 and head[257:262] == b"ustar":
        return "a tar archive"
    if len(head) >= 9 and head[8:9] == b"{" and 2 <= struct.unpack("<Q", head[:8])[0] <= 100_000_000:
        return "a safetensors file"
    if head[:1] == b"\x08" and (b"pytorch" in head[:64] or b"onnx" in head[:256]):
        return "an ONNX model"
    return None


def _zip_kind(path: Path) -> FileKind:
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
    except (zipfile.BadZipFile, OSError):
        return FileKind("a damaged or truncated zip archive (an incomplete download?)", "zip", damaged=True)
    if any(name.endswith("data.pkl") for name in names):
        return FileKind("a PyTorch weight file", "torch")
    return FileKind("a zip archive", "zip")


def _safetensors_kind(head: bytes, size: int) -> FileKind | None:
    """A safetensors file starts with the little-endian length of its JSON header, then ``{``."""
    if len(head) < 9 or head[8:9] != b"{":
        return None
    (header_length,) = struct.unpack("<Q", head[:8])
    if header_length < 2 or header_length > 100_000_000:
        return None
    if 8 + header_length > size:
        return FileKind("a truncated safetensors file (an incomplete download?)", "safetensors", damaged=True)
    return FileKind("a safetensors file", "safetensors")


def _text_kind(head: bytes) -> FileKind:
    if b"\x00" in head:
        return FileKind("a binary file of unknown kind", "binary")
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError as error:
        if error.start < len(head) - 4:  # not just a multi-byte character cut at the end of the sample
            return FileKind("a binary file of unknown kind", "binary")
        text = head[: error.start].decode("utf-8")
    start = text.lstrip().lower()
    if start.startswith(("<!doctype html", "<html")) or "<html" in start[:512]:
        return FileKind("an HTML web page (a browser or download tool saved a page, not the file: download "
                        "the file itself)", "html")
    if start.startswith(("{", "[")):
        return FileKind("a JSON text file", "json")
    return FileKind("a text file", "text")


def not_text_reason(path: str | Path, expected: str) -> str | None:
    """``"this is a JPEG image, not <expected>"`` when the file a text reader was given is not plain text or
    JSON (an image, an archive, a web page, ...); ``None`` when it is text, so the reader's own message about
    its content applies."""
    kind = file_kind(path)
    if kind.family in ("text", "json"):
        return None
    return f"this is {kind.description}, not {expected}"
