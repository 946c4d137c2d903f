"""Warp part layers with per-part affine maps (``grid_sample``) and composite them back to front.

Layers are premultiplied RGBA, ``[P, 4, H, W]``: channels 0-2 = colour x mask, channel 3 = mask, parts in
:data:`~pose_models.pose_align.parts.PART_NAMES` order. Sampling is bilinear with zero padding and
``align_corners=False``; pixel maps use the pixel-centre convention of :mod:`pose_models.pose.keypoints`
(pixel ``(row i, column j)`` is the point ``(x=j, y=i)``), so an identity map samples every pixel exactly
at its centre.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

EPS = 1e-6


def pixel_maps_to_theta(maps: np.ndarray, height: int, width: int) -> np.ndarray:
    """``affine_grid`` thetas ``float64 [P, 2, 3]`` for pixel maps ``[P, 2, 3]`` (output px -> input px).

    ``align_corners=False`` normalisation: ``u = (2 x + 1) / W - 1``, ``v = (2 y + 1) / H - 1``.
    """
    to_norm = np.array([[2.0 / width, 0.0, 1.0 / width - 1.0],
                        [0.0, 2.0 / height, 1.0 / height - 1.0],
                        [0.0, 0.0, 1.0]])
    from_norm = np.linalg.inv(to_norm)
    square = np.concatenate([maps, np.broadcast_to([[[0.0, 0.0, 1.0]]], (len(maps), 1, 3))], axis=1)
    return (to_norm @ square @ from_norm)[:, :2]


def warp_layers(layers: torch.Tensor, inverse_maps: np.ndarray) -> torch.Tensor:
    """Warp ``layers`` ``[P, C, H, W]``: output pixel ``x`` of layer ``p`` samples ``inverse_maps[p] @ x``.

    ``inverse_maps``: ``float64 [P, 2, 3]`` pixel maps from output to input pixels. Samples outside the
    input are zero.
    """
    count, channels, height, width = layers.shape
    theta = torch.as_tensor(pixel_maps_to_theta(inverse_maps, height, width), dtype=layers.dtype,
                            device=layers.device)
    grid = F.affine_grid(theta, [count, channels, height, width], align_corners=False)
    return F.grid_sample(layers, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def composite(layers: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Back-to-front composite of premultiplied RGBA ``layers`` ``[P, 4, H, W]`` (last layer in front).

    Returns ``(colour [3, H, W], coverage [H, W], visible [P, H, W])``, all in ``[0, 1]``:

    * ``coverage = min(1, sum of the layer alphas)`` (0 where the "over" alpha is below ``EPS``). The
      layers come from a partition of the source, so where neighbouring parts land side by side their
      soft (resampled) edges add up to a closed surface; the plain "over" alpha would leave a
      half-transparent seam between them.
    * ``colour``: the "over" composite, rescaled from the "over" alpha to ``coverage`` (premultiplied by
      ``coverage``: uncovered pixels are 0).
    * ``visible``: each part's share of the composite (its alpha times the transparency of the parts in
      front, rescaled the same way); the shares sum to ``coverage``.
    """
    alpha = layers[:, 3].clamp(0.0, 1.0)
    clear = torch.flip(torch.cumprod(torch.flip(1.0 - alpha, [0]), dim=0), [0])  # prod over q >= p
    behind_front = torch.cat([clear[1:], torch.ones_like(clear[:1])])  # prod over q > p
    visible = alpha * behind_front
    over_alpha = visible.sum(dim=0)
    landed = over_alpha > EPS
    coverage = torch.where(landed, alpha.sum(dim=0).clamp(max=1.0), torch.zeros_like(over_alpha))
    gain = torch.where(landed, coverage / over_alpha.clamp(min=EPS), torch.zeros_like(coverage))
    colour = (layers[:, :3] * behind_front[:, None]).sum(dim=0) * gain
    return colour.clamp(0.0, 1.0), coverage, visible * gain
