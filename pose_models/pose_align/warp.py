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
    """Composite premultiplied RGBA ``layers`` ``[P, 4, H, W]``, the last layer in front.

    Returns ``(colour [3, H, W], coverage [H, W], visible [P, H, W])``, all in ``[0, 1]``.

    Saturating front-to-back compositing (OpenGL's ``SRC_ALPHA_SATURATE`` polygon antialiasing): going
    from the front part to the back, each part takes as much of its alpha as the parts in front of it
    have left, ``visible_p = clamp(1 - sum of the alphas in front, 0, alpha_p)``, and contributes its
    colour scaled by ``visible_p / alpha_p``. Hence

    * a front part hides the parts behind it where it is opaque, and blends with them at its soft edge,
      as the "over" operator does;
    * parts that land side by side (the layers come from a partition of the source) add up exactly at
      their shared soft edge, where "over" would leave a half-transparent seam of wrongly weighted colour;
    * ``coverage = sum of visible = min(1, sum of the alphas)``; ``colour`` is premultiplied by it (0
      where nothing landed).
    """
    alpha = layers[:, 3].clamp(0.0, 1.0)
    in_front = torch.flip(torch.cumsum(torch.flip(alpha, [0]), dim=0), [0]) - alpha  # sum over q > p
    visible = torch.minimum((1.0 - in_front).clamp(min=0.0), alpha)
    share = torch.where(alpha > EPS, visible / alpha.clamp(min=EPS), torch.zeros_like(alpha))
    colour = (layers[:, :3] * share[:, None]).sum(dim=0)
    return colour.clamp(0.0, 1.0), visible.sum(dim=0).clamp(max=1.0), visible
