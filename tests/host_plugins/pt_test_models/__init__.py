"""Test-only host pack: lets the host's stock loaders accept the tiny models of ``tests/tiny_models``.

The test harness links this folder into the host's ``custom_nodes`` next to the Pose Transfer pack.
Its only nodes are stand-ins for broken nodes of other packs (``broken_nodes``). At import time it
registers (idempotently: importing it again replaces, never stacks, what an earlier import registered):

1. ``model_configs.TinySD15`` and ``TinySDXL`` at the front of ``comfy.supported_models.models``.
   They match only UNet/ControlNet widths of at most ``shapes.TINY_MAX_WIDTH`` (64) channels and
   otherwise behave like the stock SD15/SDXL configs, except that their ``clip_target`` passes the
   text-encoder sizes read from the checkpoint via ``clip_l_model_config``/``clip_g_model_config``.
   Used by CheckpointLoaderSimple, UNETLoader and ControlNetLoader. ``model_configs.TinyFlux`` does the
   same for Flux.1-dev transformers of at most that width (heads of ``shapes.TINY_HEAD_DIM``), with
   CLIP-L and T5 sizes via ``clip_l_model_config``/``t5xxl_model_config``.
2. A wrapper around ``comfy.sd.VAE.__init__`` that builds tiny LDM KL VAEs and Flux autoencoders from
   their shapes (VAELoader and the VAE inside checkpoints).
3. A wrapper around ``comfy.clip_vision.load_clipvision_from_sd`` that builds tiny HF CLIP vision
   towers from their shapes when the stock function rejects them (CLIPVisionLoader).

Real-sized files never meet a tiny condition and take the untouched stock paths.
"""

from __future__ import annotations

from .broken_nodes import NODES
from .model_configs import register_model_configs
from .patches import install_patches

NODE_CLASS_MAPPINGS: dict[str, type] = dict(NODES)
NODE_DISPLAY_NAME_MAPPINGS: dict[str, str] = {}

register_model_configs()
install_patches()
