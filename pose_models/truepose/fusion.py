"""HPFA's fused attention when another attention patch computes the target's own part.

Plain HPFA is one SDPA call over the target's keys and the source keys together. When another pack
already replaced the layer's self-attention, its output stands for attention over the target's own keys;
the mix keeps it: one SDPA call with an indicator value channel returns the source part and the share
``alpha`` of the attention mass on the target's own keys, and the result is ``alpha * theirs + source
part`` (equal to the plain case when theirs is plain attention).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def mixed_with_own_output(q: torch.Tensor, keys: torch.Tensor, v_s: torch.Tensor, bias: torch.Tensor,
                          heads: int, theirs: torch.Tensor) -> torch.Tensor:
    """``alpha * theirs + source part``.

    ``q [B, Nq, C]``; ``keys [B, Nown + Ns, C]`` (the target's own keys, then the source keys); ``v_s
    [1, Ns, C]`` source values; ``bias [B or 1, 1, Nq or 1, Nown + Ns]`` additive mask; ``theirs [B, Nq,
    C]`` the other patch's output for the own keys. ``C = heads * head width``. Returns ``[B, Nq, C]``.
    """
    batch, tokens, width = q.shape
    dim = width // heads
    own = keys.shape[1] - v_s.shape[1]
    own_values = torch.zeros(batch, own, heads, dim + 1, dtype=q.dtype, device=q.device)
    own_values[..., dim] = 1
    source_values = F.pad(v_s.view(1, -1, heads, dim), (0, 1)).expand(batch, -1, -1, -1)
    values = torch.cat([own_values, source_values], dim=1).transpose(1, 2)
    out = F.scaled_dot_product_attention(q.view(batch, tokens, heads, dim).transpose(1, 2),
                                         keys.view(batch, -1, heads, dim).transpose(1, 2), values,
                                         attn_mask=bias)
    theirs = theirs.view(batch, tokens, heads, dim).transpose(1, 2)
    mixed = out[..., dim:] * theirs + out[..., :dim]
    return mixed.transpose(1, 2).reshape(batch, tokens, width)
