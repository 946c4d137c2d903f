"""Differentiable COCO-18 skeleton geometry shared by the pose fields (torch).

Tensor contract
---------------
* ``keypoints``: ``float [B, 18, 3]`` rows ``(x, y, conf)`` in **pixels** of any canvas (origin top-left,
  ``x`` right, ``y`` down), joints in OpenPose COCO-18 order (:data:`pose_models.pose.BODY_JOINTS`).
  ``conf > 0`` is visible, ``conf == 0`` missing (the coordinates of a missing joint are ignored, whatever
  they are). Confidences are only a mask: no gradient flows into them.
* Every quantity is invariant to translation and to uniform scaling of the pixel coordinates: lengths are
  divided by the **body scale** (:func:`body_frame`), roughly the neck-to-hip (torso) length.
* Missing joints are replaced by constants before any arithmetic, so the gradient with respect to a missing
  joint is exactly zero and never NaN, and every length is computed with an epsilon (no NaN for
  coincident joints).
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import torch

from ..pose.keypoints import BODY_MIRROR, BONES, NECK

NUM_JOINTS = 18
NUM_BONES = len(BONES)
EPS = 1e-6

NOSE, R_SHOULDER, L_SHOULDER, R_HIP, L_HIP = 0, 2, 5, 8, 11
R_EAR, L_EAR = 16, 17

MIN_VISIBLE_JOINTS = 5
"""A pose is scorable (:func:`scorable`) with at least this many visible body joints and a body scale."""

SCALE_REFERENCES: tuple[tuple[int, int, float], ...] = (
    (R_SHOULDER, L_SHOULDER, 0.65),
    (R_HIP, L_HIP, 0.40),
    (NECK, NOSE, 0.50),
)
"""``(joint a, joint b, ratio)``: ``|a - b| / ratio`` is a lower bound of the body scale. The ratios are about
the 95th percentile of ``|a - b| / torso`` over the DeepFashion train split (foreshortening only shortens,
so the estimate rarely exceeds the torso length of an upright body)."""

def _subtrees() -> torch.Tensor:
    out = torch.zeros(NUM_BONES, NUM_JOINTS, dtype=torch.bool)
    for b, (_, child) in enumerate(BONES):
        out[b, child] = True
        for later, (p, c) in enumerate(BONES):
            if later > b and out[b, p]:
                out[b, c] = True
    return out


SUBTREE: torch.Tensor = _subtrees()
"""``bool [17, 18]``: the joints that move when bone ``b`` turns about its parent joint (its child joint and
all the child's descendants)."""

BONE_PARENT_JOINT = torch.tensor([p for p, _ in BONES])
BONE_CHILD_JOINT = torch.tensor([c for _, c in BONES])
MIRROR_INDEX = torch.tensor(BODY_MIRROR)


class BodyFrame(NamedTuple):
    """The body-centred frame of a batch of poses (see :func:`body_frame`).

    ``points [B, 18, 2]`` pixel coordinates with missing joints set to 0 (no gradient into them);
    ``visible [B, 18] bool``; ``scale [B]`` body scale in pixels (1 where undefined); ``has_scale [B] bool``;
    ``up [B, 2]`` unit vector along the body's up axis (hip centre to neck, or image up ``(0, -1)`` when no
    hip is visible), in image coordinates.
    """

    points: torch.Tensor
    visible: torch.Tensor
    scale: torch.Tensor
    has_scale: torch.Tensor
    up: torch.Tensor


def check_keypoints(keypoints: torch.Tensor) -> torch.Tensor:
    """Return ``keypoints`` as a floating tensor, raising ``ValueError`` unless it is ``[B, 18, 3]``."""
    if not isinstance(keypoints, torch.Tensor):
        raise TypeError(f"keypoints must be a torch.Tensor [B, 18, 3], got {type(keypoints).__name__}.")
    if keypoints.dim() != 3 or tuple(keypoints.shape[1:]) != (NUM_JOINTS, 3):
        raise ValueError(f"keypoints must have shape [B, 18, 3] (x, y, conf), got {list(keypoints.shape)}.")
    return keypoints if keypoints.is_floating_point() else keypoints.float()


def safe_norm(v: torch.Tensor) -> torch.Tensor:
    """Euclidean norm over the last axis with an epsilon, so the gradient is finite at ``v = 0``."""
    return torch.sqrt((v * v).sum(-1) + EPS * EPS)


def cross2(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """z-component of the 2D cross product ``a x b`` over the last axis (image coordinates, y down)."""
    return a[..., 0] * b[..., 1] - a[..., 1] * b[..., 0]


def masked_mean(points: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean of ``points [..., N, 2]`` over the rows where ``mask [..., N]`` is set (0 when none is)."""
    w = mask.to(points.dtype)
    return (points * w[..., None]).sum(-2) / w.sum(-1).clamp(min=1.0)[..., None]


def body_frame(keypoints: torch.Tensor) -> BodyFrame:
    """Masked points, visibility, body scale and up axis of ``keypoints [B, 18, 3]``.

    Body scale = max over the available estimates: neck to hip centre (mean of the visible hips), and each
    :data:`SCALE_REFERENCES` distance divided by its ratio. It is defined (``has_scale``) when the neck and
    either a hip or both shoulders are visible.
    """
    keypoints = check_keypoints(keypoints)
    visible = keypoints[..., 2] > 0
    points = torch.where(visible[..., None], keypoints[..., :2], torch.zeros_like(keypoints[..., :2]))
    hips = visible[:, [R_HIP, L_HIP]]
    hip_centre = masked_mean(points[:, [R_HIP, L_HIP]], hips)
    has_torso = visible[:, NECK] & hips.any(-1)
    torso_vec = points[:, NECK] - hip_centre
    a, b, ratios = _scale_references(points.dtype, points.device)
    references = safe_norm(points[:, a] - points[:, b]) / ratios  # [B, 3]
    estimates = torch.cat([safe_norm(torso_vec)[:, None], references], -1)
    usable = torch.cat([has_torso[:, None], visible[:, a] & visible[:, b]], -1)
    raw = torch.where(usable, estimates, torch.zeros_like(estimates)).amax(-1)
    has_scale = visible[:, NECK] & (hips.any(-1) | (visible[:, R_SHOULDER] & visible[:, L_SHOULDER]))
    has_scale = has_scale & (raw > EPS)
    scale = torch.where(has_scale, raw, torch.ones_like(raw))
    image_up = torch.tensor([0.0, -1.0], dtype=points.dtype, device=points.device).expand_as(torso_vec)
    up = torch.where(has_torso[:, None], torso_vec / safe_norm(torso_vec)[:, None], image_up)
    return BodyFrame(points, visible, scale, has_scale, up)


@functools.cache
def _scale_references(dtype: torch.dtype, device: torch.device) -> tuple[torch.Tensor, ...]:
    """:data:`SCALE_REFERENCES` as index and ratio tensors on ``device`` (made outside inference mode,
    since autograd may save them)."""
    with torch.inference_mode(False):
        a = torch.tensor([r[0] for r in SCALE_REFERENCES], device=device)
        b = torch.tensor([r[1] for r in SCALE_REFERENCES], device=device)
        return a, b, torch.tensor([r[2] for r in SCALE_REFERENCES], dtype=dtype, device=device)


def scorable(keypoints: torch.Tensor) -> torch.Tensor:
    """``bool [B]``: the pose has a body scale and at least :data:`MIN_VISIBLE_JOINTS` visible joints.

    The fields return 0 for poses that are not scorable (there is nothing to measure), and the ``score``
    command prints an empty distance for them.
    """
    return frame_scorable(body_frame(keypoints))


def frame_scorable(frame: BodyFrame) -> torch.Tensor:
    """:func:`scorable` of the poses ``frame`` was made from."""
    return frame.has_scale & (frame.visible.sum(-1) >= MIN_VISIBLE_JOINTS)


def normalised_points(frame: BodyFrame) -> torch.Tensor:
    """``[B, 18, 2]``: points relative to the neck divided by the body scale (0 for missing joints)."""
    rel = (frame.points - frame.points[:, NECK : NECK + 1]) / frame.scale[:, None, None]
    return torch.where(frame.visible[..., None], rel, torch.zeros_like(rel))


def bone_vectors(points: torch.Tensor) -> torch.Tensor:
    """``[..., 17, 2]`` child minus parent joint of every bone of ``points [..., 18, 2]``."""
    return points[..., BONE_CHILD_JOINT, :] - points[..., BONE_PARENT_JOINT, :]


def bone_visibility(visible: torch.Tensor) -> torch.Tensor:
    """``bool [..., 17]``: both joints of the bone are visible (``visible [..., 18]``)."""
    return visible[..., BONE_PARENT_JOINT] & visible[..., BONE_CHILD_JOINT]


def mirror_keypoints(keypoints: torch.Tensor) -> torch.Tensor:
    """Left/right mirror of ``keypoints [B, 18, 3]``: ``x -> -x`` and left/right joints swapped.

    The result is a valid pose whenever the input is (same canvas-free geometry, x negated).
    """
    out = keypoints[:, MIRROR_INDEX].clone()
    out[..., 0] = torch.where(out[..., 2] > 0, -out[..., 0], torch.zeros_like(out[..., 0]))
    return out

