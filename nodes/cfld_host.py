"""Host glue for CFLD: the release UNet as a host MODEL, the conditioning model under model management,
and the three-branch guider with its UNet patches.

How CFLD's extra inputs reach the host's stock SD1.5 UNet (``comfy/ldm/.../openaimodel.py``):

* prompts: ordinary cross-attention conditionings (null prompt for ``uc`` and ``down``, the decoder's
  prompt for ``full``); the guider evaluates ``[uc, down, full]`` with one ``calc_cond_batch`` call, so the
  host batches them into one UNet call and tags chunk ``i`` of the batch with ``cond_or_uncond[i] = i``;
* pose residuals: an ``input_block_patch`` adds level ``l``'s residual after ``input_blocks[(L+1)l + L]``
  (2, 5, 8 for SD1.5: after the level's last resnet+attention, before the skip is stored) to the rows of
  the ``down`` and ``full`` chunks;
* appearance biases: an ``attn2`` replace on ``("output", k)``, k = 3..11, adds the bias to the projected
  queries of the ``full`` chunk's rows, then runs the host's attention.

The patches live on a clone the guider owns; the MODEL given to the node is never modified.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import comfy.latent_formats
import comfy.model_management
import comfy.model_patcher
import comfy.samplers
import comfy.sd
import comfy.utils
import torch
from comfy.ldm.modules.attention import optimized_attention

from ..pose_models.cfld import (
    CFLDConditioner,
    CFLDCheckpointError,
    Conditions,
    UNetConfig,
    build_conditioner,
    check_pair,
    read_release,
    read_unet_config,
    unet_state,
)
from ..pose_models.cfld.checkpoint import download_hint

LOG = logging.getLogger(__name__)

UC, DOWN, FULL = 0, 1, 2
"""Index of each branch in the guider's ``calc_cond_batch`` list (= the host's ``cond_or_uncond`` tags)."""


@dataclass(frozen=True)
class CFLDConditioning:
    """Value of ``PT_CFLD_MODEL``: the conditioning network in a ``ModelPatcher`` and its sizes."""

    patcher: comfy.model_patcher.ModelPatcher
    source_size: int
    latent_size: int
    prompt_width: int
    unet_layers_per_block: int

    @property
    def network(self) -> CFLDConditioner:
        return self.patcher.model


def host_unet_config(config: UNetConfig) -> dict[str, Any]:
    """The LDM ``unet_config`` fields ``comfy.utils.unet_to_diffusers`` needs for this UNet's key map."""
    base = config.block_out_channels[0]
    layers = config.layers_per_block
    return {
        "num_res_blocks": [layers] * len(config.block_out_channels),
        "channel_mult": [c // base for c in config.block_out_channels],
        "transformer_depth": [int(a) for a in config.attention_levels for _ in range(layers)],
        "transformer_depth_output": [int(a) for a in config.attention_levels for _ in range(layers + 1)],
        "transformer_depth_middle": 1,
    }


def load_host_unet(state: dict[str, torch.Tensor], config: UNetConfig, path: Path
                   ) -> comfy.model_patcher.ModelPatcher:
    """The release UNet (diffusers keys) as a host MODEL: keys mapped to the LDM layout, then the host's
    own loader (model detection, dtype choice, offloading) builds it."""
    mapping = comfy.utils.unet_to_diffusers(host_unet_config(config))
    unknown = sorted(set(state) - set(mapping))
    if unknown:
        raise CFLDCheckpointError(f"{path}: UNet tensors without an SD1.5 counterpart "
                              f"({', '.join(unknown[:5])}). {download_hint()}")
    model = comfy.sd.load_diffusion_model_state_dict({mapping[k]: v for k, v in state.items()})
    if model is None or not isinstance(model.model.latent_format, comfy.latent_formats.SD15):
        raise CFLDCheckpointError(f"{path}: ComfyUI does not recognise this UNet as Stable Diffusion 1.5, which "
                              f"CFLD needs. {download_hint()}")
    return model


def load_cfld(conditioning_path: Path, unet_path: Path) -> tuple[comfy.model_patcher.ModelPatcher,
                                                                 CFLDConditioning]:
    """Both release files -> (host MODEL, conditioning model); every check runs before the UNet is built."""
    cond_state, unet_raw = read_release(conditioning_path, unet_path)
    conditioner = build_conditioner(cond_state, conditioning_path)
    del cond_state
    u_config = read_unet_config(unet_raw, unet_path)
    check_pair(conditioner.config, u_config, conditioning_path, unet_path)
    model = load_host_unet(unet_state(unet_raw), u_config, unet_path)
    patcher = comfy.model_patcher.ModelPatcher(
        conditioner, load_device=comfy.model_management.get_torch_device(),
        offload_device=comfy.model_management.unet_offload_device())
    c = conditioner.config
    return model, CFLDConditioning(patcher, c.swin.image_size, c.swin.stage_side(0), c.decoder.ctx_dim,
                                   u_config.layers_per_block)


class _DeviceCache:
    """Per (device, dtype) copies of the conditions' residuals and biases (filled lazily, never mutated)."""

    def __init__(self, conditions: Conditions) -> None:
        self.conditions = conditions
        self._cache: dict[tuple[str, torch.device, torch.dtype, int], torch.Tensor] = {}

    def get(self, kind: str, index: int, like: torch.Tensor) -> torch.Tensor:
        key = (kind, like.device, like.dtype, index)
        if key not in self._cache:
            source = (self.conditions.pose_residuals[index] if kind == "pose"
                      else self.conditions.appearance_biases[index])
            self._cache[key] = source.to(like.device, like.dtype)
        return self._cache[key]


def _tile(tensor: torch.Tensor, rows: int) -> torch.Tensor:
    if rows % tensor.shape[0]:
        raise ValueError(f"CFLD Guider: {rows} latents per branch do not fit conditions made for "
                         f"{tensor.shape[0]} images; use a latent batch equal to the conditions' batch.")
    return tensor.repeat(rows // tensor.shape[0], *([1] * (tensor.ndim - 1)))


def _add_to_chunks(x: torch.Tensor, chunks: list[int], wanted: tuple[int, ...],
                   make: Callable[[int], torch.Tensor]) -> torch.Tensor:
    """``x`` with ``make(rows)`` added to the chunks whose branch tag is in ``wanted``."""
    if not any(c in wanted for c in chunks):
        return x
    rows = x.shape[0] // len(chunks)
    addition = make(rows)
    parts = [p + addition if c in wanted else p for p, c in zip(x.split(rows), chunks, strict=True)]
    return torch.cat(parts)


def pose_residual_patch(cache: _DeviceCache, layers_per_block: int) -> Callable[..., torch.Tensor]:
    """``input_block_patch`` adding level ``l``'s pose residual after input block ``(L+1)*l + L``."""
    levels = {(layers_per_block + 1) * level + layers_per_block: level
              for level in range(len(cache.conditions.pose_residuals))}

    def patch(h: torch.Tensor, transformer_options: dict[str, Any]) -> torch.Tensor:
        kind, index = transformer_options.get("block", (None, None))
        if kind != "input" or index not in levels:
            return h
        residual = cache.get("pose", levels[index], h)
        return _add_to_chunks(h, transformer_options["cond_or_uncond"], (DOWN, FULL),
                              lambda rows: _tile(residual, rows))

    return patch


def appearance_attn2(cache: _DeviceCache, block: int) -> Callable[..., torch.Tensor]:
    """``attn2`` replace for ``("output", block)``: query bias on the ``full`` rows, host attention."""

    def attn2(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor,
              extra_options: dict[str, Any]) -> torch.Tensor:
        bias = cache.get("appearance", block, q)
        if bias.shape[1:] != q.shape[1:]:
            raise ValueError(f"CFLD Guider: appearance bias for UNet block {block} has {bias.shape[1]} "
                             f"tokens but the latent gives {q.shape[1]}; CFLD's canvas is fixed (512x512 "
                             f"for the release).")
        q = _add_to_chunks(q, extra_options["cond_or_uncond"], (FULL,), lambda rows: _tile(bias, rows))
        return optimized_attention(q, k, v, extra_options["n_heads"],
                                   attn_precision=extra_options.get("attn_precision"))

    return attn2


def patched_model(model: comfy.model_patcher.ModelPatcher, conditions: Conditions,
                  layers_per_block: int) -> comfy.model_patcher.ModelPatcher:
    """A clone of ``model`` with CFLD's pose and appearance patches (``model`` stays untouched)."""
    m = model.clone()
    cache = _DeviceCache(conditions)
    m.set_model_input_block_patch(pose_residual_patch(cache, layers_per_block))
    for block in conditions.appearance_biases:
        m.set_model_attn2_replace(appearance_attn2(cache, block), "output", block)
    return m


class CFLDGuider(comfy.samplers.CFGGuider):
    """``uc + pose_scale * (down - uc) + appearance_scale * (full - down)`` from one batched call."""

    def set_cfld(self, conditions: Conditions, pose_scale: float, appearance_scale: float,
                 latent_size: int) -> None:
        self.pose_scale, self.appearance_scale = pose_scale, appearance_scale
        self.latent_size = latent_size
        self.batch = conditions.prompt.shape[0] // 2
        null, prompt = conditions.prompt[: self.batch], conditions.prompt[self.batch:]
        self.inner_set_conds({"negative": [[null, {}]], "middle": [[null, {}]], "positive": [[prompt, {}]]})

    def sample(self, noise: torch.Tensor, latent_image: torch.Tensor, sampler: Any, sigmas: torch.Tensor,
               *args: Any, **kwargs: Any) -> torch.Tensor:
        side = self.latent_size
        if tuple(latent_image.shape[-2:]) != (side, side):
            raise ValueError(
                f"CFLD Guider: the latent is {latent_image.shape[-1] * 8}x{latent_image.shape[-2] * 8} px; "
                f"CFLD only works on a {side * 8}x{side * 8} canvas (its appearance biases are made for "
                f"that grid). Use an Empty Latent Image of {side * 8}x{side * 8}, and resize the output "
                f"afterwards with CFLD Resize Output.")
        if latent_image.shape[0] % self.batch:
            raise ValueError(f"CFLD Guider: latent batch {latent_image.shape[0]} is not a multiple of the "
                             f"{self.batch} source/pose pairs; set the Empty Latent Image batch_size to "
                             f"{self.batch}.")
        return super().sample(noise, latent_image, sampler, sigmas, *args, **kwargs)

    def predict_noise(self, x: torch.Tensor, timestep: torch.Tensor,
                      model_options: dict[str, Any] | None = None, seed: int | None = None) -> torch.Tensor:
        conds = [self.conds["negative"], self.conds["middle"], self.conds["positive"]]
        uc, down, full = comfy.samplers.calc_cond_batch(self.inner_model, conds, x, timestep,
                                                        model_options or {})
        return uc + self.pose_scale * (down - uc) + self.appearance_scale * (full - down)
