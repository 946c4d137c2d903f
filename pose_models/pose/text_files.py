"""Reading pose text files the way users save them: UTF-8 with or without a byte-order mark, or UTF-16
(Windows editors), within a size limit, and JSON parsed with clean errors for every way it can fail.

Every failure is a :class:`~pose_models.pose.errors.PoseFormatError` that says what the file is (empty,
an image, not text, too large, too deeply nested) instead of a decoder's or the JSON parser's message.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..file_kinds import HEAD_BYTES, binary_kind
from .errors import PoseFormatError

MAX_POSE_FILE_BYTES = 256 * 2**20
"""Largest pose file read (256 MiB: about 600,000 frames of one person in POSE_KEYPOINT JSON)."""


def read_pose_text(path: str | Path, what: str = "pose file") -> str:
    """The text of ``path`` (see the module docstring); ``what`` names the expected kind in errors."""
    path = Path(path)
    try:
        size = path.stat().st_size
        if size > MAX_POSE_FILE_BYTES:
            raise PoseFormatError(
                f"{path}: {size / 2**20:.0f} MiB; a {what} is read up to {MAX_POSE_FILE_BYTES // 2**20} MiB. "
                "Split it into smaller files (e.g. with python -m pose_models.pose convert)."
            )
        data = path.read_bytes()
    except OSError as exc:
        raise PoseFormatError(f"{path}: cannot read the file ({exc.strerror or exc}).") from None
    return decode_pose_text(data, str(path), what)


def decode_pose_text(data: bytes, source: str, what: str = "pose file") -> str:
    """``data`` decoded as UTF-8 (BOM allowed) or BOM-marked UTF-16; errors name ``source``."""
    if not data.strip():
        raise PoseFormatError(f"{source}: the file is empty; expected a {what}.")
    kind = binary_kind(data[:HEAD_BYTES])
    if kind is not None:
        raise PoseFormatError(f"{source}: this is {kind}, not a {what}.")
    if data[:2] in (b"\xff\xfe", b"\xfe\xff"):
        encoding = "utf-16"
    else:
        encoding = "utf-8-sig"
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as exc:
        raise PoseFormatError(
            f"{source}: not UTF-8 text (byte {exc.start} cannot be decoded); expected a {what}. Save it "
            "as UTF-8 from your editor."
        ) from None


def parse_json(text: str, source: str, expected: str) -> Any:
    """``json.loads(text)`` with clean errors naming ``source``; ``expected`` describes the content."""
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise PoseFormatError(
            f"{source}: not valid JSON ({exc.msg} at line {exc.lineno}, column {exc.colno}). Expected "
            f"{expected}."
        ) from None
    except RecursionError:
        raise PoseFormatError(
            f"{source}: JSON nested thousands of levels deep; expected {expected} (at most a few levels)."
        ) from None
