"""Deterministic tensors shared by the CFLD reference generator, the parity tests and the benchmark.

Weights, source images, latents and per-step noise of the tiny parity configuration are not committed:
they are computed from their names by an integer hash (exact in ``int64`` arithmetic, the same on every
machine and torch version), so the official code (in its own venv) and our port see bit-identical fp32
inputs. Only the outputs the official code produced are committed (``reference/*.safetensors``).

Depends on torch only (it is imported by the reference generator inside the official code's venv).
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Iterable, Mapping

import torch

_MASK32 = 0xFFFFFFFF

EMBEDDING_NAMES = ("learnable_vector", "query_feat", "pos_embed", "kv_pos_embed")
"""Learned token tables: filled with unit-range values (not scaled by a fan-in)."""

RECOMPUTED_BUFFERS = ("relative_position_index", "attn_mask")
"""Swin buffers both implementations compute themselves: never filled here."""


def hash_uniform(name: str, numel: int) -> torch.Tensor:
    """``float64 [numel]`` in ``[0, 1)``: an integer hash of ``(name, index)``; exact and portable."""
    seed = zlib.crc32(name.encode("utf-8"))
    x = (torch.arange(numel, dtype=torch.int64) * 2654435761 + seed) & _MASK32
    for _ in range(2):
        x = (((x >> 16) ^ x) * 0x45D9F3B) & _MASK32
    x = (x >> 16) ^ x
    return x.to(torch.float64) / 2.0**32


def uniform(name: str, shape: Iterable[int], low: float = -1.0, high: float = 1.0) -> torch.Tensor:
    """``float32`` tensor of ``shape`` uniform in ``[low, high)``, determined by ``name``."""
    shape = tuple(int(s) for s in shape)
    u = hash_uniform(name, math.prod(shape))
    return (low + (high - low) * u).to(torch.float32).reshape(shape)


def normal(name: str, shape: Iterable[int]) -> torch.Tensor:
    """``float32`` standard-normal-like tensor (Box-Muller on two hash streams), determined by ``name``."""
    shape = tuple(int(s) for s in shape)
    n = math.prod(shape)
    u1 = hash_uniform(name + "/u1", n)
    u2 = hash_uniform(name + "/u2", n)
    z = torch.sqrt(-2.0 * torch.log1p(-u1)) * torch.cos(2.0 * math.pi * u2)
    return z.to(torch.float32).reshape(shape)


def parameter(name: str, shape: Iterable[int]) -> torch.Tensor:
    """The deterministic value of the parameter ``name`` (a state-dict key) of the given shape.

    Norm weights (1-D ``*.weight``) are ``1 +- 0.2``, other 1-D tensors (biases) ``+-0.1``, token tables
    ``+-1``, Swin relative-position tables ``+-0.5``, every other weight ``+-sqrt(3 / fan_in)`` (unit
    output variance). The HGA's zero-initialised convolutions get non-zero values like every other weight.
    """
    shape = tuple(int(s) for s in shape)
    leaf = name.rsplit(".", 1)[-1]
    if len(shape) == 1:
        return uniform(name, shape, 0.8, 1.2) if leaf == "weight" else uniform(name, shape, -0.1, 0.1)
    if leaf in EMBEDDING_NAMES:
        return uniform(name, shape)
    if leaf == "relative_position_bias_table":
        return uniform(name, shape, -0.5, 0.5)
    bound = math.sqrt(3.0 / (math.prod(shape) // shape[0]))
    return uniform(name, shape, -bound, bound)


def fill_state_dict(shapes: Mapping[str, Iterable[int]]) -> dict[str, torch.Tensor]:
    """``{key: parameter(key, shape)}`` for every key except the recomputed Swin buffers."""
    return {k: parameter(k, s) for k, s in shapes.items() if k.rsplit(".", 1)[-1] not in RECOMPUTED_BUFFERS}
