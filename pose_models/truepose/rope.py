"""Moving recorded DiT keys to other rotary positions (the source bank's place in a Flux or Qwen-Image call).

DiTs with axial rotary embeddings (Flux, Qwen-Image) rotate each key's head vector pair by pair:
pair ``i`` of axis ``a`` turns by ``position_a * theta ** (-2 i / axes_dim[a])``, axes in order (image
index, row, column), pairs interleaved ``(x[2i], x[2i+1])``. Rotations compose, so a key recorded after
its rotation at position ``p`` moves to ``p + delta`` by one more rotation by ``delta``: the source bank is
recorded once at its own positions and placed per generation without running the network again.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch


def axial_angles(delta: Sequence[float], axes_dim: Sequence[int], theta: float) -> torch.Tensor:
    """``float64 [sum(axes_dim) / 2]``: the rotation angle of every pair for the position offset ``delta``
    (one value per axis)."""
    if len(delta) != len(axes_dim):
        raise ValueError(f"{len(delta)} offsets for {len(axes_dim)} rotary axes")
    parts = []
    for offset, dim in zip(delta, axes_dim, strict=True):
        scale = torch.linspace(0, (dim - 2) / dim, steps=dim // 2, dtype=torch.float64)
        parts.append(float(offset) / theta ** scale)
    return torch.cat(parts)


def rotate_keys(keys: torch.Tensor, delta: Sequence[float], axes_dim: Sequence[int],
                theta: float) -> torch.Tensor:
    """``keys [..., D]`` (``D = sum(axes_dim)``, already rotated) turned by the offset ``delta``; computed in
    float32, returned in ``keys``' dtype. A zero offset returns ``keys`` itself."""
    if not any(delta):
        return keys
    angles = axial_angles(delta, axes_dim, theta).to(device=keys.device, dtype=torch.float32)
    cos, sin = torch.cos(angles), torch.sin(angles)
    pairs = keys.float().unflatten(-1, (-1, 2))
    even, odd = pairs[..., 0], pairs[..., 1]
    turned = torch.stack([cos * even - sin * odd, sin * even + cos * odd], dim=-1)
    return turned.flatten(-2).to(keys.dtype)


def reference_offset(references: int, axes: int) -> tuple[int, ...]:
    """The rotary offset that moves keys recorded at image index 0 to the next free reference-image index
    (after ``references`` reference images, as Kontext and Qwen-Image-Edit number theirs), rows and
    columns unchanged; ``axes`` position axes (image index first)."""
    return (references + 1,) + (0,) * (axes - 1)
