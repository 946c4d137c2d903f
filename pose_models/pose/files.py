"""Load and save named pose frames in any supported file format, chosen by path (used by the CLI).

Formats: ``"csv"`` (DeepFashion keypoint CSV), ``"pose_keypoint"`` (one JSON file holding a
``POSE_KEYPOINT`` list, SDPose-like pixel form), ``"openpose"`` (a directory with one OpenPose JSON file
per frame, ``<index>_<name>.json`` so that name order is frame order). Both JSON forms also store each
frame's name under an extra ``"name"`` key (ignored by other readers) so names survive a round trip.

On loading, ``.csv`` files are DeepFashion; ``.json`` files and directories are read by
:func:`~pose_models.pose.openpose_json.read_openpose_json` (OpenPose or ``POSE_KEYPOINT`` content). On
saving, the format is inferred from the path unless given: ``.csv`` -> csv, ``.json`` -> pose_keypoint,
anything else -> an openpose directory.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

from .deepfashion import read_deepfashion_csv, write_deepfashion_csv
from .errors import PoseFormatError
from .keypoints import NamedFrame
from .openpose_json import read_openpose_json, write_openpose_json
from .pose_keypoint import Coordinates, to_pose_keypoint

FileFormat = Literal["csv", "pose_keypoint", "openpose"]
FILE_FORMATS: tuple[str, ...] = ("csv", "pose_keypoint", "openpose")


def load_poses(path: str | Path, *, canvas_size: tuple[int, int] | None = None,
               coordinates: Coordinates = "auto") -> list[NamedFrame]:
    """Read a DeepFashion CSV, an OpenPose/``POSE_KEYPOINT`` JSON file, or a directory of OpenPose files."""
    path = Path(path)
    if not path.exists():
        raise PoseFormatError(f"{path}: no such file or directory.")
    if path.suffix.lower() == ".csv":
        return read_deepfashion_csv(path)
    if path.is_dir() or path.suffix.lower() == ".json":
        return read_openpose_json(path, canvas_size=canvas_size, coordinates=coordinates)
    raise PoseFormatError(f"{path}: unknown pose file type; expected .csv, .json or a directory of .json.")


def infer_format(path: str | Path) -> FileFormat:
    """The output format implied by ``path`` (see the module docstring)."""
    suffix = Path(path).suffix.lower()
    return "csv" if suffix == ".csv" else "pose_keypoint" if suffix == ".json" else "openpose"


def safe_name(name: str) -> str:
    """``name`` reduced to a portable file-name stem (letters, digits, ``._-``; image suffix dropped)."""
    stem = re.sub(r"\.(jpe?g|png|webp|bmp)$", "", name, flags=re.IGNORECASE)
    return re.sub(r"[^A-Za-z0-9._-]+", "_", stem).strip("._") or "frame"


def save_poses(frames: Sequence[NamedFrame], path: str | Path, fmt: FileFormat | None = None, *,
               binarize: bool = False, coordinates: Literal["pixel", "normalized"] = "pixel") -> list[Path]:
    """Write ``frames`` to ``path`` in ``fmt`` (inferred from the path when ``None``); returns written files.

    ``binarize``/``coordinates`` apply to the JSON formats (``coordinates`` to pose_keypoint only).
    """
    path = Path(path)
    fmt = fmt or infer_format(path)
    if fmt == "csv":
        return [write_deepfashion_csv(path, frames)]
    if fmt == "pose_keypoint":
        value = to_pose_keypoint([f.frame for f in frames], binarize=binarize, coordinates=coordinates)
        for d, f in zip(value, frames, strict=True):
            d["name"] = f.name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(value), encoding="utf-8")
        return [path]
    if fmt == "openpose":
        return [write_openpose_json(frame, path / f"{i:06d}_{safe_name(name)}.json", binarize=binarize,
                                    name=name)
                for i, (name, frame) in enumerate(frames)]
    raise PoseFormatError(f"unknown output format {fmt!r}; choose one of {', '.join(FILE_FORMATS)}.")
