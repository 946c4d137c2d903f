"""NRDF-style projection: move a pose down a field towards the valid-pose manifold.

Each step is a damped Newton step on ``f`` along its gradient with respect to the visible pixel
coordinates, ``p <- p - alpha * f(p) * grad f / |grad f|^2`` (for a true distance field with ``|grad f| = 1``
and ``alpha = 1`` this lands on the nearest valid pose in one step), capped at ``max_step`` body-scale units
of joint displacement per step. The step size is adaptive per pose: a step that does not lower ``f`` is
rejected and ``alpha`` halved; an accepted step lets ``alpha`` grow back (x1.5, up to 1). Missing joints and
confidences never change; poses that are not :func:`.skeleton.scorable` are returned unchanged.
"""

from __future__ import annotations

import torch

from .base import PoseField
from .skeleton import body_frame, check_keypoints


def project(keypoints: torch.Tensor, field: PoseField, steps: int = 20, max_step: float = 0.1,
            tolerance: float = 1e-4) -> torch.Tensor:
    """Repair ``keypoints [B, 18, 3]`` (pixels) with up to ``steps`` adaptive steps on ``field``.

    Returns a new ``[B, 18, 3]`` tensor (no autograd graph) whose field value is never higher than the
    input's. Stops early when every pose has ``f <= tolerance`` or a step size below ``1e-4``.
    """
    keypoints = check_keypoints(keypoints).detach()
    frame = body_frame(keypoints)
    cap = max_step * frame.scale
    current = keypoints.clone()
    value = _value(field, current)
    alpha = torch.ones(len(current), dtype=current.dtype, device=current.device)
    for _ in range(steps):
        active = (value > tolerance) & (alpha > 1e-4)
        if not active.any():
            break
        xy = current[..., :2].clone().requires_grad_(True)
        f = field(torch.cat([xy, current[..., 2:]], -1))
        (grad,) = torch.autograd.grad(f.sum(), xy)
        grad = grad * frame.visible[..., None]
        grad_sq = (grad * grad).sum((-1, -2)).clamp(min=1e-12)
        delta = -(alpha * f.detach() / grad_sq)[:, None, None] * grad
        largest = delta.norm(dim=-1).amax(-1)
        delta = delta * torch.clamp(cap / largest.clamp(min=1e-12), max=1.0)[:, None, None]
        delta = delta * active[:, None, None]
        candidate = torch.cat([current[..., :2] + delta, current[..., 2:]], -1)
        new_value = _value(field, candidate)
        better = active & (new_value < value)
        current = torch.where(better[:, None, None], candidate, current)
        value = torch.where(better, new_value, value)
        alpha = torch.where(better, (alpha * 1.5).clamp(max=1.0), torch.where(active, alpha / 2, alpha))
    return current


@torch.no_grad()
def _value(field: PoseField, keypoints: torch.Tensor) -> torch.Tensor:
    return field(keypoints)
