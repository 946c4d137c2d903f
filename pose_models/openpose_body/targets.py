"""Target heatmaps ``H*`` for a heatmap-matching guidance energy ``||H(x) - H*||^2``.

OpenPose's training targets (``putGaussianMaps`` of the CMU data layer): on the stride-8 grid, cell
``(i, j)`` (centre ``(8 j + 3.5, 8 i + 3.5)`` network-input pixels) of joint ``k`` holds
``exp(-d^2 / (2 sigma^2))``, ``d`` the distance to the joint, ``sigma = 7`` network-input pixels, values
below ``0.01`` (``d^2 / (2 sigma^2) > ln 100``) set to 0, several people summed and clipped at 1; the
background channel is ``max(0, 1 - max_k H_k)``. Here ``sigma`` is given in **heatmap cells**
(default ``7 / 8``) and there is one person per image.
"""

from __future__ import annotations

import math

import torch

from .geometry import NetGeometry
from .network import NUM_HEATMAPS

DEFAULT_TARGET_SIGMA = 7.0 / 8.0
"""OpenPose's training sigma, 7 network-input pixels, in heatmap cells."""

CUTOFF_EXPONENT = math.log(100.0)
"""Cells where ``d^2 / (2 sigma^2)`` exceeds ``ln 100`` (value < 1 %) are 0, as in OpenPose's targets."""


def render_target_heatmaps(keypoints: torch.Tensor, geometry: NetGeometry,
                           sigma: float = DEFAULT_TARGET_SIGMA,
                           include_background: bool = False) -> torch.Tensor:
    """Gaussian target maps ``[B, 18, h, w]`` (``[B, 19, h, w]`` with the background channel).

    ``keypoints [B, 18, 3]`` are (x, y, confidence) in **image pixels** of the image ``geometry`` was made
    for (see :meth:`NetGeometry.for_image`); joints with confidence ``<= 0`` get an all-zero map (mask them
    out of the energy, e.g. with ``keypoints[..., 2] > 0``, unless "no joint here" is what you want).
    ``h, w`` are ``geometry.heatmap_height/width``, the estimator's output grid for that image. Values in
    ``[0, 1]``, float32, on the keypoints' device, differentiable in the coordinates.
    """
    if keypoints.ndim != 3 or keypoints.shape[1:] != (NUM_HEATMAPS - 1, 3):
        raise ValueError(
            f"render_target_heatmaps: keypoints must be [B, 18, 3] (x, y, confidence), got "
            f"{list(keypoints.shape)}."
        )
    if not sigma > 0:
        raise ValueError(f"render_target_heatmaps: sigma must be > 0 heatmap cells, got {sigma!r}.")
    kp = keypoints.float()
    centre = geometry.image_to_heatmap(kp[..., :2])
    cols = torch.arange(geometry.heatmap_width, device=kp.device, dtype=kp.dtype)
    rows = torch.arange(geometry.heatmap_height, device=kp.device, dtype=kp.dtype)
    dx2 = (cols - centre[..., 0:1]) ** 2
    dy2 = (rows - centre[..., 1:2]) ** 2
    exponent = (dy2[..., :, None] + dx2[..., None, :]) / (2.0 * sigma**2)
    maps = torch.where(exponent > CUTOFF_EXPONENT, torch.zeros_like(exponent), torch.exp(-exponent))
    maps = maps * (kp[..., 2] > 0)[..., None, None].to(maps.dtype)
    if include_background:
        background = (1.0 - maps.amax(dim=1, keepdim=True)).clamp_min(0.0)
        maps = torch.cat([maps, background], dim=1)
    return maps
