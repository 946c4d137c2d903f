"""Cross-attention patches of the OnePoseTrans injections (host side of
``pose_models.oneposetrans.ip_adapter`` and ``.instantid``), and their installation on a MODEL clone.

Both patches take the host's projected ``q (B, Nq, inner)``, ``k, v (B, Ntxt, inner)`` and return
``(B, Nq, inner)`` like any cross-attention patch (``nodes.host.attention``). A patch already on the
block (another pack's IP-Adapter or InstantID, or our other injection) is wrapped: it computes the text
part. Rows follow ``extra_options["cond_or_uncond"]`` (0 = positive, 1 = negative chunk).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from ...pose_models.oneposetrans import OnePoseTransError
from ...pose_models.oneposetrans.ip_adapter import CrossAttentionLayer, cross_attention_layers, rows_by_branch
from ..host.attention import Attention, host_attention, with_attention_patches
from ..host.models import diffusion_model


class _Immutable:
    """Patches hold read-only tensors: the host deep-copies model_options at every clone; share them."""

    def __deepcopy__(self, memo: dict[int, Any]) -> _Immutable:
        return self


class StyleAttention(_Immutable):
    """Decoupled IP-Adapter attention: ``inner(q, k, v) + scale * Attn(q, k_ip, v_ip)``; ``k_ip``/``v_ip``
    ``(tokens, inner)`` per branch (negative rows: the zero-image embedding's tokens)."""

    def __init__(
        self,
        inner: Attention,
        scale: float,
        ip_cond: tuple[torch.Tensor, torch.Tensor],
        ip_uncond: tuple[torch.Tensor, torch.Tensor],
    ) -> None:
        self.inner, self.scale, self.ip_cond, self.ip_uncond = inner, scale, ip_cond, ip_uncond

    def __call__(
        self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, extra_options: dict[str, Any]
    ) -> torch.Tensor:
        out = self.inner(q, k, v, extra_options)
        if self.scale == 0.0:
            return out
        branches = extra_options.get("cond_or_uncond", [0])
        k_ip = rows_by_branch(branches, q.shape[0], self.ip_cond[0], self.ip_uncond[0]).to(q)
        v_ip = rows_by_branch(branches, q.shape[0], self.ip_cond[1], self.ip_uncond[1]).to(q)
        return out + self.scale * host_attention(q, k_ip, v_ip, extra_options)


class FaceValueAttention(_Immutable):
    """OnePoseTrans face part: the text value at token ``index`` is replaced by the layer's face value
    ``(inner,)`` (negative rows: the zero-embedding face value), then ``inner`` attends."""

    def __init__(
        self, inner: Attention, index: int, value_cond: torch.Tensor, value_uncond: torch.Tensor
    ) -> None:
        self.inner, self.index = inner, index
        self.values = (value_cond.reshape(1, -1), value_uncond.reshape(1, -1))

    def __call__(
        self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, extra_options: dict[str, Any]
    ) -> torch.Tensor:
        if self.index >= v.shape[1]:
            raise OnePoseTransError(
                f"OnePoseTrans Face: face token {self.index} is beyond the {v.shape[1]} text "
                "tokens; connect face_index from the OnePoseTrans Caption node of this prompt."
            )
        rows = rows_by_branch(extra_options.get("cond_or_uncond", [0]), v.shape[0], *self.values)
        v = v.clone()
        v[:, self.index, :] = rows[:, 0].to(v)
        return self.inner(q, k, v, extra_options)


def model_cross_attention_layers(model: Any) -> list[CrossAttentionLayer]:
    """The host MODEL's cross-attention layers in IP-Adapter order (:func:`cross_attention_layers`)."""
    shapes = {
        f"{name}.weight": tuple(module.weight.shape)
        for name, module in diffusion_model(model).named_modules()
        if name.endswith("attn2.to_k")
    }
    return cross_attention_layers(shapes)


def with_cross_attention_patches(
    model: Any, patches: dict[tuple[str, int, int], Callable[[Attention], Attention]]
) -> Any:
    """A clone of ``model`` with ``make(inner)`` as the cross-attention patch of each ``patch_key``;
    ``inner`` is the patch the layer already has or :func:`host_attention` (the one policy of
    ``nodes.host.attention``). ``patches`` must name every depth of a block it patches."""
    makers = {key: (lambda inner, make=make: make(inner or host_attention)) for key, make in patches.items()}
    return with_attention_patches(model, "attn2", makers)
