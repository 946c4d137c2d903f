"""The backbone seam: what the attention methods need from the denoiser network, behind one protocol.

TruePose (SourceNet, HPFA) needs the self-attention layers of the denoiser (a key and a width per
layer), a way to install a self- or cross-attention hook on them, the token grid of a call and the
pixels per latent cell. :class:`Backbone` names exactly that; :class:`UNetBackbone` implements it for
the SD1.5/SDXL UNet (``SpatialTransformer`` blocks, 4 latent channels, 8 px per latent cell). A DiT
(Flux, SD3, Qwen-Image) is one more class here that lists its blocks and maps its transformer options
to a token grid; the pure library (``pose_models.truepose``) only sees opaque layer keys and the stage
names the backbone offers for block selection.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, ClassVar, Protocol

import comfy.ldm.modules.attention as host_attention_module
from comfy.ldm.modules.diffusionmodules.openaimodel import UNetModel

from ...pose_models.errors import PoseTransferError
from .attention import LayerKey, MakePatch, with_attention_patches
from .models import config_name, diffusion_model, latent_channels


@dataclass(frozen=True)
class AttentionShape:
    """``heads`` and ``width`` (heads x head width) of one attention layer's projected tokens."""

    heads: int
    width: int


class UnsupportedBackbone(PoseTransferError):
    """The MODEL's denoiser is not one the pack has a backbone class for."""


class Backbone(Protocol):
    """What the attention methods need from a denoiser network (see the module docstring)."""

    family: str
    """The host's name of the model config (for messages and for comparing two MODELs)."""
    latent_factor: int
    """Pixels per latent cell."""
    self_attention: Mapping[LayerKey, AttentionShape]
    """Every self-attention layer, in the network's order."""
    stages: Mapping[str, tuple[str, ...]]
    """Block selection words (``"middle"``, ``"up"``, ``"all"``...) -> the stage names of the layer keys."""

    def token_grid(self, extra_options: Mapping[str, Any]) -> tuple[int, int]:
        """``(rows, columns)`` of the image tokens of the attention call ``extra_options`` belongs to."""

    def patch_attention(self, model: Any, kind: str, makers: Mapping[LayerKey, MakePatch]) -> Any:
        """A clone of ``model`` with a hook on each layer of ``makers`` (``kind`` ``"self"``/``"cross"``)."""

    def describe(self) -> str:
        """One line naming the family, the number of layers and their widths (for messages)."""


UNET_STAGES: Mapping[str, tuple[str, ...]] = MappingProxyType({
    "input": ("input",), "down": ("input",), "in": ("input",), "middle": ("middle",), "mid": ("middle",),
    "output": ("output",), "up": ("output",), "out": ("output",), "all": ("input", "middle", "output"),
    "midup": ("middle", "output"),
})
"""Block selection words of the UNet: its three stages and their diffusers names."""


@dataclass(frozen=True)
class UNetBackbone:
    """The SD1.5/SDXL-style UNet: layer key ``(stage, block number, transformer index)`` with stage
    ``"input"``, ``"middle"`` or ``"output"`` (the host's ``transformer_options["block"]`` plus
    ``block_index``); the token grid is the ``h x w`` of ``activations_shape``."""

    family: str
    self_attention: Mapping[LayerKey, AttentionShape]
    latent_factor: ClassVar[int] = 8
    stages: ClassVar[Mapping[str, tuple[str, ...]]] = UNET_STAGES

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

    def token_grid(self, extra_options: Mapping[str, Any]) -> tuple[int, int]:
        shape = extra_options["activations_shape"]
        return int(shape[-2]), int(shape[-1])

    def patch_attention(self, model: Any, kind: str, makers: Mapping[LayerKey, MakePatch]) -> Any:
        return with_attention_patches(model, {"self": "attn1", "cross": "attn2"}[kind], makers)

    def describe(self) -> str:
        widths = sorted({shape.width for shape in self.self_attention.values()})
        return f"{self.family} ({len(self.self_attention)} self-attention layers, widths {widths})"


def backbone_of(model: Any) -> UNetBackbone:
    """The backbone class for a host MODEL (today: the UNet); :class:`UnsupportedBackbone` otherwise."""
    return UNetBackbone.of(model)
