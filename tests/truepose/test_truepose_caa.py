"""TruePose CAA through the real host: it raises the region CLIP similarity of the final image over the
same run without it, leaves the input MODEL alone, and refuses bad input before sampling. Plus the
region crop maths."""

from __future__ import annotations

import copy

import pytest
import torch

from pose_models.truepose import TruePoseError
from pose_models.truepose.alignment import region_crops
from truepose.truepose_graphs import SIZE

GROUPS = "face=1.0, upper_clothes=1.0"


def caa_prompt(ckpt: str, clip_vision: str, source, *, strength: float = 0.1, weights: str = GROUPS,
               seed: int = 7, batch: int = 1) -> dict:
    return {
        "ckpt": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": ckpt}},
        "pos": {"class_type": "CLIPTextEncode", "inputs": {"text": "a person", "clip": ["ckpt", 1]}},
        "neg": {"class_type": "CLIPTextEncode", "inputs": {"text": "", "clip": ["ckpt", 1]}},
        "clipv": {"class_type": "CLIPVisionLoader", "inputs": {"clip_name": clip_vision}},
        "src": {"class_type": "LoadImage", "inputs": {"image": source.image}},
        "person": {"class_type": "LoadImageMask", "inputs": {"image": source.person, "channel": "red"}},
        "face": {"class_type": "LoadImageMask", "inputs": {"image": source.face, "channel": "red"}},
        "parse": {"class_type": "PT_ParsingFromMasks", "inputs": {
            "person": ["person", 0], "face": ["face", 0], "upper_clothes": ["person", 0]}},
        "pose": {"class_type": "PT_LoadPoseFile", "inputs": {
            "file": "[example] standing_front.json", "canvas_width": 0, "canvas_height": 0, "first_frame": 0,
            "max_frames": 0, "coordinates": "auto"}},
        "square": {"class_type": "PT_NormalizePoseKeypoint", "inputs": {
            "pose": ["pose", 0], "coordinates": "auto", "confidence_threshold": 0.0,
            "binarize_confidence": False, "mirror": False, "canvas_width": SIZE, "canvas_height": SIZE,
            "canvas_fit": "contain"}},
        "regions": {"class_type": "PT_TruePoseTargetRegions", "inputs": {
            "pose": ["square", 0], "width": SIZE, "height": SIZE, "scale": 1.0}},
        "caa": {"class_type": "PT_TruePoseCAA", "inputs": {
            "model": ["ckpt", 0], "vae": ["ckpt", 2], "clip_vision": ["clipv", 0], "source_image": ["src", 0],
            "source_parsing": ["parse", 0], "target_regions": ["regions", 0], "group_weights": weights,
            "strength": strength, "start_percent": 0.0, "end_percent": 1.0, "every_n_steps": 1, "mode": "x0",
            "decode_downscale": "1"}},
        "latent": {"class_type": "EmptyLatentImage", "inputs": {"width": SIZE, "height": SIZE,
                                                                "batch_size": batch}},
        "sample": {"class_type": "KSampler", "inputs": {
            "model": ["caa", 0], "seed": seed, "steps": 4, "cfg": 5.0, "sampler_name": "euler",
            "scheduler": "normal", "positive": ["pos", 0], "negative": ["neg", 0],
            "latent_image": ["latent", 0], "denoise": 1.0}},
        "decode": {"class_type": "VAEDecode", "inputs": {"samples": ["sample", 0], "vae": ["ckpt", 2]}},
        "preview": {"class_type": "PreviewImage", "inputs": {"images": ["decode", 0]}},
    }


def without_caa(prompt: dict) -> dict:
    prompt = copy.deepcopy(prompt)
    prompt["sample"]["inputs"]["model"] = ["ckpt", 0]
    return prompt


def region_similarity(clip_vision, image: torch.Tensor, image_masks: torch.Tensor, source: torch.Tensor,
                      source_masks: torch.Tensor) -> float:
    """Cosine similarity of the host CLIP's embeddings of one region of ``image`` and of ``source``."""
    mean = torch.tensor(clip_vision.image_mean).view(1, 3, 1, 1)
    std = torch.tensor(clip_vision.image_std).view(1, 3, 1, 1)
    embeds = []
    for pixels, masks in ((image, image_masks), (source, source_masks)):
        crops, present = region_crops(pixels.permute(0, 3, 1, 2), masks, clip_vision.image_size)
        assert bool(present.all())
        with torch.no_grad():
            out = clip_vision.model(pixel_values=(crops - mean) / std, intermediate_output=-2)[2]
        embeds.append(out.float())
    return float(torch.nn.functional.cosine_similarity(embeds[0], embeds[1], dim=-1)[0])


def test_caa_raises_the_region_clip_similarity(comfy_host, tiny_models, source_files):
    """Aligning one region raises that region's CLIP similarity to the source over the same seed without
    CAA; aligning both lowers the weighted energy (sum of 1 - similarity)."""
    prompt = caa_prompt(tiny_models["sd15"].name, tiny_models["clip_vision"].name, source_files)
    both = comfy_host.run(prompt, capture=("decode", "caa", "clipv", "src", "parse", "regions", "ckpt"))
    both.raise_on_error()
    plain = comfy_host.run(without_caa(prompt), capture=("decode",)).raise_on_error()
    clip_vision, source = both.value("clipv"), both.value("src")
    source_parsing, target = both.value("parse"), both.value("regions")

    def similarity(image: torch.Tensor, group: str) -> float:
        return region_similarity(clip_vision, image, target.mask(group), source, source_parsing.mask(group))

    groups = ("face", "upper_clothes")
    without = {g: similarity(plain.value("decode"), g) for g in groups}
    for group in groups:
        one = caa_prompt(tiny_models["sd15"].name, tiny_models["clip_vision"].name, source_files,
                         weights=f"{group}=1.0")
        image = comfy_host.run(one, capture=("decode",)).raise_on_error().value("decode")
        assert similarity(image, group) > without[group], (group, similarity(image, group), without[group])
    energy = sum(1.0 - similarity(both.value("decode"), g) for g in groups)
    assert energy < sum(1.0 - without[g] for g in groups)
    base, patched = both.value("ckpt"), both.value("caa")
    assert "sampler_post_cfg_function" not in base.model_options and not base.additional_models
    assert len(patched.model_options["sampler_post_cfg_function"]) == 1


def test_caa_input_model_is_untouched(comfy_host, tiny_models, source_files):
    prompt = caa_prompt(tiny_models["sd15"].name, tiny_models["clip_vision"].name, source_files)
    before = comfy_host.run(without_caa(prompt), capture=("decode",)).raise_on_error().value("decode")
    comfy_host.run(prompt, keep_cache=True).raise_on_error()
    after = comfy_host.run(without_caa(prompt), capture=("decode",), keep_cache=True).raise_on_error()
    assert torch.equal(before, after.value("decode"))


def test_caa_refuses_a_group_the_source_lacks(comfy_host, tiny_models, source_files):
    prompt = caa_prompt(tiny_models["sd15"].name, tiny_models["clip_vision"].name, source_files,
                        weights="lower_clothes=1.0")
    result = comfy_host.run(prompt)
    assert not result.success and result.error["node_type"] == "PT_TruePoseCAA"
    assert "no 'lower_clothes' region" in result.error["exception_message"]
    assert not [p for p in result.progress if p[0] == "sample"]


def test_caa_refuses_unknown_groups_and_batch_mismatch(comfy_host, tiny_models, source_files):
    prompt = caa_prompt(tiny_models["sd15"].name, tiny_models["clip_vision"].name, source_files,
                        weights="background=1.0")
    assert "CAA compares the groups" in comfy_host.run(prompt).error["exception_message"]
    prompt = caa_prompt(tiny_models["sd15"].name, tiny_models["clip_vision"].name, source_files, batch=3)
    prompt["pose2"] = {"class_type": "PT_InterpolatePoses", "inputs": {
        "pose_a": ["square", 0], "pose_b": ["square", 0], "frames": 2, "mode": "linear"}}
    prompt["regions"]["inputs"]["pose"] = ["pose2", 0]
    result = comfy_host.run(prompt)
    assert not result.success, "2 target maps for 3 latents must be refused"
    assert "for a latent batch of 3" in result.error["exception_message"]
    assert not [p for p in result.progress if p[0] == "sample"]


def test_region_crops_are_squares_of_the_region_and_differentiable():
    images = torch.rand(2, 3, 40, 60, requires_grad=True)
    masks = torch.zeros(2, 40, 60)
    masks[0, 5:15, 50:60] = 1.0  # touches the right edge: padded with grey
    crops, present = region_crops(images, masks, size=16, margin=0.0)
    assert crops.shape == (2, 3, 16, 16) and present.tolist() == [True, False]
    assert torch.all(crops[1] == 0.5)
    crops.sum().backward()
    grad = images.grad[0].abs().sum(dim=0)
    assert grad[5:15, 50:60].min() > 0 and grad[:, :50].sum() == 0 and images.grad[1].sum() == 0
    with pytest.raises(TruePoseError, match="must match"):
        region_crops(images, masks[:, :10], size=16)


def test_caa_runs_on_weights_loaded_as_on_a_gpu(comfy_host, tiny_models, source_files, gpu_like_loading):
    """On a GPU the host loads the decoder and CLIP copies inside inference mode (inference-tensor
    weights); CAA still gets its gradient."""
    prompt = caa_prompt(tiny_models["sd15"].name, tiny_models["clip_vision"].name, source_files)
    guided = comfy_host.run(prompt, capture=("decode",)).raise_on_error().value("decode")
    assert gpu_like_loading.converted > 0
    plain = comfy_host.run(without_caa(prompt), capture=("decode",)).raise_on_error().value("decode")
    assert torch.isfinite(guided).all() and not torch.equal(guided, plain)
