"""The HPFA attention bias: per-layer region coverage, source-key bias and region-to-region gating.

For a self-attention layer with ``h x w`` target tokens and ``hs x ws`` source tokens (row-major, as
the backbone flattens its token grid) the target queries attend to ``[K ; K_s]`` with the additive bias
``[0 | B]``:

* ``B_j = log(strength * sum_g weight_g * coverage_g(j))`` over source tokens ``j``, where
  ``coverage_g(j)`` is the fraction of token ``j``'s image area in group ``g`` (area resampling of the
  image-resolution masks). A token no weighted group touches gets exactly ``-inf``: softmax gives it
  exactly zero weight, unlike a zeroed key (``exp(0) = 1``).
* optional gating ``B_ij - gate`` where query ``i``'s dominant target region does not prefer source token
  ``j``'s dominant group (:data:`~pose_models.truepose.regions.AFFINITY`); queries in no region are not
  gated.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def area_coverage(masks: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """``float32 [B, G, h, w]``: fraction of each token's area in each group, from masks ``[B, G, H, W]``.

    Exactly 0 where a token's area holds no pixel of the group.
    """
    return F.interpolate(masks.float(), size=size, mode="area")


def source_key_bias(coverage: torch.Tensor, weights: torch.Tensor, strength: float) -> torch.Tensor:
    """``float32 [h * w]`` bias of the source tokens from coverage ``[G, h, w]`` and group weights ``[G]``.

    ``-inf`` exactly where the weighted coverage is 0 (excluded groups have weight 0) or ``strength <= 0``.
    """
    mass = (coverage.float() * weights.float().view(-1, 1, 1)).sum(0).flatten()
    if strength <= 0:
        return torch.full_like(mass, float("-inf"))
    return torch.log(mass * float(strength))


def dominant_group(coverage: torch.Tensor) -> torch.Tensor:
    """``int64 [B, h * w]``: index of the group covering most of each token, ``-1`` for uncovered tokens."""
    flat = coverage.flatten(2)
    best = flat.argmax(dim=1)
    return torch.where(flat.sum(dim=1) > 0, best, torch.full_like(best, -1))


def gate_penalty(target_groups: torch.Tensor, source_groups: torch.Tensor, affinity: torch.Tensor,
                 gate: float) -> torch.Tensor:
    """``float32 [B, N, Ns]``: ``-gate`` where target region and source group do not match, else 0.

    ``target_groups`` ``int64 [B, N]`` index the rows of ``affinity`` (``bool [Gt, Gs]``),
    ``source_groups`` ``int64 [Ns]`` its columns; ``-1`` (no region / no group) is never gated.
    """
    allowed = affinity[target_groups.clamp(min=0)][:, :, source_groups.clamp(min=0)]
    ungated = (target_groups < 0).unsqueeze(-1) | (source_groups < 0).view(1, 1, -1)
    penalty = torch.zeros(allowed.shape, dtype=torch.float32, device=allowed.device)
    return penalty.masked_fill(~(allowed | ungated), -float(gate))
