"""A compact Stable Diffusion 1.5 UNet in diffusers' parameter layout, with CFLD's two conditioning paths.

CFLD adds no parameters to the SD1.5 UNet; it feeds it

* ``pose_residuals``: one tensor per down level with attention, added after that level's last
  resnet+attention pair, before downsampling, so the skip connection carries it (T2I-Adapter placement;
  the host's ``input_blocks`` 2, 5, 8);
* ``query_biases``: ``{block: [B, tokens, width]}`` added to the projected queries of the cross-attention
  of up-block transformer ``block`` (``3 * up_block + j`` with 3 = layers per block + 1; the host's
  ``output_blocks[block]``).

``forward(latents [B, 4, h, w], timestep [B] or scalar, context [B, n_ctx, ctx_dim], ...) -> eps``. This
module serves the plain-PyTorch API (:mod:`.pipeline`); inside ComfyUI the host's own UNet runs instead.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .layers import ResnetBlock2D, TransformerBlock


@dataclass(frozen=True)
class UNetConfig:
    """Sizes of an SD1.5-layout UNet (``heads`` per attention is SD1.5's fixed 8: not in the weights)."""

    in_channels: int = 4
    out_channels: int = 4
    block_out_channels: tuple[int, ...] = (320, 640, 1280, 1280)
    attention_levels: tuple[bool, ...] = (True, True, True, False)
    layers_per_block: int = 2
    cross_attention_dim: int = 768
    heads: int = 8

    @property
    def time_embed_dim(self) -> int:
        return self.block_out_channels[0] * 4

    def up_block_index(self, up_block: int, j: int) -> int:
        """CFLD's block index of transformer ``j`` in up block ``up_block``."""
        return up_block * (self.layers_per_block + 1) + j


def timestep_embedding(timesteps: torch.Tensor, dim: int) -> torch.Tensor:
    """diffusers' sinusoidal embedding with ``flip_sin_to_cos=True``, shift 0: ``[cos, sin]``."""
    half = dim // 2
    exponent = -math.log(10000) * torch.arange(half, dtype=torch.float32, device=timesteps.device) / half
    emb = timesteps[:, None].float() * torch.exp(exponent)[None, :]
    return torch.cat([torch.cos(emb), torch.sin(emb)], dim=-1)


class TimestepEmbedding(nn.Module):
    def __init__(self, in_dim: int, dim: int) -> None:
        super().__init__()
        self.linear_1 = nn.Linear(in_dim, dim)
        self.linear_2 = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear_2(F.silu(self.linear_1(x)))


class SpatialTransformer(nn.Module):
    """diffusers' ``Transformer2DModel`` (conv ``proj_in``/``proj_out``, one block)."""

    def __init__(self, channels: int, heads: int, context_dim: int) -> None:
        super().__init__()
        self.norm = nn.GroupNorm(32, channels, eps=1e-6)
        self.proj_in = nn.Conv2d(channels, channels, 1)
        self.transformer_blocks = nn.ModuleList([TransformerBlock(channels, heads, context_dim)])
        self.proj_out = nn.Conv2d(channels, channels, 1)

    def forward(self, x: torch.Tensor, context: torch.Tensor,
                query_bias: torch.Tensor | None = None) -> torch.Tensor:
        b, c, h, w = x.shape
        t = self.proj_in(self.norm(x)).permute(0, 2, 3, 1).reshape(b, h * w, c)
        t = self.transformer_blocks[0](t, context, query_bias)
        return self.proj_out(t.reshape(b, h, w, c).permute(0, 3, 1, 2)) + x


class Downsample(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, stride=2, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)


class Upsample(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(F.interpolate(x, scale_factor=2.0, mode="nearest"))


class DownBlock(nn.Module):
    def __init__(self, config: UNetConfig, level: int) -> None:
        super().__init__()
        ch = config.block_out_channels
        ins = [ch[level - 1] if level else ch[0]] + [ch[level]] * (config.layers_per_block - 1)
        self.resnets = nn.ModuleList(ResnetBlock2D(i, ch[level], config.time_embed_dim, eps=1e-5)
                                     for i in ins)
        self.attentions = nn.ModuleList(
            SpatialTransformer(ch[level], config.heads, config.cross_attention_dim)
            for _ in ins) if config.attention_levels[level] else None
        last = level == len(ch) - 1
        self.downsamplers = None if last else nn.ModuleList([Downsample(ch[level])])


class UpBlock(nn.Module):
    def __init__(self, config: UNetConfig, up_level: int) -> None:
        super().__init__()
        rev = config.block_out_channels[::-1]
        out_ch, prev_ch = rev[up_level], rev[max(up_level - 1, 0)]
        skip_last = rev[min(up_level + 1, len(rev) - 1)]
        n = config.layers_per_block + 1
        self.resnets = nn.ModuleList(
            ResnetBlock2D((prev_ch if j == 0 else out_ch) + (skip_last if j == n - 1 else out_ch), out_ch,
                          config.time_embed_dim, eps=1e-5) for j in range(n))
        self.attentions = nn.ModuleList(
            SpatialTransformer(out_ch, config.heads, config.cross_attention_dim)
            for _ in range(n)) if config.attention_levels[::-1][up_level] else None
        self.upsamplers = None if up_level == len(rev) - 1 else nn.ModuleList([Upsample(out_ch)])


class MidBlock(nn.Module):
    def __init__(self, config: UNetConfig) -> None:
        super().__init__()
        ch = config.block_out_channels[-1]
        self.resnets = nn.ModuleList(ResnetBlock2D(ch, ch, config.time_embed_dim, eps=1e-5) for _ in range(2))
        self.attentions = nn.ModuleList([SpatialTransformer(ch, config.heads, config.cross_attention_dim)])


class SD15UNet(nn.Module):
    """See the module docstring. Parameter names are diffusers' ``UNet2DConditionModel`` names."""

    def __init__(self, config: UNetConfig) -> None:
        super().__init__()
        self.config = config
        ch = config.block_out_channels
        self.conv_in = nn.Conv2d(config.in_channels, ch[0], 3, padding=1)
        self.time_embedding = TimestepEmbedding(ch[0], config.time_embed_dim)
        self.down_blocks = nn.ModuleList(DownBlock(config, i) for i in range(len(ch)))
        self.mid_block = MidBlock(config)
        self.up_blocks = nn.ModuleList(UpBlock(config, i) for i in range(len(ch)))
        self.conv_norm_out = nn.GroupNorm(32, ch[0], eps=1e-5)
        self.conv_out = nn.Conv2d(ch[0], config.out_channels, 3, padding=1)

    def forward(self, latents: torch.Tensor, timestep: torch.Tensor | float, context: torch.Tensor,
                pose_residuals: Sequence[torch.Tensor] = (),
                query_biases: Mapping[int, torch.Tensor] | None = None) -> torch.Tensor:
        query_biases = query_biases or {}
        t = torch.as_tensor(timestep, device=latents.device).reshape(-1).expand(latents.shape[0])
        temb = self.time_embedding(timestep_embedding(t, self.config.block_out_channels[0]).to(latents.dtype))
        h = self.conv_in(latents)
        skips = [h]
        for level, block in enumerate(self.down_blocks):
            for j, resnet in enumerate(block.resnets):
                h = resnet(h, temb)
                if block.attentions is not None:
                    h = block.attentions[j](h, context)
                if j == len(block.resnets) - 1 and level < len(pose_residuals):
                    h = h + pose_residuals[level]
                skips.append(h)
            if block.downsamplers is not None:
                h = block.downsamplers[0](h)
                skips.append(h)
        h = self.mid_block.resnets[0](h, temb)
        h = self.mid_block.attentions[0](h, context)
        h = self.mid_block.resnets[1](h, temb)
        for up_level, block in enumerate(self.up_blocks):
            for j, resnet in enumerate(block.resnets):
                h = resnet(torch.cat([h, skips.pop()], dim=1), temb)
                if block.attentions is not None:
                    bias = query_biases.get(self.config.up_block_index(up_level, j))
                    h = block.attentions[j](h, context, bias)
            if block.upsamplers is not None:
                h = block.upsamplers[0](h)
        return self.conv_out(F.silu(self.conv_norm_out(h)))
