"""Model configs read from tensor shapes, for tiny models only.

Pure functions on state dicts: each returns ``None`` unless the tensors are in the expected original
layout *and* tiny (base width at most ``TINY_MAX_WIDTH``), so real-sized models are never described
here and keep the host's stock configs. Shapes cannot tell attention head counts; tiny models use one
head per ``TINY_HEAD_DIM`` channels (the convention of ``tests/tiny_models``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import torch

TINY_MAX_WIDTH = 64
"""Largest base width treated as tiny. Real models are far wider: SD-family UNets 192-384 channels,
KL VAEs 128, CLIP text encoders 512-1280, CLIP vision towers 768-1664."""

TINY_HEAD_DIM = 16
"""Attention head width of tiny transformers (keep equal to ``tests/tiny_models/sd_checkpoints.py``)."""

StateDict = Mapping[str, torch.Tensor]


def count_indexed(sd: StateDict, pattern: str) -> int:
    """How many consecutive ``i = 0, 1, ...`` have a key starting with ``pattern.format(i)``."""
    count = 0
    while any(key.startswith(pattern.format(count)) for key in sd):
        count += 1
    return count


def is_tiny_unet(unet_config: Mapping[str, Any]) -> bool:
    """True for a detected UNet config (``model_detection.detect_unet_config``) with a tiny base width."""
    width = unet_config.get("model_channels")
    return isinstance(width, int) and 0 < width <= TINY_MAX_WIDTH


def _transformer_sizes(hidden: int, layers: int, intermediate: int) -> dict[str, int]:
    return {
        "hidden_size": hidden,
        "num_hidden_layers": layers,
        "intermediate_size": intermediate,
        "num_attention_heads": max(1, hidden // TINY_HEAD_DIM),
    }


def hf_text_encoder_config(sd: StateDict, prefix: str) -> dict[str, int] | None:
    """Overrides for the host's CLIP text JSON config from a tiny Hugging Face ``CLIPTextModel``
    stored under ``prefix`` (``...text_model.``)."""
    embedding = sd.get(f"{prefix}embeddings.token_embedding.weight")
    fc1 = sd.get(f"{prefix}encoder.layers.0.mlp.fc1.weight")
    if embedding is None or fc1 is None or embedding.shape[1] > TINY_MAX_WIDTH:
        return None
    layers = count_indexed(sd, prefix + "encoder.layers.{}.")
    return _transformer_sizes(int(embedding.shape[1]), layers, int(fc1.shape[0]))


def open_clip_text_encoder_config(sd: StateDict, prefix: str) -> dict[str, int] | None:
    """Overrides for the host's CLIP text JSON config from a tiny open_clip text tower under ``prefix``."""
    embedding = sd.get(f"{prefix}token_embedding.weight")
    c_fc = sd.get(f"{prefix}transformer.resblocks.0.mlp.c_fc.weight")
    if embedding is None or c_fc is None or embedding.shape[1] > TINY_MAX_WIDTH:
        return None
    layers = count_indexed(sd, prefix + "transformer.resblocks.{}.")
    return _transformer_sizes(int(embedding.shape[1]), layers, int(c_fc.shape[0]))


def t5_encoder_config(sd: StateDict, prefix: str) -> dict[str, int] | None:
    """Overrides for the host's T5 JSON config from a tiny T5 encoder under ``prefix`` (head count from
    the relative position bias of block 0)."""
    shared = sd.get(f"{prefix}shared.weight")
    bias = sd.get(f"{prefix}encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight")
    query = sd.get(f"{prefix}encoder.block.0.layer.0.SelfAttention.q.weight")
    wi = sd.get(f"{prefix}encoder.block.0.layer.1.DenseReluDense.wi_0.weight")
    if shared is None or bias is None or query is None or wi is None or shared.shape[1] > TINY_MAX_WIDTH:
        return None
    heads = int(bias.shape[1])
    return {"d_model": int(shared.shape[1]), "num_layers": count_indexed(sd, prefix + "encoder.block.{}."),
            "num_heads": heads, "d_kv": int(query.shape[0]) // heads, "d_ff": int(wi.shape[0])}


def is_tiny_flux(dit_config: Mapping[str, Any]) -> bool:
    """True for a detected Flux.1 config (``image_model`` ``flux``) with a tiny hidden width."""
    width = dit_config.get("hidden_size")
    return dit_config.get("image_model") == "flux" and isinstance(width, int) and 0 < width <= TINY_MAX_WIDTH


TINY_FLUX_AXES = (4, 6, 6)
"""Rotary axes (image index, row, column) of a ``TINY_HEAD_DIM`` head, in Flux's proportions (16, 56, 56
of 128)."""


def kl_vae_config(sd: StateDict) -> dict[str, Any] | None:
    """``{"ddconfig": ..., "embed_dim": ...}`` (``AutoencoderKL`` arguments) of a tiny LDM KL VAE with
    keys ``encoder.*``, ``decoder.*`` and ``quant_conv``/``post_quant_conv``; ``embed_dim`` is ``None`` for
    the Flux autoencoder's layout (no quant convolutions)."""
    needed = ("encoder.conv_in.weight", "encoder.conv_out.weight", "decoder.conv_in.weight",
              "decoder.conv_out.weight", "encoder.down.0.block.0.conv1.weight")
    if any(key not in sd for key in needed) or sd["encoder.conv_in.weight"].ndim != 4:
        return None
    ch = int(sd["encoder.conv_in.weight"].shape[0])
    if ch > TINY_MAX_WIDTH:
        return None
    levels = count_indexed(sd, "encoder.down.{}.")
    ch_mult = [int(sd[f"encoder.down.{level}.block.0.conv2.weight"].shape[0]) // ch
               for level in range(levels)]
    z_channels = int(sd["decoder.conv_in.weight"].shape[1])
    ddconfig = {
        "double_z": int(sd["encoder.conv_out.weight"].shape[0]) == 2 * z_channels,
        "z_channels": z_channels,
        "resolution": 256,
        "in_channels": int(sd["encoder.conv_in.weight"].shape[1]),
        "out_ch": int(sd["decoder.conv_out.weight"].shape[0]),
        "ch": ch,
        "ch_mult": ch_mult,
        "num_res_blocks": count_indexed(sd, "encoder.down.0.block.{}."),
        "attn_resolutions": [],
        "dropout": 0.0,
    }
    post_quant = sd.get("post_quant_conv.weight")
    return {"ddconfig": ddconfig, "embed_dim": None if post_quant is None else int(post_quant.shape[1])}


def clip_vision_config(sd: StateDict) -> dict[str, Any] | None:
    """A host CLIP-vision JSON config for a tiny Hugging Face CLIP vision tower (``vision_model.*``,
    optional ``visual_projection``); quick-GELU and the CLIP mean/std, as CLIP ViT-L."""
    patch = sd.get("vision_model.embeddings.patch_embedding.weight")
    positions = sd.get("vision_model.embeddings.position_embedding.weight")
    fc1 = sd.get("vision_model.encoder.layers.0.mlp.fc1.weight")
    if patch is None or positions is None or fc1 is None:
        return None
    if "vision_model.embeddings.class_embedding" not in sd:
        return None
    hidden = int(patch.shape[0])
    if hidden > TINY_MAX_WIDTH:
        return None
    grid = math.isqrt(int(positions.shape[0]) - 1)
    config: dict[str, Any] = {
        **_transformer_sizes(hidden, count_indexed(sd, "vision_model.encoder.layers.{}."), int(fc1.shape[0])),
        "hidden_act": "quick_gelu",
        "image_size": grid * int(patch.shape[-1]),
        "patch_size": int(patch.shape[-1]),
        "num_channels": int(patch.shape[1]),
        "layer_norm_eps": 1e-5,
        "model_type": "clip_vision_model",
    }
    projection = sd.get("visual_projection.weight")
    if projection is not None:
        config["projection_dim"] = int(projection.shape[0])
    return config
