"""OpenPose JSON files: ``{"version": 1.3, "people": [{"pose_keypoints_2d": [...], ...}]}``, one per image.

Reading: the parts and reading rules are those of :mod:`pose_models.pose.pose_keypoint` (flat lists,
18 or 25 body points, normalised/pixel detection, ``c = 0`` missing). Real OpenPose files do **not** store
the image size: the canvas comes from ``canvas_width``/``canvas_height`` in the JSON when present (files
written by this pack and by controlnet_aux have them), else from the ``canvas_size=(W, H)`` argument, else
:class:`~pose_models.pose.errors.PoseFormatError`. A file holding a whole ``POSE_KEYPOINT`` list (a JSON
array of frame dicts) is accepted too. A directory is read as its ``*.json`` files in name order, one
frame each.

Writing: one frame per file, pixel coordinates and real confidences (or 1.0 with ``binarize``), absent
face/hands as ``[]``, feet (``foot_keypoints_2d``, not part of OpenPose's own COCO output) only when
present, plus ``canvas_width``/``canvas_height`` so the file reads back without a canvas argument.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from .errors import PoseFormatError
from .keypoints import NamedFrame, PoseFrame
from .pose_keypoint import Coordinates, frame_to_dict, from_pose_keypoint
from .text_files import parse_json, read_pose_text

logger = logging.getLogger(__name__)

OPENPOSE_JSON_VERSION = 1.3


def load_json_file(path: str | Path) -> Any:
    """Parse a JSON pose file (:mod:`.text_files`: BOM, UTF-16, size limit, clean errors)."""
    return parse_json(read_pose_text(path, "pose file (.json)"), str(path),
                      "an OpenPose JSON file or a POSE_KEYPOINT list")


def read_openpose_json(path: str | Path, *, canvas_size: tuple[int, int] | None = None,
                       coordinates: Coordinates = "auto") -> list[NamedFrame]:
    """Read an OpenPose JSON file, a ``POSE_KEYPOINT`` JSON file, or a directory of OpenPose files.

    Frames are named by their ``"name"`` key when present, else after the file stem (``stem`` for one
    frame, ``stem_0003`` within a multi-frame file). ``canvas_size=(width, height)`` supplies the canvas
    for files that lack it.
    """
    path = Path(path)
    if path.is_dir():
        files = sorted(path.glob("*.json"))
        if not files:
            raise PoseFormatError(f"{path}: directory holds no *.json files.")
        return [nf for f in files for nf in read_openpose_json(f, canvas_size=canvas_size,
                                                                 coordinates=coordinates)]
    data = load_json_file(path)
    if not isinstance(data, (dict, list)):
        raise PoseFormatError(
            f"{path}: top-level JSON is a {type(data).__name__}; expected an object with 'people' "
            "(OpenPose) or an array of frame objects (POSE_KEYPOINT)."
        )
    if isinstance(data, dict) and "people" not in data:
        raise PoseFormatError(f"{path}: no 'people' key; this is not an OpenPose keypoint file.")
    frames = from_pose_keypoint(data, coordinates=coordinates, canvas_size=canvas_size, source=str(path))
    dicts = data if isinstance(data, list) else [data]
    names = [d.get("name") if isinstance(d, dict) else None for d in dicts]
    default = [path.stem] if len(frames) == 1 else [f"{path.stem}_{i:04d}" for i in range(len(frames))]
    return [NamedFrame(n if isinstance(n, str) and n else dn, f)
            for n, dn, f in zip(names, default, frames, strict=True)]


def openpose_dict(frame: PoseFrame, *, binarize: bool = False, name: str | None = None) -> dict[str, Any]:
    """The OpenPose file dict of one frame (see the module docstring); ``name`` is stored if given."""
    d = frame_to_dict(frame, binarize=binarize, absent_as_zeros=False)
    people = [{"person_id": [-1], **p} for p in d["people"]]
    out: dict[str, Any] = {"version": OPENPOSE_JSON_VERSION, "people": people,
                           "canvas_width": d["canvas_width"], "canvas_height": d["canvas_height"]}
    if name is not None:
        out["name"] = name
    return out


def write_openpose_json(frame: PoseFrame, path: str | Path, *, binarize: bool = False,
                        name: str | None = None) -> Path:
    """Write one frame as an OpenPose JSON file (parent directories are created); returns the path.

    ``name`` is stored under an extra ``"name"`` key (read back as the frame name, ignored elsewhere).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(openpose_dict(frame, binarize=binarize, name=name)), encoding="utf-8")
    logger.debug("wrote %s (%d people)", path, len(frame.people))
    return path
