"""Bad, big and hostile input through the real server, as a user (or an attacker) queues it.

Each case is a small API prompt sent with ``POST /prompt``. It must be refused with the pack's own
words, either at queue time (HTTP 400 naming the node's input) or when the node runs (the prompt's
history shows the error): the message is asserted, and no case may show library internals (a Python
or numpy/torch message, torch's advice to disable ``weights_only``). After the whole matrix the same
server must still run a good prompt: no case may take its prompt worker down.

The unit suites cover each check in depth (pose readers and their fuzz test, block weights, image
inputs, memory); this file proves they reach the user through the host.
"""

from __future__ import annotations

import json
import os
import pickle
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from oneposetrans.oneposetrans_graphs import tuner_prompt
from PIL import Image

INTERNALS = ("Traceback", "object is not", "could not broadcast", "weights_only", "Unable to allocate",
             "embedded null", "NoneType", "KeyError", "IndexError", "deserializing header")
FOLDER = "pt_bad_input"
PWNED = Path(tempfile.gettempdir()) / "pt_bad_input_pickle_ran"
EXAMPLES = Path(__file__).parents[1] / "workflows" / "poses"


def _pose(people: list[list[float]], width: int = 512, height: int = 768) -> dict[str, Any]:
    return {"canvas_width": width, "canvas_height": height,
            "people": [{"pose_keypoints_2d": body} for body in people]}


def _body(points: list[tuple[float, float]] | None = None) -> list[float]:
    """18 COCO joints; ``None`` points are missing (confidence 0)."""
    points = points if points is not None else [None] * 18
    flat: list[float] = []
    for p in points:
        flat += [0.0, 0.0, 0.0] if p is None else [p[0], p[1], 1.0]
    return flat


@pytest.fixture(scope="module")
def inputs(host_server) -> dict[str, str]:
    """Files in the server's input folder: a photo, pose files of each degenerate kind, a disguised PNG."""
    folder = host_server.tree / "input" / FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 255, (96, 64, 3), dtype=np.uint8)).save(folder / "photo.png")
    standing = json.loads((EXAMPLES / "standing_front.json").read_text())
    files = {
        "no_joints.json": _pose([_body()]),
        "one_point.json": _pose([_body([(100.0, 100.0)] * 18)]),
        "frames_200.json": [standing] * 200,
    }
    for name, value in files.items():
        (folder / name).write_text(json.dumps(value))
    (folder / "picture.json").write_bytes((folder / "photo.png").read_bytes())
    loras = host_server.tree / "models" / "loras" / FOLDER
    loras.mkdir(parents=True, exist_ok=True)
    (loras / "picture.safetensors").write_bytes((folder / "photo.png").read_bytes())
    (loras / "runs_code.pt").write_bytes(pickle.dumps(RunsCode()))
    names = {name.removesuffix(".json"): f"{FOLDER}/{name}" for name in [*files, "picture.json"]}
    return {"photo": f"{FOLDER}/photo.png", "standing": "[example] standing_front.json", **names}


class RunsCode:
    """A pickle that would create :data:`PWNED` when unpickled (what a malicious model file does)."""

    def __reduce__(self) -> tuple:
        return (os.mkdir, (str(PWNED),))


def lora_blocks(ckpt: str, lora_name: str) -> dict[str, Any]:
    return {
        "1": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": ckpt}},
        "2": {"class_type": "PT_OnePoseTransLoRABlocks", "inputs": {
            "model": ["1", 0], "preset": "repose", "strength": 1.0, "block_weights": "",
            "lora_name": lora_name}},
        "9": {"class_type": "PreviewAny", "inputs": {"source": ["2", 0]}},
    }


def load_pose(file: str) -> dict[str, Any]:
    return {"class_type": "PT_LoadPoseFile", "inputs": {
        "file": file, "canvas_width": 0, "canvas_height": 0, "first_frame": 0, "max_frames": 0,
        "coordinates": "auto"}}


def render(pose: list, size: int = 64) -> dict[str, Any]:
    return {"class_type": "PT_RenderPose", "inputs": {
        "pose": pose, "width": size, "height": size, "draw_body": True, "draw_hands": False,
        "draw_face": False, "stick_width": "standard", "heatmap_sigma": 6.0, "limb_width": 16.0}}


def save_pose(prefix: str) -> dict[str, Any]:
    return {"class_type": "PT_SavePoseFile", "inputs": {
        "pose": ["1", 0], "filename_prefix": prefix, "format": "POSE_KEYPOINT JSON",
        "binarize_confidence": False}}


def align(image: list, target: list) -> dict[str, Any]:
    return {"class_type": "PT_AlignPose", "inputs": {
        "image": image, "source_pose": ["1", 0], "target_pose": target, "steps": 1, "background": 0.5,
        "person": 0}}


def cfld_pose(pose: list) -> dict[str, Any]:
    return {"class_type": "PT_CFLDPose", "inputs": {"pose": pose, "aspect": "pad", "person_index": 0}}


def preview(image: list) -> dict[str, Any]:
    return {"class_type": "PreviewImage", "inputs": {"images": image}}


def photo(name: str) -> dict[str, Any]:
    return {"class_type": "LoadImage", "inputs": {"image": name}}


def save_lora_after_tuner(ckpt: str, source: str, prefix: str) -> dict[str, Any]:
    prompt = tuner_prompt(ckpt, source)
    prompt["save"] = {"class_type": "PT_SaveOnePoseTransLoRA",
                      "inputs": {"lora": ["tune", 1], "filename_prefix": prefix}}
    return prompt


def queue_time_cases(files: dict[str, str], ckpt: str) -> dict[str, tuple[dict[str, Any], str, str]]:
    """``{case: (prompt, node id whose error is expected, phrase of the message)}`` refused at queue time,
    shown on the node at once (the host still runs a prompt's other valid outputs, e.g. a tuner)."""
    standing = load_pose(files["standing"])
    return {
        "LoRA prefix out of loras": (save_lora_after_tuner(ckpt, files["photo"], "../../checkpoints/x"),
                                     "save", "must be a name inside models/loras/"),
        "save prefix with ..": ({"1": standing, "2": save_pose("../escape/pose")}, "2", "it has a '..' part"),
        "save prefix absolute": ({"1": standing, "2": save_pose("/tmp/pose")}, "2", "it is an absolute path"),
        "save prefix empty": ({"1": standing, "2": save_pose("")}, "2", "it is empty"),
        "save prefix NUL": ({"1": standing, "2": save_pose("pose\x00x")}, "2", "NUL character"),
        "save prefix no name": ({"1": standing, "2": save_pose("poses/")}, "2", "has no file name"),
        "pose file with ..": ({"1": load_pose("../../etc/passwd"), "2": render(["1", 0])}, "1",
                              "it has a '..' part"),
        "pose file absolute": ({"1": load_pose("/etc/passwd"), "2": render(["1", 0])}, "1",
                               "it is an absolute path"),
        "insightface pack out of models": ({
            "1": photo(files["photo"]),
            "2": {"class_type": "PT_FaceSimilarity", "inputs": {
                "reference": ["1", 0], "images": ["1", 0], "insightface": "../../../../tmp",
                "det_size": 640}},
        }, "2", "must be a name inside models/insightface/models/"),
    }


def run_time_cases(files: dict[str, str], ckpt: str) -> dict[str, tuple[dict[str, Any], str]]:
    """``{case: (prompt, phrase of the error message)}`` accepted at queue time, refused when run."""
    return {
        "LoRA that is a PNG": (lora_blocks(ckpt, f"{FOLDER}/picture.safetensors"),
                               "this is a PNG image, not a weight file"),
        "LoRA pickle that runs code": (lora_blocks(ckpt, f"{FOLDER}/runs_code.pt"),
                                       "this pack never loads them"),
        "render beyond memory": ({"1": load_pose(files["frames_200"]), "2": render(["1", 0], 16384)},
                                 "of system memory but"),
        "pose file that is a PNG": ({"1": load_pose(files["picture"]), "2": render(["1", 0])}, "PNG"),
        "CFLD pose without joints": ({
            "1": load_pose(files["no_joints"]),
            "2": cfld_pose(["1", 0]), "9": preview(["2", 1]),
        }, "0 visible body joint(s)"),
        "CFLD pose on one point": ({
            "1": load_pose(files["one_point"]),
            "2": cfld_pose(["1", 0]), "9": preview(["2", 1]),
        }, "is on one point"),
        "align to a pose without joints": ({
            "1": load_pose(files["standing"]), "2": load_pose(files["no_joints"]), "3": photo(files["photo"]),
            "4": align(["3", 0], ["2", 0]), "9": preview(["4", 0]),
        }, "0 visible body joint(s)"),
        "align a 1x1 image": ({
            "1": load_pose(files["standing"]), "3": photo(files["photo"]),
            "5": {"class_type": "ImageScale", "inputs": {"image": ["3", 0], "upscale_method": "nearest-exact",
                                                         "width": 1, "height": 1, "crop": "disabled"}},
            "4": align(["5", 0], ["1", 0]), "9": preview(["4", 0]),
        }, "this node needs at least 2 px a side"),
        "align a NaN image": ({
            "1": load_pose(files["standing"]), "3": photo(files["photo"]),
            "5": {"class_type": "PTTest_NaNImage", "inputs": {"image": ["3", 0]}},
            "4": align(["5", 0], ["1", 0]), "9": preview(["4", 0]),
        }, "NaN or infinite pixels"),
    }


def _no_internals(message: str) -> None:
    shown = [word for word in INTERNALS if word in message]
    assert not shown, f"library internals {shown} in the message: {message}"


def test_bad_input_is_refused_in_the_users_terms_and_the_server_keeps_running(host_server, inputs,
                                                                              tiny_models):
    from test_smoke_workflow import smoke_prompt

    failures = []
    for case, (prompt, node, phrase) in queue_time_cases(inputs, tiny_models["sd15"].name).items():
        status, answer = host_server.queue_prompt(prompt)
        errors = answer.get("node_errors", {}).get(node, {}).get("errors", [])
        text = " ".join(f"{e.get('message', '')} {e.get('details', '')}" for e in errors)
        if phrase not in text:
            failures.append(f"{case}: expected a queue-time refusal with {phrase!r}, got {status} {answer}")
        else:
            _no_internals(text)
        if status == 200:  # the host still runs the prompt's other, valid outputs (here: the tuner)
            host_server.wait_history(answer["prompt_id"], timeout_s=180)
    for case, (prompt, phrase) in run_time_cases(inputs, tiny_models["sd15"].name).items():
        status, answer = host_server.queue_prompt(prompt)
        if status != 200:
            failures.append(f"{case}: refused at queue time ({answer}); the case needs it to run")
            continue
        entry = host_server.wait_history(answer["prompt_id"], timeout_s=180)
        errors = [data for event, data in entry["status"]["messages"] if event == "execution_error"]
        text = errors[0]["exception_message"] if errors else ""
        if entry["status"]["status_str"] != "error" or phrase not in text:
            failures.append(f"{case}: expected an error with {phrase!r}, got {entry['status']}")
        else:
            _no_internals(text)
    assert not failures, "\n".join(failures)
    assert not PWNED.exists(), "a pickle in a model folder ran code"

    good = smoke_prompt(tiny_models["sd15"].name, prefix="pt_after_matrix")
    status, answer = host_server.queue_prompt(good)
    assert status == 200, answer
    entry = host_server.wait_history(answer["prompt_id"])
    assert entry["status"]["status_str"] == "success", "the server stopped running prompts after the matrix"
    assert not list((host_server.tree / "output").glob("._*")), "a hidden ._ file was written"
    assert not (host_server.tree / "escape").exists()
