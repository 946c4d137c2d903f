"""The dilated ResNet-101 backbone of SCHP (output stride 16), without torchvision.

Differences from the torchvision ResNet-101, all as in SCHP's ``networks/AugmentCE2P.py``: a deep stem of
three 3x3 convolutions (3 -> 64 -> 64 -> 128, the first with stride 2) before the 3x3/2 max pool; the
stride sits on each block's 3x3 convolution; ``layer4`` keeps stride 1 and uses dilation 2. Every norm
is an :class:`~pose_models.parsing.layers.ActivatedBatchNorm` without activation, followed by a ReLU
where ResNet has one.

For an input ``[B, 3, H, W]`` the stages give (rounding up at each stride-2 step):
``layer1`` ``[B, 256, H/4, W/4]``, ``layer2`` ``[B, 512, H/8, W/8]``, ``layer3`` ``[B, 1024, H/16, W/16]``,
``layer4`` ``[B, 2048, H/16, W/16]``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .layers import ActivatedBatchNorm

RESNET101_BLOCKS: tuple[int, int, int, int] = (3, 4, 23, 3)
"""Bottleneck blocks per stage of ResNet-101."""

EXPANSION = 4
"""Output channels of a bottleneck block per ``planes``."""


class Bottleneck(nn.Module):
    """1x1 -> 3x3 (stride, dilation) -> 1x1 residual block, ``planes * 4`` output channels."""

    def __init__(self, in_channels: int, planes: int, stride: int = 1, dilation: int = 1) -> None:
        super().__init__()
        out_channels = planes * EXPANSION
        self.conv1 = nn.Conv2d(in_channels, planes, 1, bias=False)
        self.bn1 = ActivatedBatchNorm(planes, activate=False)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=stride, padding=dilation, dilation=dilation,
                               bias=False)
        self.bn2 = ActivatedBatchNorm(planes, activate=False)
        self.conv3 = nn.Conv2d(planes, out_channels, 1, bias=False)
        self.bn3 = ActivatedBatchNorm(out_channels, activate=False)
        self.downsample: nn.Sequential | None = None
        if stride != 1 or in_channels != out_channels:
            self.downsample = nn.Sequential(
                nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False),
                ActivatedBatchNorm(out_channels, activate=False),
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = F.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        shortcut = x if self.downsample is None else self.downsample(x)
        return F.relu(out + shortcut)


def _stage(in_channels: int, planes: int, blocks: int, stride: int, dilation: int) -> nn.Sequential:
    layers = [Bottleneck(in_channels, planes, stride, dilation)]
    layers += [Bottleneck(planes * EXPANSION, planes, 1, dilation) for _ in range(1, blocks)]
    return nn.Sequential(*layers)


class ResNet101Backbone(nn.Module):
    """SCHP's backbone; module names match the checkpoint keys (``conv1``, ``bn1``, ..., ``layer4``)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 3, stride=2, padding=1, bias=False)
        self.bn1 = ActivatedBatchNorm(64, activate=False)
        self.conv2 = nn.Conv2d(64, 64, 3, padding=1, bias=False)
        self.bn2 = ActivatedBatchNorm(64, activate=False)
        self.conv3 = nn.Conv2d(64, 128, 3, padding=1, bias=False)
        self.bn3 = ActivatedBatchNorm(128, activate=False)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        b1, b2, b3, b4 = RESNET101_BLOCKS
        self.layer1 = _stage(128, 64, b1, stride=1, dilation=1)
        self.layer2 = _stage(256, 128, b2, stride=2, dilation=1)
        self.layer3 = _stage(512, 256, b3, stride=2, dilation=1)
        self.layer4 = _stage(1024, 512, b4, stride=1, dilation=2)

    def features(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """Outputs of ``layer1`` .. ``layer4`` for a normalised BGR batch ``[B, 3, H, W]``."""
        x = F.relu(self.bn1(self.conv1(x)))
        x = F.relu(self.bn2(self.conv2(x)))
        x = F.relu(self.bn3(self.conv3(x)))
        x1 = self.layer1(self.maxpool(x))
        x2 = self.layer2(x1)
        x3 = self.layer3(x2)
        return x1, x2, x3, self.layer4(x3)
