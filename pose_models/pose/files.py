"""Pose files: one registry of the supported formats (name, label, suffix, sniff, read, write), and
loading/saving of named pose frames through it (used by the CLI and the file nodes).

Formats (:data:`POSE_FILE_FORMATS`, in the order the Save Pose File node lists them):

* ``"pose_keypoint"`` -- one ``.json`` file holding a ``POSE_KEYPOINT`` list (SDPose-like pixel form);
* ``"openpose"`` -- a folder with one OpenPose JSON file per frame, ``<index>_<name>.json`` so that name
  order is frame order;
* ``"csv"`` -- a DeepFashion keypoint CSV (body joints as integers on its 176x256 canvas).

Both JSON forms also store each frame's name under an extra ``"name"`` key (ignored by other readers) so
names survive a round trip. On loading, the format is sniffed from the path (a ``.json`` file holds
OpenPose or ``POSE_KEYPOINT`` content, both read by
:func:`~pose_models.pose.openpose_json.read_openpose_json`); on saving it is inferred from the path unless
given: the format whose suffix the path has, otherwise an openpose folder. A new format is one more
:class:`PoseFileFormat` entry (appended, so saved workflows keep their choices).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from ..file_kinds import file_kind
from .deepfashion import DEEPFASHION_HEIGHT, DEEPFASHION_WIDTH, read_deepfashion_csv, write_deepfashion_csv
from .errors import PoseFormatError
from .keypoints import NamedFrame
from .openpose_json import read_openpose_json, write_openpose_json
from .pose_keypoint import Coordinates, to_pose_keypoint

Reader = Callable[[Path, "tuple[int, int] | None", Coordinates], list[NamedFrame]]
"""``read(path, canvas_size, coordinates)``: named frames of a file or folder."""
Writer = Callable[[Sequence[NamedFrame], Path, bool, Literal["pixel", "normalized"]], list[Path]]
"""``write(frames, path, binarize, coordinates)``: the files written."""


@dataclass(frozen=True)
class PoseFileFormat:
    """One pose file format. ``suffix`` is ``""`` for a folder format; ``canvas`` a fixed ``(W, H)`` canvas
    the format stores coordinates on (``None``: any canvas)."""

    name: str
    label: str
    suffix: str
    read: Reader
    write: Writer
    canvas: tuple[int, int] | None = None

    @property
    def is_folder(self) -> bool:
        return not self.suffix

    def sniff(self, path: Path) -> bool:
        """Whether an existing ``path`` is in this format (by folder or suffix)."""
        return path.is_dir() if self.is_folder else path.is_file() and path.suffix.lower() == self.suffix


def _read_json(path: Path, canvas_size: tuple[int, int] | None, coordinates: Coordinates) -> list[NamedFrame]:
    return read_openpose_json(path, canvas_size=canvas_size, coordinates=coordinates)


def _read_csv(path: Path, canvas_size: tuple[int, int] | None, coordinates: Coordinates) -> list[NamedFrame]:
    return read_deepfashion_csv(path)


def _write_pose_keypoint(frames: Sequence[NamedFrame], path: Path, binarize: bool,
                         coordinates: Literal["pixel", "normalized"]) -> list[Path]:
    value = to_pose_keypoint([f.frame for f in frames], binarize=binarize, coordinates=coordinates)
    for d, f in zip(value, frames, strict=True):
        d["name"] = f.name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(value), encoding="utf-8")
    return [path]


def _write_openpose(frames: Sequence[NamedFrame], path: Path, binarize: bool,
                    coordinates: Literal["pixel", "normalized"]) -> list[Path]:
    return [write_openpose_json(frame, path / f"{i:06d}_{safe_name(name)}.json", binarize=binarize, name=name)
            for i, (name, frame) in enumerate(frames)]


def _write_csv(frames: Sequence[NamedFrame], path: Path, binarize: bool,
               coordinates: Literal["pixel", "normalized"]) -> list[Path]:
    return [write_deepfashion_csv(path, frames)]


POSE_FILE_FORMATS: tuple[PoseFileFormat, ...] = (
    PoseFileFormat("pose_keypoint", "POSE_KEYPOINT json", ".json", _read_json, _write_pose_keypoint),
    PoseFileFormat("openpose", "OpenPose json folder", "", _read_json, _write_openpose),
    PoseFileFormat("csv", "DeepFashion csv", ".csv", _read_csv, _write_csv,
                   canvas=(DEEPFASHION_WIDTH, DEEPFASHION_HEIGHT)),
)
FILE_FORMATS: tuple[str, ...] = tuple(f.name for f in POSE_FILE_FORMATS)
FILE_SUFFIXES: tuple[str, ...] = tuple(f.suffix for f in POSE_FILE_FORMATS if f.suffix)
"""The suffixes of the file formats (``.json``, ``.csv``); folders hold OpenPose ``.json`` files."""
FileFormat = Literal["csv", "pose_keypoint", "openpose"]


def _check_registry() -> None:
    names = [f.name for f in POSE_FILE_FORMATS]
    labels = [f.label for f in POSE_FILE_FORMATS]
    suffixes = [f.suffix for f in POSE_FILE_FORMATS]
    if any(len(set(values)) != len(values) for values in (names, labels, suffixes)):
        raise RuntimeError(f"pose file formats must have distinct names, labels and suffixes: {names}")


_check_registry()


def file_format(name: str) -> PoseFileFormat:
    """The format named ``name`` (its ``name`` or its ``label``)."""
    for fmt in POSE_FILE_FORMATS:
        if name in (fmt.name, fmt.label):
            return fmt
    raise PoseFormatError(f"unknown pose file format {name!r}; choose one of {', '.join(FILE_FORMATS)}.")


def infer_format(path: str | Path) -> FileFormat:
    """The output format implied by ``path``: the format with its suffix, otherwise an openpose folder."""
    suffix = Path(path).suffix.lower()
    for fmt in POSE_FILE_FORMATS:
        if fmt.suffix and fmt.suffix == suffix:
            return fmt.name  # type: ignore[return-value]
    return next(f.name for f in POSE_FILE_FORMATS if f.is_folder)  # type: ignore[return-value]


def load_poses(path: str | Path, *, canvas_size: tuple[int, int] | None = None,
               coordinates: Coordinates = "auto") -> list[NamedFrame]:
    """Read any registered format: a DeepFashion CSV, an OpenPose/``POSE_KEYPOINT`` JSON file, or a
    folder of OpenPose files."""
    path = Path(path)
    if not path.exists():
        raise PoseFormatError(f"{path}: no such file or directory.")
    for fmt in POSE_FILE_FORMATS:
        if fmt.sniff(path):
            return fmt.read(path, canvas_size, coordinates)
    formats = ", ".join(f"{f.label} ({f.suffix or 'a folder of .json'})" for f in POSE_FILE_FORMATS)
    raise PoseFormatError(f"{path}: this is {file_kind(path).description}, not a pose file; pose files are "
                          f"{formats}.")


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
    return file_format(fmt or infer_format(path)).write(frames, path, binarize, coordinates)
