"""Analytic kinematic prior: a hand-written pose field built from soft, differentiable penalties.

``f = sum_k weight_k * term_k``, every term ``[B] >= 0`` and 0 inside its tolerance band, so ``f`` is 0
for ordinary poses and grows roughly linearly with the size of a violation (each penalty is a smooth hinge:
quadratic for the first ``HINGE_WIDTH`` past the band, linear after). Terms (:meth:`terms`):

``length``
    Bone length ratio (length / body scale) above the canonical ratio times ``1 + tolerance``. Only too-long
    bones count: foreshortening shortens a bone by any amount, it never lengthens one. The canonical ratios
    are about the 95th percentile of ``bone / torso`` on the DeepFashion train split.
``flexion``
    Interior angle at an elbow below 15 degrees or at a knee below 30 degrees (maximum flexion), weighted by
    how unforeshortened both bones are (a foreshortened limb can look folded in 2D).
``bend``
    Bend direction, only when the facing is known: in a side view (shoulders close together along the
    body's lateral axis) the nose's offset from the ears gives the facing; an elbow may not bend backwards
    (hyperextension) nor a knee forwards by more than 15 degrees.
``left_right``
    Left/right order: the lateral offsets (left minus right, along the axis across the body) of the
    shoulders, hips and ears must agree in sign, and eyes must agree with ears. Eyes are not compared with
    the torso: OpenPose-style annotations of back views keep the frontal eye order (16 % of DeepFashion
    rows with both would be flagged).
``crossing``
    Self-intersection of non-adjacent limb segments (upper arms, forearms, thighs, shins): the product of
    the distances of one segment's endpoints from the other's line when they properly cross (0 otherwise).
    In 2D a crossing may be occlusion, so legs crossing legs (crossed legs are common) weigh a quarter.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping
from typing import NamedTuple

import torch

from .base import PoseField
from .skeleton import (
    EPS,
    L_EAR,
    L_SHOULDER,
    NOSE,
    R_EAR,
    R_SHOULDER,
    BodyFrame,
    body_frame,
    bone_vectors,
    bone_visibility,
    cross2,
    masked_mean,
    safe_norm,
)

HINGE_WIDTH = 0.05
"""Width of the quadratic start of :func:`soft_hinge`."""

BONE_MAX_RATIO: tuple[float, ...] = (
    0.35, 0.35, 0.68, 0.61, 0.68, 0.61, 1.03, 1.03, 0.96, 1.03, 1.03, 0.96, 0.49, 0.12, 0.19, 0.12, 0.19,
)
"""Canonical (unforeshortened) length of each bone of :data:`pose_models.pose.BONES` / body scale."""

BONE_TOLERANCE: tuple[float, ...] = (0.15,) * 13 + (0.5,) * 4
"""Tolerance band above the canonical ratio; the four small face bones are a few pixels long (loose)."""

FLEXION_JOINTS: tuple[tuple[int, int, int, float], ...] = (
    (2, 3, 4, 15.0), (5, 6, 7, 15.0), (8, 9, 10, 30.0), (11, 12, 13, 30.0),
)
"""``(proximal, joint, distal, minimum interior angle in degrees)`` for elbows and knees."""

LIMB_BONE_OF_JOINT = {2: 2, 3: 3, 5: 4, 6: 5, 8: 7, 9: 8, 11: 10, 12: 11}
"""Bone index (into BONES) of the segment that starts at a proximal or middle flexion joint."""

BEND_TOLERANCE = math.radians(15.0)
FACING_SHOULDER_RATIO = (0.20, 0.35)
"""Side view when the lateral shoulder offset / scale is below the first value, frontal above the second."""
FACING_NOSE_OFFSET = 0.10
"""Lateral nose-to-ears offset / scale at which the facing counts as fully known (tanh scale)."""

LR_PAIRS: dict[str, tuple[int, int, float]] = {
    "shoulders": (2, 5, 0.60), "hips": (8, 11, 0.37), "eyes": (14, 15, 0.12), "ears": (16, 17, 0.31),
}
"""``(right joint, left joint, typical lateral width / scale)``."""
LR_COMPARISONS: tuple[tuple[str, str], ...] = (
    ("shoulders", "hips"), ("shoulders", "ears"), ("hips", "ears"), ("eyes", "ears"),
)
LR_DEADZONE = 0.02

SEGMENTS: tuple[tuple[int, int], ...] = ((2, 3), (3, 4), (5, 6), (6, 7), (8, 9), (9, 10), (11, 12), (12, 13))
LEG_JOINTS = frozenset({8, 9, 10, 11, 12, 13})
LEG_LEG_CROSSING_WEIGHT = 0.25

DEFAULT_WEIGHTS: dict[str, float] = {
    "length": 4.0, "flexion": 2.0, "bend": 2.0, "left_right": 2.0, "crossing": 8.0,
}
"""Weight of each term in ``f``."""


def soft_hinge(x: torch.Tensor, width: float = HINGE_WIDTH) -> torch.Tensor:
    """0 for ``x <= 0``, ``x^2 / (2 width)`` up to ``width``, then ``x - width / 2`` (C1-smooth)."""
    x = x.clamp(min=0.0)
    return torch.where(x < width, x * x / (2 * width), x - width / 2)


def _segment_pairs() -> list[tuple[int, int, float]]:
    pairs = []
    for i, (a, b) in enumerate(SEGMENTS):
        for j in range(i + 1, len(SEGMENTS)):
            c, d = SEGMENTS[j]
            if {a, b} & {c, d}:
                continue
            legs = {a, b, c, d} <= LEG_JOINTS
            pairs.append((i, j, LEG_LEG_CROSSING_WEIGHT if legs else 1.0))
    return pairs


SEGMENT_PAIRS = _segment_pairs()
"""``(segment i, segment j, weight)`` for the 24 pairs of limb segments that share no joint."""


class _Tables(NamedTuple):
    """The tables above as tensors on one device, so that every term is a few batched operations (one
    kernel each on a GPU) instead of a Python loop over joints, pairs and segments."""

    flexion: torch.Tensor  # long [4, 3]: proximal, joint, distal
    flexion_min: torch.Tensor  # [4] minimum interior angle, radians
    flexion_bones: torch.Tensor  # long [4, 2]: bones starting at the proximal and the middle joint
    bend_sign: torch.Tensor  # [4]: +1 elbow (bends toward the facing side), -1 knee
    lr_joints: torch.Tensor  # long [4, 2]: right, left joint of each LR_PAIRS entry
    lr_width: torch.Tensor  # [4]
    lr_compare: torch.Tensor  # long [4, 2]: indices into LR_PAIRS
    crossing: torch.Tensor  # long [24, 4]: a, b (one segment), c, d (the other)
    crossing_weight: torch.Tensor  # [24]
    bone_max: torch.Tensor  # [17]
    bone_tolerance: torch.Tensor  # [17]


@functools.cache
def _tables(dtype: torch.dtype, device: torch.device) -> _Tables:
    """:class:`_Tables` on ``device`` (built once per dtype and device, outside inference mode: autograd
    may save them)."""
    names = list(LR_PAIRS)
    with torch.inference_mode(False):
        def floats(values: object) -> torch.Tensor:
            return torch.tensor(values, dtype=dtype, device=device)

        def longs(values: object) -> torch.Tensor:
            return torch.tensor(values, dtype=torch.long, device=device)

        return _Tables(
            flexion=longs([row[:3] for row in FLEXION_JOINTS]),
            flexion_min=floats([math.radians(row[3]) for row in FLEXION_JOINTS]),
            flexion_bones=longs([[LIMB_BONE_OF_JOINT[p], LIMB_BONE_OF_JOINT[j]]
                                 for p, j, _, _ in FLEXION_JOINTS]),
            bend_sign=floats([-1.0 if p in LEG_JOINTS else 1.0 for p, _, _, _ in FLEXION_JOINTS]),
            lr_joints=longs([LR_PAIRS[n][:2] for n in names]),
            lr_width=floats([LR_PAIRS[n][2] for n in names]),
            lr_compare=longs([[names.index(a), names.index(b)] for a, b in LR_COMPARISONS]),
            crossing=longs([[*SEGMENTS[i], *SEGMENTS[j]] for i, j, _ in SEGMENT_PAIRS]),
            crossing_weight=floats([w for _, _, w in SEGMENT_PAIRS]),
            bone_max=floats(BONE_MAX_RATIO),
            bone_tolerance=floats(BONE_TOLERANCE),
        )


class KinematicPriorField(PoseField):
    """Analytic kinematic prior (see the module docstring); no parameters, no weights file.

    ``weights`` overrides :data:`DEFAULT_WEIGHTS` per term (missing keys keep the default).
    """

    kind = "analytic"

    def __init__(self, weights: Mapping[str, float] | None = None) -> None:
        super().__init__()
        unknown = set(weights or {}) - set(DEFAULT_WEIGHTS)
        if unknown:
            raise ValueError(f"unknown term(s) {sorted(unknown)}; terms are {sorted(DEFAULT_WEIGHTS)}.")
        self.weights = {**DEFAULT_WEIGHTS, **(weights or {})}

    def distance(self, keypoints: torch.Tensor, frame: BodyFrame | None = None) -> torch.Tensor:
        """``[B]`` weighted sum of :meth:`terms`."""
        terms = self.terms(keypoints, frame)
        return torch.stack([self.weights[name] * value for name, value in terms.items()]).sum(0)

    def terms(self, keypoints: torch.Tensor, frame: BodyFrame | None = None) -> dict[str, torch.Tensor]:
        """Each unweighted penalty term, ``float [B] >= 0``, for ``keypoints [B, 18, 3]`` (``frame``: their
        :func:`.skeleton.body_frame`, computed when not given)."""
        frame = body_frame(keypoints) if frame is None else frame
        tables = _tables(frame.points.dtype, frame.points.device)
        vectors = bone_vectors(frame.points)
        ratios = safe_norm(vectors) / frame.scale[:, None]
        bone_vis = bone_visibility(frame.visible)
        unforeshortened = _unforeshortened(ratios, tables)
        interior, turn, limb_vis = _joint_angles(frame, tables)
        limb_weight = limb_vis * torch.minimum(unforeshortened[:, tables.flexion_bones[:, 0]],
                                               unforeshortened[:, tables.flexion_bones[:, 1]])
        return {
            "length": _length_term(ratios, bone_vis, tables),
            "flexion": (limb_weight * soft_hinge(tables.flexion_min - interior)).sum(-1),
            "bend": _bend_term(frame, turn, limb_weight, tables),
            "left_right": _left_right_term(frame, tables),
            "crossing": _crossing_term(frame, tables),
        }


def _unforeshortened(ratios: torch.Tensor, tables: _Tables) -> torch.Tensor:
    """``[B, 17]`` in [0, 1]: 0 below 50 % of the canonical length, 1 above 80 % (smoothstep between;
    the median bone is about 85 % of its canonical length)."""
    t = ((ratios / tables.bone_max - 0.5) / 0.3).clamp(0.0, 1.0)
    return t * t * (3 - 2 * t)


def _length_term(ratios: torch.Tensor, bone_vis: torch.Tensor, tables: _Tables) -> torch.Tensor:
    excess = soft_hinge(ratios / tables.bone_max - 1 - tables.bone_tolerance)
    return (excess * bone_vis).sum(-1)


def _unit(v: torch.Tensor) -> torch.Tensor:
    return v / safe_norm(v)[..., None]


def _joint_angles(frame: BodyFrame, tables: _Tables) -> tuple[torch.Tensor, ...]:
    """Interior angle ``[B, 4]`` at each :data:`FLEXION_JOINTS` joint, signed turn ``[B, 4]`` from the
    proximal to the distal segment (radians, image coordinates) and visibility ``[B, 4]`` of the three
    joints."""
    p = frame.points[:, tables.flexion]  # [B, 4, 3, 2]
    upper = _unit(p[:, :, 1] - p[:, :, 0])
    lower = _unit(p[:, :, 2] - p[:, :, 1])
    cross, dot = cross2(upper, lower), (upper * lower).sum(-1)
    turn = torch.atan2(cross, dot + EPS)
    interior = math.pi - torch.atan2(torch.sqrt(cross * cross + EPS * EPS), dot)
    vis = frame.visible[:, tables.flexion].all(-1)
    return interior, turn, vis


def lateral(frame: BodyFrame, right: int | torch.Tensor,
            left: int | torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Lateral offset ``[B, ...]`` of the ``left`` joint(s) from the ``right`` one(s) (joint numbers, or long
    index tensors of one shape; the component across the body's up axis, in body scale units; positive for
    a frontal view) and whether both joints are visible."""
    d = frame.points[:, left] - frame.points[:, right]
    ok = frame.visible[:, left] & frame.visible[:, right]
    up = frame.up.view(len(d), *([1] * (d.dim() - 2)), 2)
    scale = frame.scale.view(len(d), *([1] * (d.dim() - 2)))
    return cross2(up, d) / scale, ok


def facing(frame: BodyFrame) -> torch.Tensor:
    """Signed facing certainty ``[B]`` in ``[-1, 1]``: ``+1`` a side view facing the person's lateral
    ``+`` direction (image right when upright), ``-1`` the other way, 0 unknown (frontal/back view, or
    nose, ears or a shoulder missing)."""
    shoulders, shoulders_ok = lateral(frame, R_SHOULDER, L_SHOULDER)
    lo, hi = FACING_SHOULDER_RATIO
    side = ((hi - torch.sqrt(shoulders * shoulders + EPS * EPS)) / (hi - lo)).clamp(0.0, 1.0)
    ears = frame.visible[:, [R_EAR, L_EAR]]
    ear_centre = masked_mean(frame.points[:, [R_EAR, L_EAR]], ears)
    nose = cross2(frame.up, frame.points[:, NOSE] - ear_centre) / frame.scale
    known = shoulders_ok & frame.visible[:, NOSE] & ears.any(-1)
    return known * side * torch.tanh(nose / FACING_NOSE_OFFSET)


def _bend_term(frame: BodyFrame, turn: torch.Tensor, limb_weight: torch.Tensor,
               tables: _Tables) -> torch.Tensor:
    # Flexion turns an elbow's forearm towards the facing side (turn * facing < 0), a knee's shin away.
    backwards = facing(frame)[:, None] * turn * tables.bend_sign
    return (limb_weight * soft_hinge(backwards - BEND_TOLERANCE)).sum(-1)


def _left_right_term(frame: BodyFrame, tables: _Tables) -> torch.Tensor:
    value, ok = lateral(frame, tables.lr_joints[:, 0], tables.lr_joints[:, 1])  # [B, 4]
    value = value / tables.lr_width
    a, b = tables.lr_compare[:, 0], tables.lr_compare[:, 1]
    return ((ok[:, a] & ok[:, b]) * soft_hinge(-value[:, a] * value[:, b] - LR_DEADZONE)).sum(-1)


def _crossing_term(frame: BodyFrame, tables: _Tables) -> torch.Tensor:
    p = frame.points[:, tables.crossing]  # [B, 24, 4, 2]
    a, b, c, d = p.unbind(2)
    depth = torch.minimum(_straddle(a, b, c, d), _straddle(c, d, a, b))
    ok = frame.visible[:, tables.crossing].all(-1)
    return (tables.crossing_weight * ok * depth).sum(-1) / (frame.scale * frame.scale)


def _straddle(a: torch.Tensor, b: torch.Tensor, c: torch.Tensor, d: torch.Tensor) -> torch.Tensor:
    """Product of the distances of ``c`` and ``d`` from the line ``ab`` when they lie on opposite sides of
    it, else 0 (``[...]``, pixels squared)."""
    ab = b - a
    return (-cross2(ab, c - a) * cross2(ab, d - a)).clamp(min=0.0) / ((ab * ab).sum(-1) + EPS)
