"""Real-size SD1.5 and SDXL single-file checkpoints with random weights, for GPU benchmarks.

The key layouts are the tiny test models' (``tests/tiny_models``), at the released models' sizes, so the
host's own ``model_detection`` recognises them as SD1.5 / SDXL (no test plugin involved). Random fp16
weights: timings and memory are real, images are noise. Import after ``tests/`` is on ``sys.path``.
"""

from __future__ import annotations

from pathlib import Path

import torch
from tiny_models.layouts import (
    TransformerSpec,
    UNetSpec,
    VaeSpec,
    hf_clip_text_layout,
    kl_vae_layout,
    open_clip_text_layout,
    unet_layout,
)
from tiny_models.tensors import fixture_metadata, write_safetensors

CLIP_L = TransformerSpec(hidden_size=768, num_layers=12, intermediate_size=3072)
CLIP_G = TransformerSpec(hidden_size=1280, num_layers=32, intermediate_size=5120)
SD_VAE = VaeSpec(ch=128, ch_mult=(1, 2, 4, 4), num_res_blocks=2)
SD15_UNET = UNetSpec(
    model_channels=320,
    channel_mult=(1, 2, 4, 4),
    num_res_blocks=2,
    transformer_depth=(1, 1, 1, 1, 1, 1, 0, 0),
    transformer_depth_output=(1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0),
    transformer_depth_middle=1,
    context_dim=768,
)
"""SD1.5's UNet at its real sizes (860 M parameters)."""
SDXL_UNET = UNetSpec(
    model_channels=320,
    channel_mult=(1, 2, 4),
    num_res_blocks=2,
    transformer_depth=(0, 0, 2, 2, 10, 10),
    transformer_depth_output=(0, 0, 0, 2, 2, 2, 10, 10, 10),
    transformer_depth_middle=10,
    context_dim=2048,
    use_linear_in_transformer=True,
    adm_in_channels=2816,
)
"""SDXL base's UNet at its real sizes (2.6 B parameters)."""


def _write(path: Path, parts: list[tuple[object, str, str]], seed: int, device: str) -> Path:
    tensors: dict[str, torch.Tensor] = {}
    for layout, prefix, name in parts:
        drawn = layout.materialise(seed, name, torch.float16, device=device)
        tensors.update({prefix + k: v for k, v in drawn.items()})
    return write_safetensors(path, tensors, fixture_metadata(seed))


def write_full_size_sd15(path: Path, seed: int = 0, device: str = "cpu") -> Path:
    """An SD1.5-shaped checkpoint (UNet, VAE, CLIP-L; about 2 GB in fp16); ``device`` draws the values
    (``"cuda"``: seconds instead of a minute of CPU time)."""
    return _write(path, [
        (unet_layout(SD15_UNET), "model.diffusion_model.", "sd15.unet"),
        (kl_vae_layout(SD_VAE), "first_stage_model.", "sd15.vae"),
        (hf_clip_text_layout(CLIP_L), "cond_stage_model.transformer.", "sd15.clip_l"),
    ], seed, device)


def write_full_size_sdxl(path: Path, seed: int = 0, device: str = "cpu") -> Path:
    """An SDXL-base-shaped checkpoint (UNet, VAE, CLIP-L, CLIP-G; about 7 GB in fp16); ``device`` as
    for :func:`write_full_size_sd15`."""
    return _write(path, [
        (unet_layout(SDXL_UNET), "model.diffusion_model.", "sdxl.unet"),
        (kl_vae_layout(SD_VAE), "first_stage_model.", "sdxl.vae"),
        (hf_clip_text_layout(CLIP_L), "conditioner.embedders.0.transformer.", "sdxl.clip_l"),
        (open_clip_text_layout(CLIP_G), "conditioner.embedders.1.model.", "sdxl.clip_g"),
    ], seed, device)
