"""CFLD's perception-refined decoder: learned queries read the last Swin stage and become the prompt.

``forward(last_stage [B, L, C]) -> prompt [B, n_ctx, ctx_dim]``. Per block, *cross-attention first*:
``h += pos; h += attn2(norm2(h), kv); h += pos; h += attn1(norm1(h)); h += ff(norm3(h))`` with
``kv = last_stage + kv_pos_embed``. The position embedding is added into the residual stream twice per
block (the official code does this; it is not DETR's q/k-only embedding).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from .layers import TransformerBlock


@dataclass(frozen=True)
class DecoderConfig:
    n_ctx: int = 16
    ctx_dim: int = 768
    heads: int = 24
    depth: int = 8
    kv_dim: int = 1024
    kv_tokens: int = 64


class CrossAttnFirstBlock(TransformerBlock):
    """:class:`TransformerBlock` weights, CFLD's decoder order (see the module docstring)."""

    def forward(self, x: torch.Tensor, context: torch.Tensor | None = None,  # type: ignore[override]
                query_bias: torch.Tensor | None = None, pos: torch.Tensor | None = None) -> torch.Tensor:
        x = x + pos
        x = x + self.attn2(self.norm2(x), context)
        x = x + pos
        x = x + self.attn1(self.norm1(x))
        return x + self.ff(self.norm3(x))


class PromptDecoder(nn.Module):
    """Queries ``query_feat``, position ``pos_embed``, key/value position ``kv_pos_embed``, ``blocks``."""

    def __init__(self, config: DecoderConfig) -> None:
        super().__init__()
        self.config = config
        self.query_feat = nn.Parameter(torch.zeros(config.n_ctx, config.ctx_dim))
        self.pos_embed = nn.Parameter(torch.zeros(config.n_ctx, config.ctx_dim))
        self.kv_pos_embed = nn.Parameter(torch.zeros(1, config.kv_tokens, config.kv_dim))
        self.blocks = nn.ModuleList(CrossAttnFirstBlock(config.ctx_dim, config.heads, config.kv_dim)
                                    for _ in range(config.depth))

    def forward(self, last_stage: torch.Tensor) -> torch.Tensor:
        b = last_stage.shape[0]
        kv = last_stage + self.kv_pos_embed
        h = self.query_feat.expand(b, -1, -1)
        pos = self.pos_embed.expand(b, -1, -1)
        for block in self.blocks:
            h = block(h, kv, pos=pos)
        return h
