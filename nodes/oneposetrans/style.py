"""OnePoseTrans Style: IP-Adapter image tokens of the source in chosen UNet blocks (``docs/methods.md``,
"OnePoseTrans"); keys/values from ``pose_models.oneposetrans.ip_adapter``, patches in :mod:`.injection`."""

from __future__ import annotations

from typing import Any

from comfy_api.latest import io, ui

from ...pose_models.oneposetrans import OnePoseTransError, parse_block_weights
from ...pose_models.oneposetrans.ip_adapter import (
    STYLE_PRESETS,
    ImageProjection,
    layer_projections,
    load_adapter_file,
    style_keys_values,
    style_preset_scales,
)
from ..common.categories import ONEPOSETRANS as CATEGORY
from ..host.models import accept_file_name, model_files
from .adapters import IPADAPTER_FOLDER, adapter_path, check_context
from .injection import StyleAttention, model_cross_attention_layers, with_cross_attention_patches
from .training import architecture
from .types import CUSTOM

NODE = "OnePoseTrans Style"


class OnePoseTransStyle(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="PT_OnePoseTransStyle",
            display_name="OnePoseTrans Style (IP-Adapter)",
            category=CATEGORY,
            description=(
                "Style part of OnePoseTrans: IP-Adapter image tokens of the source in chosen UNet blocks "
                "(decoupled cross-attention, scale per block; repose = 1.0 on SDXL up_blocks.0.attentions.1, "
                "0.4 on up_blocks.0.attentions.0). Wraps an attn2 patch already on a block."
            ),
            inputs=[
                io.Model.Input("model", tooltip="SD1.5 or SDXL MODEL (after LoRA Block Weights)."),
                io.Combo.Input(
                    "ipadapter",
                    options=model_files(IPADAPTER_FOLDER),
                    tooltip="Plain IP-Adapter from models/ipadapter/: ip-adapter_sdxl_vit-h for SDXL, "
                    "ip-adapter_sd15 / ip-adapter_sd15_vit-h for SD1.5.",
                ),
                io.ClipVisionOutput.Input(
                    "clip_vision_output",
                    tooltip="CLIP Vision Encode of the source (ViT-H for *_vit-h and sd15 "
                    "files), crop center. Several images: their tokens are concatenated.",
                ),
                io.Combo.Input(
                    "preset",
                    options=[*STYLE_PRESETS, CUSTOM],
                    default="repose",
                    tooltip="repose: 1.0 / 0.4 on the two style blocks (the recipe); refine: only the "
                    "style block; custom: block_scales.",
                ),
                io.Float.Input(
                    "strength",
                    default=1.0,
                    min=-5.0,
                    max=5.0,
                    step=0.01,
                    tooltip="Multiplies every block scale.",
                ),
                io.String.Input(
                    "block_scales",
                    default="default=0, up_blocks.0.attentions.1=1.0, up_blocks.0.attentions.0=0.4",
                    multiline=True,
                    tooltip="For preset 'custom': name=scale entries (host names output_blocks.1.1 or "
                    "diffusers names up_blocks.0.attentions.1); 'default' for the rest.",
                ),
            ],
            outputs=[io.Model.Output(display_name="model")],
        )

    @classmethod
    def validate_inputs(cls, ipadapter: str) -> bool | str:
        return accept_file_name(ipadapter)

    @classmethod
    def execute(
        cls,
        model: Any,
        ipadapter: str,
        clip_vision_output: Any,
        preset: str,
        strength: float,
        block_scales: str,
    ) -> io.NodeOutput:
        layers = model_cross_attention_layers(model)
        state = load_adapter_file(adapter_path(IPADAPTER_FOLDER, ipadapter, NODE))
        projection = ImageProjection.from_state(state["image_proj"], ipadapter)
        check_context(layers, projection.context_dim, ipadapter)
        weights = layer_projections(state["ip_adapter"], layers, ipadapter)
        embeds = clip_vision_output["image_embeds"]
        if embeds.shape[-1] != projection.embed_dim:
            raise OnePoseTransError(
                f"The CLIP vision model gives {embeds.shape[-1]}-wide image_embeds, {ipadapter!r} expects "
                f"{projection.embed_dim}. Use the image encoder the file was trained with "
                "(ViT-H/14 for *_vit-h and ip-adapter_sd15, ViT-bigG for ip-adapter_sdxl) in Load CLIP "
                "Vision."
            )
        if preset == CUSTOM:
            scales = parse_block_weights(block_scales, {layer.host_block for layer in layers})
        else:
            scales = style_preset_scales(preset, architecture(model))
        layer_scales = {layer.patch_key: strength * scales.strength(layer.host_block) for layer in layers}
        keys_values = style_keys_values(projection, embeds, weights, layers, layer_scales)
        patches = {key: lambda inner, kv=kv: StyleAttention(inner, kv.scale, kv.cond, kv.uncond)
                   for key, kv in keys_values.items()}
        blocks = sorted({layer.host_block for layer in layers if layer.patch_key in patches})
        text = f"IP-Adapter {ipadapter}: {len(patches)} layers in {', '.join(blocks) or 'no block'}"
        return io.NodeOutput(with_cross_attention_patches(model, patches), ui=ui.PreviewText(text))
