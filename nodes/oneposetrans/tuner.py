"""The OnePoseTrans One-Shot Tuner node (training in :mod:`.training`)."""

from __future__ import annotations

from typing import Any

import torch
from comfy_api.latest import io, ui

from ...pose_models.oneposetrans import OnePoseTransError, TunerSettings, check_crop_size, parse_targets
from ..common.categories import ONEPOSETRANS as CATEGORY
from .caption import face_token_index
from .training import PRECISIONS, SIZE_CONDITIONING, architecture, checked_prediction, target_modules, tune
from .types import LoraModel

ATTENTIONS = {"self and cross": ("attn1", "attn2"), "self only": ("attn1",), "cross only": ("attn2",)}
SAVE_DTYPES = {"fp16": torch.float16, "bf16": torch.bfloat16, "fp32": torch.float32}


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
        checked_prediction(model)
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
            size_conditioning_mode=size_conditioning,
            eval_samples=eval_samples,
            save_dtype=SAVE_DTYPES[lora_dtype],
        )
        report = result.report()
        return io.NodeOutput(
            result.model, result.lora, report, ui=ui.PreviewText(report.split("\ntraining")[0])
        )
