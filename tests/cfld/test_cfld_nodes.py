"""The CFLD nodes through the real host: a tiny release pair in models/cfld/ (official layout), the whole
workflow with SamplerCustomAdvanced, the host-side guidance against the official references, and errors."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from cfld.reference import tiny_inputs as T
from PIL import Image

from pose_models.cfld import Conditions

POSE_FILE = "pt_cfld/pose.json"


def pose_keypoint_frames(indices: tuple[int, ...]) -> list[dict]:
    """The test poses as POSE_KEYPOINT frames on a 176x256 canvas (pixels, confidence 1 or 0)."""
    frames = []
    for i in indices:
        flat: list[float] = []
        for y, x in T.KEYPOINTS_YX[i]:
            flat += [0.0, 0.0, 0.0] if y == -1 else [float(x), float(y), 1.0]
        frames.append({"canvas_width": 176, "canvas_height": 256, "people": [{"pose_keypoints_2d": flat}]})
    return frames


@pytest.fixture(scope="module")
def host(comfy_host, release_files: tuple[Path, Path], tiny_models: dict[str, Path]):
    folder = comfy_host.models_dir / "cfld"
    folder.mkdir(exist_ok=True)
    for src in release_files:
        shutil.copy(src, folder / src.name)
    torch.save({"model.diffusion_model.input_blocks.0.0.weight": torch.zeros(1)}, folder / "sd_model.bin")
    (comfy_host.input_dir / "pt_cfld").mkdir(exist_ok=True)
    (comfy_host.input_dir / POSE_FILE).write_text(json.dumps(pose_keypoint_frames(T.PIPELINE_POSES)))
    return comfy_host


def loader(cond: str = "pytorch_model.bin", unet: str = "pytorch_model_1.bin") -> dict:
    return {"class_type": "PT_CFLDLoader", "inputs": {"conditioning_file": cond, "unet_file": unet}}


def schedule_prompt(load: dict) -> dict:
    """Loader -> official schedule -> a text preview of the sigmas (an output node)."""
    return {"1": load,
            "2": {"class_type": "PT_CFLDOfficialSchedule", "inputs": {"model": ["1", 0], "steps": 50}},
            "3": {"class_type": "PreviewAny", "inputs": {"source": ["2", 1]}}}


def workflow(tiny_models: dict[str, Path], *, steps: int = 4, latent: int = 8 * T.LATENT_SIDE,
             batch: int = 2, seed: int = 1) -> dict:
    return {
        "1": loader(),
        "2": {"class_type": "EmptyImage", "inputs": {"width": 200, "height": 160, "batch_size": 1,
                                                     "color": 0x336699}},
        "3": {"class_type": "PT_LoadPoseFile", "inputs": {"file": POSE_FILE, "canvas_width": 0,
                                                          "canvas_height": 0, "first_frame": 0,
                                                          "max_frames": 0, "coordinates": "auto"}},
        "4": {"class_type": "PT_CFLDPose", "inputs": {"pose": ["3", 0], "aspect": "pad", "person_index": 0}},
        "5": {"class_type": "PT_CFLDConditions", "inputs": {"cfld": ["1", 1], "source": ["2", 0],
                                                            "cfld_pose": ["4", 0], "source_aspect": "pad",
                                                            "pad_value": 1.0}},
        "6": {"class_type": "PT_CFLDGuider", "inputs": {"model": ["1", 0], "cfld": ["1", 1],
                                                        "cfld_conditions": ["5", 0], "pose_scale": 2.0,
                                                        "appearance_scale": 2.0}},
        "7": {"class_type": "PT_CFLDOfficialSchedule", "inputs": {"model": ["1", 0], "steps": steps}},
        "8": {"class_type": "RandomNoise", "inputs": {"noise_seed": seed}},
        "9": {"class_type": "EmptyLatentImage", "inputs": {"width": latent, "height": latent,
                                                           "batch_size": batch}},
        "10": {"class_type": "SamplerCustomAdvanced", "inputs": {"noise": ["8", 0], "guider": ["6", 0],
                                                                 "sampler": ["7", 0], "sigmas": ["7", 1],
                                                                 "latent_image": ["9", 0]}},
        "11": {"class_type": "VAELoader", "inputs": {"vae_name": tiny_models["vae"].name}},
        "12": {"class_type": "VAEDecode", "inputs": {"samples": ["10", 0], "vae": ["11", 0]}},
        "13": {"class_type": "PT_CFLDResizeOutput", "inputs": {"image": ["12", 0], "size": "512x352"}},
        "14": {"class_type": "PreviewImage", "inputs": {"images": ["13", 0]}},
    }


def test_workflow_runs_through_the_host(host, tiny_models: dict[str, Path]) -> None:
    prompt = workflow(tiny_models)
    result = host.run(prompt, capture=("4", "5", "10", "13"))
    result.raise_on_error()
    image = result.value("13", 0)
    assert image.shape == (2, 512, 352, 3) and torch.isfinite(image).all()
    preview = result.value("4", 1)
    assert preview.shape == (2, 256, 256, 3) and float(preview.max()) > 0.5
    source_input = result.value("5", 1)
    assert source_input.shape == (1, T.SOURCE_SIDE, T.SOURCE_SIDE, 3)  # one source, shared by 2 poses
    # 200x160 photo padded (white) to 176:256, never stretched: top rows white, centre the photo colour.
    assert float(source_input[0, 0].mean()) == pytest.approx(1.0, abs=1e-3)
    centre = T.SOURCE_SIDE // 2
    assert float(source_input[0, centre, centre, 0]) == pytest.approx(0x33 / 255, abs=0.02)
    conditions = result.value("5", 0)
    # The host imported the pack under its folder name, so compare the type by name.
    assert type(conditions).__name__ == "Conditions" and conditions.prompt.shape == (4, 4, 64)
    assert any(node == "10" for node, _, _ in result.progress)  # the sampler's progress bar
    assert any(node == "5" for node, _, _ in result.progress)  # the conditions node's progress bar
    again = host.run(prompt, capture=("10",))
    again.raise_on_error()
    assert torch.equal(again.value("10", 0)["samples"], result.value("10", 0)["samples"])
    other_seed = host.run(workflow(tiny_models, seed=2), capture=("10",))
    assert not torch.equal(other_seed.value("10", 0)["samples"], result.value("10", 0)["samples"])


def test_host_guidance_matches_the_official_code(host, ref: dict[str, torch.Tensor],
                                                 ref_conditions: Conditions) -> None:
    """The guider's host path (LDM UNet, input-block patch, attn2 replace, branch rows, batching) gives the
    official guided noise for the official conditions. A one-call sampler evaluates the guided model."""
    import comfy.samplers

    result = host.run(schedule_prompt(loader()), capture=("1",))
    result.raise_on_error()
    model, cfld = result.value("1", 0), result.value("1", 1)
    guider_node = host.node_classes["PT_CFLDGuider"]
    guider = guider_node.execute(model, cfld, ref_conditions, T.POSE_SCALE, T.APPEARANCE_SCALE).result[0]
    sampling = model.get_model_object("model_sampling")
    eps: dict[int, torch.Tensor] = {}

    def evaluate(model_fn, x, sigmas, extra_args=None, callback=None, disable=None):
        for t in T.TIMESTEPS:
            sigma = sampling.sigma(torch.tensor(float(t)))
            x_t = T.noisy_latents(t) * (sigma**2 + 1) ** 0.5  # the host's scaling of the same noisy latent
            denoised = model_fn(x_t, sigma * x_t.new_ones([x_t.shape[0]]), **(extra_args or {}))
            eps[t] = (x_t - denoised) / sigma
        return x

    zeros = torch.zeros(T.BATCH, 4, T.LATENT_SIDE, T.LATENT_SIDE)
    with torch.inference_mode():  # as under the executor (the host loaded the weights in inference mode)
        guider.sample(zeros, zeros, comfy.samplers.KSAMPLER(evaluate), torch.tensor([1.0, 0.0]),
                      disable_pbar=True)
    for t in T.TIMESTEPS:
        assert float((eps[t] - ref[f"guided_t{t}"]).abs().max()) <= 1e-4, t
    assert "input_block_patch" not in model.model_options.get("transformer_options", {}).get("patches", {})


def test_wrong_canvas_is_refused_before_sampling(host, tiny_models: dict[str, Path]) -> None:
    result = host.run(workflow(tiny_models, latent=8 * T.LATENT_SIDE * 2), capture=())
    assert not result.success
    assert "only works on a 128x128 canvas" in result.error["exception_message"]
    assert not any(node == "10" for node, _, _ in result.progress)


@pytest.mark.parametrize(("cond", "unet", "message"), [
    ("pytorch_model_1.bin", "pytorch_model.bin", "swapped"),
    ("pytorch_model.bin", "sd_model.bin", "Stable Diffusion checkpoint"),
])
def test_bad_release_files(host, cond: str, unet: str, message: str) -> None:
    result = host.run(schedule_prompt(loader(cond, unet)))
    assert not result.success and message in result.error["exception_message"]


def test_official_schedule_is_981_to_1(host) -> None:
    result = host.run(schedule_prompt(loader()), capture=("1", "2"))
    result.raise_on_error()
    sampling = result.value("1", 0).get_model_object("model_sampling")
    sigmas = result.value("2", 1)
    timesteps = np.round(sampling.timestep(sigmas[:-1]).numpy()).astype(int).tolist()
    assert timesteps == list(range(981, 0, -20)) and float(sigmas[-1]) == 0.0


def test_example_workflow_api_copy_runs(host, tiny_models: dict[str, Path]) -> None:
    """workflows/api/cfld.json with the tiny models, a 128x128 canvas and 3 steps (same graph otherwise)."""
    api = json.loads((Path(__file__).resolve().parents[2] / "workflows" / "api" / "cfld.json").read_text())
    prompt = {nid: {"class_type": n["class_type"], "inputs": dict(n["inputs"])} for nid, n in api.items()}
    kinds = {n["class_type"]: n["inputs"] for n in prompt.values()}
    kinds["CheckpointLoaderSimple"]["ckpt_name"] = tiny_models["sd15"].name
    kinds["EmptyLatentImage"]["width"] = kinds["EmptyLatentImage"]["height"] = 8 * T.LATENT_SIDE
    kinds["PT_CFLDOfficialSchedule"]["steps"] = 3
    assert kinds["PT_CFLDGuider"]["pose_scale"] == kinds["PT_CFLDGuider"]["appearance_scale"] == 2.0
    saver = next(nid for nid, n in prompt.items() if n["class_type"] == "SaveImage")
    result = host.run(prompt).raise_on_error()
    (png,) = result.images(saver)
    with Image.open(png) as image:
        assert image.size == (352, 512)


def test_missing_release_file_names_the_download(host) -> None:
    unet = host.models_dir / "cfld" / "pytorch_model_1.bin"
    aside = unet.with_suffix(".aside")
    unet.rename(aside)
    try:
        result = host.run(schedule_prompt(loader()))
    finally:
        aside.rename(unet)
    assert not result.success
    message = result.error["exception_message"]
    assert "pytorch_model_1.bin is not in models/cfld/" in message and "drive.google.com" in message
