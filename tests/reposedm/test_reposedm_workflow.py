"""The RePoseDM example workflow (API copy) runs on the tiny models and its guidance changes the result."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import torch

WORKFLOWS = Path(__file__).resolve().parents[2] / "workflows"


def tiny_prompt(tiny_models: dict[str, Path]) -> dict:
    prompt = json.loads((WORKFLOWS / "api" / "reposedm.json").read_text())
    prompt = {nid: {"class_type": n["class_type"], "inputs": copy.deepcopy(n["inputs"])}
              for nid, n in prompt.items()}
    for node in prompt.values():
        inputs, kind = node["inputs"], node["class_type"]
        if kind == "CheckpointLoaderSimple":
            inputs["ckpt_name"] = tiny_models["sd15"].name
        elif kind == "ControlNetLoader":
            inputs["control_net_name"] = tiny_models["controlnet_openpose_sd15"].name
        elif kind in ("ImageScale", "PT_RenderPose"):
            inputs["width"], inputs["height"] = 64, 96
        elif kind == "PT_LoadPoseEstimator":
            inputs["box_size"] = 64
        elif kind == "KSampler":
            inputs["steps"] = 4
    return prompt


def test_reposedm_example_runs_and_guidance_acts(comfy_host, tiny_models, body_pose_model):
    prompt = tiny_prompt(tiny_models)
    nodes = {n["class_type"]: nid for nid, n in prompt.items()}
    guidance, decode = nodes["PT_PoseGuidance"], nodes["VAEDecode"]
    result = comfy_host.run(prompt, capture=(decode,)).raise_on_error()
    image = result.value(decode)
    assert image.shape == (1, 96, 64, 3) and float(image.std()) > 0
    (saved,) = result.images(nodes["SaveImage"])
    assert saved.is_file()
    prompt[guidance]["inputs"]["strength"] = 0.0
    unguided = comfy_host.run(prompt, capture=(decode,)).raise_on_error().value(decode)
    assert not torch.equal(unguided, image)
