"""SCHP's heads on top of the backbone: PSP context encoding, parsing decoder, edge branch, fusion.

Shapes for a backbone run on ``[B, 3, H, W]`` (``h, w`` = ``layer1``'s ``H/4, W/4``; ``C`` labels):

* :class:`PyramidPooling` ``[B, 2048, H/16, W/16]`` -> ``[B, 512, H/16, W/16]`` (bins 1, 2, 3, 6);
* :class:`ParsingDecoder` (context, ``layer1``) -> logits ``[B, C, h, w]`` and features ``[B, 256, h, w]``;
* :class:`EdgeBranch` (``layer1``, ``layer2``, ``layer3``) -> edge logits ``[B, 2, h, w]`` and features
  ``[B, 768, h, w]``;
* :func:`fusion_head` ``[B, 1024, h, w]`` (decoder features, then edge features) -> logits ``[B, C, h, w]``.

Module and attribute names follow ``networks/AugmentCE2P.py`` so that checkpoint keys match; every
InPlaceABNSync there activates (leaky ReLU), so every norm here does too.
"""

from __future__ import annotations

import torch
from torch import nn

from .layers import ActivatedBatchNorm, conv_norm, resize

PSP_BINS: tuple[int, ...] = (1, 2, 3, 6)
"""Output sizes of the pyramid pooling branches."""


class PyramidPooling(nn.Module):
    """PSP context encoding: pooled branches upsampled back, concatenated with the input, 3x3 conv."""

    def __init__(self, in_channels: int = 2048, out_channels: int = 512) -> None:
        super().__init__()
        self.stages = nn.ModuleList(
            nn.Sequential(nn.AdaptiveAvgPool2d(size), nn.Conv2d(in_channels, out_channels, 1, bias=False),
                          ActivatedBatchNorm(out_channels))
            for size in PSP_BINS
        )
        self.bottleneck = conv_norm(in_channels + len(PSP_BINS) * out_channels, out_channels, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        size = (x.shape[2], x.shape[3])
        priors = [resize(stage(x), size) for stage in self.stages]
        return self.bottleneck(torch.cat([*priors, x], dim=1))


class ParsingDecoder(nn.Module):
    """Context features upsampled to ``layer1`` resolution, joined with a 48-channel low-level skip."""

    def __init__(self, num_classes: int) -> None:
        super().__init__()
        self.conv1 = conv_norm(512, 256)
        self.conv2 = conv_norm(256, 48)
        self.conv3 = nn.Sequential(
            nn.Conv2d(304, 256, 1, bias=False), ActivatedBatchNorm(256),
            nn.Conv2d(256, 256, 1, bias=False), ActivatedBatchNorm(256),
        )
        self.conv4 = nn.Conv2d(256, num_classes, 1)

    def forward(self, context: torch.Tensor, low: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(logits [B, C, h, w], features [B, 256, h, w])`` at the resolution of ``low``."""
        size = (low.shape[2], low.shape[3])
        x = torch.cat([resize(self.conv1(context), size), self.conv2(low)], dim=1)
        features = self.conv3(x)
        return self.conv4(features), features


class EdgeBranch(nn.Module):
    """Edge prediction from ``layer1``-``layer3``; one shared 3x3 edge classifier per level."""

    def __init__(self, in_channels: tuple[int, int, int] = (256, 512, 1024), mid_channels: int = 256) -> None:
        super().__init__()
        self.conv1 = conv_norm(in_channels[0], mid_channels)
        self.conv2 = conv_norm(in_channels[1], mid_channels)
        self.conv3 = conv_norm(in_channels[2], mid_channels)
        self.conv4 = nn.Conv2d(mid_channels, 2, 3, padding=1)
        self.conv5 = nn.Conv2d(3 * 2, 2, 1)

    def forward(self, x1: torch.Tensor, x2: torch.Tensor,
                x3: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(edge logits [B, 2, h, w], features [B, 768, h, w])`` at the resolution of ``x1``."""
        size = (x1.shape[2], x1.shape[3])
        features = [self.conv1(x1), self.conv2(x2), self.conv3(x3)]
        edges = [self.conv4(f) for f in features]
        edges = [edges[0]] + [resize(e, size) for e in edges[1:]]
        features = [features[0]] + [resize(f, size) for f in features[1:]]
        return self.conv5(torch.cat(edges, dim=1)), torch.cat(features, dim=1)


def fusion_head(num_classes: int) -> nn.Sequential:
    """1x1 conv + norm over decoder and edge features, then the final classifier (key ``3``).

    Index 2 holds the place of the original ``Dropout2d(0.1)``, an identity at inference.
    """
    return nn.Sequential(
        nn.Conv2d(1024, 256, 1, bias=False), ActivatedBatchNorm(256), nn.Identity(),
        nn.Conv2d(256, num_classes, 1),
    )
