"""Differentiable keypoints from heatmaps: a peak-normalised spatial soft-argmax.

For each map ``H`` (one joint of one image) the weights are

    p = softmax(beta * U / max(max(U), 0.01))        over all cells of U = upsample(H)

with the normaliser treated as a constant for gradients. The keypoint is the ``p``-weighted mean cell
position, the confidence the ``p``-weighted mean of ``U`` (a soft peak value, clamped at 0).

* ``beta`` (inverse temperature, default 30) acts on the map divided by its own peak, so a weak joint is
  localised as sharply as a strong one and the thousands of near-zero background cells get a total weight
  of about ``cells * exp(-beta)``. Smaller ``beta`` gives smoother, wider-reaching gradients but lets the
  background pull keypoints towards the map centre (``beta = 10`` already biases them by cells); larger
  ``beta`` tends to a hard argmax (gradients only through the few top cells).
* ``upsample`` (default 4): the maps are first upsampled bicubically by this factor (half-pixel aligned,
  like OpenPose's cubic x8 upsampling), so the soft-argmax resolves sub-cell positions; ``1`` works on the
  raw stride-8 grid, where a sharp ``beta`` snaps keypoints to cell centres (about 0.3 cell error).

With the defaults, OpenPose-style target maps (:mod:`.targets`) give back their joints within 0.15 cell
(mean 0.04); noisy Gaussian maps (sigma 0.9..1.5 cells, peak 0.3..0.9, noise 0.02) within about 0.1 cell
on average. Cell centres span ``[0, w - 1]``, so a joint closer than half a cell to the border is pulled
inwards (by up to about 0.4 cell). The estimator is **single-person** by design: each joint map yields
one keypoint, so with several people in the image a joint lands on the strongest response (or between
responses of similar strength).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

DEFAULT_BETA = 30.0
DEFAULT_UPSAMPLE = 4
PEAK_FLOOR = 0.01
"""Smallest peak value used as the normaliser (maps with no response are not blown up without bound)."""


def soft_argmax_2d(maps: torch.Tensor, beta: float = DEFAULT_BETA,
                   upsample: int = DEFAULT_UPSAMPLE) -> tuple[torch.Tensor, torch.Tensor]:
    """Soft-argmax of every map of ``maps [B, K, h, w]``.

    Returns ``(xy, confidence)``: ``xy [B, K, 2]`` as (column, row) coordinates of the **input** grid
    (cell centres are integers; sub-cell values in between) and ``confidence [B, K]`` >= 0, both float32
    and differentiable in ``maps``.
    """
    if maps.ndim != 4 or 0 in maps.shape:
        raise ValueError(f"soft_argmax_2d: maps must be [B, K, h, w], got shape {list(maps.shape)}.")
    if not beta > 0:
        raise ValueError(f"soft_argmax_2d: beta must be > 0, got {beta!r}.")
    if isinstance(upsample, bool) or not isinstance(upsample, int) or upsample < 1:
        raise ValueError(f"soft_argmax_2d: upsample must be a whole number >= 1, got {upsample!r}.")
    maps = maps.float()
    if upsample > 1:
        maps = F.interpolate(maps, scale_factor=upsample, mode="bicubic", align_corners=False)
    b, k, h, w = maps.shape
    flat = maps.reshape(b, k, h * w)
    peak = flat.detach().amax(dim=-1, keepdim=True).clamp_min(PEAK_FLOOR)
    p = torch.softmax(beta * flat / peak, dim=-1).reshape(b, k, h, w)
    cols = (torch.arange(w, device=maps.device, dtype=maps.dtype) + 0.5) / upsample - 0.5
    rows = (torch.arange(h, device=maps.device, dtype=maps.dtype) + 0.5) / upsample - 0.5
    x = (p.sum(dim=2) * cols).sum(dim=-1)
    y = (p.sum(dim=3) * rows).sum(dim=-1)
    confidence = (p * maps).sum(dim=(2, 3)).clamp_min(0.0)
    return torch.stack([x, y], dim=-1), confidence
