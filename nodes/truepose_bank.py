"""The TruePose SourceNet: UNet layout, the source feature bank and the source pass through the host.

The SourceNet is the user's own UNet (shared weights, the "Siamese" twin of the one that samples). The
source pass runs it on the VAE-encoded source noised to a small sigma, with the positive prompt, and an
``attn1`` replace patch on every self-attention layer records the **projected** keys and values
``K_s, V_s`` (``[1, Ns, heads * dim_head]``) and the layer's token grid ``(hs, ws)``. The pass uses its
own ``transformer_options``: no ControlNet, no other pack's attention patches or wrappers (they belong
to the target pass); weight patches (LoRAs) apply because it runs on the loaded MODEL.

Bit-exact exclusion: before encoding, every source pixel outside the bank's region groups is replaced
by a constant fill colour, so nothing outside those groups can reach any recorded feature (the UNet's
convolutions and attention mix information spatially; masking the pixels first is what makes the
guarantee hold).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import comfy.ldm.modules.attention as attention
import comfy.model_management
import comfy.model_patcher
import comfy.sampler_helpers
import comfy.samplers
import torch
from comfy.ldm.modules.diffusionmodules.openaimodel import UNetModel

from ..pose_models.truepose import LayerKey, TruePoseError, format_layer_key

LOG = logging.getLogger(__name__)

LATENT_FACTOR = 8
"""Pixels per latent cell of the SD1.5/SDXL VAE."""

STRIPPED_COND_KEYS = ("control", "gligen", "hooks")
"""Conditioning entries the source pass ignores (they steer the target, not the source)."""


@dataclass(frozen=True)
class UNetLayout:
    """The self-attention layers of a 4-channel UNet: ``{layer key: (heads, inner dim)}``, model family."""

    family: str
    layers: dict[LayerKey, tuple[int, int]]

    def describe(self) -> str:
        widths = sorted({w for _, w in self.layers.values()})
        return f"{self.family} ({len(self.layers)} self-attention layers, widths {widths})"


def unet_layout(model: comfy.model_patcher.ModelPatcher, node: str) -> UNetLayout:
    """Read the layout of an SD1.5/SDXL-style UNet; anything else is refused with a clear error."""
    unet = model.get_model_object("diffusion_model")
    family = type(model.model.model_config).__name__
    if not isinstance(unet, UNetModel):
        raise TruePoseError(
            f"{node}: this MODEL ({family}, {type(unet).__name__}) is not an SD1.5/SDXL-style UNet; TruePose "
            "patches UNet self-attention layers. Load an SD1.5 or SDXL checkpoint (or a fine-tune of one).")
    layers: dict[LayerKey, tuple[int, int]] = {}
    groups = (("input", unet.input_blocks), ("middle", [unet.middle_block]), ("output", unet.output_blocks))
    for name, blocks in groups:
        for number, block in enumerate(blocks):
            if block is None:
                continue
            for module in block.modules():
                if isinstance(module, attention.SpatialTransformer):
                    for index, inner in enumerate(module.transformer_blocks):
                        attn = inner.attn1
                        layers[(name, number, index)] = (attn.heads, attn.to_k.out_features)
    channels = int(getattr(model.model.latent_format, "latent_channels", 4))
    if not layers or channels != 4:
        raise TruePoseError(
            f"{node}: this MODEL ({family}) has {len(layers)} UNet self-attention layers and "
            f"{channels} latent "
            "channels; TruePose needs an SD1.5/SDXL-style UNet (4 latent channels, transformer blocks). Load "
            "an SD1.5 or SDXL checkpoint.")
    return UNetLayout(family, layers)


@dataclass
class SourceInput:
    """What a source pass needs: the encoded, masked source and the prompt.

    ``latent`` ``float32 [1, 4, h, w]`` (VAE space, not yet ``process_in``), ``noise`` of the same shape
    (seeded), ``conds`` the converted positive conditioning (first entry, without control/gligen/hooks).
    """

    latent: torch.Tensor
    noise: torch.Tensor
    conds: list[dict[str, Any]]
    seed: int


@dataclass
class SourceFeatures:
    """Recorded ``{layer: (K_s, V_s)}`` (``[1, Ns, C]``) and ``{layer: (hs, ws)}`` token grids."""

    kv: dict[LayerKey, tuple[torch.Tensor, torch.Tensor]] = field(default_factory=dict)
    grids: dict[LayerKey, tuple[int, int]] = field(default_factory=dict)

    def to(self, device: torch.device | str) -> SourceFeatures:
        kv = {k: (a.to(device), b.to(device)) for k, (a, b) in self.kv.items()}
        return SourceFeatures(kv, dict(self.grids))


@dataclass(frozen=True)
class SourceBank:
    """The SourceNet output (``PT_TRUEPOSE_BANK``).

    ``group_masks`` ``float32 [1, G, H, W]`` over ``BANK_GROUPS`` at the (cropped) source image size;
    ``groups`` the groups the bank covers (all other pixels were filled before encoding); ``mode``
    ``"cached"`` (``features`` recorded once at ``sigma``) or ``"per_step"`` (features recorded during
    sampling at each step's sigma from ``source``); ``layout`` the UNet it was made with.
    """

    mode: str
    sigma: float
    groups: tuple[str, ...]
    group_masks: torch.Tensor
    layout: UNetLayout
    source: SourceInput
    features: SourceFeatures | None

    @property
    def latent_size(self) -> tuple[int, int]:
        return int(self.source.latent.shape[-2]), int(self.source.latent.shape[-1])


def source_conds(conditioning: list) -> list[dict[str, Any]]:
    """The first positive conditioning entry in the sampler's form, without target-only entries."""
    if not conditioning:
        raise TruePoseError("TruePose SourceNet: the conditioning is empty; connect the positive prompt.")
    (entry,) = comfy.sampler_helpers.convert_cond(conditioning[:1])
    return [{k: v for k, v in entry.items() if k not in STRIPPED_COND_KEYS}]


def _recorder(key: LayerKey, out: SourceFeatures) -> Callable[..., torch.Tensor]:
    def record(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, extra: dict[str, Any]) -> torch.Tensor:
        if key not in out.kv:  # first row of the first call: the first conditioning entry
            out.kv[key] = (k[:1].clone(), v[:1].clone())
            shape = extra["activations_shape"]
            out.grids[key] = (int(shape[-2]), int(shape[-1]))
        return attention.optimized_attention(q, k, v, extra["n_heads"])
    return record


def run_source_pass(base_model: Any, source: SourceInput, conds: list[dict[str, Any]], sigma: float,
                    layers: tuple[LayerKey, ...], device: torch.device) -> SourceFeatures:
    """Run the UNet once on the source at ``sigma`` and record ``K_s, V_s`` of ``layers``.

    ``base_model`` is the loaded ``BaseModel``; ``conds`` the output of :func:`process_source_conds`.
    """
    LOG.debug("TruePose source pass at sigma %.4g over %d layers", sigma, len(layers))
    out = SourceFeatures()
    options = {"transformer_options": {"patches_replace": {"attn1": {k: _recorder(k, out) for k in layers}}}}
    latent = base_model.process_latent_in(source.latent.to(device))
    sigmas = torch.full((1,), float(sigma), device=device)
    x = base_model.model_sampling.noise_scaling(sigmas, source.noise.to(device), latent)
    comfy.samplers.calc_cond_batch(base_model, [conds], x, sigmas, options)
    missing = [format_layer_key(k) for k in layers if k not in out.kv]
    if missing:
        raise TruePoseError(
            f"TruePose SourceNet: the source pass did not reach the self-attention layer(s) "
            f"{', '.join(missing)}. A conditioning entry with a timestep range or area can skip it; use a "
            "plain positive prompt.")
    return out


def process_source_conds(base_model: Any, source: SourceInput, device: torch.device) -> list[dict[str, Any]]:
    """Encode the source conditioning for ``base_model`` (SDXL size/pooled conds included) on ``device``."""
    conds = {"positive": [dict(c) for c in source.conds]}
    latent = source.latent.to(device)
    processed = comfy.samplers.process_conds(base_model, source.noise.to(device), conds, device,
                                             latent_image=latent, seed=source.seed)
    return processed["positive"]
