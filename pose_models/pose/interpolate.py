"""Interpolate between two poses: ``n`` frames from ``a`` to ``b`` inclusive.

``interpolate_poses(a, b, n)`` returns ``n >= 2`` frames at ``t = k / (n - 1)``; frame 0 **is** ``a`` and
frame ``n - 1`` **is** ``b`` (exactly, not recomputed). Both frames must share a canvas size (use
:func:`pose_models.pose.ops.scale_to_canvas` or ``fit_to_canvas`` first).

* People are matched by index. People present in only one frame (the longer list's tail) appear, unchanged,
  in the frames nearer to their end: ``t < 0.5`` for ``a``'s, ``t >= 0.5`` for ``b``'s.
* ``mode="linear"`` (default): every point moves in a straight line in pixel space; confidences are
  interpolated linearly too.
* ``mode="angle"``: the body is interpolated along the kinematic tree rooted at the neck: the neck moves
  linearly, each bone's length is interpolated linearly and its direction rotates along the shorter arc
  (2-D slerp), so limbs swing instead of shrinking through the middle. Face, hands and feet keep their
  offsets from their anchor joints (nose, wrists, ankles) interpolated linearly. Where the tree is broken
  (a parent missing at either end) the linear rule applies.
* A point visible at **one end only** is kept in the frames nearer to that end (``t < 0.5`` for ``a``,
  ``t >= 0.5`` for ``b``) and missing in the others: held still in linear mode, carried along by its
  parent (same offset as at its end) in angle mode. A part present at one end only follows the same rule.
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np

from .errors import PoseFormatError
from .keypoints import BONES, NECK, OPTIONAL_PARTS, Person, PoseFrame, visible
from .retarget import PART_ANCHORS

InterpolationMode = Literal["linear", "angle"]

_PART_JOINTS: dict[str, tuple[int, ...]] = {
    "face": (PART_ANCHORS["face"],) * 70,
    "left_hand": (PART_ANCHORS["left_hand"],) * 21,
    "right_hand": (PART_ANCHORS["right_hand"],) * 21,
    "feet": (13, 13, 13, 10, 10, 10),
}


def interpolate_poses(a: PoseFrame, b: PoseFrame, n: int, *,
                      mode: InterpolationMode = "linear") -> list[PoseFrame]:
    """``n`` frames from ``a`` to ``b`` inclusive (see the module docstring)."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 2:
        raise PoseFormatError(f"interpolate: n must be an integer >= 2 (both ends included), got {n!r}.")
    if mode not in ("linear", "angle"):
        raise PoseFormatError(f"interpolate: mode must be 'linear' or 'angle', not {mode!r}.")
    if (a.canvas_width, a.canvas_height) != (b.canvas_width, b.canvas_height):
        raise PoseFormatError(
            f"interpolate: canvases differ ({a.canvas_width}x{a.canvas_height} vs "
            f"{b.canvas_width}x{b.canvas_height}); bring both to one size with scale_to_canvas or "
            "fit_to_canvas."
        )
    frames = [a]
    for k in range(1, n - 1):
        t = k / (n - 1)
        frames.append(PoseFrame(_people_at(a, b, t, mode), a.canvas_width, a.canvas_height))
    frames.append(b)
    return frames


def _people_at(a: PoseFrame, b: PoseFrame, t: float, mode: InterpolationMode) -> tuple[Person, ...]:
    m = min(len(a.people), len(b.people))
    people = [interpolate_person(pa, pb, t, mode=mode) for pa, pb in zip(a.people, b.people, strict=False)]
    extra = a.people[m:] if t < 0.5 else b.people[m:]
    return (*people, *extra)


def interpolate_person(a: Person, b: Person, t: float, *, mode: InterpolationMode = "linear") -> Person:
    """``a`` moved fraction ``t`` (0..1) of the way to ``b`` (see the module docstring)."""
    if not 0.0 <= t <= 1.0:
        raise PoseFormatError(f"interpolate: t must be in [0, 1], got {t!r}.")
    body = _lerp_points(a.body, b.body, t)
    if mode == "angle":
        body = _angle_body(a.body, b.body, t, body)
    parts: dict[str, np.ndarray | None] = {}
    for name in OPTIONAL_PARTS:
        pa, pb = getattr(a, name), getattr(b, name)
        if pa is None and pb is None:
            parts[name] = None
        elif pa is None or pb is None:
            kept, end = (pa, a) if pb is None else (pb, b)
            if (t < 0.5) != (pb is None):  # on the other end's half: absent
                parts[name] = None
            elif mode == "angle":
                parts[name] = _carry(kept, end.body, body, _PART_JOINTS[name])
            else:
                parts[name] = kept
        elif mode == "angle":
            parts[name] = _anchored_lerp(pa, pb, a.body, b.body, body, t, _PART_JOINTS[name])
        else:
            parts[name] = _lerp_points(pa, pb, t)
    return Person(body=body, **parts)


def _lerp_points(pa: np.ndarray, pb: np.ndarray, t: float) -> np.ndarray:
    """Linear rule: both visible -> lerp; one visible -> held on its half of the interval."""
    va, vb = visible(pa), visible(pb)
    out = np.zeros(pa.shape, np.float64)
    both = va & vb
    out[both] = (1 - t) * pa[both].astype(np.float64) + t * pb[both].astype(np.float64)
    only = (va & ~vb) if t < 0.5 else (vb & ~va)
    out[only] = (pa if t < 0.5 else pb)[only]
    return out


def _angle_body(pa: np.ndarray, pb: np.ndarray, t: float, linear: np.ndarray) -> np.ndarray:
    """Body along the tree: lengths lerped, directions slerped; ``linear`` where the tree is broken."""
    va, vb = visible(pa), visible(pb)
    a, b = pa.astype(np.float64), pb.astype(np.float64)
    out = linear.copy()
    tree = np.zeros(18, bool)  # joints placed through the tree (their position follows their parent)
    tree[NECK] = bool(va[NECK] and vb[NECK])
    for p, c in BONES:
        if not (out[p, 2] > 0 and (tree[p] or (va[p] and vb[p]))):
            continue
        if va[c] and vb[c] and va[p] and vb[p]:
            da, db = a[c, :2] - a[p, :2], b[c, :2] - b[p, :2]
            length = (1 - t) * math.hypot(*da) + t * math.hypot(*db)
            angle = _slerp_angle(math.atan2(da[1], da[0]), math.atan2(db[1], db[0]), t)
            out[c, :2] = out[p, :2] + length * np.array([math.cos(angle), math.sin(angle)])
            tree[c] = True
        elif out[c, 2] > 0 and (va[c] != vb[c]):
            end = a if va[c] else b
            if end[p, 2] > 0:
                out[c, :2] = out[p, :2] + (end[c, :2] - end[p, :2])
                tree[c] = True
    return out


def _slerp_angle(a0: float, a1: float, t: float) -> float:
    """Angle ``t`` of the way from ``a0`` to ``a1`` along the shorter arc (radians)."""
    delta = (a1 - a0 + math.pi) % (2 * math.pi) - math.pi
    return a0 + t * delta


def _anchored_lerp(pa: np.ndarray, pb: np.ndarray, body_a: np.ndarray, body_b: np.ndarray,
                   body_t: np.ndarray, t: float, joints: tuple[int, ...]) -> np.ndarray:
    """Lerp part points as offsets from their anchor joint where it is visible at both ends and now."""
    out = _lerp_points(pa, pb, t)
    for i, j in enumerate(joints):
        if body_a[j, 2] > 0 and body_b[j, 2] > 0 and body_t[j, 2] > 0 and pa[i, 2] > 0 and pb[i, 2] > 0:
            off = (1 - t) * (pa[i, :2] - body_a[j, :2]) + t * (pb[i, :2] - body_b[j, :2])
            out[i, :2] = body_t[j, :2] + off
    return out


def _carry(points: np.ndarray, body_end: np.ndarray, body_t: np.ndarray,
           joints: tuple[int, ...]) -> np.ndarray:
    """Move a one-ended part with its anchor joints (from their position at that end to now)."""
    out = points.astype(np.float64)
    for i, j in enumerate(joints):
        if out[i, 2] > 0 and body_end[j, 2] > 0 and body_t[j, 2] > 0:
            out[i, :2] += body_t[j, :2] - body_end[j, :2]
    return out
