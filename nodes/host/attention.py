"""Attention through the host: its plain attention, masked attention, the one policy every attention
patch of the pack follows, and the backbone-neutral view of one self-attention call (:class:`AttentionCall`)
that TruePose's hooks receive on every backbone.

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
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import comfy.ldm.modules.attention as host_attention_module
import torch

LOG = logging.getLogger(__name__)

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


def masked_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor,
                     mask: torch.Tensor | None) -> torch.Tensor:
    """The host's PyTorch SDPA attention on head-layout tensors (``q [B, H, Nq, D]``, ``k, v [B, H, Nk, D]``)
    with an additive float ``mask`` broadcastable to ``[B, H, Nq, Nk]`` (the backend that accepts every
    mask shape); returns ``[B, Nq, H * D]``."""
    return host_attention_module.attention_pytorch(q, k, v, q.shape[1], mask=mask, skip_reshape=True)


def to_heads(x: torch.Tensor, heads: int) -> torch.Tensor:
    """``[B, N, H * D]`` -> ``[B, H, N, D]`` (a view)."""
    return x.unflatten(-1, (heads, -1)).transpose(1, 2)


def from_heads(x: torch.Tensor) -> torch.Tensor:
    """``[B, H, N, D]`` -> ``[B, N, H * D]``."""
    return x.transpose(1, 2).flatten(2)


# ----- the backbone-neutral self-attention call -------------------------------------------------------------
InnerAttention = Callable[[torch.Tensor, torch.Tensor, torch.Tensor, "torch.Tensor | None"], torch.Tensor]
"""``(q [B, H, Nq, D], k, v [B, H, Nk, D], mask or None) -> [B, Nq, H * D]``: what the layer computes for
these query rows without the pack's hook (another pack's patch, or the host's attention)."""


@dataclass(frozen=True)
class ImageTokens:
    """Where one image's tokens sit in a call: ``start`` and ``(rows, columns)`` of its row-major grid."""

    start: int
    grid: tuple[int, int]

    @property
    def span(self) -> slice:
        return slice(self.start, self.start + self.grid[0] * self.grid[1])


@dataclass(frozen=True)
class AttentionCall:
    """One self-attention (or joint attention) call as the pack's hooks see it on every backbone.

    ``q [B, H, Lq, D]``, ``k, v [B, H, Lk, D]`` in head layout (after rotary embedding on DiTs);
    ``mask`` the host's additive mask of the call (``None``, or broadcastable to ``[B, H, Lq, Lk]`` after
    the host's own unsqueezing: 2-D ``[Lq|1, Lk]``, 3-D ``[B, Lq|1, Lk]`` or 4-D);
    ``queries``/``keys``: the target image's tokens among the query rows and the key columns (a UNet
    call is all image tokens; a DiT call is ``[text | target | references]``); ``references``: the key
    columns of reference images (Kontext / Qwen-Image-Edit reference latents), in conditioning order;
    ``options``: the host's ``transformer_options`` of the call (``cond_or_uncond``, ``sigmas``);
    ``inner``: what the layer computes without the hook; ``plain``: ``inner`` is the host's own attention
    (no other pack patches this layer), so one masked SDPA call may stand for it.
    """

    q: torch.Tensor
    k: torch.Tensor
    v: torch.Tensor
    mask: torch.Tensor | None
    queries: ImageTokens
    keys: ImageTokens
    references: tuple[ImageTokens, ...]
    options: Mapping[str, Any]
    inner: InnerAttention
    plain: bool

    def mask_rows(self, rows: slice) -> torch.Tensor | None:
        """The host mask's entries for query ``rows``, as ``[B|1, H|1, rows|1, Lk]`` (``None``: no mask)."""
        if self.mask is None:
            return None
        mask = self.mask.unsqueeze(0) if self.mask.ndim == 2 else self.mask
        mask = mask.unsqueeze(1) if mask.ndim == 3 else mask
        return mask[..., rows, :] if mask.shape[-2] == self.q.shape[2] else mask


AttentionHook = Callable[[AttentionCall], "torch.Tensor | None"]
"""A hook on one layer: the call's output ``[B, Lq, H * D]``, or ``None`` to leave the call as it is (the
layer then runs exactly what it would without the hook)."""


def unet_hook_patch(hook: AttentionHook, inner: Attention | None) -> Attention:
    """A UNet ``attn1`` replace patch running ``hook`` (wrapping ``inner``, another pack's patch, or the
    host's attention when ``None``). The call's image tokens are all of its tokens, the grid is the
    ``h x w`` of ``activations_shape``."""
    attend = inner or host_attention

    def patch(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, extra: dict[str, Any]) -> torch.Tensor:
        heads = extra["n_heads"]
        shape = extra["activations_shape"]
        image = ImageTokens(0, (int(shape[-2]), int(shape[-1])))

        def inner_call(q4: torch.Tensor, k4: torch.Tensor, v4: torch.Tensor,
                       mask: torch.Tensor | None) -> torch.Tensor:
            return attend(from_heads(q4), from_heads(k4), from_heads(v4), extra)

        call = AttentionCall(to_heads(q, heads), to_heads(k, heads), to_heads(v, heads), None, image, image,
                             (), extra, inner_call, inner is None)
        out = hook(call)
        return attend(q, k, v, extra) if out is None else out

    return patch


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
        inner = existing.get(key, existing.get(key[:2]))
        if inner is not None:
            LOG.info("wrapping the %s replace patch already on %s", kind, key)
        patch = make(inner)
        if depths[key[:2]] == 1 and key[2] == 0 and key not in existing:
            setter(patch, key[0], key[1])
        else:
            setter(patch, key[0], key[1], key[2])
    return patched
