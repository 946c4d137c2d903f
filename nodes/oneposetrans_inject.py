"""OnePoseTrans injections (methods.md 1.6): the style part (IP-Adapter with per-block scales) and the face
part of VCM (face value of InstantID's Resampler on SDXL or IP-Adapter FaceID's projection on SD1.5/SDXL,
methods.md 1.9, written at the caption's "face" token). Both return a patched MODEL clone; the attention
patches are in :mod:`.oneposetrans_inject_attention`."""

from __future__ import annotations

import logging
from typing import Any

import comfy.model_management
import folder_paths
import torch
from comfy_api.latest import io, ui

from ..pose_models.faces import face_embeddings, load_face_analysis
from ..pose_models.oneposetrans import OnePoseTransError, parse_block_weights
from ..pose_models.oneposetrans.faceid import face_file
from ..pose_models.oneposetrans.instantid import FACE_GAIN, face_value
from ..pose_models.oneposetrans.ip_adapter import (
    STYLE_PRESETS,
    CrossAttentionLayer,
    ImageProjection,
    layer_projections,
    load_adapter_file,
    style_preset_scales,
)
from .model_folders import ensure_model_folder, insightface_pack_dir, insightface_packs, model_files
from .oneposetrans import face_token_index
from .oneposetrans_inject_attention import (
    FaceValueAttention,
    StyleAttention,
    model_cross_attention_layers,
    with_attn2_patches,
)
from .oneposetrans_tuner import architecture

LOG = logging.getLogger(__name__)
CATEGORY = "pose transfer/OnePoseTrans"
IPADAPTER_FOLDER = "ipadapter"
INSTANTID_FOLDER = "instantid"
CUSTOM = "custom"
AUTO_PACK = "auto"
NO_FACE_MODES = ("error", "continue without face")
ensure_model_folder(IPADAPTER_FOLDER)
ensure_model_folder(INSTANTID_FOLDER)


def face_model_files() -> list[str]:
    """The face files the Face node offers, each as ``<folder>/<file>``: every file of ``models/instantid/``
    and the files of ``models/ipadapter/`` whose name contains "faceid" (IP-Adapter FaceID)."""
    instantid = [f"{INSTANTID_FOLDER}/{name}" for name in model_files(INSTANTID_FOLDER)]
    faceid = [
        f"{IPADAPTER_FOLDER}/{name}" for name in model_files(IPADAPTER_FOLDER) if "faceid" in name.lower()
    ]
    return instantid + faceid


def _face_model_path(face_model: str) -> str:
    folder, _, name = face_model.partition("/")
    if folder not in (INSTANTID_FOLDER, IPADAPTER_FOLDER) or not name:
        raise OnePoseTransError(
            f"face_model {face_model!r} names no model folder; pick an entry of the list "
            "(instantid/... or ipadapter/...)."
        )
    return _adapter_path(folder, name)


def _adapter_path(folder: str, name: str) -> str:
    path = folder_paths.get_full_path(folder, name)
    if path is None:
        raise OnePoseTransError(
            f"{name!r} is not in models/{folder}/; put the file there and refresh the page."
        )
    return path


def _check_context(layers: list[CrossAttentionLayer], context_dim: int, file_name: str) -> None:
    if not layers:
        raise OnePoseTransError("This MODEL has no cross-attention layers; load an SD1.5 or SDXL checkpoint.")
    if context_dim != layers[0].context_dim:
        family = {768: "SD1.5", 2048: "SDXL"}
        raise OnePoseTransError(
            f"{file_name!r} makes {context_dim}-wide tokens ({family.get(context_dim, 'another model')}), "
            f"this MODEL's text tokens are {layers[0].context_dim} wide "
            f"({family.get(layers[0].context_dim, 'other')}). "
            "Pick the file made for this checkpoint's family."
        )


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
                    tooltip="repose: 1.0 / 0.4 on the two style blocks (methods 1.6); refine: only the "
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
        state = load_adapter_file(_adapter_path(IPADAPTER_FOLDER, ipadapter))
        projection = ImageProjection.from_state(state["image_proj"], ipadapter)
        _check_context(layers, projection.context_dim, ipadapter)
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
        tokens = projection(embeds).reshape(-1, projection.context_dim)
        zero_tokens = projection(torch.zeros_like(embeds)).reshape(-1, projection.context_dim)
        patches = {}
        for layer in layers:
            scale = strength * scales.strength(layer.host_block)
            if scale == 0.0:
                continue
            w = weights[layer.adapter_key]
            cond = (tokens @ w["to_k_ip"].T, tokens @ w["to_v_ip"].T)
            uncond = (zero_tokens @ w["to_k_ip"].T, zero_tokens @ w["to_v_ip"].T)
            patches[layer.patch_key] = lambda inner, s=scale, c=cond, u=uncond: StyleAttention(inner, s, c, u)
        blocks = sorted({layer.host_block for layer in layers if layer.patch_key in patches})
        text = f"IP-Adapter {ipadapter}: {len(patches)} layers in {', '.join(blocks) or 'no block'}"
        return io.NodeOutput(with_attn2_patches(model, patches), ui=ui.PreviewText(text))


class OnePoseTransFace(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="PT_OnePoseTransFace",
            display_name="OnePoseTrans Face (VCM)",
            category=CATEGORY,
            description=(
                "Face part of the OnePoseTrans Visual Consistency Module: insightface ArcFace embedding of "
                "the source -> face tokens (InstantID Resampler on SDXL, IP-Adapter FaceID projection on "
                "SD1.5 or SDXL) -> in every cross-attention layer the text value at the caption's 'face' "
                "token becomes gain * softmax-weighted sum of the face values."
            ),
            inputs=[
                io.Model.Input(
                    "model",
                    tooltip="SD1.5 or SDXL MODEL (after LoRA Block Weights / Style); the face file must be "
                    "made for its family.",
                ),
                io.Combo.Input(
                    "face_model",
                    options=face_model_files(),
                    tooltip="Face file: instantid/ip-adapter.bin (InstantID, SDXL, official) from "
                    "models/instantid/, or ipadapter/ip-adapter-faceid_sd15.bin (IP-Adapter FaceID, SD1.5; "
                    "ip-adapter-faceid_sdxl.bin for SDXL) from models/ipadapter/ (names with 'faceid'). "
                    "FaceID Plus/PlusV2/Portrait are not supported.",
                ),
                io.Combo.Input(
                    "insightface",
                    options=[AUTO_PACK, *insightface_packs()],
                    default=AUTO_PACK,
                    tooltip="Face analysis pack in models/insightface/models/: auto = antelopev2 for "
                    "InstantID, buffalo_l for FaceID (the packs they were trained with). Needs "
                    "`pip install insightface onnxruntime`.",
                ),
                io.Image.Input(
                    "image", tooltip="The source photo (first image of a batch); its first face is used."
                ),
                io.Int.Input(
                    "face_index",
                    default=4,
                    min=1,
                    max=75,
                    tooltip="Position of the 'face' token: face_index of the OnePoseTrans Caption node "
                    "(ignored when caption and clip are connected).",
                ),
                io.Float.Input(
                    "gain",
                    default=FACE_GAIN,
                    min=0.0,
                    max=64.0,
                    step=0.1,
                    tooltip="Multiplies the face value (official 4 with InstantID; FaceID on SD1.5: 4 "
                    "untuned).",
                ),
                io.Int.Input(
                    "det_size",
                    default=640,
                    min=64,
                    max=2048,
                    step=32,
                    tooltip="Face detector input size (official 640).",
                ),
                io.Combo.Input(
                    "no_face",
                    options=list(NO_FACE_MODES),
                    default="error",
                    tooltip="When no face is found in the image: stop with an error, or continue "
                    "without the face part (as the official code does).",
                ),
                io.String.Input(
                    "caption",
                    optional=True,
                    force_input=True,
                    tooltip="Optional: the positive prompt; with clip connected, the face token is "
                    "found in it (error if it has no word 'face').",
                ),
                io.Clip.Input(
                    "clip", optional=True, tooltip="Optional: the checkpoint's CLIP, to tokenize caption."
                ),
            ],
            outputs=[io.Model.Output(display_name="model"), io.Boolean.Output(display_name="face_found")],
        )

    @classmethod
    def execute(
        cls,
        model: Any,
        face_model: str,
        insightface: str,
        image: torch.Tensor,
        face_index: int,
        gain: float,
        det_size: int,
        no_face: str,
        caption: str | None = None,
        clip: Any = None,
    ) -> io.NodeOutput:
        if caption is not None:
            if clip is None:
                raise OnePoseTransError(
                    "OnePoseTrans Face: caption is connected but clip is not; connect the "
                    "checkpoint's CLIP too (it finds the 'face' token), or disconnect caption."
                )
            face_index = face_token_index(clip, caption)
        layers = model_cross_attention_layers(model)
        file_name = face_model.rpartition("/")[2]
        state = load_adapter_file(_face_model_path(face_model))
        face = face_file(state, file_name)
        _check_context(layers, face.projection.context_dim, file_name)
        weights = layer_projections(state["ip_adapter"], layers, file_name, projections=("to_v_ip",))
        pack = face.face_pack if insightface == AUTO_PACK else insightface
        if pack != face.face_pack:
            LOG.warning(
                "OnePoseTrans Face: %s was trained with insightface %s, the %s pack is used",
                file_name,
                face.face_pack,
                pack,
            )
        pack_dir = insightface_pack_dir(pack)
        use_gpu = comfy.model_management.get_torch_device().type == "cuda"
        app = load_face_analysis(pack_dir, det_size, use_gpu, face.face_pack, user="OnePoseTrans Face")
        embedding = face_embeddings(app, image[:1], normed=face.normed_embedding)[0]
        if embedding is None:
            if no_face == "error":
                raise OnePoseTransError(
                    "OnePoseTrans Face: no face found in the image. Use a source where the face is visible "
                    "(try det_size 640 or larger), or set no_face to 'continue without face'."
                )
            return io.NodeOutput(model.clone(), False, ui=ui.PreviewText("no face found: face part off"))
        projection = face.projection
        if embedding.shape[0] != projection.embed_dim:
            raise OnePoseTransError(
                f"The {pack} embedding is {embedding.shape[0]}-d, {file_name!r} expects "
                f"{projection.embed_dim}; use {face.face_pack}."
            )
        tokens = projection(torch.from_numpy(embedding)[None])[0]
        zero_tokens = projection(torch.zeros(1, projection.embed_dim))[0]
        patches = {}
        for layer in layers:
            w = weights[layer.adapter_key]["to_v_ip"]
            cond, uncond = face_value(tokens, w, gain), face_value(zero_tokens, w, gain)
            patches[layer.patch_key] = lambda inner, c=cond, u=uncond: FaceValueAttention(
                inner, face_index, c, u
            )
        text = (
            f"{face.kind} face ({pack}) found; value at token {face_index} replaced in {len(patches)} "
            "cross-attention layers"
        )
        return io.NodeOutput(with_attn2_patches(model, patches), True, ui=ui.PreviewText(text))


ONEPOSETRANS_INJECT_NODES: tuple[type[io.ComfyNode], ...] = (OnePoseTransStyle, OnePoseTransFace)
"""The style and face injection nodes of OnePoseTrans."""
