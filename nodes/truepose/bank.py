"""The TruePose SourceNet: the source feature bank and the source pass through the host.

The SourceNet is the user's own denoiser (shared weights, the "Siamese" twin of the one that samples).
The source pass runs it on the VAE-encoded source noised to a small sigma, with the positive prompt, and a
self-attention hook on every layer of the backbone records the source image's **projected** keys and
values ``K_s, V_s`` (``[1, heads, Ns, head width]``; on DiTs after the rotary embedding, at the source's
own positions) and the layer's token grid ``(hs, ws)``. The pass uses its own ``transformer_options``:
no ControlNet, no reference images, no other pack's attention patches or wrappers (they belong to the
target pass); weight patches (LoRAs) apply because it runs on the loaded MODEL.

Bit-exact exclusion: before encoding, every source pixel outside the bank's region groups is replaced
by a constant fill colour, so nothing outside those groups can reach any recorded feature (the
denoiser's convolutions and attention mix information spatially; masking the pixels first is what makes
the guarantee hold).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import torch

from ...pose_models.truepose import LayerKey, TruePoseError, format_layer_key
from ..host.attention import AttentionCall, AttentionHook
from ..host.backbone import Backbone
from ..host.sampling import denoise_once, first_cond, process_conds

LOG = logging.getLogger(__name__)


@dataclass
class SourceInput:
    """What a source pass needs: the encoded, masked source and the prompt.

    ``latent`` ``float32 [1, C, h, w]`` (VAE space, not yet ``process_in``), ``noise`` of the same shape
    (seeded), ``conds`` the converted positive conditioning (first entry, without control/gligen/hooks).
    """

    latent: torch.Tensor
    noise: torch.Tensor
    conds: list[dict[str, Any]]
    seed: int


@dataclass
class SourceFeatures:
    """Recorded ``{layer: (K_s, V_s)}`` (``[1, H, Ns, D]``) and ``{layer: (hs, ws)}`` token grids."""

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
    sampling at each step's sigma from ``source``); ``backbone`` the network it was made with.
    """

    mode: str
    sigma: float
    groups: tuple[str, ...]
    group_masks: torch.Tensor
    backbone: Backbone
    source: SourceInput
    features: SourceFeatures | None

    @property
    def latent_size(self) -> tuple[int, int]:
        return int(self.source.latent.shape[-2]), int(self.source.latent.shape[-1])


def source_conds(conditioning: list) -> list[dict[str, Any]]:
    """The first positive conditioning entry in the sampler's form, without target-only entries."""
    if not conditioning:
        raise TruePoseError("TruePose SourceNet: the conditioning is empty; connect the positive prompt.")
    return first_cond(conditioning)


def _recorder(key: LayerKey, out: SourceFeatures) -> AttentionHook:
    def record(call: AttentionCall) -> None:
        if key not in out.kv:  # first row of the first call: the first conditioning entry
            image = call.keys.span
            out.kv[key] = (call.k[:1, :, image].clone(), call.v[:1, :, image].clone())
            out.grids[key] = call.keys.grid
    return record


def run_source_pass(base_model: Any, source: SourceInput, conds: list[dict[str, Any]], sigma: float,
                    backbone: Backbone, layers: tuple[LayerKey, ...], device: torch.device) -> SourceFeatures:
    """Run the denoiser once on the source at ``sigma`` and record ``K_s, V_s`` of ``layers``.

    ``base_model`` is the loaded base model; ``conds`` the output of :func:`process_source_conds`.
    """
    LOG.debug("TruePose source pass at sigma %.4g over %d layers", sigma, len(layers))
    out = SourceFeatures()
    options = backbone.pass_options({k: _recorder(k, out) for k in layers})
    denoise_once(base_model, conds, source.latent, source.noise, sigma, options, device)
    missing = [format_layer_key(k) for k in layers if k not in out.kv]
    if missing:
        raise TruePoseError(
            f"TruePose SourceNet: the source pass did not reach the self-attention layer(s) "
            f"{', '.join(missing)}. A conditioning entry with a timestep range or area can skip it; use a "
            "plain positive prompt.")
    return out


def process_source_conds(base_model: Any, source: SourceInput, device: torch.device) -> list[dict[str, Any]]:
    """Encode the source conditioning for ``base_model`` (SDXL size/pooled conds included) on ``device``."""
    return process_conds(base_model, source.conds, source.noise, source.latent, source.seed, device)
