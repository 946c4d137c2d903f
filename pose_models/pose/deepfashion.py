"""DeepFashion keypoint annotation CSV (``fasion-resize-annotation-*.csv``) reader and writer.

Format: header ``name:keypoints_y:keypoints_x``, separator ``:``, then one row per image:
``<image name>:[y0, ..., y17]:[x0, ..., x17]`` -- two lists of 18 integers in COCO-18 order, **y first**,
in the **256 x 176 (H x W)** frame; ``-1`` marks a missing joint.

Reading: each row becomes a :class:`~pose_models.pose.keypoints.NamedFrame` on a 176 x 256 canvas with at
most one person, confidence 1.0 for visible joints. A joint is missing when either coordinate is ``-1``
(CFLD's rule). A row whose 18 joints are all missing becomes a frame with **zero people** (valid data:
nothing annotated). Blank lines are skipped; anything else malformed raises
:class:`~pose_models.pose.errors.PoseFormatError` with the line number.

Writing: frames must be on the 176 x 256 canvas (use :func:`pose_models.pose.ops.fit_to_canvas` or
``scale_to_canvas`` first) and hold at most one person (zero people -> all ``-1``); coordinates are rounded
to the nearest integer (so integer input round-trips exactly). Off-canvas coordinates are kept (the
annotations themselves contain some, e.g. x = -18); only a visible joint with a rounded coordinate of
exactly ``-1`` cannot be written (it would read back as missing) -- use ``clip_to_canvas`` first.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from .errors import PoseFormatError
from .keypoints import NamedFrame, Person, PoseFrame, check_points
from .text_files import read_pose_text

logger = logging.getLogger(__name__)

DEEPFASHION_WIDTH = 176
DEEPFASHION_HEIGHT = 256
DEEPFASHION_HEADER = "name:keypoints_y:keypoints_x"


def parse_deepfashion_row(line: str, *, label: str = "row") -> NamedFrame:
    """Parse one ``name:[ys]:[xs]`` row (without the newline) into a named 176 x 256 frame."""
    fields = line.rsplit(":", 2)
    if len(fields) != 3 or not fields[0]:
        raise PoseFormatError(f"{label}: expected 'name:[18 y values]:[18 x values]', got {line[:80]!r}.")
    name, ys, xs = fields
    coords = []
    for axis, text in (("keypoints_y", ys), ("keypoints_x", xs)):
        try:
            values = json.loads(text)
        except (json.JSONDecodeError, RecursionError):
            raise PoseFormatError(
                f"{label} ({name}): {axis} {text[:60]!r} is not a list like [36, 82, -1, ...]."
            ) from None
        if (not isinstance(values, list) or len(values) != 18
                or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)):
            raise PoseFormatError(f"{label} ({name}): {axis} must be a list of 18 numbers (-1 = missing).")
        coords.append(np.asarray(values, np.float64))
    y, x = coords
    missing = (x == -1) | (y == -1)
    if missing.all():
        return NamedFrame(name, PoseFrame((), DEEPFASHION_WIDTH, DEEPFASHION_HEIGHT))
    body = np.stack([x, y, (~missing).astype(np.float64)], axis=1)
    person = Person(check_points(body, 18, f"{label} ({name})"))
    return NamedFrame(name, PoseFrame((person,), DEEPFASHION_WIDTH, DEEPFASHION_HEIGHT))


def read_deepfashion_csv(path: str | Path) -> list[NamedFrame]:
    """Read a DeepFashion keypoint CSV into named frames, in file order (see the module docstring)."""
    path = Path(path)
    lines = read_pose_text(path, "DeepFashion keypoint CSV").splitlines()
    if not lines or lines[0].strip() != DEEPFASHION_HEADER:
        first = lines[0][:80] if lines else "<empty file>"
        raise PoseFormatError(f"{path}: first line must be the header {DEEPFASHION_HEADER!r}, got {first!r}.")
    return [parse_deepfashion_row(line.strip(), label=f"{path}, line {n}")
            for n, line in enumerate(lines[1:], start=2) if line.strip()]


def format_deepfashion_row(name: str, frame: PoseFrame) -> str:
    """One CSV row (no newline) for ``frame``; see the module docstring for the requirements."""
    label = f"DeepFashion row {name!r}"
    if not name or any(c in name for c in ":\r\n"):
        raise PoseFormatError(f"{label}: the name must be non-empty and contain no ':' or line breaks.")
    if (frame.canvas_width, frame.canvas_height) != (DEEPFASHION_WIDTH, DEEPFASHION_HEIGHT):
        raise PoseFormatError(
            f"{label}: canvas is {frame.canvas_width}x{frame.canvas_height}, DeepFashion keypoints live on "
            f"{DEEPFASHION_WIDTH}x{DEEPFASHION_HEIGHT} (WxH). Convert first with "
            "fit_to_canvas(frame, 176, 256) (keeps the aspect) or scale_to_canvas (stretches)."
        )
    if len(frame.people) > 1:
        raise PoseFormatError(f"{label}: {len(frame.people)} people; a DeepFashion row holds one. "
                              "Select one person first.")
    ys, xs = [-1] * 18, [-1] * 18
    if frame.people:
        body = frame.people[0].body
        for j in np.flatnonzero(body[:, 2] > 0):
            x, y = (int(v) for v in np.rint(body[j, :2]))
            if x == -1 or y == -1:
                raise PoseFormatError(
                    f"{label}, joint {j}: ({x}, {y}) rounds to the -1 that marks a missing joint and would "
                    "read back as missing. Apply clip_to_canvas first (or move the joint)."
                )
            xs[j], ys[j] = x, y
    return f"{name}:{ys}:{xs}"


def write_deepfashion_csv(path: str | Path, frames: Iterable[NamedFrame | tuple[str, PoseFrame]]) -> Path:
    """Write named frames as a DeepFashion keypoint CSV (header + one row each); returns the path."""
    path = Path(path)
    rows = [DEEPFASHION_HEADER] + [format_deepfashion_row(name, frame) for name, frame in frames]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    logger.debug("wrote %s (%d rows)", path, len(rows) - 1)
    return path
