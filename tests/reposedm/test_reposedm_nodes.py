"""RePoseDM nodes through the real host: pose guidance must-shows, estimator/field/repair/alignment nodes,
and the bad-input errors. Tiny SD1.5 checkpoint, random OpenPose weights in the released layout."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file
from tiny_models.taesd import write_random_taesd

from pose_models.openpose_body import OpenPoseBodyEstimator, frames_to_keypoints, load_body_model
from pose_models.pose import from_pose_keypoint
from pose_models.pose_field import KinematicPriorField
from pose_models.pose_guidance import EnergyWeights, PoseEnergy

BOX_SIZE = 64
SIZE = 64
STEPS = 6
ANALYTIC = "analytic (kinematic prior, no file)"


@pytest.fixture(scope="module")
def body_model(comfy_host, body_pose_model) -> Path:
    return body_pose_model


def guided_prompt(ckpt: str, *, strength: float = 0.5, start: float = 0.0, end: float = 1.0,
                  mode: str = "x0", pose_file: str = "[example] arms_up_stride.json", canvas: int = SIZE,
                  field_weight: float = 0.5, seed: int = 3, batch: int = 1) -> dict:
    """Checkpoint -> Pose Guidance -> KSampler -> decode; node 5 = the guided model, 7 = the image."""
    return {
        "1": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": ckpt}},
        "2": {"class_type": "CLIPTextEncode", "inputs": {"text": "a person", "clip": ["1", 1]}},
        "3": {"class_type": "CLIPTextEncode", "inputs": {"text": "", "clip": ["1", 1]}},
        "4": {"class_type": "EmptyLatentImage", "inputs": {
            "width": SIZE, "height": SIZE, "batch_size": batch}},
        "10": {"class_type": "PT_LoadPoseFile", "inputs": {
            "file": pose_file, "canvas_width": 0, "canvas_height": 0, "first_frame": 0, "max_frames": 0,
            "coordinates": "auto"}},
        "11": {"class_type": "PT_NormalizePoseKeypoint", "inputs": {
            "pose": ["10", 0], "coordinates": "auto", "confidence_threshold": 0.0,
            "binarize_confidence": False, "mirror": False, "canvas_width": canvas, "canvas_height": canvas,
            "canvas_fit": "contain"}},
        "12": {"class_type": "PT_LoadPoseEstimator", "inputs": {
            "model_name": "body_pose_model.pth", "box_size": BOX_SIZE, "softargmax_beta": 20.0}},
        "13": {"class_type": "PT_LoadPoseField", "inputs": {"field_name": ANALYTIC}},
        "5": {"class_type": "PT_PoseGuidance", "inputs": {
            "model": ["1", 0], "vae": ["1", 2], "target_pose": ["11", 0], "estimator": ["12", 0],
            "field": ["13", 0], "strength": strength, "heatmap_weight": 1.0, "field_weight": field_weight,
            "keypoint_weight": 0.0, "start_percent": start, "end_percent": end, "every_n_steps": 1,
            "mode": mode, "decode_downscale": "1", "person": 0}},
        "6": {"class_type": "KSampler", "inputs": {
            "model": ["5", 0], "seed": seed, "steps": STEPS, "cfg": 5.0, "sampler_name": "euler",
            "scheduler": "normal", "positive": ["2", 0], "negative": ["3", 0], "latent_image": ["4", 0],
            "denoise": 1.0}},
        "7": {"class_type": "VAEDecode", "inputs": {"samples": ["6", 0], "vae": ["1", 2]}},
        "8": {"class_type": "PreviewImage", "inputs": {"images": ["7", 0]}},
    }


def unguided(prompt: dict) -> dict:
    prompt = copy.deepcopy(prompt)
    prompt["6"]["inputs"]["model"] = ["1", 0]
    return prompt


def pose_energy(body_model: Path, images: torch.Tensor, pose_value: list, field_weight: float = 0.0
                ) -> torch.Tensor:
    """The guidance's energy (heatmap weight 1, analytic field) of host images ``[B, H, W, 3]`` against the
    normalised target pose."""
    estimator = OpenPoseBodyEstimator(load_body_model(body_model), box_size=BOX_SIZE)
    frames = from_pose_keypoint(pose_value)
    target = frames_to_keypoints(frames, images.shape[1], images.shape[2]).expand(len(images), -1, -1)
    with torch.no_grad():
        energy = PoseEnergy(estimator, EnergyWeights(heatmap=1.0, field=field_weight), KinematicPriorField())
        return energy(images.permute(0, 3, 1, 2), target).total


@pytest.mark.parametrize("field_weight", [0.0, 0.5])
def test_guidance_lowers_the_pose_energy(comfy_host, tiny_models, body_model, field_weight):
    """The guided run's final image has a lower energy (the guidance's own weights) than the unguided run
    with the same seed, and a larger strength lowers it further."""
    energies = {}
    for strength in (0.0, 0.08, 0.3):
        prompt = guided_prompt(tiny_models["sd15"].name, strength=strength, field_weight=field_weight)
        result = comfy_host.run(prompt, capture=("7", "11")).raise_on_error()
        image, target = result.value("7"), result.value("11")
        energies[strength] = float(pose_energy(body_model, image, target, field_weight)[0])
    plain = comfy_host.run(unguided(prompt), capture=("7",)).raise_on_error().value("7")
    assert energies[0.0] == float(pose_energy(body_model, plain, result.value("11"), field_weight)[0])
    assert energies[0.3] < energies[0.08] < energies[0.0], energies


def test_steps_outside_the_window_are_bit_identical(comfy_host, tiny_models, body_model):
    """First half of a run (KSamplerAdvanced, steps 0-3 of 6) with a window that opens later equals the
    unguided first half bit for bit; the second half then differs."""
    prompt = guided_prompt(tiny_models["sd15"].name, start=0.75, end=1.0)
    prompt["6"] = {"class_type": "KSamplerAdvanced", "inputs": {
        "model": ["5", 0], "add_noise": "enable", "noise_seed": 5, "steps": STEPS, "cfg": 5.0,
        "sampler_name": "euler", "scheduler": "normal", "positive": ["2", 0], "negative": ["3", 0],
        "latent_image": ["4", 0], "start_at_step": 0, "end_at_step": 3,
        "return_with_leftover_noise": "enable"}}
    first_guided = comfy_host.run(prompt, capture=("6",)).raise_on_error().value("6")["samples"]
    first_plain = comfy_host.run(unguided(prompt), capture=("6",)).raise_on_error().value("6")["samples"]
    assert torch.equal(first_guided, first_plain)
    prompt["6"]["inputs"].update(end_at_step=STEPS, return_with_leftover_noise="disable")
    full_guided = comfy_host.run(prompt, capture=("6",)).raise_on_error().value("6")["samples"]
    full_plain = comfy_host.run(unguided(prompt), capture=("6",)).raise_on_error().value("6")["samples"]
    assert not torch.equal(full_guided, full_plain)


def test_nothing_leaks_into_the_next_run(comfy_host, tiny_models, body_model):
    prompt = guided_prompt(tiny_models["sd15"].name)
    before = comfy_host.run(unguided(prompt), capture=("7",)).raise_on_error().value("7")
    guided = comfy_host.run(prompt, capture=("1", "5", "12"), keep_cache=True).raise_on_error()
    base, patched = guided.value("1"), guided.value("5")
    assert "sampler_post_cfg_function" not in base.model_options
    assert len(patched.model_options["sampler_post_cfg_function"]) == 1
    assert not base.additional_models and not base.weight_wrapper_patches
    estimator = guided.value("12")
    assert all(p.grad is None and not p.requires_grad for p in estimator.parameters())
    assert torch.is_grad_enabled() and not torch.is_inference_mode_enabled()
    after = comfy_host.run(unguided(prompt), capture=("7",), keep_cache=True).raise_on_error().value("7")
    assert torch.equal(before, after)


def test_interrupt_leaves_the_model_usable_and_unpatched(comfy_host, tiny_models, body_model):
    """Interrupt a guided run mid-sampling, then sample the same cached MODEL (loader not re-run) with and
    without guidance: both equal the results of a fresh host cache."""
    prompt = guided_prompt(tiny_models["sd15"].name, seed=5)
    plain = comfy_host.run(unguided(prompt), capture=("7",)).raise_on_error().value("7")
    guided = comfy_host.run(prompt, capture=("7",), keep_cache=True).raise_on_error().value("7")
    stopped = comfy_host.run(guided_prompt(tiny_models["sd15"].name, seed=4), capture=("1",),
                             interrupt_after_progress=3)
    assert not stopped.success and stopped.error is not None
    assert [p for p in stopped.progress if p[0] == "6"], "the interrupt came before sampling"
    model = stopped.value("1")
    assert "sampler_post_cfg_function" not in model.model_options and not model.additional_models
    plain_after = comfy_host.run(unguided(prompt), capture=("7",), keep_cache=True).raise_on_error()
    plain_after = plain_after.value("7")
    guided_after = comfy_host.run(prompt, capture=("7",), keep_cache=True).raise_on_error().value("7")
    assert torch.equal(plain_after, plain) and torch.equal(guided_after, guided)


def test_xt_mode_backpropagates_through_the_unet(comfy_host, tiny_models, body_model):
    prompt = guided_prompt(tiny_models["sd15"].name, mode="xt", field_weight=0.0)
    guided = comfy_host.run(prompt, capture=("7",)).raise_on_error().value("7")
    plain = comfy_host.run(unguided(prompt), capture=("7",)).raise_on_error().value("7")
    assert guided.shape == plain.shape and not torch.equal(guided, plain)


def test_guidance_stacks_with_a_controlnet(comfy_host, tiny_models, body_model):
    prompt = guided_prompt(tiny_models["sd15"].name)
    prompt["20"] = {"class_type": "PT_RenderPose", "inputs": {
        "pose": ["11", 0], "width": 0, "height": 0, "draw_body": True, "draw_hands": False,
        "draw_face": False, "stick_width": "standard", "heatmap_sigma": 6.0, "limb_width": 16.0}}
    prompt["21"] = {"class_type": "ControlNetLoader", "inputs": {
        "control_net_name": tiny_models["controlnet_openpose_sd15"].name}}
    prompt["22"] = {"class_type": "ControlNetApplyAdvanced", "inputs": {
        "positive": ["2", 0], "negative": ["3", 0], "control_net": ["21", 0], "image": ["20", 0],
        "strength": 1.0, "start_percent": 0.0, "end_percent": 1.0}}
    prompt["6"]["inputs"].update(positive=["22", 0], negative=["22", 1])
    with_control = comfy_host.run(prompt, capture=("7",)).raise_on_error().value("7")
    prompt["22"]["inputs"]["strength"] = 0.0
    without_control = comfy_host.run(prompt, capture=("7",)).raise_on_error().value("7")
    assert not torch.equal(with_control, without_control), "the ControlNet stopped being applied"


def test_batch_with_one_pose_per_latent(comfy_host, tiny_models, body_model):
    prompt = guided_prompt(tiny_models["sd15"].name, batch=2)
    images = comfy_host.run(prompt, capture=("7",)).raise_on_error().value("7")
    assert images.shape == (2, SIZE, SIZE, 3) and not torch.equal(images[0], images[1])


def _error(result) -> str:
    assert not result.success and result.error is not None
    return result.error["exception_message"]


def _sampler_progress(result) -> list:
    return [p for p in result.progress if p[0] == "6"]


def test_pose_canvas_mismatch_is_refused_before_sampling(comfy_host, tiny_models, body_model):
    prompt = guided_prompt(tiny_models["sd15"].name, canvas=0)  # the example's own 512x768 canvas
    prompt["11"]["inputs"].update(canvas_width=0, canvas_height=0)
    result = comfy_host.run(prompt)
    message = _error(result)
    assert "512x768" in message and "Normalize Pose Keypoints" in message
    assert not _sampler_progress(result)


def test_target_pose_without_people_is_refused(comfy_host, tiny_models, body_model):
    empty = comfy_host.input_dir / "pt_empty_pose.json"
    empty.write_text('[{"people": [], "canvas_width": 64, "canvas_height": 64}]')
    result = comfy_host.run(guided_prompt(tiny_models["sd15"].name, pose_file="pt_empty_pose.json"))
    assert "no people" in _error(result)
    assert result.error["node_type"] == "PT_PoseGuidance"


def test_missing_estimator_weights_name_the_file_and_folder(comfy_host, tiny_models, body_model):
    prompt = guided_prompt(tiny_models["sd15"].name)
    prompt["12"]["inputs"]["model_name"] = "[auto] search models/ and comfyui_controlnet_aux"
    hidden = body_model.with_suffix(".hidden")
    body_model.rename(hidden)
    try:
        result = comfy_host.run(prompt)
    finally:
        hidden.rename(body_model)
    message = _error(result)
    assert "body_pose_model.pth" in message and "models/openpose" in message
    assert not _sampler_progress(result)


def test_field_file_of_the_wrong_shape_is_refused(comfy_host, tiny_models, body_model):
    from pose_models.pose_field import LearnedPoseField, save_learned_field

    folder = comfy_host.models_dir / "pose_fields"
    good = folder / "pt_good_field.safetensors"
    save_learned_field(LearnedPoseField(), good)
    bad = folder / "pt_bad_field.safetensors"
    from safetensors import safe_open

    with safe_open(str(good), framework="pt") as f:
        metadata = f.metadata()
        tensors = {k: f.get_tensor(k) for k in f.keys()}
    first = sorted(tensors)[0]
    tensors[first] = torch.zeros(3, 3)
    save_file(tensors, str(bad), metadata=metadata)
    prompt = guided_prompt(tiny_models["sd15"].name)
    prompt["13"]["inputs"]["field_name"] = "pt_good_field.safetensors"
    comfy_host.run(prompt).raise_on_error()
    prompt["13"]["inputs"]["field_name"] = "pt_bad_field.safetensors"
    result = comfy_host.run(prompt)
    message = _error(result)
    assert "pt_bad_field.safetensors" in message and "retrain" in message
    assert not _sampler_progress(result)


def test_estimate_repair_and_align_nodes(comfy_host, tiny_models, body_model):
    prompt = {
        "1": {"class_type": "PT_LoadPoseFile", "inputs": {
            "file": "[example] standing_front.json", "canvas_width": 0, "canvas_height": 0, "first_frame": 0,
            "max_frames": 0, "coordinates": "auto"}},
        "2": {"class_type": "PT_LoadPoseFile", "inputs": {
            "file": "[example] arms_up_stride.json", "canvas_width": 0, "canvas_height": 0, "first_frame": 0,
            "max_frames": 0, "coordinates": "auto"}},
        "3": {"class_type": "PT_RenderPose", "inputs": {
            "pose": ["1", 0], "width": 128, "height": 192, "draw_body": True, "draw_hands": False,
            "draw_face": False, "stick_width": "standard", "heatmap_sigma": 6.0, "limb_width": 16.0}},
        "4": {"class_type": "PT_LoadPoseEstimator", "inputs": {
            "model_name": "body_pose_model.pth", "box_size": BOX_SIZE, "softargmax_beta": 20.0}},
        "5": {"class_type": "ImageBatch", "inputs": {"image1": ["3", 0], "image2": ["3", 0]}},
        "6": {"class_type": "PT_EstimatePose", "inputs": {
            "images": ["5", 0], "estimator": ["4", 0], "confidence_threshold": 0.0}},
        "7": {"class_type": "PT_LoadPoseField", "inputs": {"field_name": ANALYTIC}},
        "8": {"class_type": "PT_RepairPose", "inputs": {
            "pose": ["2", 0], "field": ["7", 0], "steps": 20, "max_step": 0.1}},
        "9": {"class_type": "PT_AlignPose", "inputs": {
            "image": ["3", 0], "source_pose": ["1", 0], "target_pose": ["2", 0], "steps": 3,
            "background": 0.5, "person": 0}},
        "10": {"class_type": "PreviewImage", "inputs": {"images": ["9", 0]}},
        "11": {"class_type": "PreviewImage", "inputs": {"images": ["9", 2]}},
    }
    result = comfy_host.run(prompt, capture=("6", "8", "9")).raise_on_error()
    estimated = from_pose_keypoint(result.value("6"))
    assert len(estimated) == 2 and all(len(f.people) == 1 for f in estimated)
    assert (estimated[0].canvas_width, estimated[0].canvas_height) == (128, 192)
    assert [p for p in result.progress if p[0] == "6"][-1][1:] == (2, 2)
    assert len(from_pose_keypoint(result.value("8"))) == 1
    image, coverage, parts = (result.value("9", i) for i in range(3))
    assert image.shape == (1, 192, 128, 3) and coverage.shape == (1, 192, 128)
    assert parts.shape == image.shape and 0 < float(coverage.mean()) < 1


@pytest.mark.parametrize(("sampler", "scheduler"), [("heun", "karras"), ("dpmpp_2m", "exponential")])
def test_guidance_works_with_other_samplers(comfy_host, tiny_models, body_model, sampler, scheduler):
    prompt = guided_prompt(tiny_models["sd15"].name)
    prompt["6"]["inputs"].update(sampler_name=sampler, scheduler=scheduler, steps=4)
    guided = comfy_host.run(prompt, capture=("7",)).raise_on_error().value("7")
    plain = comfy_host.run(unguided(prompt), capture=("7",)).raise_on_error().value("7")
    assert torch.isfinite(guided).all() and not torch.equal(guided, plain)


@pytest.fixture(scope="module")
def taesd_vae(comfy_host) -> str:
    """A random-weight TAESD "VAE" file in the layout the host's VAELoader recognises."""
    return write_random_taesd(comfy_host.models_dir / "vae" / "pt_tiny_taesd.safetensors").name


def test_guidance_decodes_with_taesd(comfy_host, tiny_models, body_model, taesd_vae):
    """A TAESD VAE on the guidance's vae input: the gradient runs through the tiny decoder."""
    prompt = guided_prompt(tiny_models["sd15"].name)
    prompt["30"] = {"class_type": "VAELoader", "inputs": {"vae_name": taesd_vae}}
    prompt["5"]["inputs"]["vae"] = ["30", 0]
    guided = comfy_host.run(prompt, capture=("7",)).raise_on_error().value("7")
    plain = comfy_host.run(unguided(prompt), capture=("7",)).raise_on_error().value("7")
    assert torch.isfinite(guided).all() and not torch.equal(guided, plain)


@pytest.mark.parametrize("decoder,mode", [("vae", "x0"), ("taesd", "x0"), ("vae", "xt")])
def test_guidance_runs_on_weights_loaded_as_on_a_gpu(comfy_host, tiny_models, body_model, taesd_vae,
                                                     gpu_like_loading, decoder, mode):
    """On a GPU the host loads the decoder copy and the estimator inside inference mode, which turns their
    weights into inference tensors; the guidance still gets its gradient (first seen on an H200)."""
    prompt = guided_prompt(tiny_models["sd15"].name, field_weight=0.5)
    prompt["5"]["inputs"]["mode"] = mode
    if decoder == "taesd":
        prompt["30"] = {"class_type": "VAELoader", "inputs": {"vae_name": taesd_vae}}
        prompt["5"]["inputs"]["vae"] = ["30", 0]
    guided = comfy_host.run(prompt, capture=("7",)).raise_on_error().value("7")
    assert gpu_like_loading.converted > 0
    plain = comfy_host.run(unguided(prompt), capture=("7",)).raise_on_error().value("7")
    assert torch.isfinite(guided).all() and not torch.equal(guided, plain)
