"""A tiny CLIP vision encoder in the Hugging Face layout the ``clip_vision`` folder holds.

Keys: ``vision_model.embeddings.{class_embedding, patch_embedding.weight, position_embedding.weight}``,
``vision_model.pre_layrnorm``, ``vision_model.encoder.layers.N.*``, ``vision_model.post_layernorm`` and
``visual_projection.weight``. Three layers, so the penultimate hidden state is a real intermediate one.
The ``pt_test_models`` host pack builds the model config from these shapes (224 px input, 14 px
patches, one head per ``TINY_HEAD_DIM`` channels, quick-GELU as CLIP ViT-L).
"""

from __future__ import annotations

from pathlib import Path

from .layouts import TransformerSpec, hf_clip_vision_layout
from .sd_checkpoints import STORAGE_DTYPE
from .tensors import fixture_metadata, write_safetensors

CLIP_VISION = TransformerSpec(hidden_size=64, num_layers=3, intermediate_size=256)
PATCH_SIZE = 14
IMAGE_SIZE = 224
PROJECTION_DIM = 48


def write_clip_vision(path: Path, seed: int = 0) -> Path:
    """Write the tiny CLIP vision model to ``path``."""
    layout = hf_clip_vision_layout(CLIP_VISION, PATCH_SIZE, IMAGE_SIZE, PROJECTION_DIM)
    return write_safetensors(path, layout.materialise(seed, "clip_vision", STORAGE_DTYPE),
                             fixture_metadata(seed))
