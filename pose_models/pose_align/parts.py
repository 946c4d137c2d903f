"""Body parts of the part-wise warp: names and order, defining joints, and their shapes on the source.

Part order
----------
:data:`PART_NAMES` is the order of every per-part tensor (``[P, H, W]`` masks, ``[P, 2, 3]`` maps) and the
**back-to-front compositing order**: torso, legs (thigh then shin), arms (upper then lower), head. A part
later in the list hides the parts before it where both land, and owns the pixels where both shapes overlap
on the source (so an elbow disc belongs to the lower arm, a hip disc to the thigh, a shoulder disc to the
upper arm: when the later part turns about that joint its round cap turns onto itself, which keeps the
joint closed instead of tearing a wedge open).

Shapes
------
A part's shape is the convex hull of a few points dilated by a radius (a *capsule* for two points, a disc
for one), in **pixels of the image** (``x`` right, ``y`` down, pixel ``(row i, column j)`` centred at
``(x=j, y=i)``, as in :mod:`pose_models.pose.keypoints`). Radii and extensions are fractions of the source
person's :func:`reference_length` (about the neck-to-hip length), so the defaults fit any resolution and
framing.

========================== ======================================= ==========================================
part                       shape points                            radius
========================== ======================================= ==========================================
limbs (upper arm, thigh)   parent joint, child joint               ``arm_radius`` / ``leg_radius``
lower arm / shin           elbow/knee, wrist/ankle pushed out by   ``arm_radius`` / ``leg_radius``
                           ``hand_extension`` / ``foot_extension``
                           of the bone (covers the hand / foot)
torso                      visible neck, shoulders, hips; without  ``torso_margin``
                           hips, the upper points are also pushed
                           ``torso_extension`` down, away from the
                           head (upper-body crops)
head                       visible nose, eyes, ears, and the point ``head_radius``
                           halfway from their centre to the neck
                           joint (chin and throat)
========================== ======================================= ==========================================
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import NamedTuple

import numpy as np

from ..pose.errors import PoseFormatError

PART_NAMES: tuple[str, ...] = (
    "torso", "right_thigh", "right_shin", "left_thigh", "left_shin",
    "right_upper_arm", "right_lower_arm", "left_upper_arm", "left_lower_arm", "head",
)
"""Part order of every per-part tensor, back to front."""

LIMB_JOINTS: dict[str, tuple[int, int]] = {
    "right_thigh": (8, 9), "right_shin": (9, 10), "left_thigh": (11, 12), "left_shin": (12, 13),
    "right_upper_arm": (2, 3), "right_lower_arm": (3, 4), "left_upper_arm": (5, 6), "left_lower_arm": (6, 7),
}
"""COCO-18 ``(parent, child)`` joints of each limb part; its map is the similarity taking one to the other."""

LIMB_KIND: dict[str, str] = {name: "arm" if "arm" in name else "leg" for name in LIMB_JOINTS}
"""``"arm"`` or ``"leg"`` for each limb part (picks its radius and extension)."""

DISTAL_LIMBS: frozenset[str] = frozenset({"right_lower_arm", "left_lower_arm", "right_shin", "left_shin"})
"""Limbs whose shape runs past the child joint to cover the hand / foot."""

TORSO_JOINTS: tuple[int, ...] = (1, 2, 5, 8, 11)
"""Neck, shoulders, hips: the torso's least-squares map and shape."""

HEAD_JOINTS: tuple[int, ...] = (0, 14, 15, 16, 17, 1)
"""Nose, eyes, ears and neck: the head's least-squares map (the neck ties the head to the body)."""

FACE_JOINTS: tuple[int, ...] = (0, 14, 15, 16, 17)
"""Nose, eyes, ears: the head's shape (the neck joint sits between the shoulders, so it is left out)."""

HIPS: tuple[int, int] = (8, 11)
UPPER_TORSO: tuple[int, ...] = (2, 1, 5)  # right shoulder, neck, left shoulder: the shoulder line
NECK, NOSE = 1, 0


def map_joints(name: str) -> tuple[int, ...]:
    """COCO-18 joints whose positions define the map of part ``name``."""
    if name in LIMB_JOINTS:
        return LIMB_JOINTS[name]
    return TORSO_JOINTS if name == "torso" else HEAD_JOINTS


@dataclass(frozen=True)
class PartShapeSettings:
    """Sizes of the part shapes, as fractions of the source person's :func:`reference_length`.

    ``reach`` only matters with parsing masks: a person pixel outside every shape goes to the nearest
    allowed part when it lies within ``reach`` of that part's shape, and to no part otherwise.
    """

    arm_radius: float = 0.14
    leg_radius: float = 0.2
    torso_margin: float = 0.12
    head_radius: float = 0.22
    hand_extension: float = 0.35
    """Fraction of the lower-arm length added past the wrist."""
    foot_extension: float = 0.1
    """Fraction of the shin length added past the ankle."""
    torso_extension: float = 1.0
    """Downward extension of the torso when no hip is visible."""
    reach: float = 0.5

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not np.isfinite(value) \
                    or value < 0:
                raise PoseFormatError(f"PartShapeSettings.{f.name} must be a finite number >= 0, got "
                                      f"{value!r}.")


class PartShape(NamedTuple):
    """Convex hull ``points`` (``float64 [n, 2]`` image pixels, ``n >= 1``) dilated by ``radius`` pixels."""

    points: np.ndarray
    radius: float


REFERENCE_RATIOS: tuple[tuple[tuple[int, int], float], ...] = (
    ((2, 5), 1.3),    # shoulder width
    ((1, 0), 2.2),    # neck to nose
    ((2, 3), 1.7), ((5, 6), 1.7),    # upper arms
    ((8, 9), 1.1), ((11, 12), 1.1),  # thighs
)
"""Rough adult proportions: reference length = bone length x ratio, used when the torso is not visible."""

FALLBACK_REFERENCE = 0.3
"""Reference length as a fraction of the image height when no usable bone is visible."""


def reference_length(body: np.ndarray, image_height: int) -> float:
    """Body scale in pixels: neck to hip centre (or to the one visible hip).

    Without neck or hips: the largest estimate from :data:`REFERENCE_RATIOS` over the visible bones;
    without any: ``FALLBACK_REFERENCE * image_height``. ``body`` is ``[18, 3]`` (x, y, conf) image pixels.
    """
    vis = body[:, 2] > 0
    xy = body[:, :2].astype(np.float64)
    hips = [j for j in HIPS if vis[j]]
    if vis[NECK] and hips:
        length = float(np.hypot(*(xy[hips].mean(axis=0) - xy[NECK])))
        if length > 0:
            return length
    estimates = [float(np.hypot(*(xy[a] - xy[b]))) * ratio
                 for (a, b), ratio in REFERENCE_RATIOS if vis[a] and vis[b]]
    best = max(estimates, default=0.0)
    return best if best > 0 else FALLBACK_REFERENCE * image_height


def part_shapes(body: np.ndarray, settings: PartShapeSettings, image_height: int) -> dict[str, PartShape]:
    """Shapes of the parts whose joints are visible in ``body`` (``[18, 3]`` image pixels), by name.

    A limb needs both joints, the torso two of neck/shoulders/hips, the head one face point; other parts
    are absent from the result.
    """
    vis = body[:, 2] > 0
    xy = body[:, :2].astype(np.float64)
    scale = reference_length(body, image_height)
    shapes: dict[str, PartShape] = {}
    torso = _torso_points(xy, vis, settings.torso_extension * scale)
    if torso is not None:
        shapes["torso"] = PartShape(convex_hull(torso), settings.torso_margin * scale)
    for name, (a, b) in LIMB_JOINTS.items():
        if not (vis[a] and vis[b]):
            continue
        arm = LIMB_KIND[name] == "arm"
        end = xy[b]
        if name in DISTAL_LIMBS:
            end = end + (settings.hand_extension if arm else settings.foot_extension) * (xy[b] - xy[a])
        radius = settings.arm_radius if arm else settings.leg_radius
        shapes[name] = PartShape(convex_hull(np.stack([xy[a], end])), radius * scale)
    face = [j for j in FACE_JOINTS if vis[j]]
    if face:
        points = xy[face]
        if vis[NECK]:  # chin and throat: halfway from the face centre to the neck joint
            points = np.concatenate([points, [(points.mean(axis=0) + xy[NECK]) / 2]])
        shapes["head"] = PartShape(convex_hull(points), settings.head_radius * scale)
    return {name: shapes[name] for name in PART_NAMES if name in shapes}


def _torso_points(xy: np.ndarray, vis: np.ndarray, extension: float) -> np.ndarray | None:
    """Hull points of the torso (``[n, 2]``), or ``None`` when fewer than two torso joints are visible."""
    joints = [j for j in TORSO_JOINTS if vis[j]]
    if len(joints) < 2:
        return None
    points = xy[joints]
    if any(vis[j] for j in HIPS):
        return points
    upper = [j for j in UPPER_TORSO if vis[j]]
    down = _down_direction(xy, vis, upper)
    return np.concatenate([points, xy[upper] + extension * down])


def _down_direction(xy: np.ndarray, vis: np.ndarray, upper: list[int]) -> np.ndarray:
    """Unit vector across the shoulder line pointing away from the nose (image down without either)."""
    down = np.array([0.0, 1.0])
    if len(upper) >= 2:
        d = xy[upper[-1]] - xy[upper[0]]
        norm = float(np.hypot(*d))
        if norm > 0:
            normal = np.array([-d[1], d[0]]) / norm
            if vis[NOSE]:
                sign = -np.sign(normal @ (xy[NOSE] - xy[upper].mean(axis=0))) or 1.0
            else:
                sign = np.sign(normal[1]) or 1.0
            down = sign * normal
    return down


def convex_hull(points: np.ndarray) -> np.ndarray:
    """Vertices ``float64 [m, 2]`` of the convex hull of ``points`` (``[n, 2]``, ``n >= 1``), in order.

    Duplicate points collapse; collinear points give their two extremes (``m == 2``), a single point
    ``m == 1``. Andrew's monotone chain.
    """
    pts = np.unique(np.asarray(points, np.float64), axis=0)  # sorted by x, then y
    if len(pts) <= 2:
        return pts

    def chain(seq: np.ndarray) -> list[np.ndarray]:
        out: list[np.ndarray] = []
        for p in seq:
            while len(out) >= 2 and _cross(out[-2], out[-1], p) <= 0:
                out.pop()
            out.append(p)
        return out

    lower, upper = chain(pts), chain(pts[::-1])
    hull = np.array(lower[:-1] + upper[:-1])
    return hull if len(hull) >= 2 else pts[[0, -1]]


def _cross(o: np.ndarray, a: np.ndarray, b: np.ndarray) -> float:
    return float((a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0]))
