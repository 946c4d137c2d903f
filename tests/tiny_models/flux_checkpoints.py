"""A tiny Flux.1-dev checkpoint in the single-file layout ComfyUI's own Flux checkpoints use.

``model.diffusion_model.*`` (the Black Forest Labs transformer keys), ``vae.*`` (the Flux autoencoder:
16 latent channels, no quant convolutions), ``text_encoders.clip_l.transformer.text_model.*`` (CLIP-L)
and ``text_encoders.t5xxl.transformer.*`` (a T5 encoder), as in ``flux1-dev-fp8.safetensors``. Only the
sizes are tiny; the stock ``CheckpointLoaderSimple`` loads it once the test-only ``pt_test_models`` pack
is there (it gives tiny Flux widths ``TINY_HEAD_DIM``-wide heads, tiny text encoders their sizes and
builds the tiny autoencoder from its shapes).
"""

from __future__ import annotations

from pathlib import Path

from .layouts import (
    FluxSpec,
    T5Spec,
    TransformerSpec,
    VaeSpec,
    flux_layout,
    hf_clip_text_layout,
    kl_vae_layout,
    t5_encoder_layout,
)
from .sd_checkpoints import STORAGE_DTYPE, TINY_HEAD_DIM
from .tensors import StateDict, fixture_metadata, write_safetensors

FLUX_CLIP_L = TransformerSpec(hidden_size=32, num_layers=2, intermediate_size=64)
FLUX_T5 = T5Spec(d_model=32, num_layers=2, num_heads=2, d_kv=16, d_ff=64)
FLUX_TRANSFORMER = FluxSpec(hidden_size=2 * TINY_HEAD_DIM, head_dim=TINY_HEAD_DIM, depth=2,
                            depth_single_blocks=2, context_in_dim=FLUX_T5.d_model,
                            vec_in_dim=FLUX_CLIP_L.hidden_size)
"""Flux.1-dev's structure (guidance embedding, double- then single-stream blocks) at width 32: two heads
of 16, two blocks of each kind. Real Flux.1: width 3072 (24 heads of 128), 19 + 38 blocks."""
FLUX_AE = VaeSpec(ch=32, ch_mult=(1, 1, 2, 2), num_res_blocks=1, z_channels=16, embed_dim=16,
                  quant_convs=False)
"""The Flux autoencoder's structure (four levels: 8x downscale, 16 latent channels) at width 32-64."""


def _component(layout: StateDict, prefix: str, seed: int, name: str) -> dict:
    return {prefix + key: value for key, value in layout.materialise(seed, name, STORAGE_DTYPE).items()}


def write_flux_checkpoint(path: Path, seed: int = 0) -> Path:
    """Flux.1-dev single-file layout (see the module docstring)."""
    tensors = _component(flux_layout(FLUX_TRANSFORMER), "model.diffusion_model.", seed, "flux.transformer")
    tensors.update(_component(kl_vae_layout(FLUX_AE), "vae.", seed, "flux.vae"))
    tensors.update(_component(hf_clip_text_layout(FLUX_CLIP_L, position_ids=False),
                              "text_encoders.clip_l.transformer.", seed, "flux.clip_l"))
    tensors.update(_component(t5_encoder_layout(FLUX_T5), "text_encoders.t5xxl.transformer.", seed,
                              "flux.t5xxl"))
    return write_safetensors(path, tensors, fixture_metadata(seed))
