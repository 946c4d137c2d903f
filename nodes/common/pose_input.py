"""Reading ``POSE_KEYPOINT`` inputs in any node, frame summaries, the coordinate modes widget."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ...pose_models.pose import PoseFormatError, PoseFrame, from_pose_keypoint

COORDINATE_MODES = ["auto", "pixel", "normalized"]


def read_pose_input(value: Any, input_name: str, coordinates: str = "auto") -> list[PoseFrame]:
    """``POSE_KEYPOINT`` input -> canonical frames; an empty batch is an error naming ``input_name``."""
    frames = from_pose_keypoint(value, coordinates=coordinates, source=f"input '{input_name}'")
    if not frames:
        raise PoseFormatError(
            f"input '{input_name}' holds no frames. Connect a pose producer that detected at least one image."
        )
    return frames


def frame_summary(frames: Sequence[PoseFrame]) -> str:
    """One line per frame: canvas size and people count (shown on nodes as UI text)."""
    return "\n".join(
        f"frame {i}: {f.canvas_width}x{f.canvas_height}, {len(f.people)} "
        f"{'person' if len(f.people) == 1 else 'people'}"
        for i, f in enumerate(frames)
    )
