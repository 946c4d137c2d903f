"""Example workflows: UI file, thumbnail and API copy agree, and the API copy runs through the real host."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from host_tree import PACK_FOLDER
from PIL import Image
from workflow_format import on_tiny_models, ui_to_api, without_meta

WORKFLOWS = Path(__file__).resolve().parents[1] / "workflows"
EXAMPLES = sorted(p.stem for p in WORKFLOWS.glob("*.json"))


def api_copy(name: str) -> dict:
    return json.loads((WORKFLOWS / "api" / f"{name}.json").read_text())


def test_there_are_examples():
    assert EXAMPLES


@pytest.mark.parametrize("name", EXAMPLES)
def test_example_has_thumbnail_and_api_copy(name):
    with Image.open(WORKFLOWS / f"{name}.jpg") as thumb:
        assert thumb.format == "JPEG"
        assert min(thumb.size) >= 128
    ui = json.loads((WORKFLOWS / f"{name}.json").read_text())
    assert ui["version"] == 0.4
    assert any(node["type"].startswith("PT_") for node in ui["nodes"])
    assert (WORKFLOWS / "api" / f"{name}.json").is_file()


@pytest.mark.parametrize("name", EXAMPLES)
def test_ui_workflow_converts_to_its_api_copy(comfy_host, name):
    ui = json.loads((WORKFLOWS / f"{name}.json").read_text())
    assert ui_to_api(ui, comfy_host.node_classes) == without_meta(api_copy(name))


@pytest.mark.parametrize("name", EXAMPLES)
def test_api_copy_validates_with_the_real_model_names_replaced(comfy_host, tiny_models, name):
    comfy_host.validate(on_tiny_models(api_copy(name), tiny_models))


def test_retarget_controlnet_example_runs_and_the_pose_steers_it(comfy_host, tiny_models):
    prompt = on_tiny_models(api_copy("pose_retarget_controlnet_sd15"), tiny_models)
    result = comfy_host.run(prompt, capture=("4",)).raise_on_error()
    (png,) = result.images("13")
    image = np.asarray(Image.open(png), dtype=np.float32)
    assert image.shape == (96, 64, 3) and image.std() > 0
    skeleton = result.value("4")
    assert skeleton.shape == (1, 96, 64, 3) and skeleton.max() > 0
    prompt["9"]["inputs"]["strength"] = 0.0
    (png_without,) = comfy_host.run(prompt).raise_on_error().images("13")
    assert np.abs(np.asarray(Image.open(png_without), dtype=np.float32) - image).max() > 0


def test_template_browser_lists_the_examples(comfy_host, host_server):
    templates = host_server.get_json("/workflow_templates")
    assert sorted(templates[PACK_FOLDER]) == EXAMPLES
    status, body = host_server.request(f"/api/workflow_templates/{PACK_FOLDER}/{EXAMPLES[0]}.json")
    assert status == 200 and json.loads(body)["nodes"]
