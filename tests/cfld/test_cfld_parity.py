"""Stage-by-stage parity with the official CFLD code (references: reference/generate_references.py).

fp32 on the CPU; tolerances as docs/methods.md (CFLD) states them: rasterisation exact, stages 2-6
<= 1e-5 max abs, the sampling loop <= 1e-4. The sensitivity checks show each tolerance would catch a
missing or swapped branch.
"""

from __future__ import annotations

import hashlib
import json

import pytest
import torch
from cfld.reference import tiny_inputs as T

from pose_models.cfld import CFLDModel, Conditions, DDPMSchedule, pose_input, skeleton_image

STAGE_TOL = 1e-5
LOOP_TOL = 1e-4


def max_abs(a: torch.Tensor, b: torch.Tensor) -> float:
    assert a.shape == b.shape, (a.shape, b.shape)
    return float((a.float() - b.float()).abs().max())


def pipeline_pose() -> torch.Tensor:
    return torch.stack([pose_input(T.KEYPOINTS_YX[i], T.SOURCE_SIDE) for i in T.PIPELINE_POSES])


@pytest.mark.parametrize("side", [256, T.SOURCE_SIDE])
@pytest.mark.parametrize("pose", range(len(T.KEYPOINTS_YX)))
def test_stage1_pose_rasterisation_is_bit_exact(ref: dict[str, torch.Tensor], pose: int, side: int) -> None:
    assert torch.equal(ref["keypoints_yx"], torch.tensor(T.KEYPOINTS_YX))
    ours = pose_input(T.KEYPOINTS_YX[pose], side)
    assert ours.shape == (21, side, side) and ours.dtype == torch.float32
    assert hashlib.sha256(ours.numpy().tobytes()).digest() == bytes(ref[f"pose{pose}_{side}_digest"].tolist())
    if side == T.SOURCE_SIDE:
        assert torch.equal(torch.from_numpy(skeleton_image(T.KEYPOINTS_YX[pose], side)),
                           ref[f"pose{pose}_{side}_skeleton"])


def test_stage2_swin_features(cfld_model: CFLDModel, ref: dict[str, torch.Tensor]) -> None:
    with torch.no_grad():
        features = cfld_model.conditioner.backbone(T.source_images())
    assert len(features) == 4
    for i, f in enumerate(features):
        assert max_abs(f, ref[f"swin_stage{i}"]) <= STAGE_TOL, i


def test_stages3_4_prompt_biases_residuals(cfld_model: CFLDModel, ref: dict[str, torch.Tensor]) -> None:
    source, pose = T.source_images(), pipeline_pose()
    source_before, pose_before = source.clone(), pose.clone()
    prompt, residuals, biases = cfld_model.encode_conditions(source, pose)
    assert torch.equal(source, source_before) and torch.equal(pose, pose_before)  # inputs untouched
    assert prompt.shape == (2 * T.BATCH, 4, 64)
    assert max_abs(prompt, ref["prompt"]) <= STAGE_TOL  # decoder output and the null half
    assert len(residuals) == 3
    for i, r in enumerate(residuals):
        assert max_abs(r, ref[f"pose_residual{i}"]) <= STAGE_TOL, i
    assert sorted(biases) == list(range(3, 12))
    for k, v in biases.items():
        assert max_abs(v, ref[f"appearance_bias{k}"]) <= STAGE_TOL, k


def test_conditions_batch_items_are_independent(cfld_model: CFLDModel) -> None:
    source, pose = T.source_images(), pipeline_pose()
    both = cfld_model.encode_conditions(source, pose)
    second = cfld_model.encode_conditions(source[1:], pose[1:])
    assert max_abs(second.source_prompt(), both.source_prompt()[1:]) <= STAGE_TOL
    assert max_abs(second.appearance_biases[11], both.appearance_biases[11][1:]) <= STAGE_TOL
    assert max_abs(second.pose_residuals[0], both.pose_residuals[0][1:]) <= STAGE_TOL


@pytest.mark.parametrize("t", T.TIMESTEPS)
def test_stage5_one_three_branch_unet_call(cfld_model: CFLDModel, ref: dict[str, torch.Tensor],
                                           ref_conditions: Conditions, t: int) -> None:
    x = T.noisy_latents(t)
    prompt3, residuals3, biases3 = cfld_model.branch_conditions(ref_conditions, x.shape[0])
    x3 = torch.cat([x, x, x])
    eps = cfld_model.predict_noise(x3, t, prompt3, residuals3, biases3)
    assert max_abs(eps, ref[f"unet_t{t}"]) <= STAGE_TOL
    # The tolerance catches a missing branch: without the HGA biases or the pose residuals it fails.
    assert max_abs(cfld_model.predict_noise(x3, t, prompt3, residuals3, None), ref[f"unet_t{t}"]) > 1e-3
    assert max_abs(cfld_model.predict_noise(x3, t, prompt3, None, biases3), ref[f"unet_t{t}"]) > 1e-1


@pytest.mark.parametrize("t", T.TIMESTEPS)
def test_stage6_guided_noise(cfld_model: CFLDModel, ref: dict[str, torch.Tensor], ref_conditions: Conditions,
                             ref_settings: dict[str, str], t: int) -> None:
    pose_scale, app_scale = float(ref_settings["pose_scale"]), float(ref_settings["appearance_scale"])
    assert pose_scale != app_scale
    eps = cfld_model.guided_noise(T.noisy_latents(t), t, ref_conditions, pose_scale, app_scale)
    assert max_abs(eps, ref[f"guided_t{t}"]) <= STAGE_TOL
    swapped = cfld_model.guided_noise(T.noisy_latents(t), t, ref_conditions, app_scale, pose_scale)
    assert max_abs(swapped, ref[f"guided_t{t}"]) > 1e-3


def test_stage7_sampling_loop_with_injected_noise(cfld_model: CFLDModel, ref: dict[str, torch.Tensor],
                                                  ref_conditions: Conditions,
                                                  ref_settings: dict[str, str]) -> None:
    steps = int(ref_settings["steps"])
    assert DDPMSchedule(steps).timesteps == ref["timesteps"].tolist()
    seen: list[int] = []
    latents = cfld_model.sample(ref_conditions, steps=steps, pose_scale=float(ref_settings["pose_scale"]),
                                appearance_scale=float(ref_settings["appearance_scale"]),
                                latents=T.initial_latents(), step_noise=T.step_noise,
                                callback=lambda i, n, x: seen.append(i))
    assert seen == list(range(steps))
    assert max_abs(latents, ref["sampled_latents"]) <= LOOP_TOL


def test_official_50_step_schedule(ref: dict[str, torch.Tensor], ref_settings: dict[str, str]) -> None:
    timesteps = DDPMSchedule(50).timesteps
    assert timesteps == ref["timesteps_50"].tolist()
    assert timesteps[0] == 981 and timesteps[-1] == 1 and len(timesteps) == 50
    assert json.loads(ref_settings["timesteps"]) == list(T.TIMESTEPS)


def test_end_to_end_conditions_then_guided_noise(cfld_model: CFLDModel, ref: dict[str, torch.Tensor]) -> None:
    """Our conditions (not the official ones) through our UNet. The stage errors add up and the guidance
    weights the branch differences by up to 1 + s_pose + s_app, so the bound is scaled by that."""
    conditions = cfld_model.encode_conditions(T.source_images(), pipeline_pose())
    t = T.TIMESTEPS[0]
    eps = cfld_model.guided_noise(T.noisy_latents(t), t, conditions, T.POSE_SCALE, T.APPEARANCE_SCALE)
    assert max_abs(eps, ref[f"guided_t{t}"]) <= STAGE_TOL * (1 + T.POSE_SCALE + T.APPEARANCE_SCALE)
