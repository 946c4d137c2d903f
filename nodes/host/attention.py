"""Attention through the host: its plain attention, masked attention, and the one policy every attention
patch of the pack follows.

A replace patch ``f(q, k, v, extra_options) -> out`` gets the block's **projected** ``q [B, Nq, inner]``,
``k, v [B, Nk, inner]`` and returns ``[B, Nq, inner]`` (``inner`` = heads x head width); the block applies
its output projection afterwards. ``extra_options`` is the host's ``transformer_options`` of the call
(``n_heads``, ``cond_or_uncond``, ``sigmas``, ``activations_shape``, ``attn_precision``, ...).

Policy (:func:`with_attention_patches`): a patch never replaces another pack's patch on the same layer,
it wraps it (``make(inner)`` gets the patch already there, or ``None`` where the host's plain attention
runs). The host looks a layer up by its ``(block, number, index)`` key first, then by ``(block,
number)``; so does the policy. A block whose only patched transformer is index 0 is stored under the
per-block key, so that a pack patching later with per-block keys (IPAdapter_plus on SD1.5) replaces or
wraps ours instead of being shadowed by it.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from typing import Any

import comfy.ldm.modules.attention as host_attention_module
import torch

Attention = Callable[[torch.Tensor, torch.Tensor, torch.Tensor, dict[str, Any]], torch.Tensor]
"""A replace patch: ``(q, k, v, extra_options) -> out`` on projected tensors."""
LayerKey = tuple[str, int, int]
"""``(block, number, index)``: the host's ``transformer_options["block"]`` plus ``block_index``."""
MakePatch = Callable[[Attention | None], Attention]
"""Builds a layer's patch from the patch already there (``None``: the host's plain attention)."""

KINDS = ("attn1", "attn2")
"""``attn1``: self-attention, ``attn2``: cross-attention."""


def _accepts(function: Callable[..., Any], name: str) -> bool:
    try:
        return name in inspect.signature(function).parameters
    except (TypeError, ValueError):
        return False


_OPTIONAL_ARGUMENTS = tuple(name for name in ("attn_precision", "transformer_options")
                            if _accepts(host_attention_module.optimized_attention, name))


def host_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor,
                   extra_options: dict[str, Any]) -> torch.Tensor:
    """What the block computes with no patch: the host's optimized attention with the layer's head count,
    attention precision and transformer options (where the host's function takes them)."""
    extra = {"attn_precision": extra_options.get("attn_precision"), "transformer_options": extra_options}
    return host_attention_module.optimized_attention(
        q, k, v, extra_options["n_heads"], **{name: extra[name] for name in _OPTIONAL_ARGUMENTS})


def masked_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, heads: int,
                     mask: torch.Tensor) -> torch.Tensor:
    """The host's PyTorch SDPA attention with an additive float ``mask`` ``[B or 1, 1, Nq or 1, Nk]``
    (the backend that accepts every mask shape)."""
    return host_attention_module.attention_pytorch(q, k, v, heads, mask=mask)


def attention_replaces(model: Any, kind: str) -> dict[Any, Attention]:
    """The ``kind`` replace patches on a MODEL (``{key: patch}``; read only)."""
    options = model.model_options.get("transformer_options", {})
    return options.get("patches_replace", {}).get(kind, {})


def patch_options(kind: str, patches: Mapping[LayerKey, Attention]) -> dict[str, Any]:
    """``transformer_options`` for an extra denoiser pass in which only ``patches`` replace ``kind``
    attention (by per-layer key)."""
    return {"patches_replace": {kind: dict(patches)}}


def with_attention_patches(model: Any, kind: str, makers: Mapping[LayerKey, MakePatch]) -> Any:
    """A clone of ``model`` with ``makers[key](inner)`` as the ``kind`` patch of every ``key`` (the
    policy of the module docstring); ``model`` itself is left untouched. ``makers`` names every layer
    index of each block it patches."""
    if kind not in KINDS:
        raise ValueError(f"attention kind must be one of {KINDS}, got {kind!r}")
    patched = model.clone()
    existing = attention_replaces(patched, kind)
    depths: dict[tuple[str, int], int] = {}
    for key in makers:
        depths[key[:2]] = depths.get(key[:2], 0) + 1
    setter = patched.set_model_attn1_replace if kind == "attn1" else patched.set_model_attn2_replace
    for key, make in makers.items():
        patch = make(existing.get(key, existing.get(key[:2])))
        if depths[key[:2]] == 1 and key[2] == 0 and key not in existing:
            setter(patch, key[0], key[1])
        else:
            setter(patch, key[0], key[1], key[2])
    return patched
