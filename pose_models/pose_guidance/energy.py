"""The pose energy of a batch of images against target keypoints (RePoseDM's guidance objective).

``E = w_hm * E_hm + w_f * E_f + w_kp * E_kp`` per image:

* ``E_hm`` -- heatmap error: mean over the target's visible joints of ``sum_cells (H_k - H*_k)^2``, ``H`` the
  estimator's joint heatmaps, ``H*`` OpenPose-style Gaussian targets on the same stride-8 grid.
* ``E_f`` -- pose field distance ``f(k)`` of the soft-argmax keypoints ``k`` (joints the target lacks are
  passed as missing), i.e. how far the drawn body is from a valid human pose.
* ``E_kp`` -- keypoint error: mean over visible target joints of ``c*_i * ||k_i - k*_i||^2 / d^2``, ``d``
  the image diagonal (scale-free), ``c*`` the target confidence.

Every term is differentiable in the images and per-image independent (batched results equal per-image
ones). Images with no visible target joint get ``E = 0`` (nothing to match).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ..openpose_body import OpenPoseBodyEstimator, render_target_heatmaps
from ..pose_field import PoseField


@dataclass(frozen=True)
class EnergyWeights:
    """Weights of the three energy terms (``>= 0``; a zero weight skips its term's computation)."""

    heatmap: float = 1.0
    field: float = 0.0
    keypoint: float = 0.0

    def __post_init__(self) -> None:
        for name in ("heatmap", "field", "keypoint"):
            value = getattr(self, name)
            if not value >= 0:
                raise ValueError(f"EnergyWeights: {name} weight must be >= 0, got {value!r}.")
        if self.heatmap == self.field == self.keypoint == 0:
            raise ValueError("EnergyWeights: every weight is 0; set at least one of heatmap, field, "
                             "keypoint.")


@dataclass(frozen=True)
class EnergyTerms:
    """Per-image energies ``[B]`` (float32) and the estimated keypoints ``[B, 18, 3]`` (image pixels)."""

    total: torch.Tensor
    heatmap: torch.Tensor
    field: torch.Tensor
    keypoint: torch.Tensor
    keypoints: torch.Tensor


class PoseEnergy(nn.Module):
    """``forward(images, target) -> EnergyTerms``.

    ``images [B, 3, H, W]`` RGB in ``[0, 1]`` (a VAE decoder's output layout), any float dtype and device
    (under ``torch.autocast`` the estimator's network runs in the autocast dtype, the field in float32);
    ``target [B, 18, 3]`` ``(x, y, confidence)`` in pixels of those ``H x W`` images, ``confidence <= 0`` =
    missing joint. ``field`` is required when ``weights.field > 0``.
    """

    def __init__(self, estimator: OpenPoseBodyEstimator, weights: EnergyWeights,
                 field: PoseField | None = None) -> None:
        super().__init__()
        if weights.field > 0 and field is None:
            raise ValueError("PoseEnergy: a field weight > 0 needs a pose field (analytic or learned).")
        self.estimator = estimator
        self.field = field
        self.weights = weights

    def forward(self, images: torch.Tensor, target: torch.Tensor) -> EnergyTerms:
        if target.ndim != 3 or target.shape[1:] != (18, 3) or target.shape[0] != images.shape[0]:
            raise ValueError(f"PoseEnergy: target must be [B, 18, 3] with B = {images.shape[0]} images, got "
                             f"{list(target.shape)}.")
        out = self.estimator(images)
        target = target.to(device=out.keypoints.device, dtype=torch.float32)
        visible = (target[..., 2] > 0).float()  # [B, 18]
        count = visible.sum(dim=1)
        denominator = count.clamp(min=1.0)
        zero = torch.zeros(len(target), device=target.device)

        heatmap = zero
        if self.weights.heatmap > 0:
            wanted = render_target_heatmaps(target, out.geometry)
            error = (out.heatmaps[:, :18].float() - wanted).pow(2).sum(dim=(2, 3))  # [B, 18]
            heatmap = (error * visible).sum(dim=1) / denominator

        keypoints = out.keypoints
        field = zero
        if self.weights.field > 0 and self.field is not None:
            as_pose = torch.cat([keypoints[..., :2].float(), visible[..., None]], dim=-1)
            with torch.autocast(as_pose.device.type, enabled=False):  # the field in float32 always
                field = self.field(as_pose).float()

        keypoint = zero
        if self.weights.keypoint > 0:
            height, width = images.shape[2], images.shape[3]
            squared = (keypoints[..., :2] - target[..., :2]).pow(2).sum(dim=-1) / float(height**2 + width**2)
            keypoint = (squared * target[..., 2].clamp(min=0) * visible).sum(dim=1) / denominator

        total = self.weights.heatmap * heatmap + self.weights.field * field + self.weights.keypoint * keypoint
        total = torch.where(count > 0, total, zero)
        return EnergyTerms(total=total, heatmap=heatmap, field=field, keypoint=keypoint, keypoints=keypoints)
