"""HPFA's fused attention when another attention patch computes the target's own part.

Plain HPFA is one SDPA call over the target's keys and the source keys together. When another pack
already patched the layer's attention, its output stands for attention over the target's own keys; the
mix keeps it: one SDPA call with an indicator value channel returns the source part and the share
``alpha`` of the attention mass on the target's own keys, and the result is ``alpha * theirs + source
part`` (equal to the plain case when theirs is plain attention).

Tensors are in head layout: ``[B, heads, tokens, head width]`` (``H`` heads of width ``D``).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def mixed_with_own_output(q: torch.Tensor, keys: torch.Tensor, v_s: torch.Tensor, bias: torch.Tensor,
                          theirs: torch.Tensor) -> torch.Tensor:
    """``alpha * theirs + source part``.

    ``q [B, H, Nq, D]``; ``keys [B, H, Nown + Ns, D]`` (the target's own keys, then the source keys);
    ``v_s [1, H, Ns, D]`` source values; ``bias`` additive mask broadcastable to ``[B, H, Nq, Nown + Ns]``;
    ``theirs [B, Nq, H * D]`` the other patch's output for the own keys (with the own part of ``bias``).
    Returns ``[B, Nq, H * D]``.
    """
    batch, heads, tokens, dim = q.shape
    own = keys.shape[2] - v_s.shape[2]
    own_values = torch.zeros(batch, heads, own, dim + 1, dtype=q.dtype, device=q.device)
    own_values[..., dim] = 1
    source_values = F.pad(v_s.to(q.dtype), (0, 1)).expand(batch, -1, -1, -1)
    values = torch.cat([own_values, source_values], dim=2)
    out = F.scaled_dot_product_attention(q, keys, values, attn_mask=bias)
    theirs = theirs.view(batch, tokens, heads, dim).transpose(1, 2)
    mixed = out[..., dim:] * theirs + out[..., :dim]
    return mixed.transpose(1, 2).reshape(batch, tokens, heads * dim)
