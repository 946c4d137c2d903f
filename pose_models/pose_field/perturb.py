"""Bone rotations in keypoint space (forward kinematics in 2D), for training and for evaluation.

Rotating bone ``b`` by ``delta`` turns its child joint **and every descendant** (:data:`.skeleton.SUBTREE`)
about the bone's parent joint, so the rest of the limb is carried along and every bone keeps its length.
Angles are radians in image coordinates (``x`` right, ``y`` down: positive = clockwise on screen).
Missing joints stay missing; a bone whose parent joint is missing is not rotated.

Three samplers use it:

* **Training, Pose-NDF** (:func:`training_rotations`): every bone of the tree may turn, each with
  probability ``q`` (``q ~ U(0.1, 1)`` per sample), by ``N(0, sigma^2)`` with ``sigma ~ U(sigma_min,
  sigma_max)`` per sample.
* **Training, single limb** (:func:`single_limb_rotations`): one visible arm, forearm, leg or shin per pose,
  by ``+-U(lo, hi)`` (a continuous size). This is what "off the manifold" means for the evaluation, so it is
  legitimate training data as long as it is drawn from train-split poses only (the CLI never trains on the
  held-out rows).
* **Evaluation** (:func:`rotate_one_limb`): exactly one limb per pose, by a fixed ``+-delta`` (random sign),
  chosen uniformly among the visible ones, coordinates rounded to whole pixels as a CSV would store them.
  ``"limb"`` turns a whole arm at the shoulder or a whole leg at the hip (upper arm / thigh, carrying the
  forearm / shin); ``"segment"`` turns a forearm at the elbow or a shin at the knee.
"""

from __future__ import annotations

import torch

from .skeleton import BONE_CHILD_JOINT, BONE_PARENT_JOINT, NUM_BONES, SUBTREE

EVAL_BONES: dict[str, tuple[int, ...]] = {"limb": (2, 4, 7, 10), "segment": (3, 5, 8, 11)}
"""Bones (indices into :data:`pose_models.pose.BONES`) an evaluation protocol may rotate."""


def rotate_bones(keypoints: torch.Tensor, angles: torch.Tensor) -> torch.Tensor:
    """Apply relative rotations ``angles [B, 17]`` (radians, one per bone) to ``keypoints [B, 18, 3]``.

    Bones are processed parent before child, each about the current position of its parent joint, so the
    result is the pose with every joint angle changed by its entry (children carried). Differentiable.
    """
    xy, conf = keypoints[..., :2], keypoints[..., 2:]
    visible = conf[..., 0] > 0
    for b in range(NUM_BONES):
        parent = int(BONE_PARENT_JOINT[b])
        theta = torch.where(visible[:, parent], angles[:, b], torch.zeros_like(angles[:, b]))
        cos, sin = torch.cos(theta)[:, None], torch.sin(theta)[:, None]
        pivot = xy[:, parent : parent + 1]
        rel = xy - pivot
        turned = pivot + torch.stack([cos * rel[..., 0] - sin * rel[..., 1],
                                      sin * rel[..., 0] + cos * rel[..., 1]], -1)
        moves = (SUBTREE[b].to(xy.device)[None, :] & visible)[..., None]
        xy = torch.where(moves, turned, xy)
    return torch.cat([xy, conf], -1)


def training_rotations(batch: int, generator: torch.Generator, sigma_range: tuple[float, float]
                       ) -> torch.Tensor:
    """``[batch, 17]`` random relative rotations of the training protocol (see the module docstring)."""
    lo, hi = sigma_range
    sigma = lo + (hi - lo) * torch.rand(batch, 1, generator=generator)
    prob = 0.1 + 0.9 * torch.rand(batch, 1, generator=generator)
    chosen = torch.rand(batch, NUM_BONES, generator=generator) < prob
    return torch.randn(batch, NUM_BONES, generator=generator) * sigma * chosen


def choose_limbs(keypoints: torch.Tensor, protocol: str, generator: torch.Generator
                 ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Pick one rotatable bone per pose for :func:`rotate_one_limb`.

    Returns ``bone [B] long`` (index into BONES), ``sign [B]`` (+-1) and ``ok [B] bool`` (the pose has a
    visible bone of the protocol; ``bone`` is meaningless where not).
    """
    if protocol not in EVAL_BONES:
        raise ValueError(f"unknown protocol {protocol!r}; choose one of {sorted(EVAL_BONES)}.")
    bones = torch.tensor(EVAL_BONES[protocol])
    visible = keypoints[..., 2] > 0
    eligible = visible[:, BONE_PARENT_JOINT[bones]] & visible[:, BONE_CHILD_JOINT[bones]]
    ok = eligible.any(-1)
    scores = torch.rand(keypoints.shape[0], len(bones), generator=generator)
    pick = torch.where(eligible, scores, torch.full_like(scores, -1.0)).argmax(-1)
    sign = torch.where(torch.rand(keypoints.shape[0], generator=generator) < 0.5, -1.0, 1.0)
    return bones[pick], sign, ok


def rotate_one_limb(keypoints: torch.Tensor, bone: torch.Tensor, sign: torch.Tensor, delta: float,
                    round_pixels: bool = True) -> torch.Tensor:
    """Rotate bone ``bone[i]`` of pose ``i`` by ``sign[i] * delta`` radians (children carried).

    ``keypoints [B, 18, 3]`` pixels; with ``round_pixels`` all coordinates are rounded to whole pixels (a
    no-op for the unmoved joints of integer CSV data).
    """
    angles = torch.zeros(keypoints.shape[0], NUM_BONES, dtype=keypoints.dtype)
    angles[torch.arange(keypoints.shape[0]), bone] = sign.to(keypoints.dtype) * delta
    out = rotate_bones(keypoints, angles)
    if round_pixels:
        out = torch.cat([torch.round(out[..., :2]), out[..., 2:]], -1)
    return out


TRAINING_LIMB_BONES: tuple[int, ...] = EVAL_BONES["limb"] + EVAL_BONES["segment"]
"""Bones a single-limb training rotation may turn (:func:`single_limb_rotations`)."""


def single_limb_rotations(keypoints: torch.Tensor, generator: torch.Generator,
                          angle_range: tuple[float, float]) -> tuple[torch.Tensor, torch.Tensor]:
    """Training counterpart of :func:`rotate_one_limb`: one visible bone of :data:`TRAINING_LIMB_BONES`
    per pose of ``keypoints [B, 18, 3]``, turned by ``+-U(angle_range)`` radians.

    Returns ``angles [B, 17]`` for :func:`rotate_bones` (all zero for a pose without such a bone) and
    ``size [B]`` ``|angle|`` (0 where nothing turned).
    """
    bones = torch.tensor(TRAINING_LIMB_BONES)
    visible = keypoints[..., 2] > 0
    eligible = visible[:, BONE_PARENT_JOINT[bones]] & visible[:, BONE_CHILD_JOINT[bones]]
    scores = torch.rand(keypoints.shape[0], len(bones), generator=generator)
    pick = bones[torch.where(eligible, scores, torch.full_like(scores, -1.0)).argmax(-1)]
    lo, hi = angle_range
    size = (lo + (hi - lo) * torch.rand(keypoints.shape[0], generator=generator)) * eligible.any(-1)
    sign = torch.where(torch.rand(keypoints.shape[0], generator=generator) < 0.5, -1.0, 1.0)
    angles = torch.zeros(keypoints.shape[0], NUM_BONES, dtype=keypoints.dtype)
    angles[torch.arange(keypoints.shape[0]), pick] = (sign * size).to(keypoints.dtype)
    return angles, size.to(keypoints.dtype)
