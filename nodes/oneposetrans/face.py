"""OnePoseTrans Face: the face part of VCM (face value of InstantID's Resampler on SDXL or IP-Adapter
FaceID's projection on SD1.5/SDXL, written at the caption's "face" token; ``docs/methods.md``,
"OnePoseTrans"). Patches in :mod:`.injection`."""

from __future__ import annotations

import logging
from typing import Any

import torch
from comfy_api.latest import io, ui

from ...pose_models.faces import face_embeddings, load_face_analysis
from ...pose_models.oneposetrans import OnePoseTransError
from ...pose_models.oneposetrans.faceid import face_file
from ...pose_models.oneposetrans.instantid import FACE_GAIN, face_value
from ...pose_models.oneposetrans.ip_adapter import layer_projections, load_adapter_file
from ..common.categories import ONEPOSETRANS as CATEGORY
from ..host.models import (
    accept_file_name,
    accept_pack_name,
    insightface_pack_dir,
    insightface_packs,
    uses_cuda,
)
from .adapters import check_context, face_model_files, face_model_path
from .caption import face_token_index
from .injection import FaceValueAttention, model_cross_attention_layers, with_cross_attention_patches

LOG = logging.getLogger(__name__)
AUTO_PACK = "auto"
NO_FACE_MODES = ("error", "continue without face")


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
    def validate_inputs(cls, face_model: str, insightface: str) -> bool | str:
        accepted = accept_file_name(face_model)
        return accepted if accepted is not True else accept_pack_name(insightface, "OnePoseTrans Face")

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
        state = load_adapter_file(face_model_path(face_model))
        face = face_file(state, file_name)
        check_context(layers, face.projection.context_dim, file_name)
        weights = layer_projections(state["ip_adapter"], layers, file_name, projections=("to_v_ip",))
        pack = face.face_pack if insightface == AUTO_PACK else insightface
        if pack != face.face_pack:
            LOG.warning(
                "OnePoseTrans Face: %s was trained with insightface %s, the %s pack is used",
                file_name,
                face.face_pack,
                pack,
            )
        pack_dir = insightface_pack_dir(pack, "OnePoseTrans Face")
        app = load_face_analysis(pack_dir, det_size, uses_cuda(), face.face_pack, user="OnePoseTrans Face")
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
        return io.NodeOutput(with_cross_attention_patches(model, patches), True, ui=ui.PreviewText(text))
