"""Building blocks shared by the CFLD modules, with the official (diffusers 0.19) parameter names.

Attention always runs through ``torch.nn.functional.scaled_dot_product_attention``; heads are a
constructor argument because they cannot be read from weight shapes.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class Attention(nn.Module):
    """Multi-head attention with diffusers' names: ``to_q``, ``to_k``, ``to_v`` (no bias), ``to_out.0``.

    ``forward(x [B, N, dim], context [B, M, context_dim] | None, query_bias [B, N, inner] | None)``: the
    optional ``query_bias`` is added to the projected queries (CFLD's hybrid-granularity attention).
    """

    def __init__(self, dim: int, heads: int, head_dim: int, context_dim: int | None = None) -> None:
        super().__init__()
        inner = heads * head_dim
        self.heads = heads
        self.to_q = nn.Linear(dim, inner, bias=False)
        self.to_k = nn.Linear(context_dim or dim, inner, bias=False)
        self.to_v = nn.Linear(context_dim or dim, inner, bias=False)
        self.to_out = nn.ModuleList([nn.Linear(inner, dim)])

    def forward(self, x: torch.Tensor, context: torch.Tensor | None = None,
                query_bias: torch.Tensor | None = None) -> torch.Tensor:
        context = x if context is None else context
        q = self.to_q(x)
        if query_bias is not None:
            q = q + query_bias
        b, n, inner = q.shape
        h, d = self.heads, inner // self.heads
        q = q.view(b, n, h, d).transpose(1, 2)
        k = self.to_k(context).view(b, -1, h, d).transpose(1, 2)
        v = self.to_v(context).view(b, -1, h, d).transpose(1, 2)
        out = F.scaled_dot_product_attention(q, k, v)
        return self.to_out[0](out.transpose(1, 2).reshape(b, n, inner))


class GEGLU(nn.Module):
    """``proj`` to twice the inner width, then ``value * gelu(gate)``."""

    def __init__(self, dim: int, inner: int) -> None:
        super().__init__()
        self.proj = nn.Linear(dim, inner * 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        value, gate = self.proj(x).chunk(2, dim=-1)
        return value * F.gelu(gate)


class FeedForward(nn.Module):
    """diffusers' GEGLU feed-forward: ``net.0`` (GEGLU, 4x inner width), ``net.1`` (dropout), ``net.2``."""

    def __init__(self, dim: int, inner: int | None = None) -> None:
        super().__init__()
        inner = inner or dim * 4
        self.net = nn.ModuleList([GEGLU(dim, inner), nn.Identity(), nn.Linear(inner, dim)])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net[2](self.net[0](x))


class TransformerBlock(nn.Module):
    """diffusers' ``BasicTransformerBlock`` (pre-norm): self-attention, second attention, GEGLU FF.

    ``context_dim`` set: the second attention (``attn2``) is cross-attention on ``context``; ``None``: it is a
    second self-attention (``double_self_attention``, CFLD's HGA blocks). ``query_bias`` goes to ``attn2``.
    """

    def __init__(self, dim: int, heads: int, context_dim: int | None = None) -> None:
        super().__init__()
        head_dim = dim // heads
        self.norm1 = nn.LayerNorm(dim)
        self.attn1 = Attention(dim, heads, head_dim)
        self.norm2 = nn.LayerNorm(dim)
        self.attn2 = Attention(dim, heads, head_dim, context_dim)
        self.norm3 = nn.LayerNorm(dim)
        self.ff = FeedForward(dim)

    def forward(self, x: torch.Tensor, context: torch.Tensor | None = None,
                query_bias: torch.Tensor | None = None) -> torch.Tensor:
        x = x + self.attn1(self.norm1(x))
        x = x + self.attn2(self.norm2(x), context, query_bias)
        return x + self.ff(self.norm3(x))


class ResnetBlock2D(nn.Module):
    """diffusers' ``ResnetBlock2D``: GroupNorm-SiLU-conv twice, optional time embedding, 1x1 shortcut."""

    def __init__(self, in_channels: int, out_channels: int, temb_channels: int | None, eps: float,
                 groups: int = 32) -> None:
        super().__init__()
        self.norm1 = nn.GroupNorm(groups, in_channels, eps=eps)
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, padding=1)
        self.time_emb_proj = nn.Linear(temb_channels, out_channels) if temb_channels else None
        self.norm2 = nn.GroupNorm(groups, out_channels, eps=eps)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, padding=1)
        self.conv_shortcut = nn.Conv2d(in_channels, out_channels, 1) if in_channels != out_channels else None

    def forward(self, x: torch.Tensor, temb: torch.Tensor | None = None) -> torch.Tensor:
        h = self.conv1(F.silu(self.norm1(x)))
        if self.time_emb_proj is not None and temb is not None:
            h = h + self.time_emb_proj(F.silu(temb))[:, :, None, None]
        h = self.conv2(F.silu(self.norm2(h)))
        shortcut = x if self.conv_shortcut is None else self.conv_shortcut(x)
        return shortcut + h
