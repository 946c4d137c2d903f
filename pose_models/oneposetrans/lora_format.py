"""LoRA factors of one linear layer and the host's LoRA file format.

Format (kohya, what the host's stock ``LoraLoader`` maps through ``comfy.lora.model_lora_keys_unet``):
for the host module ``diffusion_model.<path>`` with weight ``W [out, in]``::

    lora_unet_<path with '.' -> '_'>.lora_up.weight    [out, rank]
    lora_unet_<path with '.' -> '_'>.lora_down.weight  [rank, in]
    lora_unet_<path with '.' -> '_'>.alpha             scalar

and the patched weight is ``W + strength * alpha / rank * up @ down``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

UNET_PREFIX = "diffusion_model."


@dataclass
class LoraFactors:
    """``up [out, rank]`` and ``down [rank, in]`` (float32) of one linear layer; scale ``alpha / rank``."""

    up: torch.Tensor
    down: torch.Tensor
    alpha: float

    @property
    def rank(self) -> int:
        return self.down.shape[0]


def init_lora_factors(out_features: int, in_features: int, rank: int, alpha: float,
                      generator: torch.Generator) -> LoraFactors:
    """Official (peft ``init_lora_weights="gaussian"``) initialisation: ``down ~ N(0, 1/rank)``, ``up = 0``,
    so the LoRA starts as the identity patch."""
    down = torch.randn(rank, in_features, generator=generator, dtype=torch.float32) / rank
    up = torch.zeros(out_features, rank, dtype=torch.float32)
    return LoraFactors(up, down, alpha)


def lora_key_prefix(module_name: str) -> str:
    """``diffusion_model.output_blocks.1.1.transformer_blocks.0.attn1.to_out.0`` ->
    ``lora_unet_output_blocks_1_1_transformer_blocks_0_attn1_to_out_0``."""
    if not module_name.startswith(UNET_PREFIX):
        raise ValueError(f"{module_name!r} is not a UNet module name (expected the {UNET_PREFIX!r} prefix)")
    return "lora_unet_" + module_name[len(UNET_PREFIX):].replace(".", "_")


def lora_state_dict(factors: dict[str, LoraFactors],
                    dtype: torch.dtype = torch.float32) -> dict[str, torch.Tensor]:
    """Host-format state dict (module docstring) of ``{host module name: factors}``; detached, contiguous."""
    state: dict[str, torch.Tensor] = {}
    for name, lora in factors.items():
        prefix = lora_key_prefix(name)
        state[f"{prefix}.lora_up.weight"] = lora.up.detach().to(dtype).contiguous()
        state[f"{prefix}.lora_down.weight"] = lora.down.detach().to(dtype).contiguous()
        state[f"{prefix}.alpha"] = torch.tensor(float(lora.alpha), dtype=dtype)
    return state
