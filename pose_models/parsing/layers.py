"""Building blocks shared by the SCHP backbone and heads (plain PyTorch, no C++ extension).

SCHP was trained with InPlaceABNSync (mapillary's fused batch norm + activation). At inference it is a
batch norm with the stored running statistics followed by ``leaky_relu(0.01)``, or by nothing where the
original asks for ``activation='none'`` (every backbone norm). :class:`ActivatedBatchNorm` reproduces that
with the original's parameter names (``weight``, ``bias``, ``running_mean``, ``running_var``; no
``num_batches_tracked``, which the SCHP checkpoints do not have).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

LEAKY_SLOPE = 0.01
"""Negative slope of InPlaceABNSync's default ``leaky_relu`` activation."""


class ActivatedBatchNorm(nn.Module):
    """Inference batch norm over ``[B, C, H, W]`` with the stored statistics, then optional leaky ReLU.

    Always normalises with ``running_mean`` / ``running_var`` (``eps`` 1e-5), in training mode too: this
    package only runs inference.
    """

    def __init__(self, channels: int, activate: bool = True, eps: float = 1e-5) -> None:
        super().__init__()
        self.activate = activate
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))
        self.register_buffer("running_mean", torch.zeros(channels))
        self.register_buffer("running_var", torch.ones(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.batch_norm(x, self.running_mean, self.running_var, self.weight, self.bias, False, 0.0, self.eps)
        return F.leaky_relu(x, LEAKY_SLOPE) if self.activate else x

    def extra_repr(self) -> str:
        return f"{self.weight.shape[0]}, activate={self.activate}"


def conv_norm(in_channels: int, out_channels: int, kernel_size: int = 1) -> nn.Sequential:
    """``Conv2d`` (no bias, same padding) then an activated batch norm: keys ``0.weight``, ``1.*``."""
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, kernel_size, padding=kernel_size // 2, bias=False),
        ActivatedBatchNorm(out_channels),
    )


def resize(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Bilinear resize of ``[B, C, h, w]`` to ``size`` = ``(H, W)`` with ``align_corners=True`` (as SCHP)."""
    return F.interpolate(x, size=size, mode="bilinear", align_corners=True)
