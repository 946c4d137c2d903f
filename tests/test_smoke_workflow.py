"""Smoke workflow through the real host: tiny SD1.5 checkpoint -> text encode -> KSampler -> decode -> PNG."""

from __future__ import annotations

import numpy as np
from PIL import Image


def smoke_prompt(ckpt_name: str, seed: int = 1, prefix: str = "pt_smoke") -> dict:
    return {
        "1": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": ckpt_name}},
        "2": {"class_type": "CLIPTextEncode", "inputs": {"text": "a person standing", "clip": ["1", 1]}},
        "3": {"class_type": "CLIPTextEncode", "inputs": {"text": "", "clip": ["1", 1]}},
        "4": {"class_type": "EmptyLatentImage", "inputs": {"width": 64, "height": 64, "batch_size": 1}},
        "5": {"class_type": "KSampler", "inputs": {
            "model": ["1", 0], "seed": seed, "steps": 4, "cfg": 5.0, "sampler_name": "euler",
            "scheduler": "normal", "positive": ["2", 0], "negative": ["3", 0], "latent_image": ["4", 0],
            "denoise": 1.0}},
        "6": {"class_type": "VAEDecode", "inputs": {"samples": ["5", 0], "vae": ["1", 2]}},
        "7": {"class_type": "SaveImage", "inputs": {"images": ["6", 0], "filename_prefix": prefix}},
    }


def test_smoke_workflow_in_process_writes_a_png(comfy_host, tiny_models):
    result = comfy_host.run(smoke_prompt(tiny_models["sd15"].name)).raise_on_error()
    (png,) = result.images("7")
    image = np.asarray(Image.open(png))
    assert image.shape == (64, 64, 3)
    assert image.std() > 0, "the decoded image is constant"
    assert [p for p in result.progress if p[0] == "5"][-1][1:] == (4, 4), "KSampler showed no 4-step progress"


def test_smoke_workflow_through_http(comfy_host, host_server, tiny_models):
    status, answer = host_server.queue_prompt(smoke_prompt(tiny_models["sd15"].name, prefix="pt_smoke_http"))
    assert status == 200, answer
    assert answer["node_errors"] == {}
    entry = host_server.wait_history(answer["prompt_id"])
    assert entry["status"]["status_str"] == "success", entry["status"]
    (saved,) = entry["outputs"]["7"]["images"]
    assert (host_server.tree / "output" / saved["subfolder"] / saved["filename"]).is_file()


def test_http_rejects_an_invalid_prompt(host_server):
    status, answer = host_server.queue_prompt({"1": {"class_type": "PT_NoSuchNode", "inputs": {}}})
    assert status == 400
    assert "PT_NoSuchNode" in answer["error"]["message"]
