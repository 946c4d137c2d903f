"""Hybrid-granularity attention (HGA): CFLD's appearance encoder.

Nine branches turn Swin stage features into additive biases for the projected *queries* of the UNet's
up-block cross-attentions. Branch ``i`` feeds UNet block ``BLOCK_ORDER[i]`` (``3 * up_block + j``, the
host's ``output_blocks[k]``) and reads the Swin stage that is current when the branch's input width
first appears (official: branches 0-2 stage 1, 3-5 stage 2, 6-8 stage 3). Each branch: 1x1 conv
(``zero_conv_ins``) -> transformer blocks with two self-attentions each (``blocks``) -> 1x1 conv
(``zero_conv_outs``) to the UNet width. Output per block: ``[B, side*side, unet_width]``, tokens row-major
like the UNet's flattened feature map (side = the Swin stage side = that UNet level's latent side).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from .layers import TransformerBlock

BLOCK_ORDER = (11, 10, 9, 8, 7, 6, 5, 4, 3)
"""UNet up-block transformer index (= host ``output_blocks`` index) of each branch, in checkpoint order."""


@dataclass(frozen=True)
class AppearanceConfig:
    """Per-branch sizes of the HGA (lists in checkpoint order, one entry per branch)."""

    inner_dims: tuple[int, ...] = (128,) * 3 + (256,) * 3 + (512,) * 3
    embed_dims: tuple[int, ...] = (64,) * 3 + (128,) * 3 + (256,) * 3
    heads: tuple[int, ...] = (2,) * 3 + (4,) * 3 + (8,) * 3
    ctx_dims: tuple[int, ...] = (320,) * 3 + (640,) * 3 + (1280,) * 3
    depth: int = 4

    def stages(self) -> tuple[int, ...]:
        """Swin stage each branch reads: the official encoder moves to the next stage after a branch
        whose input width differs from the following branch's."""
        stages, stage = [], 0
        for i, dim in enumerate(self.inner_dims):
            stages.append(stage)
            if i + 1 < len(self.inner_dims) and self.inner_dims[i + 1] != dim:
                stage += 1
        return tuple(stages)


class AppearanceEncoder(nn.Module):
    """``forward(features: list of Swin stage tokens) -> {block index: query bias}`` (inputs untouched)."""

    def __init__(self, config: AppearanceConfig) -> None:
        super().__init__()
        self.config = config
        self.stages = config.stages()
        self.zero_conv_ins = nn.ModuleList(
            nn.Conv2d(i, e, 1) for i, e in zip(config.inner_dims, config.embed_dims, strict=True))
        self.zero_conv_outs = nn.ModuleList(
            nn.Conv2d(e, c, 1) for e, c in zip(config.embed_dims, config.ctx_dims, strict=True))
        self.blocks = nn.ModuleList(
            nn.Sequential(*(TransformerBlock(e, h) for _ in range(config.depth)))
            for e, h in zip(config.embed_dims, config.heads, strict=True))

    def forward(self, features: list[torch.Tensor]) -> dict[int, torch.Tensor]:
        biases = {}
        for i, stage in enumerate(self.stages):
            tokens = features[stage]
            b, n, c = tokens.shape
            side = int(round(n**0.5))
            h = self.zero_conv_ins[i](tokens.transpose(1, 2).reshape(b, c, side, side))
            e = h.shape[1]
            h = self.blocks[i](h.reshape(b, e, -1).transpose(1, 2))
            h = self.zero_conv_outs[i](h.transpose(1, 2).reshape(b, e, side, side))
            biases[BLOCK_ORDER[i]] = h.reshape(b, h.shape[1], -1).transpose(1, 2)
        return biases
