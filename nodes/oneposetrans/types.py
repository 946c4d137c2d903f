"""OnePoseTrans socket types and the settings its nodes share."""

from __future__ import annotations

from comfy_api.latest import io

LoraModel = io.Custom("LORA_MODEL")
"""The host's LoRA type (as its trainer's): ``dict[str, Tensor]`` in the kohya key format of
``pose_models.oneposetrans.lora_format``
(``lora_unet_….lora_up.weight`` / ``.lora_down.weight`` / ``.alpha``)."""
CUSTOM = "custom"
"""The preset value that switches a node to its custom block string."""
