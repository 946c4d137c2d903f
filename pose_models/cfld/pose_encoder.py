"""CFLD's pose adapter (T2I-Adapter style).

Input ``[B, 21, S, S]``: the RGB skeleton in ``[0, 1]`` then 18 Gaussian heatmaps (COCO-18 order), see
:mod:`.rasterize`. PixelUnshuffle(``factor``) -> 1x1 ``conv_in`` -> per level a ResnetBlock (GroupNorm 32,
eps 1e-6, no time embedding), 2x2 average pooling between levels. Output: one residual per level,
``[B, channels[i], S / factor / 2**i, S / factor / 2**i]``; they are added to the UNet's down path after
the last resnet+attention of levels 0..2 (the host's ``input_blocks`` 2, 5, 8).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .layers import ResnetBlock2D

POSE_CHANNELS = 21
"""3 skeleton colour channels + 18 joint heatmaps."""


@dataclass(frozen=True)
class PoseEncoderConfig:
    factor: int = 4
    in_channels: int = 320
    channels: tuple[int, ...] = (320, 640, 1280)


class PoseEncoder(nn.Module):
    """``forward(pose [B, 21, S, S]) -> [residual per level]``."""

    def __init__(self, config: PoseEncoderConfig) -> None:
        super().__init__()
        self.config = config
        self.unshuffle = nn.PixelUnshuffle(config.factor)
        self.conv_in = nn.Conv2d(POSE_CHANNELS * config.factor**2, config.in_channels, 1)
        ins = (config.in_channels, *config.channels[:-1])
        self.resnets = nn.ModuleList(ResnetBlock2D(i, o, None, eps=1e-6)
                                     for i, o in zip(ins, config.channels, strict=True))

    def forward(self, pose: torch.Tensor) -> list[torch.Tensor]:
        h = self.conv_in(self.unshuffle(pose))
        residuals = []
        for i, resnet in enumerate(self.resnets):
            if i:
                h = F.avg_pool2d(h, 2)
            h = resnet(h)
            residuals.append(h)
        return residuals
