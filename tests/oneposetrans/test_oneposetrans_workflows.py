"""The OnePoseTrans example workflows (API copies) run on the tiny models, and the UI->API conversion takes
a linked widget input (a STRING output into ``CLIPTextEncode.text``) the way the frontend does."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from workflow_format import on_tiny_models, ui_to_api

from oneposetrans.inject_files import write_blob_source

pytest.importorskip("insightface", reason="insightface is not installed")
pytestmark = pytest.mark.filterwarnings("ignore:`estimate` is deprecated:FutureWarning")

WORKFLOWS = Path(__file__).resolve().parents[2] / "workflows"
FACE_SOURCE = "pt_workflow_face.png"
"""A bright blob the tiny antelopev2 detector finds as a face (``example.png`` has none for it)."""


def _tiny_prompt(name: str, tiny_models: dict[str, Path]) -> dict:
    prompt = on_tiny_models(json.loads((WORKFLOWS / "api" / f"{name}.json").read_text()), tiny_models,
                            width=64, height=64, steps=2)
    for node in prompt.values():
        if node["class_type"] == "LoadImage":
            node["inputs"]["image"] = FACE_SOURCE
    return prompt


@pytest.fixture(scope="module")
def host(comfy_host):
    write_blob_source(Path(comfy_host.input_dir), FACE_SOURCE, with_face=True)
    return comfy_host


def _ids(prompt: dict) -> dict[str, str]:
    return {n["class_type"]: nid for nid, n in prompt.items()}


@pytest.mark.parametrize(
    ("name", "face_model"), [("oneposetrans", "instantid/"), ("oneposetrans_sd15", "ipadapter/")]
)
def test_example_runs_on_the_tiny_models_and_the_pose_steers_it(host, tiny_models, name, face_model):
    prompt = _tiny_prompt(name, tiny_models)
    ids = _ids(prompt)
    face = ids["PT_OnePoseTransFace"]
    assert prompt[face]["inputs"]["face_model"].startswith(face_model)
    decode = ids["VAEDecode"]
    similarity = ids["PT_FaceSimilarity"]
    captured = (decode, ids["PT_OnePoseTransTuner"], face, similarity)
    result = host.run(prompt, capture=captured).raise_on_error()
    assert result.value(face, 1) is True  # the face part ran (the tiny detector finds the blob)
    # the identity check compared the source with the one output (which may or may not show a blob)
    assert result.value(similarity, 2).splitlines()[0].startswith("image 1: ")
    assert result.outputs[similarity]["text"] == [result.value(similarity, 2)]
    (saved,) = result.images(ids["SaveImage"])
    image = np.asarray(Image.open(saved), dtype=np.float32)
    assert image.shape == (64, 64, 3) and image.std() > 0
    assert "loss" in str(result.value(ids["PT_OnePoseTransTuner"], 2)).lower()
    lora_files = list((Path(host.models_dir) / "loras" / "oneposetrans").glob("source_*.safetensors"))
    assert lora_files
    prompt[ids["ControlNetApplyAdvanced"]]["inputs"]["strength"] = 0.0
    without_pose = host.run(prompt, capture=(decode,), keep_cache=True).raise_on_error().value(decode)
    assert not np.array_equal(without_pose.numpy(), result.value(decode).numpy())


def test_examples_use_the_official_inference_settings():
    prompt = json.loads((WORKFLOWS / "api" / "oneposetrans.json").read_text())
    ids = _ids(prompt)
    sampler = prompt[ids["KSampler"]]["inputs"]
    settings = [sampler[k] for k in ("seed", "steps", "cfg", "sampler_name", "scheduler")]
    assert settings == [97, 25, 5.0, "dpmpp_2m", "karras"]
    latent = prompt[ids["EmptyLatentImage"]]["inputs"]
    assert (latent["width"], latent["height"]) == (1024, 1024)
    assert prompt[ids["PT_OnePoseTransLoRABlocks"]]["inputs"]["preset"] == "repose"
    assert prompt[ids["PT_OnePoseTransStyle"]]["inputs"]["preset"] == "repose"
    assert prompt[ids["PT_OnePoseTransFace"]]["inputs"]["gain"] == 4.0
    assert prompt[ids["PT_OnePoseTransTuner"]]["inputs"]["steps"] == 60
    sd15 = json.loads((WORKFLOWS / "api" / "oneposetrans_sd15.json").read_text())
    sd15_ids = _ids(sd15)
    assert sd15[sd15_ids["EmptyLatentImage"]]["inputs"]["width"] == 512
    controlnet = sd15[sd15_ids["ControlNetLoader"]]["inputs"]["control_net_name"]
    assert controlnet == "control_v11p_sd15_openpose.pth"
    sd15_face_id = sd15_ids["PT_OnePoseTransFace"]
    sd15_face = sd15[sd15_face_id]["inputs"]
    assert sd15_face["face_model"] == "ipadapter/ip-adapter-faceid_sd15.bin"
    assert sd15_face["insightface"] == "buffalo_l" and sd15_face["gain"] == 4.0
    assert sd15[sd15_ids["KSampler"]]["inputs"]["model"] == [sd15_face_id, 0]
    face = prompt[ids["PT_OnePoseTransFace"]]["inputs"]
    assert (face["face_model"], face["insightface"]) == ("instantid/ip-adapter.bin", "antelopev2")


def _widget_graph(link_text: bool) -> dict:
    """Load Pose File -> names (STRING) -> CLIPTextEncode.text, as the frontend saves it."""
    text_input = {"name": "text", "type": "STRING", "widget": {"name": "text"},
                  "link": 2 if link_text else None}
    return {
        "nodes": [
            {"id": 1, "type": "CheckpointLoaderSimple", "inputs": [], "widgets_values": ["a.safetensors"]},
            {"id": 2, "type": "PT_LoadPoseFile", "inputs": [],
             "widgets_values": ["[example] arms_up_stride.json", 0, 0, 0, 0, "auto"]},
            {"id": 3, "type": "CLIPTextEncode", "widgets_values": ["typed text"],
             "inputs": [text_input, {"name": "clip", "type": "CLIP", "link": 1}]},
            {"id": 4, "type": "KSampler",
             "inputs": [{"name": "seed", "type": "INT", "widget": {"name": "seed"}, "link": None}],
             "widgets_values": [7, "fixed", 2, 5.0, "euler", "normal", 1.0]},
        ],
        "links": [[1, 1, 1, 3, 1, "CLIP"], [2, 2, 1, 3, 0, "STRING"]],
        "version": 0.4,
    }


def test_ui_to_api_takes_a_link_into_a_widget_input(comfy_host):
    linked = ui_to_api(_widget_graph(link_text=True), comfy_host.node_classes)
    assert linked["3"]["inputs"] == {"text": ["2", 1], "clip": ["1", 1]}
    assert linked["4"]["inputs"]["seed"] == 7 and linked["4"]["inputs"]["steps"] == 2
    typed = ui_to_api(_widget_graph(link_text=False), comfy_host.node_classes)
    assert typed["3"]["inputs"] == {"text": "typed text", "clip": ["1", 1]}


def test_ui_to_api_gives_a_forced_input_no_widget_value(comfy_host):
    classes = comfy_host.node_classes
    face = json.loads((WORKFLOWS / "oneposetrans.json").read_text())
    (node,) = [n for n in face["nodes"] if n["type"] == "PT_OnePoseTransFace"]
    assert len(node["widgets_values"]) == 6  # caption is forceInput: a socket only
    assert "caption" not in ui_to_api(face, classes)[str(node["id"])]["inputs"]
