"""Self-attention hooks on DiTs (Flux, Qwen-Image) through the host's own patch points.

A Flux or Qwen-Image block computes one joint attention over ``[text | target image | reference
images]`` (Kontext / Qwen-Image-Edit reference latents follow the target). Every such call goes through
the host's ``optimized_attention``, which hands it to ``transformer_options["optimized_attention_override"]``
when that is set, with the rotated ``q, k`` and ``v`` in head layout (``[B, H, L, D]``, ``skip_reshape``).
The pack uses three stock patch points, each keyed or chained so that other packs keep theirs:

* an ``APPLY_MODEL`` wrapper puts the call's :class:`TokenLayout` (text length, target grid, reference
  grids, from the latent, the text conditioning and ``ref_latents``) into a copy of the transformer
  options;
* a ``dit`` block replace on each hooked block (``("double_block", i)``, ``("single_block", i)``) hands its
  block a copy of the transformer options marked with the layer key and calls the block replace another
  pack had there, if any (else the block itself);
* the attention override looks the marked layer up and gives its hook an :class:`.attention.AttentionCall`;
  it chains to an override that was already set (another pack's attention backend), which also computes
  every call the hook leaves alone. Calls in unmarked blocks (a ControlNet's, other layers) pass
  straight through.

The markers identify blocks on every host (upstream 0.3.75 Flux does not publish ``block_index``); the
layout is checked against every call's length (``TokenLayoutMismatch`` otherwise). With another pack's
``attn1_patch`` appending keys (FluxKVCache), keys may outnumber queries: the key layout then includes
references the query rows do not have.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import comfy.patcher_extension
import torch

from ...pose_models.errors import PoseTransferError
from .attention import AttentionCall, AttentionHook, ImageTokens, LayerKey

LOG = logging.getLogger(__name__)

OVERRIDE = "optimized_attention_override"
LAYOUT_KEY = "pose_transfer.tokens"
BLOCK_KEY = "pose_transfer.block"
LAYOUT_WRAPPER = "pose_transfer.dit_tokens"
APPLY_MODEL = comfy.patcher_extension.WrappersMP.APPLY_MODEL


class TokenLayoutMismatch(PoseTransferError):
    """A joint attention call does not have the tokens its latent, text and references predict."""


def token_grid(latent: torch.Tensor, patch: int) -> tuple[int, int]:
    """``(rows, columns)`` of the tokens of a ``[B, C, h, w]`` or ``[B, C, T, h, w]`` latent (``patch``
    cells per token side, padded up as the host pads; ``T`` frames stack as rows)."""
    frames = latent.shape[2] if latent.ndim == 5 else 1
    return frames * math.ceil(latent.shape[-2] / patch), math.ceil(latent.shape[-1] / patch)


@dataclass(frozen=True)
class TokenLayout:
    """The token order of one DiT call: ``text`` tokens, then the target's ``target`` grid, then each
    reference image's grid (in conditioning order), all row-major."""

    text: int
    target: tuple[int, int]
    references: tuple[tuple[int, int], ...]

    def images(self, with_references: bool) -> tuple[ImageTokens, tuple[ImageTokens, ...]]:
        """The target's tokens and (``with_references``) each reference's tokens."""
        target = ImageTokens(self.text, self.target)
        refs, start = [], target.span.stop
        for grid in self.references if with_references else ():
            refs.append(ImageTokens(start, grid))
            start += grid[0] * grid[1]
        return target, tuple(refs)

    def length(self, with_references: bool) -> int:
        target, refs = self.images(with_references)
        return (refs[-1] if refs else target).span.stop


def layout_of(x: torch.Tensor, context: torch.Tensor | None, references: Any, patch: int) -> TokenLayout:
    """The layout of a denoiser call on latent ``x`` with text ``context [B, L, C]`` and ``ref_latents``."""
    if context is None:
        raise TokenLayoutMismatch("the DiT call has no text conditioning (c_crossattn)")
    return TokenLayout(int(context.shape[1]), token_grid(x, patch),
                       tuple(token_grid(r, patch) for r in references or ()))


ApplyModelWrapper = Callable[..., Any]


def _layout_wrapper(patch: int) -> ApplyModelWrapper:
    def wrapper(executor: Any, x: torch.Tensor, t: torch.Tensor, c_concat: Any = None,
                c_crossattn: Any = None, control: Any = None,
                transformer_options: dict[str, Any] | None = None, **kwargs: Any) -> Any:
        options = dict(transformer_options or {})
        options[LAYOUT_KEY] = layout_of(x, c_crossattn, kwargs.get("ref_latents"), patch)
        return executor(x, t, c_concat, c_crossattn, control, options, **kwargs)
    return wrapper


def _marker(key: LayerKey, existing: Callable[..., Any] | None) -> Callable[..., Any]:
    def mark_block(args: dict[str, Any], extra: dict[str, Any]) -> Any:
        options = dict(args.get("transformer_options") or {})
        options[BLOCK_KEY] = key
        marked = {**args, "transformer_options": options}
        return existing(marked, extra) if existing is not None else extra["original_block"](marked)
    return mark_block


def _call(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: torch.Tensor | None, layout: TokenLayout,
          options: Mapping[str, Any], inner: Callable[..., torch.Tensor], plain: bool) -> AttentionCall:
    queries, keys = q.shape[2], k.shape[2]
    short, full = layout.length(False), layout.length(True)
    if queries not in (short, full) or keys not in (short, full) or keys < queries:
        raise TokenLayoutMismatch(
            f"a joint attention call has {queries} query and {keys} key tokens, but its latent, text and "
            f"reference images give {layout.text} text + {layout.target[0] * layout.target[1]} target + "
            f"{full - short} reference tokens. Another node changes this model's token sequence; apply "
            "TruePose HPFA without it.")
    target, _ = layout.images(queries == full)
    key_target, references = layout.images(keys == full)
    return AttentionCall(q, k, v, mask, target, key_target, references, options, inner, plain)


Override = Callable[..., Any]
"""The host's ``optimized_attention_override``: ``(func, q, k, v, heads, mask=None, *args, **kwargs)``."""


def _override(hooks: Mapping[LayerKey, AttentionHook], previous: Override | None) -> Override:
    def pose_transfer_attention(func: Callable[..., Any], q: torch.Tensor, k: torch.Tensor,
                                v: torch.Tensor, heads: int, mask: torch.Tensor | None = None,
                                *args: Any, **kwargs: Any) -> Any:
        def run(q_: torch.Tensor, k_: torch.Tensor, v_: torch.Tensor, mask_: torch.Tensor | None) -> Any:
            if previous is not None:
                return previous(func, q_, k_, v_, heads, mask_, *args, **kwargs)
            return func(q_, k_, v_, heads, mask_, *args, **kwargs)

        options = kwargs.get("transformer_options") or {}
        hook = hooks.get(options.get(BLOCK_KEY))
        layout = options.get(LAYOUT_KEY)
        head_layout = kwargs.get("skip_reshape") and not kwargs.get("skip_output_reshape")
        if hook is None or layout is None or not head_layout:
            return run(q, k, v, mask)
        out = hook(_call(q, k, v, mask, layout, options, run, previous is None))
        return run(q, k, v, mask) if out is None else out

    return pose_transfer_attention


def dit_block_key(layer: LayerKey) -> tuple[str, int]:
    """The host's ``dit`` replace key of a layer ``("double"|"single", i, 0)``."""
    return f"{layer[0]}_block", layer[1]


def with_attention_hooks(model: Any, hooks: Mapping[LayerKey, AttentionHook], patch: int) -> Any:
    """A clone of ``model`` with ``hooks`` installed (the three patch points of the module docstring);
    ``patch``: latent cells per token side. ``model`` itself is left untouched."""
    patched = model.clone()
    existing = patched.model_options.get("transformer_options", {}).get("patches_replace", {}).get("dit", {})
    for layer in hooks:
        name, index = dit_block_key(layer)
        if (name, index) in existing:
            LOG.info("wrapping the dit replace patch already on %s %d", name, index)
        patched.set_model_patch_replace(_marker(layer, existing.get((name, index))), "dit", name, index)
    options = patched.model_options["transformer_options"]
    options[OVERRIDE] = _override(dict(hooks), options.get(OVERRIDE))
    patched.add_wrapper_with_key(APPLY_MODEL, LAYOUT_WRAPPER, _layout_wrapper(patch))
    return patched


def pass_options(hooks: Mapping[LayerKey, AttentionHook], patch: int) -> dict[str, Any]:
    """``transformer_options`` of an extra denoiser pass in which only ``hooks`` run (markers, the
    override, the layout wrapper; no other pack's patch)."""
    return {
        "patches_replace": {"dit": {dit_block_key(layer): _marker(layer, None) for layer in hooks}},
        OVERRIDE: _override(dict(hooks), None),
        "wrappers": {APPLY_MODEL: {LAYOUT_WRAPPER: [_layout_wrapper(patch)]}},
    }
