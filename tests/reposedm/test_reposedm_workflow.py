"""The RePoseDM example workflow (API copy) runs on the tiny models and its guidance changes the result."""

from __future__ import annotations

import json
from pathlib import Path

import torch
from workflow_format import on_tiny_models

WORKFLOWS = Path(__file__).resolve().parents[2] / "workflows"


def test_reposedm_example_runs_and_guidance_acts(comfy_host, tiny_models, body_pose_model):
    prompt = on_tiny_models(json.loads((WORKFLOWS / "api" / "reposedm.json").read_text()), tiny_models,
                            steps=4)
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
