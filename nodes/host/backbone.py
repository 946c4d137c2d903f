"""The backbone seam: what the attention methods need from the denoiser network, behind one protocol.

TruePose (SourceNet, HPFA) needs the self-attention layers of the denoiser (a key and a width per
layer), a way to hook them (on a MODEL clone for sampling, in the transformer options of an extra pass
for recording), the pixels per latent cell and per token, the block selection words, and where keys
carry rotary positions. :class:`Backbone` names exactly that. Implementations:

* :class:`UNetBackbone`: the SD1.5/SDXL UNet (``SpatialTransformer`` blocks, 4 latent channels, 8 px
  per latent cell and per token), hooks as ``attn1`` replace patches;
* :class:`FluxBackbone`: Flux.1 (dev, schnell, Kontext, Fill; 16 latent channels, 2x2 cells per token,
  16 px), hooks through the host's attention override with block markers (:mod:`.dit`).

Every hook receives an :class:`.attention.AttentionCall` whatever the backbone; the pure library
(``pose_models.truepose``) only sees opaque layer keys and the selection words the backbone offers.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, ClassVar, Protocol

import comfy.ldm.flux.model as host_flux
import comfy.ldm.modules.attention as host_attention_module
from comfy.ldm.modules.diffusionmodules.openaimodel import UNetModel

from ...pose_models.errors import PoseTransferError
from ...pose_models.truepose import stage_words
from . import dit
from .attention import AttentionHook, LayerKey, patch_options, unet_hook_patch, with_attention_patches
from .models import config_name, diffusion_model, latent_channels


@dataclass(frozen=True)
class AttentionShape:
    """``heads`` and ``width`` (heads x head width) of one attention layer's projected tokens."""

    heads: int
    width: int


@dataclass(frozen=True)
class Rotary:
    """Axial rotary embedding of a DiT's keys: ``axes_dim`` (head-width share of each position axis:
    image index, row, column) and ``theta``."""

    axes_dim: tuple[int, ...]
    theta: float


class UnsupportedBackbone(PoseTransferError):
    """The MODEL's denoiser is not one the pack has a backbone class for."""


class Backbone(Protocol):
    """What the attention methods need from a denoiser network (see the module docstring)."""

    family: str
    """The host's name of the model config (for messages and for comparing two MODELs)."""
    latent_factor: int
    """Pixels per latent cell."""
    token_factor: int
    """Pixels per attention token side (latent cells x patch size): sources are cropped to it."""
    self_attention: Mapping[LayerKey, AttentionShape]
    """Every self-attention (joint attention) layer, in the network's order."""
    rotary: Rotary | None
    """The rotary embedding the recorded keys carry (``None``: keys carry no position)."""

    @property
    def stages(self) -> Mapping[str, tuple[LayerKey, ...]]:
        """Block selection words -> the layer keys each selects (``"auto"``: the recommended layers)."""

    def patch_attention(self, model: Any, hooks: Mapping[LayerKey, AttentionHook]) -> Any:
        """A clone of ``model`` with ``hooks`` on their self-attention layers (wrapping what other packs put
        there); ``model`` itself is left untouched."""

    def pass_options(self, hooks: Mapping[LayerKey, AttentionHook]) -> dict[str, Any]:
        """``transformer_options`` of an extra denoiser pass in which only ``hooks`` run (no other patch)."""

    def describe(self) -> str:
        """One line naming the family, the number of layers and their widths (for messages)."""


def _describe(family: str, layers: Mapping[LayerKey, AttentionShape]) -> str:
    widths = sorted({shape.width for shape in layers.values()})
    return f"{family} ({len(layers)} self-attention layers, widths {widths})"


UNET_WORDS: Mapping[str, tuple[str, ...]] = MappingProxyType({
    "auto": ("middle", "output"),
    "input": ("input",), "down": ("input",), "in": ("input",), "middle": ("middle",), "mid": ("middle",),
    "output": ("output",), "up": ("output",), "out": ("output",), "all": ("input", "middle", "output"),
    "midup": ("middle", "output"),
})
"""Block selection words of the UNet: its three stages and their diffusers names; ``auto`` = middle and
output (the decoder side, where appearance is rendered)."""


@dataclass(frozen=True)
class UNetBackbone:
    """The SD1.5/SDXL-style UNet: layer key ``(stage, block number, transformer index)`` with stage
    ``"input"``, ``"middle"`` or ``"output"`` (the host's ``transformer_options["block"]`` plus
    ``block_index``); a call's image tokens are all its tokens, on the ``h x w`` of
    ``activations_shape``."""

    family: str
    self_attention: Mapping[LayerKey, AttentionShape]
    latent_factor: ClassVar[int] = 8
    token_factor: ClassVar[int] = 8
    rotary: ClassVar[Rotary | None] = None

    @classmethod
    def of(cls, model: Any) -> UNetBackbone:
        """The backbone of a host MODEL; :class:`UnsupportedBackbone` when it is not a 4-channel UNet with
        transformer blocks (the message names the MODEL's config and network class)."""
        unet = diffusion_model(model)
        family = config_name(model)
        if not isinstance(unet, UNetModel):
            raise UnsupportedBackbone(
                f"this MODEL ({family}, {type(unet).__name__}) is not an SD1.5/SDXL-style UNet")
        layers: dict[LayerKey, AttentionShape] = {}
        stages = (("input", unet.input_blocks), ("middle", [unet.middle_block]),
                  ("output", unet.output_blocks))
        for stage, blocks in stages:
            for number, block in enumerate(blocks):
                if block is None:
                    continue
                for module in block.modules():
                    if isinstance(module, host_attention_module.SpatialTransformer):
                        for index, inner in enumerate(module.transformer_blocks):
                            attn = inner.attn1
                            layers[(stage, number, index)] = AttentionShape(attn.heads,
                                                                            attn.to_k.out_features)
        channels = latent_channels(model)
        if not layers or channels != 4:
            raise UnsupportedBackbone(
                f"this MODEL ({family}) has {len(layers)} UNet self-attention layers and {channels} latent "
                "channels, not an SD1.5/SDXL-style UNet (4 latent channels, transformer blocks)")
        return cls(family, layers)

    @property
    def stages(self) -> Mapping[str, tuple[LayerKey, ...]]:
        return stage_words(UNET_WORDS, tuple(self.self_attention))

    def patch_attention(self, model: Any, hooks: Mapping[LayerKey, AttentionHook]) -> Any:
        return with_attention_patches(model, "attn1", {
            layer: (lambda inner, hook=hook: unet_hook_patch(hook, inner)) for layer, hook in hooks.items()})

    def pass_options(self, hooks: Mapping[LayerKey, AttentionHook]) -> dict[str, Any]:
        return patch_options("attn1", {layer: unet_hook_patch(hook, None) for layer, hook in hooks.items()})

    def describe(self) -> str:
        return _describe(self.family, self.self_attention)


FLUX_WORDS: Mapping[str, tuple[str, ...]] = MappingProxyType({
    "auto": ("double",), "double": ("double",), "single": ("single",), "all": ("double", "single"),
})
"""Block selection words of Flux: its double-stream and single-stream blocks; ``auto`` = the double-stream
blocks (about a third of the network's attention, where image and text streams still have their own
weights)."""


@dataclass(frozen=True)
class FluxBackbone:
    """Flux.1 (dev, schnell, Kontext, Fill): layer key ``("double", i, 0)`` for double-stream block ``i``
    and ``("single", j, 0)`` for single-stream block ``j`` (the host's ``dit`` replace keys
    ``("double_block", i)`` / ``("single_block", j)``). A call's tokens are ``[text | target | reference
    images]`` on the latent's grid of ``patch x patch`` cells; keys carry the axial rotary embedding
    ``(image index, row, column)``."""

    family: str
    self_attention: Mapping[LayerKey, AttentionShape]
    rotary: Rotary
    patch: int
    latent_factor: ClassVar[int] = 8

    @classmethod
    def of(cls, model: Any) -> FluxBackbone:
        net = diffusion_model(model)
        family = config_name(model)
        if not isinstance(net, host_flux.Flux):
            raise UnsupportedBackbone(f"this MODEL ({family}, {type(net).__name__}) is not a Flux model")
        channels = latent_channels(model)
        if channels != 16:
            raise UnsupportedBackbone(
                f"this MODEL ({family}) is a Flux-architecture model with {channels} latent channels; "
                "TruePose supports Flux.1 models (16 latent channels: dev, schnell, Kontext, Fill)")
        shape = AttentionShape(int(net.num_heads), int(net.hidden_size))
        layers = {(kind, index, 0): shape
                  for kind, blocks in (("double", net.double_blocks), ("single", net.single_blocks))
                  for index in range(len(blocks))}
        embedder = net.pe_embedder
        return cls(family, layers, Rotary(tuple(int(a) for a in embedder.axes_dim), float(embedder.theta)),
                   int(net.patch_size))

    @property
    def token_factor(self) -> int:
        return self.latent_factor * self.patch

    @property
    def stages(self) -> Mapping[str, tuple[LayerKey, ...]]:
        return stage_words(FLUX_WORDS, tuple(self.self_attention))

    def patch_attention(self, model: Any, hooks: Mapping[LayerKey, AttentionHook]) -> Any:
        return dit.with_attention_hooks(model, hooks, self.patch)

    def pass_options(self, hooks: Mapping[LayerKey, AttentionHook]) -> dict[str, Any]:
        return dit.pass_options(hooks, self.patch)

    def describe(self) -> str:
        return _describe(self.family, self.self_attention)


def backbone_of(model: Any) -> Backbone:
    """The backbone class for a host MODEL (SD1.5/SDXL UNet, Flux.1); :class:`UnsupportedBackbone`
    otherwise."""
    net = diffusion_model(model)
    if isinstance(net, host_flux.Flux):
        return FluxBackbone.of(model)
    if isinstance(net, UNetModel):
        return UNetBackbone.of(model)
    raise UnsupportedBackbone(f"this MODEL ({config_name(model)}, {type(net).__name__}) is neither an "
                              "SD1.5/SDXL-style UNet nor a Flux.1 model")
