"""API-format TruePose graphs on the tiny test models, and the images and masks they read.

Images and masks are written as PNG into the host's ``input/`` folder (``LoadImage`` / ``LoadImageMask``
read them back exactly: 8-bit values). Node ids used by the graphs:

``ckpt`` CheckpointLoaderSimple, ``pos``/``neg`` CLIPTextEncode, ``src`` LoadImage, ``person``/``face``
LoadImageMask, ``parse`` PT_ParsingFromMasks, ``bank`` PT_TruePoseSourceNet, ``hpfa`` PT_TruePoseHPFA,
``latent`` EmptyLatentImage, ``sample`` KSampler (on the HPFA model), ``decode``/``preview`` its image.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

SIZE = 64
"""Source and target side in px (8 x 8 latent cells)."""

PERSON_BOX = (8, 56, 16, 48)
"""Person mask rows 8-55, columns 16-47."""

FACE_BOX = (10, 22, 24, 40)
"""Face mask rows 10-21, columns 24-39 (inside the person)."""


def box_mask(box: tuple[int, int, int, int]) -> np.ndarray:
    """``bool [SIZE, SIZE]`` true inside ``(top, bottom, left, right)``."""
    mask = np.zeros((SIZE, SIZE), dtype=bool)
    top, bottom, left, right = box
    mask[top:bottom, left:right] = True
    return mask


def random_image(seed: int) -> np.ndarray:
    """``uint8 [SIZE, SIZE, 3]`` noise."""
    return np.random.default_rng(seed).integers(0, 256, (SIZE, SIZE, 3), dtype=np.uint8)


def write_png(folder: Path, name: str, array: np.ndarray) -> str:
    """Save ``array`` (``uint8`` RGB or ``bool`` mask, stored as L) into ``folder``; returns the file name."""
    image = Image.fromarray(array.astype(np.uint8) * 255 if array.dtype == bool else array)
    image.save(folder / name)
    return name


def truepose_prompt(ckpt: str, source: str, person: str, face: str, *, groups: str = "person",
                    weights: str = "", mode: str = "cached", steps: int = 2, seed: int = 7,
                    strength: float = 1.0, latent_size: int = SIZE, batch: int = 1,
                    latent_node: str = "EmptyLatentImage") -> dict[str, Any]:
    """Checkpoint -> prompts -> masks parsing -> SourceNet -> HPFA -> KSampler (output ``sample``);
    ``latent_node``: the empty-latent node of the model family (``EmptySD3LatentImage`` for Flux)."""
    return {
        "ckpt": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": ckpt}},
        "pos": {"class_type": "CLIPTextEncode", "inputs": {"text": "a person", "clip": ["ckpt", 1]}},
        "neg": {"class_type": "CLIPTextEncode", "inputs": {"text": "", "clip": ["ckpt", 1]}},
        "src": {"class_type": "LoadImage", "inputs": {"image": source}},
        "person": {"class_type": "LoadImageMask", "inputs": {"image": person, "channel": "red"}},
        "face": {"class_type": "LoadImageMask", "inputs": {"image": face, "channel": "red"}},
        "parse": {"class_type": "PT_ParsingFromMasks",
                  "inputs": {"person": ["person", 0], "face": ["face", 0]}},
        "bank": {"class_type": "PT_TruePoseSourceNet", "inputs": {
            "model": ["ckpt", 0], "vae": ["ckpt", 2], "source_image": ["src", 0],
            "source_parsing": ["parse", 0],
            "conditioning": ["pos", 0], "groups": groups, "mode": mode, "sigma": 0.1, "fill": 0.5,
            "seed": 0}},
        "hpfa": {"class_type": "PT_TruePoseHPFA", "inputs": {
            "model": ["ckpt", 0], "bank": ["bank", 0], "strength": strength, "group_weights": weights,
            "blocks": "all", "start_percent": 0.0, "end_percent": 1.0, "cfg_branches": "both", "gate": 4.0}},
        "latent": {"class_type": latent_node,
                   "inputs": {"width": latent_size, "height": latent_size, "batch_size": batch}},
        "sample": {"class_type": "KSampler", "inputs": {
            "model": ["hpfa", 0], "seed": seed, "steps": steps, "cfg": 5.0, "sampler_name": "euler",
            "scheduler": "normal", "positive": ["pos", 0], "negative": ["neg", 0],
            "latent_image": ["latent", 0],
            "denoise": 1.0}},
        "decode": {"class_type": "VAEDecode", "inputs": {"samples": ["sample", 0], "vae": ["ckpt", 2]}},
        "preview": {"class_type": "PreviewImage", "inputs": {"images": ["decode", 0]}},
    }


def sampled(host: Any, prompt: dict[str, Any], node: str = "sample") -> Any:
    """Run ``prompt`` and return the ``samples`` tensor of ``node``'s LATENT output."""
    return host.run(prompt, capture=(node,)).raise_on_error().value(node)["samples"]


def sample_cached(host: Any, prompt: dict[str, Any], node: str = "sample") -> Any:
    """Like :func:`sampled`, keeping the host's cache (only nodes whose inputs changed run again)."""
    return host.run(prompt, capture=(node,), keep_cache=True).raise_on_error().value(node)["samples"]


def plain_prompt(prompt: dict[str, Any]) -> dict[str, Any]:
    """The same graph sampling the unpatched checkpoint MODEL."""
    prompt = {k: {"class_type": v["class_type"], "inputs": dict(v["inputs"])} for k, v in prompt.items()}
    prompt["sample"]["inputs"]["model"] = ["ckpt", 0]
    return prompt


def zeros_after(node: str) -> dict[str, Any]:
    """A zero latent that depends on ``node``'s output (orders execution, adds nothing)."""
    return {"class_type": "LatentMultiply", "inputs": {"samples": [node, 0], "multiplier": 0.0}}


def untouched_model_prompt(prompt: dict[str, Any]) -> dict[str, Any]:
    """``prompt`` extended to sample the plain checkpoint MODEL before (``before``) and after (``after``)
    the HPFA sampling (``sample``) of the same MODEL object, in that order."""
    prompt = plain_prompt(prompt)
    prompt["sample"]["inputs"]["model"] = ["hpfa", 0]
    prompt["before"] = plain_prompt(prompt)["sample"]
    prompt["zero_a"] = zeros_after("before")
    prompt["sample"]["inputs"]["latent_image"] = ["zero_a", 0]
    prompt["zero_b"] = zeros_after("sample")
    prompt["after"] = dict(plain_prompt(prompt)["sample"])
    prompt["after"]["inputs"] = dict(prompt["after"]["inputs"], latent_image=["zero_b", 0])
    prompt["decode"]["inputs"]["samples"] = ["after", 0]  # the output node pulls the whole chain
    return prompt
