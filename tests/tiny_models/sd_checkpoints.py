"""Tiny SD1.5- and SDXL-shaped checkpoints, a diffusion-only UNet and a standalone VAE.

Every file uses the original single-file key layout of its kind (see ``layouts``); only the sizes are
tiny. The host's stock loaders need the test-only ``pt_test_models`` pack (``tests/host_plugins``) to
recognise these sizes: it registers model configs for UNets ``TINY_MODEL_CHANNELS`` wide, reads the
text-encoder and VAE sizes from the tensors, and gives tiny text encoders one attention head per
``TINY_HEAD_DIM`` channels. Real-sized files never take those paths.

The diffusion-only UNet and the standalone VAE hold exactly the SD1.5 checkpoint's UNet and VAE
weights (same seeds), so a workflow built from ``UNETLoader`` + ``VAELoader`` reproduces the
checkpoint's images.
"""

from __future__ import annotations

from pathlib import Path

import torch

from .layouts import (
    TransformerSpec,
    UNetSpec,
    VaeSpec,
    hf_clip_text_layout,
    kl_vae_layout,
    open_clip_text_layout,
    unet_layout,
)
from .tensors import StateDict, fixture_metadata, write_safetensors

TINY_MODEL_CHANNELS = 32
"""UNet / ControlNet base width of every tiny model; real SD-family UNets are 256-384 wide."""

TINY_HEAD_DIM = 16
"""Attention head width of the tiny text encoders and CLIP vision model (shapes cannot tell it)."""

STORAGE_DTYPE = torch.float16
"""Floating-point tensors are stored in fp16, as most released checkpoints are."""

SD15_CLIP_L = TransformerSpec(hidden_size=48, num_layers=3, intermediate_size=192)
SD15_UNET = UNetSpec(
    model_channels=TINY_MODEL_CHANNELS,
    channel_mult=(1, 2, 4, 4),
    num_res_blocks=2,
    transformer_depth=(1, 1, 1, 1, 1, 1, 0, 0),
    transformer_depth_output=(1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0),
    transformer_depth_middle=1,
    context_dim=SD15_CLIP_L.hidden_size,
)
"""SD1.5's block structure (channel multipliers, 2 res blocks per level, attention on the first three
levels and in the middle) at width 32; input/middle/output block numbering equals the real model's."""

SDXL_CLIP_L = TransformerSpec(hidden_size=32, num_layers=3, intermediate_size=128)
SDXL_CLIP_G = TransformerSpec(hidden_size=48, num_layers=3, intermediate_size=192)
SDXL_SIZE_EMBEDDING = 6 * 256
"""SDXL's ADM input: pooled CLIP-G output plus six 256-wide size/crop/target embeddings."""
SDXL_UNET = UNetSpec(
    model_channels=TINY_MODEL_CHANNELS,
    channel_mult=(1, 2, 4),
    num_res_blocks=2,
    transformer_depth=(0, 0, 1, 1, 2, 2),
    transformer_depth_output=(0, 0, 0, 1, 1, 1, 2, 2, 2),
    transformer_depth_middle=2,
    context_dim=SDXL_CLIP_L.hidden_size + SDXL_CLIP_G.hidden_size,
    use_linear_in_transformer=True,
    adm_in_channels=SDXL_CLIP_G.hidden_size + SDXL_SIZE_EMBEDDING,
)
"""SDXL's block structure (multipliers [1, 2, 4], attention depth [0, 1, 2] per level, linear
projections, ADM ``label_emb``) at width 32."""

TINY_VAE = VaeSpec(ch=32, ch_mult=(1, 1, 2, 2), num_res_blocks=1)
"""The SD VAE's structure (four levels: 8x downscale, 4 latent channels) at width 32-64, one res block
per level."""


def _component(layout: StateDict, prefix: str, seed: int, name: str) -> dict[str, torch.Tensor]:
    tensors = layout.materialise(seed, name, STORAGE_DTYPE)
    return {prefix + key: value for key, value in tensors.items()}


def sd15_unet_tensors(seed: int) -> dict[str, torch.Tensor]:
    """The SD1.5 UNet's tensors, keys without prefix."""
    return _component(unet_layout(SD15_UNET), "", seed, "sd15.unet")


def sd15_vae_tensors(seed: int) -> dict[str, torch.Tensor]:
    """The SD1.5 checkpoint's VAE tensors, keys without prefix."""
    return _component(kl_vae_layout(TINY_VAE), "", seed, "sd15.vae")


def write_sd15_checkpoint(path: Path, seed: int = 0) -> Path:
    """SD1.5 layout: ``model.diffusion_model.*``, ``first_stage_model.*``,
    ``cond_stage_model.transformer.text_model.*`` (CLIP-L, incl. ``position_ids``)."""
    tensors = {f"model.diffusion_model.{k}": v for k, v in sd15_unet_tensors(seed).items()}
    tensors.update({f"first_stage_model.{k}": v for k, v in sd15_vae_tensors(seed).items()})
    tensors.update(_component(hf_clip_text_layout(SD15_CLIP_L), "cond_stage_model.transformer.", seed,
                              "sd15.clip_l"))
    return write_safetensors(path, tensors, fixture_metadata(seed))


def write_sdxl_checkpoint(path: Path, seed: int = 0) -> Path:
    """SDXL layout: ``model.diffusion_model.*`` (with ``label_emb``), ``first_stage_model.*``,
    ``conditioner.embedders.0.transformer.text_model.*`` (CLIP-L, HF) and
    ``conditioner.embedders.1.model.*`` (CLIP-G, open_clip)."""
    tensors = _component(unet_layout(SDXL_UNET), "model.diffusion_model.", seed, "sdxl.unet")
    tensors.update(_component(kl_vae_layout(TINY_VAE), "first_stage_model.", seed, "sdxl.vae"))
    tensors.update(_component(hf_clip_text_layout(SDXL_CLIP_L), "conditioner.embedders.0.transformer.", seed,
                              "sdxl.clip_l"))
    tensors.update(_component(open_clip_text_layout(SDXL_CLIP_G), "conditioner.embedders.1.model.", seed,
                              "sdxl.clip_g"))
    return write_safetensors(path, tensors, fixture_metadata(seed))


def write_sd15_unet(path: Path, seed: int = 0) -> Path:
    """The SD1.5 checkpoint's UNet alone, bare LDM keys (``input_blocks.0.0.weight``, ...)."""
    return write_safetensors(path, sd15_unet_tensors(seed), fixture_metadata(seed))


def write_vae(path: Path, seed: int = 0) -> Path:
    """The SD1.5 checkpoint's VAE alone, bare LDM keys (``encoder.*``, ``decoder.*``, ``quant_conv``...)."""
    return write_safetensors(path, sd15_vae_tensors(seed), fixture_metadata(seed))
