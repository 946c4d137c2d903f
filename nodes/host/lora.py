"""LoRAs on a MODEL through the host's own LoRA loader (LoRA Block Weights)."""

from __future__ import annotations

from typing import Any

import comfy.lora
import torch


def lora_key_map(model: Any) -> dict[str, str]:
    """``{LoRA layer prefix: model weight key}`` for every UNet layer a LoRA may target (all key styles the
    host reads: kohya ``lora_unet_…``, diffusers, ...)."""
    return comfy.lora.model_lora_keys_unet(model.model, {})


def lora_patches(lora: dict[str, torch.Tensor], key_map: dict[str, str]) -> dict[str, Any]:
    """``{model weight key: host adapter}`` of a LoRA state dict for the layers in ``key_map``; each adapter
    has ``weights`` (``up``, ``down``, ...)."""
    return comfy.lora.load_lora(lora, key_map, log_missing=False)


def model_weights(model: Any) -> dict[str, torch.Tensor]:
    """The MODEL's weights by key (for shape checks)."""
    return model.model.state_dict()


def with_patches(model: Any, groups: list[tuple[dict[str, Any], float]]) -> Any:
    """A clone of ``model`` with each ``(patches, strength)`` added (``model`` stays untouched)."""
    patched = model.clone()
    for patches, strength in groups:
        patched.add_patches(patches, strength)
    return patched
