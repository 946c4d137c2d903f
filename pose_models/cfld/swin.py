"""CFLD's source encoder: Microsoft's Swin Transformer (the official ``models/swin_transformer.py`` layout).

Input ``[B, 3, S, S]`` in ``[-1, 1]`` (CFLD normalises with mean = std = 0.5, not ImageNet statistics);
output the four stage features *before* patch merging, tokens row-major: stage ``i`` is
``[B, (S / (patch * 2**i))**2, embed_dim * 2**i]``. No final norm, no pooling, no head (CFLD does not use
them). Parameter names follow the official checkpoint (``patch_embed``, ``layers.{i}.blocks.{j}`` with a
fused ``attn.qkv``, ``layers.{i}.downsample``); the buffers ``relative_position_index`` and ``attn_mask`` are
recomputed here, never loaded.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn


@dataclass(frozen=True)
class SwinConfig:
    """Sizes of a Swin encoder. ``windows[i]`` is stage ``i``'s effective window (the official code clamps
    the window to the feature side when the side is not larger; such a stage is never shifted)."""

    image_size: int = 256
    patch_size: int = 4
    embed_dim: int = 128
    depths: tuple[int, ...] = (2, 2, 18, 2)
    heads: tuple[int, ...] = (4, 8, 16, 32)
    windows: tuple[int, ...] = (16, 16, 16, 8)
    mlp_ratio: float = 4.0

    def stage_side(self, stage: int) -> int:
        """Token grid side of ``stage``."""
        return self.image_size // self.patch_size // 2**stage

    def stage_dim(self, stage: int) -> int:
        return self.embed_dim * 2**stage


def _relative_position_index(window: int) -> torch.Tensor:
    coords = torch.stack(torch.meshgrid(torch.arange(window), torch.arange(window), indexing="ij")).flatten(1)
    rel = (coords[:, :, None] - coords[:, None, :]).permute(1, 2, 0) + (window - 1)
    return rel[:, :, 0] * (2 * window - 1) + rel[:, :, 1]


def _partition(x: torch.Tensor, window: int) -> torch.Tensor:
    """``[B, H, W, C]`` -> ``[B, nW, window*window, C]`` (windows row-major)."""
    b, h, w, c = x.shape
    x = x.view(b, h // window, window, w // window, window, c).permute(0, 1, 3, 2, 4, 5)
    return x.reshape(b, (h // window) * (w // window), window * window, c)


def _merge(windows: torch.Tensor, window: int, h: int, w: int) -> torch.Tensor:
    """Inverse of :func:`_partition`."""
    b, c = windows.shape[0], windows.shape[-1]
    x = windows.view(b, h // window, w // window, window, window, c).permute(0, 1, 3, 2, 4, 5)
    return x.reshape(b, h, w, c)


def _shift_mask(side: int, window: int, shift: int) -> torch.Tensor:
    """The official additive mask ``[nW, N, N]`` (0 / -100) that keeps shifted windows from mixing."""
    img = torch.zeros(1, side, side, 1)
    bounds = (slice(0, -window), slice(-window, -shift), slice(-shift, None))
    for n, (hs, ws) in enumerate((hs, ws) for hs in bounds for ws in bounds):
        img[:, hs, ws, :] = n
    ids = _partition(img, window)[0, :, :, 0]
    diff = ids[:, None, :] - ids[:, :, None]
    return torch.zeros_like(diff).masked_fill(diff != 0, -100.0)


class WindowAttention(nn.Module):
    """Window self-attention with a learned relative-position bias (``qkv`` fused, ``proj``)."""

    def __init__(self, dim: int, heads: int, window: int) -> None:
        super().__init__()
        self.heads = heads
        self.window = window
        self.relative_position_bias_table = nn.Parameter(torch.zeros((2 * window - 1) ** 2, heads))
        self.register_buffer("relative_position_index", _relative_position_index(window), persistent=False)
        self.qkv = nn.Linear(dim, dim * 3)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        """``x [B, nW, N, C]``, ``mask [nW, N, N]`` or ``None`` -> ``[B, nW, N, C]``."""
        b, nw, n, c = x.shape
        q, k, v = self.qkv(x).view(b, nw, n, 3, self.heads, c // self.heads).permute(3, 0, 1, 4, 2, 5)
        n_tok = self.window * self.window
        bias = self.relative_position_bias_table[self.relative_position_index.view(-1)]
        bias = bias.view(n_tok, n_tok, -1).permute(2, 0, 1)  # [heads, N, N]
        if mask is not None:
            bias = bias + mask[:, None]  # [nW, heads, N, N]
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=bias.to(q.dtype))
        return self.proj(out.transpose(2, 3).reshape(b, nw, n, c))


class Mlp(nn.Module):
    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(F.gelu(self.fc1(x)))


class SwinBlock(nn.Module):
    """One (shifted) window block on a ``side x side`` token grid."""

    def __init__(self, dim: int, heads: int, side: int, window: int, shift: int, mlp_hidden: int) -> None:
        super().__init__()
        self.side, self.window, self.shift = side, window, shift
        self.norm1 = nn.LayerNorm(dim)
        self.attn = WindowAttention(dim, heads, window)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = Mlp(dim, mlp_hidden)
        self.register_buffer("attn_mask", _shift_mask(side, window, shift) if shift else None,
                             persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, _, c = x.shape
        h = self.norm1(x).view(b, self.side, self.side, c)
        if self.shift:
            h = torch.roll(h, shifts=(-self.shift, -self.shift), dims=(1, 2))
        h = _merge(self.attn(_partition(h, self.window), self.attn_mask), self.window, self.side, self.side)
        if self.shift:
            h = torch.roll(h, shifts=(self.shift, self.shift), dims=(1, 2))
        x = x + h.reshape(b, -1, c)
        return x + self.mlp(self.norm2(x))


class PatchMerging(nn.Module):
    """2x2 token merge: concat (official order), LayerNorm, linear ``4C -> 2C``."""

    def __init__(self, dim: int, side: int) -> None:
        super().__init__()
        self.side = side
        self.norm = nn.LayerNorm(4 * dim)
        self.reduction = nn.Linear(4 * dim, 2 * dim, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, _, c = x.shape
        x = x.view(b, self.side, self.side, c)
        x = torch.cat([x[:, 0::2, 0::2], x[:, 1::2, 0::2], x[:, 0::2, 1::2], x[:, 1::2, 1::2]], -1)
        return self.reduction(self.norm(x.view(b, -1, 4 * c)))


class SwinStage(nn.Module):
    def __init__(self, config: SwinConfig, stage: int) -> None:
        super().__init__()
        dim, side, window = config.stage_dim(stage), config.stage_side(stage), config.windows[stage]
        shift = window // 2 if side > window else 0
        self.blocks = nn.ModuleList(
            SwinBlock(dim, config.heads[stage], side, window, shift if j % 2 else 0,
                      int(dim * config.mlp_ratio))
            for j in range(config.depths[stage]))
        self.downsample = PatchMerging(dim, side) if stage < len(config.depths) - 1 else None

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        for block in self.blocks:
            x = block(x)
        return (x if self.downsample is None else self.downsample(x)), x


class PatchEmbed(nn.Module):
    def __init__(self, patch: int, dim: int) -> None:
        super().__init__()
        self.proj = nn.Conv2d(3, dim, patch, stride=patch)
        self.norm = nn.LayerNorm(dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(self.proj(x).flatten(2).transpose(1, 2))


class SwinEncoder(nn.Module):
    """``forward(image [B, 3, S, S] in [-1, 1]) -> [stage features]`` (see the module docstring)."""

    def __init__(self, config: SwinConfig) -> None:
        super().__init__()
        self.config = config
        self.patch_embed = PatchEmbed(config.patch_size, config.embed_dim)
        self.layers = nn.ModuleList(SwinStage(config, i) for i in range(len(config.depths)))

    def forward(self, image: torch.Tensor) -> list[torch.Tensor]:
        x = self.patch_embed(image)
        features = []
        for layer in self.layers:
            x, feature = layer(x)
            features.append(feature)
        return features
