"""API-format OnePoseTrans graphs on the tiny test models.

Node ids: ``ckpt`` CheckpointLoaderSimple, ``src`` LoadImage, ``tune`` PT_OnePoseTransTuner, ``save``
PT_SaveOnePoseTransLoRA, ``pos``/``neg`` CLIPTextEncode, ``latent`` EmptyLatentImage, ``sample`` KSampler
(on the MODEL given to :func:`with_sampler`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

CAPTION = "A woman with face, a red dress"
SOURCE_SIZE = (96, 80)
"""Source image width, height in px (not square: the crops resize the short side)."""


def write_source(folder: Path, name: str = "opt_source.png", seed: int = 3) -> str:
    """A smooth random RGB image (low-frequency noise, learnable by a tiny UNet) in ``folder``."""
    rng = np.random.default_rng(seed)
    coarse = rng.integers(0, 256, (6, 5, 3), dtype=np.uint8)
    Image.fromarray(coarse).resize(SOURCE_SIZE, Image.BILINEAR).save(folder / name)
    return name


def tuner_inputs(**overrides: Any) -> dict[str, Any]:
    """Tuner settings for the tiny models: few steps, 64 px crops, rank 4, fp32 LoRA."""
    inputs = {"model": ["ckpt", 0], "clip": ["ckpt", 1], "vae": ["ckpt", 2], "image": ["src", 0],
              "caption": CAPTION, "steps": 12, "batch_size": 2, "crop_size": 64, "rank": 4, "alpha": 4.0,
              "learning_rate": 1e-2, "weight_decay": 1e-2, "targets": "to_q, to_k, to_v, to_out.0",
              "attentions": "self and cross", "seed": 0, "size_conditioning": "source size (official)",
              "precision": "auto", "gradient_checkpointing": False, "eval_samples": 4, "lora_dtype": "fp32"}
    inputs.update(overrides)
    return inputs


def tuner_prompt(ckpt: str, source: str, **overrides: Any) -> dict[str, Any]:
    """Checkpoint + source -> tuner."""
    return {
        "ckpt": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": ckpt}},
        "src": {"class_type": "LoadImage", "inputs": {"image": source}},
        "tune": {"class_type": "PT_OnePoseTransTuner", "inputs": tuner_inputs(**overrides)},
    }


def with_sampler(prompt: dict[str, Any], model: list[Any], seed: int = 5) -> dict[str, Any]:
    """Add a 2-step KSampler (``sample``) on ``model``, decoded and previewed, to ``prompt``."""
    return {**prompt,
            "pos": {"class_type": "CLIPTextEncode", "inputs": {"text": CAPTION, "clip": ["ckpt", 1]}},
            "neg": {"class_type": "CLIPTextEncode", "inputs": {"text": "low quality", "clip": ["ckpt", 1]}},
            "latent": {"class_type": "EmptyLatentImage", "inputs": {"width": 64, "height": 64,
                                                                   "batch_size": 1}},
            "sample": {"class_type": "KSampler", "inputs": {
                "model": model, "seed": seed, "steps": 2, "cfg": 5.0, "sampler_name": "euler",
                "scheduler": "normal", "positive": ["pos", 0], "negative": ["neg", 0],
                "latent_image": ["latent", 0], "denoise": 1.0}},
            "decode": {"class_type": "VAEDecode", "inputs": {"samples": ["sample", 0], "vae": ["ckpt", 2]}},
            "preview": {"class_type": "PreviewImage", "inputs": {"images": ["decode", 0]}}}


def base_sampling_prompt(ckpt: str) -> dict[str, Any]:
    """Only the checkpoint and the KSampler on its MODEL."""
    return with_sampler({"ckpt": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": ckpt}}},
                        ["ckpt", 0])
