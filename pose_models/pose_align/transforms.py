"""Per-part maps from one pose to another: similarities for limbs, least-squares affines for torso and head.

Every map is a ``float64 [2, 3]`` matrix ``A`` taking a pixel ``(x, y)`` of the *from* pose's image to
``A @ (x, y, 1)`` in the *to* pose's image (image pixels, ``x`` right, ``y`` down). ``None`` means the part
has no map: it is skipped.

Rules (joints are the part's :func:`~pose_models.pose_align.parts.map_joints` that are ``usable``, i.e.
visible in both the source and the target pose):

* **Limb** (two joints): the similarity (rotation, uniform scale, translation; no reflection) taking the
  parent and child joints exactly onto their new positions. Either joint unusable: skipped.
* **Torso** (neck, shoulders, hips) and **head** (nose, eyes, ears, neck): the least-squares affine over
  the usable joints when there are at least three and they are not nearly collinear in either pose
  (smallest / largest singular value of the centred points >= :data:`MIN_SPREAD`); otherwise the
  least-squares similarity over two or more usable joints (e.g. an upper-body crop without hips: neck and
  shoulders are about collinear, so the torso turns and scales with the shoulder line); with fewer than
  two: skipped.
* A map that would squash the part to under ``MIN_AREA_RATIO`` of its area (``|det| <`` that) is
  skipped too, and so is a map fitted on coincident source points.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..pose.interpolate import interpolate_poses
from ..pose.keypoints import Person, PoseFrame
from .parts import LIMB_JOINTS, map_joints

MIN_SPREAD = 0.1
"""Points whose centred singular values have a smaller ratio are treated as collinear (no affine fit)."""

MIN_AREA_RATIO = 1e-4
"""Smallest ``|det|`` of a usable map's linear part."""

IDENTITY = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])


def fit_similarity(src: np.ndarray, dst: np.ndarray) -> np.ndarray | None:
    """Least-squares similarity (no reflection) taking ``src`` to ``dst`` (both ``[n, 2]``, ``n >= 2``).

    Exact for two distinct points. ``None`` when the source points coincide.
    """
    zs = src[:, 0] + 1j * src[:, 1]
    zd = dst[:, 0] + 1j * dst[:, 1]
    cs, cd = zs - zs.mean(), zd - zd.mean()
    energy = float(np.sum(np.abs(cs) ** 2))
    if energy <= 1e-12:
        return None
    a = np.sum(np.conj(cs) * cd) / energy
    b = zd.mean() - a * zs.mean()
    return np.array([[a.real, -a.imag, b.real], [a.imag, a.real, b.imag]])


def fit_affine(src: np.ndarray, dst: np.ndarray) -> np.ndarray | None:
    """Least-squares affine taking ``src`` to ``dst`` (``[n, 2]``), falling back to a similarity.

    The affine needs ``n >= 3`` points spread in two directions in both sets (see :data:`MIN_SPREAD`).
    """
    if len(src) >= 3 and _spread(src) >= MIN_SPREAD and _spread(dst) >= MIN_SPREAD:
        design = np.column_stack([src, np.ones(len(src))])
        solution, *_ = np.linalg.lstsq(design, dst, rcond=None)
        return solution.T
    return fit_similarity(src, dst)


def _spread(points: np.ndarray) -> float:
    s = np.linalg.svd(points - points.mean(axis=0), compute_uv=False)
    return float(s[-1] / s[0]) if s[0] > 0 else 0.0


def part_map(name: str, body_from: np.ndarray, body_to: np.ndarray, usable: np.ndarray) -> np.ndarray | None:
    """Map of part ``name`` from ``body_from`` to ``body_to`` (``[18, 3]`` image pixels), or ``None``.

    ``usable`` is a ``bool [18]`` mask of the joints that may be used (see the module docstring).
    """
    joints = [j for j in map_joints(name) if usable[j]]
    src, dst = body_from[joints, :2].astype(np.float64), body_to[joints, :2].astype(np.float64)
    if name in LIMB_JOINTS:
        fitted = fit_similarity(src, dst) if len(joints) == 2 else None
    else:
        fitted = fit_affine(src, dst) if len(joints) >= 2 else None
    if fitted is None or abs(np.linalg.det(fitted[:, :2])) < MIN_AREA_RATIO:
        return None
    return fitted


def compose(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """The ``[2, 3]`` map applying ``first`` then ``second``."""
    return second[:, :2] @ first + np.concatenate([np.zeros((2, 2)), second[:, 2:]], axis=1)


def invert(affine: np.ndarray) -> np.ndarray:
    """Inverse of an invertible ``[2, 3]`` map."""
    linear = np.linalg.inv(affine[:, :2])
    return np.concatenate([linear, -linear @ affine[:, 2:]], axis=1)


def path_maps(body_from: np.ndarray, body_to: np.ndarray, steps: int, width: int, height: int,
              names: Sequence[str]) -> dict[str, np.ndarray | None]:
    """Maps of the parts ``names`` from ``body_from`` to ``body_to`` through ``steps`` pose steps.

    The ``steps + 1`` poses come from :func:`~pose_models.pose.interpolate_poses` in ``"angle"`` mode
    (bone angles and lengths interpolated along the kinematic tree; both ends exact). Each step's map is
    fitted between consecutive poses with the joints usable at both ends, and the part's map is their
    composition (``None`` if any step has none). Bodies are ``[18, 3]`` pixels of a ``width`` x ``height``
    image.
    """
    usable = (body_from[:, 2] > 0) & (body_to[:, 2] > 0)
    ends = [PoseFrame((Person(body),), width, height) for body in (body_from, body_to)]
    bodies = [frame.people[0].body for frame in interpolate_poses(*ends, steps + 1, mode="angle")]
    return {name: _path_map(name, bodies, usable) for name in names}


def _path_map(name: str, bodies: list[np.ndarray], usable: np.ndarray) -> np.ndarray | None:
    total = IDENTITY
    for before, after in zip(bodies[:-1], bodies[1:], strict=True):
        step = part_map(name, before, after, usable)
        if step is None:
            return None
        total = compose(total, step)
    return total
