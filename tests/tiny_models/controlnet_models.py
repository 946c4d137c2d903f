"""A tiny OpenPose-style ControlNet for the tiny SD1.5 checkpoint, in the ControlNet v1.1 layout.

Keys are those of ``control_v11p_sd15_openpose.pth``: ``control_model.`` + ``time_embed``,
``input_blocks``, ``zero_convs``, ``input_hint_block`` (3-channel RGB hint), ``middle_block`` and
``middle_block_out``. The zero convolutions are seeded like every other weight (not zero), so applying
the ControlNet changes the sampled image.
"""

from __future__ import annotations

from pathlib import Path

from .layouts import controlnet_layout
from .sd_checkpoints import SD15_UNET, STORAGE_DTYPE
from .tensors import fixture_metadata, write_safetensors

HINT_CHANNELS = 3


def write_openpose_controlnet(path: Path, seed: int = 0) -> Path:
    """Write the ControlNet matching ``SD15_UNET`` to ``path``."""
    layout = controlnet_layout(SD15_UNET, HINT_CHANNELS)
    tensors = layout.materialise(seed, "controlnet.openpose_sd15", STORAGE_DTYPE)
    return write_safetensors(path, {f"control_model.{key}": value for key, value in tensors.items()},
                             fixture_metadata(seed))
