"""Reading and writing image files for the command lines, with Pillow (no OpenCV needed).

Images are ``uint8 [H, W, 3]`` RGB arrays (label maps ``uint8 [H, W]``); PNG is lossless, so what is written
is exactly the array.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from .errors import PoseTransferError
from .file_kinds import file_kind


def read_rgb(path: str | Path, error: type[Exception] = PoseTransferError) -> np.ndarray:
    """``uint8 [H, W, 3]`` RGB pixels of an image file (any format Pillow reads; EXIF rotation is not
    applied). Raises ``error`` naming what the file is when it is not a readable image."""
    path = Path(path)
    try:
        with Image.open(path) as image:
            return np.asarray(image.convert("RGB")).copy()
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        kind = file_kind(path)
        if kind.family == "image":
            raise error(f"{path}: {kind.description} that cannot be decoded ({exc}): damaged.") from None
        raise error(f"{path}: this is {kind.description}, not an image.") from None


def write_png(path: str | Path, pixels: np.ndarray) -> None:
    """Write ``uint8 [H, W, 3]`` RGB or ``uint8 [H, W]`` grey pixels as a PNG file (``OSError`` on
    failure)."""
    Image.fromarray(np.ascontiguousarray(pixels)).save(Path(path), format="PNG")
