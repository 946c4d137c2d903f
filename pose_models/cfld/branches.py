"""CFLD's three guidance branches on one batched denoiser call, without the host.

The guider evaluates ``[uc, down, full]`` in one call: chunk ``i`` of the batch belongs to branch
``chunks[i]`` (:data:`UC` = null prompt, :data:`DOWN` = null prompt + pose residuals, :data:`FULL` =
prompt + pose residuals + appearance biases). The pose residuals are added to the ``down`` and ``full``
chunks, the appearance biases to the ``full`` chunk's queries; the noise is
``uc + pose_scale (down - uc) + appearance_scale (full - down)`` (:func:`combine`).
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from .conditioner import Conditions
from .errors import CFLDError

UC, DOWN, FULL = 0, 1, 2
"""Index of each branch in the guider's batch (= the host's ``cond_or_uncond`` tags)."""


class DeviceCache:
    """Per (device, dtype) copies of the conditions' residuals and biases (filled lazily, never mutated)."""

    def __init__(self, conditions: Conditions) -> None:
        self.conditions = conditions
        self._cache: dict[tuple[str, torch.device, torch.dtype, int], torch.Tensor] = {}

    def get(self, kind: str, index: int, like: torch.Tensor) -> torch.Tensor:
        """``kind`` ``"pose"`` (residual of level ``index``) or ``"appearance"`` (bias of block ``index``),
        on ``like``'s device and dtype."""
        key = (kind, like.device, like.dtype, index)
        if key not in self._cache:
            source = (self.conditions.pose_residuals[index] if kind == "pose"
                      else self.conditions.appearance_biases[index])
            self._cache[key] = source.to(like.device, like.dtype)
        return self._cache[key]


def tile(tensor: torch.Tensor, rows: int) -> torch.Tensor:
    """``tensor [n, ...]`` repeated to ``rows`` rows (``rows`` a multiple of ``n``)."""
    if rows % tensor.shape[0]:
        raise CFLDError(f"CFLD Guider: {rows} latents per branch do not fit conditions made for "
                        f"{tensor.shape[0]} images; use a latent batch equal to the conditions' batch.")
    return tensor.repeat(rows // tensor.shape[0], *([1] * (tensor.ndim - 1)))


def add_to_chunks(x: torch.Tensor, chunks: list[int], wanted: tuple[int, ...],
                  make: Callable[[int], torch.Tensor]) -> torch.Tensor:
    """``x`` with ``make(rows)`` added to the chunks whose branch tag is in ``wanted``."""
    if not any(c in wanted for c in chunks):
        return x
    rows = x.shape[0] // len(chunks)
    addition = make(rows)
    parts = [p + addition if c in wanted else p for p, c in zip(x.split(rows), chunks, strict=True)]
    return torch.cat(parts)


def pose_levels(layers_per_block: int, levels: int) -> dict[int, int]:
    """``{input block index: pose level}``: level ``l``'s residual goes after input block ``(L+1) l + L``
    (2, 5, 8 for SD1.5: after the level's last resnet+attention, before the skip is stored)."""
    return {(layers_per_block + 1) * level + layers_per_block: level for level in range(levels)}


def combine(outputs: list[torch.Tensor], pose_scale: float, appearance_scale: float) -> torch.Tensor:
    """``uc + pose_scale (down - uc) + appearance_scale (full - down)`` of the outputs in branch order."""
    uc, down, full = outputs
    return uc + pose_scale * (down - uc) + appearance_scale * (full - down)
