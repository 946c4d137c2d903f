"""LoRA nodes of OnePoseTrans: Save LoRA in the host's format, and LoRA Block Weights (weight injection
with a strength per UNet block)."""

from __future__ import annotations

import json
import logging
import os
from typing import Any

import safetensors.torch
import torch
from comfy_api.latest import io, ui

from ...pose_models.oneposetrans import (
    BLOCK_PRESETS,
    BlockWeights,
    OnePoseTransError,
    block_of_weight_key,
    parse_block_weights,
    preset_block_weights,
)
from ...pose_models.state_dicts import read_weight_file
from ..common.categories import ONEPOSETRANS as CATEGORY
from ..host.lora import lora_key_map, lora_patches, model_weights, with_patches
from ..host.models import (
    accept_file_name,
    accept_prefix,
    counter_path,
    model_files,
    model_folders,
    model_path,
)
from .training import architecture
from .types import CUSTOM, LoraModel

LOG = logging.getLogger(__name__)
NO_FILE = "none (use the lora input)"
NODE_BLOCKS = "LoRA Block Weights"


class SaveOnePoseTransLoRA(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="PT_SaveOnePoseTransLoRA",
            display_name="Save LoRA (host format)",
            category=CATEGORY,
            description=(
                "Writes a LORA_MODEL (e.g. from the OnePoseTrans tuner) as .safetensors into models/loras/, "
                "in the key format the stock Load LoRA node reads; returns the name Load LoRA lists it under."
            ),
            inputs=[
                LoraModel.Input("lora", tooltip="The LoRA to save (OnePoseTrans tuner output)."),
                io.String.Input(
                    "filename_prefix",
                    default="oneposetrans/source",
                    tooltip="Path under models/loras/; a counter is appended (_00001_).",
                ),
            ],
            outputs=[io.String.Output(display_name="lora_name")],
            is_output_node=True,
        )

    @classmethod
    def validate_inputs(cls, filename_prefix: str) -> bool | str:
        return accept_prefix(filename_prefix, "Save LoRA", "models/loras/")

    @classmethod
    def execute(cls, lora: dict[str, torch.Tensor], filename_prefix: str) -> io.NodeOutput:
        if not lora or not all(k.startswith("lora_unet_") for k in lora):
            raise OnePoseTransError(
                "Save LoRA: the input is not a UNet LoRA in the host format "
                "(keys lora_unet_*); connect the OnePoseTrans tuner's lora output."
            )
        root = model_folders("loras")[0]
        folder, name, counter, subfolder = counter_path(filename_prefix, root, "Save LoRA", "models/loras/")
        file_name = f"{name}_{counter:05}_.safetensors"
        path = os.path.join(folder, file_name)
        os.makedirs(folder, exist_ok=True)
        ranks = sorted({int(v.shape[0]) for k, v in lora.items() if k.endswith(".lora_down.weight")})
        metadata = {
            "ss_network_module": "networks.lora",
            "pose_transfer": json.dumps({"method": "OnePoseTrans one-shot tuner", "ranks": ranks}),
        }
        safetensors.torch.save_file({k: v.contiguous() for k, v in lora.items()}, path, metadata=metadata)
        lora_name = os.path.join(subfolder, file_name) if subfolder else file_name
        LOG.info("saved LoRA %s", path)
        return io.NodeOutput(lora_name, ui=ui.PreviewText(f"models/loras/{lora_name}"))


def _patches_by_block(model: Any, lora: dict[str, torch.Tensor]) -> dict[str, dict[str, Any]]:
    """``{host block: {weight key: adapter}}`` of a LoRA for this MODEL; errors when keys do not fit."""
    key_map = lora_key_map(model)
    prefixes = {k.rsplit(".", 2)[0] if k.endswith(".weight") else k.rsplit(".", 1)[0] for k in lora}
    unknown = sorted(p for p in prefixes if p not in key_map)
    if unknown:
        raise OnePoseTransError(
            f"LoRA Block Weights: {len(unknown)} of {len(prefixes)} LoRA layers do not exist in this MODEL "
            f"(e.g. {unknown[0]}): the LoRA was made for another architecture (SDXL vs SD1.5). Use a LoRA "
            "tuned on this checkpoint."
        )
    weights = model_weights(model)
    patches = lora_patches(lora, {p: key_map[p] for p in prefixes})
    grouped: dict[str, dict[str, Any]] = {}
    for key, adapter in patches.items():
        up, down = adapter.weights[0], adapter.weights[1]
        if (up.shape[0], down.shape[1]) != tuple(weights[key].shape[:2]):
            raise OnePoseTransError(
                f"LoRA Block Weights: the LoRA layer for {key} has shape "
                f"{tuple(up.shape)}x{tuple(down.shape)}, the model's weight "
                f"{tuple(weights[key].shape)}; the LoRA belongs to another model."
            )
        grouped.setdefault(block_of_weight_key(key), {})[key] = adapter
    return grouped


def apply_block_weights(
    model: Any, patches_by_block: dict[str, dict[str, Any]], weights: BlockWeights, strength: float
) -> Any:
    """A clone of ``model`` with the LoRA (:func:`_patches_by_block`) added per block at
    ``strength · weights.strength(block)``."""
    groups = [(patches, strength * weights.strength(block)) for block, patches in patches_by_block.items()]
    return with_patches(model, [(patches, scale) for patches, scale in groups if scale != 0.0])


class OnePoseTransLoRABlocks(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="PT_OnePoseTransLoRABlocks",
            display_name="LoRA Block Weights",
            category=CATEGORY,
            description=(
                "Applies a LoRA with a strength per UNet block (OnePoseTrans weight injection). Presets: "
                "repose (0.2 everywhere, 1.0 on SDXL up_blocks.0.attentions.1 = output_blocks.1.1; SD1.5 "
                "output_blocks.4.1), refine (only that block), full; or a custom per-block string."
            ),
            inputs=[
                io.Model.Input(
                    "model", tooltip="The base MODEL (not the tuner's output: that has the LoRA at 1.0)."
                ),
                io.Combo.Input(
                    "preset",
                    options=[*BLOCK_PRESETS, CUSTOM],
                    default="repose",
                    tooltip="repose: re-posing pass; refine: refine pass; custom: block_weights.",
                ),
                io.Float.Input(
                    "strength",
                    default=1.0,
                    min=-10.0,
                    max=10.0,
                    step=0.01,
                    tooltip="Multiplies every block strength.",
                ),
                io.String.Input(
                    "block_weights",
                    default="default=0.2, output_blocks.1.1=1.0",
                    multiline=True,
                    tooltip="For preset 'custom': name=strength entries, host names "
                    "(output_blocks.1.1, middle_block.1) or diffusers names "
                    "(up_blocks.0.attentions.1); 'default' for the rest.",
                ),
                LoraModel.Input("lora", optional=True, tooltip="LoRA from the OnePoseTrans tuner."),
                io.Combo.Input(
                    "lora_name",
                    options=[NO_FILE, *model_files("loras")],
                    default=NO_FILE,
                    optional=True,
                    tooltip="Or a LoRA file from models/loras/ (used when no lora is connected).",
                ),
            ],
            outputs=[io.Model.Output(display_name="model")],
        )

    @classmethod
    def validate_inputs(cls, lora_name: str = NO_FILE) -> bool | str:
        return accept_file_name(lora_name)

    @classmethod
    def execute(
        cls,
        model: Any,
        preset: str,
        strength: float,
        block_weights: str,
        lora: dict[str, torch.Tensor] | None = None,
        lora_name: str = NO_FILE,
    ) -> io.NodeOutput:
        if lora is None:
            if lora_name == NO_FILE:
                raise OnePoseTransError(
                    "LoRA Block Weights: connect a lora or choose a lora_name from models/loras/."
                )
            path = model_path("loras", lora_name, NODE_BLOCKS)
            hint = "LoRA Block Weights needs a LoRA file from models/loras/ (or save the tuner's LoRA again)."
            lora = dict(read_weight_file(path, hint, OnePoseTransError))
        arch = architecture(model)
        patches = _patches_by_block(model, lora)
        if preset == CUSTOM:
            weights = parse_block_weights(block_weights, set(patches))
        else:
            weights = preset_block_weights(preset, arch)
        return io.NodeOutput(apply_block_weights(model, patches, weights, strength))
