"""Small pose transforms the nodes need: mirror, confidence threshold, canvas changes, batch helpers.

All functions take and return canonical frames (:mod:`pose_models.pose.keypoints`); inputs are never
modified. Missing points stay missing under every transform.

Coordinate conventions: canvas changes multiply coordinates (``x * new_w / old_w``), as every producer
and renderer of ``POSE_KEYPOINT`` does; mirroring maps ``x -> canvas_width - 1 - x``, which is exactly
what flipping the image's pixel columns does (``torch.flip``/``cv2.flip``), so a mirrored pose lines up
with the mirrored image and mirroring twice is the identity.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any, Literal

import numpy as np

from .errors import PoseFormatError
from .keypoints import (
    BODY_MIRROR,
    BONES,
    FACE_MIRROR,
    FEET_MIRROR,
    Person,
    PoseFrame,
    check_canvas_side,
    visible,
)

PointMap = Callable[[np.ndarray], np.ndarray]
"""Maps visible ``float64 [K, 2]`` pixel coordinates to new ones."""


def map_points(person: Person, fn: PointMap) -> Person:
    """Apply ``fn`` to the coordinates of every visible point of every part; confidences are kept."""
    changes = {}
    for name, pts in person.parts().items():
        arr = pts.astype(np.float64)
        vis = visible(pts)
        arr[vis, :2] = fn(arr[vis, :2])
        changes[name] = arr
    return replace(person, **changes)


def transform_frame(frame: PoseFrame, fn: PointMap, width: int | None = None,
                    height: int | None = None) -> PoseFrame:
    """Apply ``fn`` (see :func:`map_points`) to every person; optionally give the frame a new canvas."""
    return PoseFrame(tuple(map_points(p, fn) for p in frame.people),
                     frame.canvas_width if width is None else width,
                     frame.canvas_height if height is None else height)


def mirror_person(person: Person, canvas_width: int) -> Person:
    """Flip ``person`` left-right on a canvas ``canvas_width`` px wide and swap its left/right labels.

    Body joints, hands (left <-> right), feet and the 70 face points are relabelled so that a "left
    elbow" stays the person's left elbow in the mirrored image.
    """
    flipped = map_points(person, lambda xy: np.column_stack([canvas_width - 1 - xy[:, 0], xy[:, 1]]))
    return Person(
        body=flipped.body[list(BODY_MIRROR)],
        face=None if flipped.face is None else flipped.face[list(FACE_MIRROR)],
        left_hand=flipped.right_hand,
        right_hand=flipped.left_hand,
        feet=None if flipped.feet is None else flipped.feet[list(FEET_MIRROR)],
    )


def mirror_frame(frame: PoseFrame) -> PoseFrame:
    """Mirror every person of ``frame`` (see :func:`mirror_person`); the canvas is unchanged."""
    return replace(frame, people=tuple(mirror_person(p, frame.canvas_width) for p in frame.people))


def threshold_confidence(frame: PoseFrame, threshold: float, *, binarize: bool = False) -> PoseFrame:
    """Mark points with ``conf < threshold`` missing; with ``binarize`` set the survivors' conf to 1.0.

    A part left with no visible point becomes absent (``None``); the body always stays ``[18, 3]``.
    """
    if not np.isfinite(threshold) or threshold < 0:
        raise PoseFormatError(f"threshold must be a finite number >= 0, got {threshold!r}.")
    people = []
    for person in frame.people:
        changes: dict[str, Any] = {}
        for name, pts in person.parts().items():
            arr = pts.copy()
            weak = arr[:, 2] < threshold
            arr[weak] = 0.0
            if binarize:
                arr[arr[:, 2] > 0, 2] = 1.0
            changes[name] = arr if name == "body" or visible(arr).any() else None
        people.append(replace(person, **changes))
    return replace(frame, people=tuple(people))


def scale_to_canvas(frame: PoseFrame, width: int, height: int) -> PoseFrame:
    """Stretch ``frame`` to a ``width`` x ``height`` canvas (x and y scaled independently)."""
    width, height = check_canvas_side(width, "width", "scale_to_canvas"), check_canvas_side(
        height, "height", "scale_to_canvas")
    s = np.array([width / frame.canvas_width, height / frame.canvas_height])
    return transform_frame(frame, lambda xy: xy * s, width, height)


def fit_to_canvas(frame: PoseFrame, width: int, height: int,
                  mode: Literal["contain", "cover"] = "contain") -> PoseFrame:
    """Move ``frame`` to a ``width`` x ``height`` canvas keeping its aspect ratio, centred.

    ``"contain"`` scales by ``min(width/W, height/H)`` (the image would be letterboxed/padded),
    ``"cover"`` by the max (the image would be centre-cropped; joints that fall outside are kept, see
    :func:`clip_to_canvas`). The offset is not rounded to whole pixels.
    """
    width, height = check_canvas_side(width, "width", "fit_to_canvas"), check_canvas_side(
        height, "height", "fit_to_canvas")
    if mode not in ("contain", "cover"):
        raise PoseFormatError(f"fit_to_canvas: mode must be 'contain' or 'cover', not {mode!r}.")
    sx, sy = width / frame.canvas_width, height / frame.canvas_height
    s = min(sx, sy) if mode == "contain" else max(sx, sy)
    offset = np.array([(width - frame.canvas_width * s) / 2, (height - frame.canvas_height * s) / 2])
    return transform_frame(frame, lambda xy: xy * s + offset, width, height)


def clip_to_canvas(frame: PoseFrame) -> PoseFrame:
    """Mark visible points outside ``[0, W) x [0, H)`` missing (parts left empty become absent)."""
    w, h = frame.canvas_width, frame.canvas_height
    people = []
    for person in frame.people:
        changes: dict[str, Any] = {}
        for name, pts in person.parts().items():
            arr = pts.copy()
            x, y = arr[:, 0], arr[:, 1]
            arr[(x < 0) | (x >= w) | (y < 0) | (y >= h)] = 0.0
            changes[name] = arr if name == "body" or visible(arr).any() else None
        people.append(replace(person, **changes))
    return replace(frame, people=tuple(people))


def bone_lengths(person: Person) -> np.ndarray:
    """``float64 [17]`` pixel length of each bone of :data:`BONES`; NaN where an end joint is missing."""
    body = person.body.astype(np.float64)
    vis = visible(person.body)
    out = np.full(len(BONES), np.nan)
    for k, (p, c) in enumerate(BONES):
        if vis[p] and vis[c]:
            out[k] = float(np.hypot(*(body[c, :2] - body[p, :2])))
    return out


def select_people(frame: PoseFrame, indices: Sequence[int]) -> PoseFrame:
    """A frame with only the people at ``indices`` (in that order)."""
    n = len(frame.people)
    for i in indices:
        if not -n <= i < n:
            raise PoseFormatError(f"select_people: person index {i} does not exist; the frame has {n}.")
    return replace(frame, people=tuple(frame.people[i] for i in indices))


def broadcast_frames(frames: Sequence[PoseFrame], count: int, *, what: str = "poses") -> list[PoseFrame]:
    """Match a pose batch to ``count`` images: one frame is repeated, ``count`` frames pass through.

    Any other length raises :class:`PoseFormatError` (never a silent truncation or cycling).
    """
    if count < 1:
        raise PoseFormatError(f"broadcast_frames: count must be >= 1, got {count}.")
    if len(frames) == 1:
        return [frames[0]] * count
    if len(frames) != count:
        raise PoseFormatError(
            f"{len(frames)} {what} for {count} images: give one pose (used for every image) or exactly "
            f"{count}."
        )
    return list(frames)
