"""OnePoseTrans nodes: the one-shot tuner (test-time LoRA on the source image), Save LoRA in the host's
format, LoRA block weights (re-pose / refine presets) and the caption template (``pose_models.oneposetrans``;
training glue in :mod:`.oneposetrans_tuner`)."""

from __future__ import annotations

import json
import logging
import os
from typing import Any

import comfy.lora
import comfy.utils
import folder_paths
import safetensors.torch
import torch
from comfy_api.latest import io, ui

from ..pose_models.oneposetrans import (
    BLOCK_PRESETS,
    BlockWeights,
    OnePoseTransError,
    TunerSettings,
    block_of_weight_key,
    build_caption,
    check_crop_size,
    parse_block_weights,
    parse_targets,
    preset_block_weights,
)
from ..pose_models.oneposetrans.caption import NEGATIVE_PROMPT, SUBJECTS
from .oneposetrans_tuner import (
    PRECISIONS,
    SIZE_CONDITIONING,
    architecture,
    prediction_type,
    target_modules,
    tune,
)

LOG = logging.getLogger(__name__)

CATEGORY = "pose transfer/OnePoseTrans"
LoraModel = io.Custom("LORA_MODEL")
"""The host's LoRA type (as its trainer's): ``dict[str, Tensor]`` in the kohya key format of
``pose_models.oneposetrans.lora_format``
(``lora_unet_….lora_up.weight`` / ``.lora_down.weight`` / ``.alpha``)."""

ATTENTIONS = {"self and cross": ("attn1", "attn2"), "self only": ("attn1",), "cross only": ("attn2",)}
SAVE_DTYPES = {"fp16": torch.float16, "bf16": torch.bfloat16, "fp32": torch.float32}
NO_FILE = "none (use the lora input)"
CUSTOM = "custom"
FACE_WORD = "face"
MAX_FACE_POSITION = 75
"""The face token must be inside the first 75 caption tokens (BOS + 75 + EOS = the 77 the recipe uses)."""


def face_token_index(clip: Any, caption: str) -> int:
    """Position of the word "face" in the caption's token sequence (BOS = 0) for every text encoder of the
    host CLIP (SDXL's two tokenizers must agree). Errors name the fix."""
    face_ids = {}
    for encoder, chunks in clip.tokenize(FACE_WORD).items():
        specials = {chunks[0][0][0], chunks[0][-1][0]}
        face_ids[encoder] = [t[0] for t in chunks[0] if t[0] not in specials][0]
    indices = set()
    for encoder, chunks in clip.tokenize(caption).items():
        ids = [t[0] for chunk in chunks for t in chunk]
        if face_ids[encoder] not in ids:
            raise OnePoseTransError(
                f"The caption has no word 'face' ({caption[:60]!r}); OnePoseTrans captions read "
                "'A man/woman with face, ...'. Build it with the OnePoseTrans Caption node."
            )
        indices.add(ids.index(face_ids[encoder]))
    if len(indices) != 1:
        raise OnePoseTransError(f"The text encoders disagree on the face token position ({sorted(indices)}).")
    index = indices.pop()
    if index > MAX_FACE_POSITION:
        raise OnePoseTransError(
            f"'face' is token {index}, beyond the first {MAX_FACE_POSITION} tokens; put "
            "'with face' at the start of the caption."
        )
    return index


class OnePoseTransTuner(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        d = TunerSettings()
        return io.Schema(
            node_id="PT_OnePoseTransTuner",
            display_name="OnePoseTrans One-Shot Tuner",
            category=CATEGORY,
            description=(
                "Test-time fine-tuning of OnePoseTrans: trains a LoRA on the UNet's attention projections on "
                "the one source image and its caption (official recipe: rank 32, alpha 32, AdamW 1e-3, 60 "
                "steps of 2 random 512 crops). Outputs the tuned MODEL, the LoRA (save it with Save LoRA) "
                "and a report with the denoising loss on the source before and after tuning."
            ),
            inputs=[
                io.Model.Input("model", tooltip="SD1.5 or SDXL MODEL to tune (it is not changed)."),
                io.Clip.Input("clip", tooltip="The checkpoint's CLIP: encodes the caption."),
                io.Vae.Input(
                    "vae", tooltip="The checkpoint's VAE: encodes the source crops (posterior mean)."
                ),
                io.Image.Input(
                    "image",
                    tooltip="The source person image (whole image, background included). "
                    "A batch is a set of views: each crop picks one at random.",
                ),
                io.String.Input(
                    "caption",
                    multiline=True,
                    default="A woman with face, ",
                    tooltip="'A man/woman with face, <clothes>, ...' (OnePoseTrans Caption node). "
                    "Must contain the word 'face'.",
                ),
                io.Int.Input(
                    "steps", default=d.steps, min=1, max=10000, tooltip="Optimiser steps (official 60)."
                ),
                io.Int.Input(
                    "batch_size",
                    default=d.batch_size,
                    min=1,
                    max=64,
                    tooltip="Random crops per step (official 2).",
                ),
                io.Int.Input(
                    "crop_size",
                    default=d.crop_size,
                    min=64,
                    max=2048,
                    step=8,
                    tooltip="Short side resized to this, then a random square crop (official 512).",
                ),
                io.Int.Input("rank", default=d.rank, min=1, max=256, tooltip="LoRA rank (official 32)."),
                io.Float.Input(
                    "alpha",
                    default=d.alpha,
                    min=0.01,
                    max=1024.0,
                    step=0.01,
                    tooltip="LoRA alpha; the update is scaled by alpha/rank (official 32).",
                ),
                io.Float.Input(
                    "learning_rate",
                    default=d.learning_rate,
                    min=1e-7,
                    max=1.0,
                    step=1e-5,
                    tooltip="AdamW learning rate, constant (official 1e-3).",
                ),
                io.Float.Input(
                    "weight_decay",
                    default=d.weight_decay,
                    min=0.0,
                    max=1.0,
                    step=1e-3,
                    tooltip="AdamW weight decay (official 1e-2).",
                ),
                io.String.Input(
                    "targets",
                    default=", ".join(d.targets),
                    tooltip="Adapted projections of every attention (official: to_q, to_k, to_v, to_out.0).",
                ),
                io.Combo.Input(
                    "attentions",
                    options=list(ATTENTIONS),
                    default="self and cross",
                    tooltip="Which attentions get the LoRA (official: self and cross).",
                ),
                io.Int.Input(
                    "seed",
                    default=d.seed,
                    min=0,
                    max=0xFFFFFFFFFFFFFFFF,
                    tooltip="Seeds the LoRA init, crops, timesteps and noise (official 0).",
                ),
                io.Combo.Input(
                    "size_conditioning",
                    options=list(SIZE_CONDITIONING),
                    default=SIZE_CONDITIONING[0],
                    tooltip="SDXL only: the official code passes the full source size as original "
                    "and target size (crop 0,0); 'crop size' uses the crop's size.",
                ),
                io.Combo.Input(
                    "precision",
                    options=list(PRECISIONS),
                    default="auto",
                    tooltip="Autocast dtype of the UNet forward (LoRA stays fp32). auto: fp32 on "
                    "CPU, bf16 (or fp16 with loss scaling) on GPU.",
                ),
                io.Boolean.Input(
                    "gradient_checkpointing",
                    default=False,
                    tooltip="Recompute UNet blocks in the backward pass: less memory, slower.",
                ),
                io.Int.Input(
                    "eval_samples",
                    default=8,
                    min=0,
                    max=256,
                    tooltip="Fixed timesteps (with fixed noise) at which the denoising loss on the "
                    "source centre crop is reported before and after tuning; 0 = off.",
                ),
                io.Combo.Input(
                    "lora_dtype",
                    options=list(SAVE_DTYPES),
                    default="fp16",
                    tooltip="dtype of the LoRA output (and of the saved file).",
                ),
            ],
            outputs=[
                io.Model.Output(display_name="model"),
                LoraModel.Output(display_name="lora"),
                io.String.Output(display_name="report"),
            ],
            is_output_node=True,
        )

    @classmethod
    def execute(
        cls,
        model: Any,
        clip: Any,
        vae: Any,
        image: torch.Tensor,
        caption: str,
        steps: int,
        batch_size: int,
        crop_size: int,
        rank: int,
        alpha: float,
        learning_rate: float,
        weight_decay: float,
        targets: str,
        attentions: str,
        seed: int,
        size_conditioning: str,
        precision: str,
        gradient_checkpointing: bool,
        eval_samples: int,
        lora_dtype: str,
    ) -> io.NodeOutput:
        settings = TunerSettings(
            rank=rank,
            alpha=alpha,
            learning_rate=learning_rate,
            weight_decay=weight_decay,
            steps=steps,
            batch_size=batch_size,
            crop_size=crop_size,
            seed=seed,
            targets=parse_targets(targets),
            attentions=ATTENTIONS[attentions],
        )
        check_crop_size(crop_size)
        if image.ndim != 4 or image.shape[0] == 0 or min(image.shape[1:3]) < 8:
            raise OnePoseTransError(
                f"OnePoseTrans tuner: the source IMAGE has shape {tuple(image.shape)}; "
                "connect a Load Image node with the source person."
            )
        architecture(model)
        prediction_type(model)
        face_token_index(clip, caption)
        too_small = [n for n, m in target_modules(model, settings).items() if min(m.weight.shape) < rank]
        if too_small:
            raise OnePoseTransError(
                f"OnePoseTrans tuner: rank {rank} exceeds the size of {len(too_small)} "
                f"adapted layers (e.g. {too_small[0]}); lower the rank."
            )
        result = tune(
            model,
            clip,
            vae,
            image,
            caption,
            settings,
            precision=precision,
            gradient_checkpointing=gradient_checkpointing,
            size_conditioning=size_conditioning,
            eval_samples=eval_samples,
            save_dtype=SAVE_DTYPES[lora_dtype],
        )
        report = result.report()
        return io.NodeOutput(
            result.model, result.lora, report, ui=ui.PreviewText(report.split("\ntraining")[0])
        )


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
    def execute(cls, lora: dict[str, torch.Tensor], filename_prefix: str) -> io.NodeOutput:
        if not lora or not all(k.startswith("lora_unet_") for k in lora):
            raise OnePoseTransError(
                "Save LoRA: the input is not a UNet LoRA in the host format "
                "(keys lora_unet_*); connect the OnePoseTrans tuner's lora output."
            )
        root = folder_paths.get_folder_paths("loras")[0]
        folder, name, counter, subfolder, _ = folder_paths.get_save_image_path(filename_prefix, root)
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
    key_map = comfy.lora.model_lora_keys_unet(model.model, {})
    prefixes = {k.rsplit(".", 2)[0] if k.endswith(".weight") else k.rsplit(".", 1)[0] for k in lora}
    unknown = sorted(p for p in prefixes if p not in key_map)
    if unknown:
        raise OnePoseTransError(
            f"LoRA Block Weights: {len(unknown)} of {len(prefixes)} LoRA layers do not exist in this MODEL "
            f"(e.g. {unknown[0]}): the LoRA was made for another architecture (SDXL vs SD1.5). Use a LoRA "
            "tuned on this checkpoint."
        )
    weights = model.model.state_dict()
    patches = comfy.lora.load_lora(lora, {p: key_map[p] for p in prefixes}, log_missing=False)
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
    patched = model.clone()
    for block, patches in patches_by_block.items():
        scale = strength * weights.strength(block)
        if scale != 0.0:
            patched.add_patches(patches, scale)
    return patched


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
                    options=[NO_FILE, *folder_paths.get_filename_list("loras")],
                    default=NO_FILE,
                    optional=True,
                    tooltip="Or a LoRA file from models/loras/ (used when no lora is connected).",
                ),
            ],
            outputs=[io.Model.Output(display_name="model")],
        )

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
            path = folder_paths.get_full_path("loras", lora_name)
            if path is None:
                raise OnePoseTransError(f"LoRA Block Weights: {lora_name} is not in models/loras/ any more.")
            try:
                lora = comfy.utils.load_torch_file(path, safe_load=True)
            except Exception as error:
                raise OnePoseTransError(
                    f"LoRA Block Weights: cannot read {lora_name} ({error}); the file is "
                    "damaged or not a LoRA: save it again."
                ) from error
        arch = architecture(model)
        patches = _patches_by_block(model, lora)
        if preset == CUSTOM:
            weights = parse_block_weights(block_weights, set(patches))
        else:
            weights = preset_block_weights(preset, arch)
        return io.NodeOutput(apply_block_weights(model, patches, weights, strength))


class OnePoseTransCaption(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="PT_OnePoseTransCaption",
            display_name="OnePoseTrans Caption",
            category=CATEGORY,
            description=(
                "Builds the OnePoseTrans caption 'A man/woman with face, <hat>, <clothes>, <pants>, <shoes>, "
                "<jewelry>, ...' from parts, the official negative prompt, and the face token index (found "
                "by tokenizing with the CLIP given)."
            ),
            inputs=[
                io.Clip.Input(
                    "clip", tooltip="The checkpoint's CLIP: finds the position of the 'face' token."
                ),
                io.Combo.Input(
                    "subject", options=list(SUBJECTS), default="woman", tooltip="Who is in the source image."
                ),
                *[
                    io.String.Input(
                        name,
                        default="",
                        tooltip=f"{name.capitalize()} of the source person, in words (empty = left out). "
                        "Do not use the word 'face'.",
                    )
                    for name in ("hat", "clothes", "pants", "shoes", "jewelry", "other")
                ],
            ],
            outputs=[
                io.String.Output(display_name="caption"),
                io.String.Output(display_name="negative"),
                io.Int.Output(display_name="face_index"),
            ],
        )

    @classmethod
    def execute(
        cls, clip: Any, subject: str, hat: str, clothes: str, pants: str, shoes: str, jewelry: str, other: str
    ) -> io.NodeOutput:
        caption = build_caption(subject, [hat, clothes, pants, shoes, jewelry, other])
        index = face_token_index(clip, caption)
        return io.NodeOutput(
            caption, NEGATIVE_PROMPT, index, ui=ui.PreviewText(f"{caption}\nface token {index}")
        )


ONEPOSETRANS_NODES: tuple[type[io.ComfyNode], ...] = (
    OnePoseTransTuner,
    SaveOnePoseTransLoRA,
    OnePoseTransLoRABlocks,
    OnePoseTransCaption,
)
