"""CFLD Guider: the three-branch guidance for any host sampler, and the UNet patches that bring CFLD's
extra inputs into the host's stock SD1.5 UNet.

* prompts: ordinary cross-attention conditionings (null prompt for ``uc`` and ``down``, the decoder's
  prompt for ``full``); the guider evaluates ``[uc, down, full]`` with one batched call, so the host tags
  chunk ``i`` of the batch with ``cond_or_uncond[i] = i``;
* pose residuals: an input-block patch adds level ``l``'s residual after input block ``(L+1)l + L`` to the
  rows of the ``down`` and ``full`` chunks;
* appearance biases: a cross-attention patch on ``("output", k)``, k = 3..11, adds the bias to the
  projected queries of the ``full`` chunk's rows, then runs the patch already there or the host's attention.

The branch maths is ``pose_models.cfld.branches``. The patches live on a clone the guider owns; the MODEL
given to the node is never modified.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from comfy_api.latest import io

from ...pose_models.cfld import DEFAULT_APPEARANCE_SCALE, DEFAULT_POSE_SCALE, CFLDError, Conditions
from ...pose_models.cfld.branches import (
    DOWN,
    FULL,
    UC,
    DeviceCache,
    add_to_chunks,
    combine,
    pose_levels,
    tile,
)
from ..common.categories import CFLD as CATEGORY
from ..host.attention import Attention, host_attention, with_attention_patches
from ..host.models import cross_attention_width
from ..host.sampling import BranchGuider, add_input_block_patch
from .types import CFLDConditioning, CFLDConditionsType, CFLDModelType


def pose_residual_patch(cache: DeviceCache, layers_per_block: int) -> Callable[..., torch.Tensor]:
    """Input-block patch adding level ``l``'s pose residual after input block ``(L+1)*l + L``."""
    levels = pose_levels(layers_per_block, len(cache.conditions.pose_residuals))

    def patch(h: torch.Tensor, block: tuple[str, int] | None, chunks: list[int]) -> torch.Tensor:
        kind, index = block or (None, None)
        if kind != "input" or index not in levels:
            return h
        residual = cache.get("pose", levels[index], h)
        return add_to_chunks(h, chunks, (DOWN, FULL), lambda rows: tile(residual, rows))

    return patch


def appearance_patch(cache: DeviceCache, block: int) -> Callable[[Attention | None], Attention]:
    """Cross-attention patch maker for ``("output", block)``: query bias on the ``full`` rows, then the
    patch already there (or the host's attention)."""
    def make(inner: Attention | None) -> Attention:
        attend = inner or host_attention

        def attn2(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor,
                  extra_options: dict[str, Any]) -> torch.Tensor:
            bias = cache.get("appearance", block, q)
            if bias.shape[1:] != q.shape[1:]:
                raise CFLDError(f"CFLD Guider: appearance bias for UNet block {block} has {bias.shape[1]} "
                                f"tokens but the latent gives {q.shape[1]}; CFLD's canvas is fixed (512x512 "
                                f"for the release).")
            q = add_to_chunks(q, extra_options["cond_or_uncond"], (FULL,), lambda rows: tile(bias, rows))
            return attend(q, k, v, extra_options)

        return attn2

    return make


def patched_model(model: Any, conditions: Conditions, layers_per_block: int) -> Any:
    """A clone of ``model`` with CFLD's pose and appearance patches (``model`` stays untouched)."""
    cache = DeviceCache(conditions)
    m = with_attention_patches(model, "attn2", {("output", block, 0): appearance_patch(cache, block)
                                                for block in conditions.appearance_biases})
    add_input_block_patch(m, pose_residual_patch(cache, layers_per_block))
    return m


def cfld_guider(model: Any, conditions: Conditions, pose_scale: float, appearance_scale: float,
                latent_size: int) -> BranchGuider:
    """``uc + pose_scale * (down - uc) + appearance_scale * (full - down)`` from one batched call."""
    batch = conditions.prompt.shape[0] // 2
    null, prompt = conditions.prompt[:batch], conditions.prompt[batch:]

    def check(latent_image: torch.Tensor) -> None:
        side = latent_size
        if tuple(latent_image.shape[-2:]) != (side, side):
            raise CFLDError(
                f"CFLD Guider: the latent is {latent_image.shape[-1] * 8}x{latent_image.shape[-2] * 8} px; "
                f"CFLD only works on a {side * 8}x{side * 8} canvas (its appearance biases are made for "
                f"that grid). Use an Empty Latent Image of {side * 8}x{side * 8}, and resize the output "
                f"afterwards with CFLD Resize Output.")
        if latent_image.shape[0] % batch:
            raise CFLDError(f"CFLD Guider: latent batch {latent_image.shape[0]} is not a multiple of the "
                            f"{batch} source/pose pairs; set the Empty Latent Image batch_size to {batch}.")

    guider = BranchGuider(model)
    branches = {"negative": [[null, {}]], "middle": [[null, {}]], "positive": [[prompt, {}]]}
    order = ["", "", ""]
    order[UC], order[DOWN], order[FULL] = "negative", "middle", "positive"
    guider.set_branches(branches, order, lambda outputs: combine(outputs, pose_scale, appearance_scale),
                        check)
    return guider


class CFLDGuiderNode(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="PT_CFLDGuider",
            display_name="CFLD Guider",
            category=CATEGORY,
            description=(
                "CFLD's three-branch guidance for SamplerCustomAdvanced with any sampler and sigmas: "
                "uncond (null prompt), pose (null prompt + pose residuals), full (prompt + pose + "
                "appearance), noise = uc + pose_scale (pose - uc) + appearance_scale (full - pose), one "
                "batched UNet call per step like the official code. Needs a 512x512 latent."
            ),
            inputs=[
                io.Model.Input("model", tooltip="The model output of Load CFLD (not modified)."),
                CFLDModelType.Input("cfld", tooltip="The cfld output of Load CFLD."),
                CFLDConditionsType.Input("cfld_conditions", tooltip="From CFLD Conditions."),
                io.Float.Input("pose_scale", default=DEFAULT_POSE_SCALE, min=0.0, max=20.0, step=0.1,
                               tooltip="Weight of the pose branch over the unconditional one "
                                       "(official 2.0)."),
                io.Float.Input("appearance_scale", default=DEFAULT_APPEARANCE_SCALE, min=0.0, max=20.0,
                               step=0.1, tooltip="Weight of the full branch (source appearance and prompt) "
                                                 "over the pose branch (official 2.0)."),
            ],
            outputs=[io.Guider.Output(display_name="guider")],
        )

    @classmethod
    def execute(cls, model: Any, cfld: CFLDConditioning, cfld_conditions: Conditions, pose_scale: float,
                appearance_scale: float) -> io.NodeOutput:
        context = cross_attention_width(model)
        if context != cfld_conditions.prompt.shape[-1]:
            raise CFLDError(f"CFLD Guider: the model's cross-attention width is {context} but the CFLD "
                            f"prompt is {cfld_conditions.prompt.shape[-1]} wide; connect the model output of "
                            f"the same Load CFLD node that made the conditions.")
        patched = patched_model(model, cfld_conditions, cfld.unet_layers_per_block)
        return io.NodeOutput(cfld_guider(patched, cfld_conditions, pose_scale, appearance_scale,
                                         cfld.latent_size))
