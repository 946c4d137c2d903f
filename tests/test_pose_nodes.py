"""The pose nodes through the real host's executor: load, normalise, render, retarget, interpolate, save."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from data_files import deepfashion_csv
from PIL import Image

from pose_models.pose import (
    bone_lengths,
    from_pose_keypoint,
    limb_masks,
    read_deepfashion_csv,
    render_heatmaps,
    render_openpose,
)

SHARED_CSV = deepfashion_csv()


@pytest.fixture(scope="module")
def pose_inputs(comfy_host) -> dict[str, str]:
    """Pose files in the host's input folder, by role -> file name as the Load Pose File combo lists it."""
    folder = comfy_host.input_dir / "pt_tests"
    folder.mkdir(exist_ok=True)
    shutil.copy(SHARED_CSV, folder / "deepfashion.csv")
    normalised = {"canvas_width": 400, "canvas_height": 200, "people": [{
        "pose_keypoints_2d": [0.5, 0.25, 1.0, 0.5, 0.5, 1.0] + [0.0] * 48,
        "face_keypoints_2d": None, "hand_left_keypoints_2d": None, "hand_right_keypoints_2d": None}]}
    (folder / "controlnet_aux.json").write_text(json.dumps([normalised]))
    (folder / "bad_nan.json").write_text('{"canvas_width": 64, "canvas_height": 64, "people": '
                                          '[{"pose_keypoints_2d": [NaN, 3, 0.9' + ", 0" * 51 + "]}]}")
    (folder / "no_canvas.json").write_text(json.dumps({"people": [{"pose_keypoints_2d": [10, 10, 1] * 18}]}))
    return {name: f"pt_tests/{name}" for name in
            ("deepfashion.csv", "controlnet_aux.json", "bad_nan.json", "no_canvas.json")}


def load_node(file: str, first: int = 0, count: int = 0, width: int = 0, height: int = 0) -> dict:
    return {"class_type": "PT_LoadPoseFile", "inputs": {
        "file": file, "canvas_width": width, "canvas_height": height, "first_frame": first,
        "max_frames": count, "coordinates": "auto"}}


def render_node(pose: list, width: int = 0, height: int = 0, **kw) -> dict:
    inputs = {"pose": pose, "width": width, "height": height, "draw_body": True, "draw_hands": False,
              "draw_face": False, "stick_width": "standard", "heatmap_sigma": 6.0, "limb_width": 16.0}
    return {"class_type": "PT_RenderPose", "inputs": inputs | kw}


def normalize_node(pose: list, **kw) -> dict:
    inputs = {"pose": pose, "coordinates": "auto", "confidence_threshold": 0.0, "binarize_confidence": False,
              "mirror": False, "canvas_width": 0, "canvas_height": 0, "canvas_fit": "contain"}
    return {"class_type": "PT_NormalizePoseKeypoint", "inputs": inputs | kw}


def save_node(pose: list, fmt: str, prefix: str) -> dict:
    return {"class_type": "PT_SavePoseFile", "inputs": {
        "pose": pose, "filename_prefix": prefix, "format": fmt, "binarize_confidence": False}}


def df_rows():
    return read_deepfashion_csv(SHARED_CSV)


def test_load_and_render_deepfashion_batch(comfy_host, pose_inputs):
    prompt = {"1": load_node(pose_inputs["deepfashion.csv"], first=2, count=4), "2": render_node(["1", 0])}
    result = comfy_host.run(prompt, capture=("1", "2")).raise_on_error()
    expected = [nf.frame for nf in df_rows()[2:6]]
    assert result.value("1", 1).split("\n") == [nf.name for nf in df_rows()[2:6]]
    assert result.value("1", 2) == 4
    skeleton, heatmaps, limbs, body = (result.value("2", i) for i in range(4))
    assert skeleton.shape == (4, 256, 176, 3) and skeleton.dtype == torch.float32
    assert heatmaps.stack().shape == (4, 18, 256, 176) and limbs.stack().shape == (4, 17, 256, 176)
    assert heatmaps.nbytes == 4 * 18 * 256 * 176 * 4 and len(limbs) == 4
    assert body.shape == (4, 256, 176)
    for i, frame in enumerate(expected):
        np.testing.assert_array_equal((skeleton[i].numpy() * 255).round().astype(np.uint8),
                                      render_openpose(frame))
        np.testing.assert_array_equal(heatmaps.frame(i), render_heatmaps(frame, 6.0))
        np.testing.assert_array_equal(limbs.stack()[i], limb_masks(frame, 16.0))
        np.testing.assert_array_equal(body[i].numpy(), limb_masks(frame, 16.0).max(axis=0))
    (preview,) = result.images("2")[:1]
    assert Image.open(preview).size == (176, 256)


def test_render_at_another_size_scales_coordinates(comfy_host, pose_inputs):
    prompt = {"1": load_node(pose_inputs["deepfashion.csv"], first=2, count=1),
              "2": render_node(["1", 0], width=352, height=512, stick_width="xinsir")}
    result = comfy_host.run(prompt, capture=("2",)).raise_on_error()
    frame = df_rows()[2].frame
    got = (result.value("2", 0)[0].numpy() * 255).round().astype(np.uint8)
    np.testing.assert_array_equal(got, render_openpose(frame, 512, 352, xinsir_stick_scaling=True))


def test_normalised_controlnet_aux_input_becomes_pixels(comfy_host, pose_inputs):
    prompt = {"1": load_node(pose_inputs["controlnet_aux.json"]),
              "2": normalize_node(["1", 0], binarize_confidence=True), "3": render_node(["2", 0])}
    result = comfy_host.run(prompt, capture=("2",)).raise_on_error()
    (frame,) = result.value("2")
    (person,) = frame["people"]
    assert (frame["canvas_width"], frame["canvas_height"]) == (400, 200)
    assert person["pose_keypoints_2d"][:6] == [200.0, 50.0, 1.0, 200.0, 100.0, 1.0]


def test_csv_json_csv_round_trip_through_nodes(comfy_host, pose_inputs, tmp_path):
    first = {"1": load_node(pose_inputs["deepfashion.csv"], first=0, count=40),
             "2": save_node(["1", 0], "POSE_KEYPOINT json", "pt_tests/roundtrip")}
    saved_json = Path(comfy_host.run(first, capture=("2",)).raise_on_error().value("2"))
    relative = saved_json.relative_to(comfy_host.output_dir)
    staged = comfy_host.input_dir / "pt_tests" / relative.name
    shutil.copy(saved_json, staged)
    second = {"1": load_node(f"pt_tests/{relative.name}"),
              "2": save_node(["1", 0], "DeepFashion csv", "pt_tests/roundtrip")}
    saved_csv = Path(comfy_host.run(second, capture=("2",)).raise_on_error().value("2"))
    original = SHARED_CSV.read_text().splitlines()[1:41]
    written = saved_csv.read_text().splitlines()[1:]
    # the names become the saved frame names; the keypoints must be identical, row by row
    assert [line.split(":", 1)[1] for line in written] == [line.split(":", 1)[1] for line in original]


def test_retarget_keeps_source_bone_ratios(comfy_host, pose_inputs):
    prompt = {"1": load_node(pose_inputs["deepfashion.csv"], first=2, count=30),
              "2": load_node(pose_inputs["deepfashion.csv"], first=3, count=1),
              "3": {"class_type": "PT_RetargetPose", "inputs": {
                  "target_pose": ["1", 0], "source_pose": ["2", 0], "source_frame": 0, "scale": "source",
                  "margin": 0.0}},
              "4": render_node(["3", 0])}
    result = comfy_host.run(prompt, capture=("2", "3")).raise_on_error()
    source = from_pose_keypoint(result.value("2"))[0].people[0]
    src = bone_lengths(source)
    checked = 0
    for frame in from_pose_keypoint(result.value("3")):
        for person in frame.people:
            got = bone_lengths(person)
            ok = np.isfinite(got) & np.isfinite(src)
            if ok.sum() < 3:
                continue
            ratio = got[ok] / src[ok]
            np.testing.assert_allclose(ratio, ratio[0], rtol=0.01)
            checked += 1
    assert checked >= 10


def test_interpolate_and_mirror_batch(comfy_host, pose_inputs):
    prompt = {"1": load_node(pose_inputs["deepfashion.csv"], first=2, count=1),
              "2": load_node(pose_inputs["deepfashion.csv"], first=3, count=1),
              "3": {"class_type": "PT_InterpolatePoses", "inputs": {
                  "pose_a": ["1", 0], "pose_b": ["2", 0], "frames": 6, "mode": "angle"}},
              "4": normalize_node(["3", 0], mirror=True, canvas_width=512, canvas_height=512),
              "5": render_node(["4", 0])}
    result = comfy_host.run(prompt, capture=("3", "4", "5")).raise_on_error()
    frames = from_pose_keypoint(result.value("3"))
    assert len(frames) == 6
    np.testing.assert_allclose(frames[0].people[0].body, df_rows()[2].frame.people[0].body)
    np.testing.assert_allclose(frames[-1].people[0].body, df_rows()[3].frame.people[0].body)
    assert result.value("5", 0).shape == (6, 512, 512, 3)
    mirrored = from_pose_keypoint(result.value("4"))
    assert all((f.canvas_width, f.canvas_height) == (512, 512) for f in mirrored)


def test_bad_pose_file_fails_with_a_clear_message(comfy_host, pose_inputs):
    result = comfy_host.run({"1": load_node(pose_inputs["bad_nan.json"]), "2": render_node(["1", 0])})
    assert not result.success
    assert result.error["node_type"] == "PT_LoadPoseFile"
    assert "not finite" in result.error["exception_message"]
    assert "confidence to 0" in result.error["exception_message"]


def test_missing_canvas_asks_for_it_and_canvas_inputs_fix_it(comfy_host, pose_inputs):
    failed = comfy_host.run({"1": load_node(pose_inputs["no_canvas.json"]), "2": render_node(["1", 0])})
    assert not failed.success
    assert "canvas" in failed.error["exception_message"]
    fixed = comfy_host.run({"1": load_node(pose_inputs["no_canvas.json"], width=64, height=32),
                            "2": render_node(["1", 0])}, capture=("2",)).raise_on_error()
    assert fixed.value("2", 0).shape == (1, 32, 64, 3)


def test_unknown_file_is_refused_before_running(comfy_host, pose_inputs):
    from host_inprocess import PromptValidationError

    with pytest.raises(PromptValidationError, match="not found"):
        comfy_host.run({"1": load_node("pt_tests/nope.json"), "2": render_node(["1", 0])})


def test_deepfashion_save_needs_the_deepfashion_canvas(comfy_host, pose_inputs):
    prompt = {"1": load_node(pose_inputs["deepfashion.csv"], first=2, count=1),
              "2": normalize_node(["1", 0], canvas_width=512, canvas_height=512),
              "3": save_node(["2", 0], "DeepFashion csv", "pt_tests/bad")}
    result = comfy_host.run(prompt)
    assert not result.success
    assert "canvas_width 176, canvas_height 256" in result.error["exception_message"]


def test_openpose_folder_round_trip_through_nodes(comfy_host, pose_inputs):
    first = {"1": load_node(pose_inputs["deepfashion.csv"], first=2, count=5),
             "2": save_node(["1", 0], "OpenPose json folder", "pt_tests/folder"), "3": render_node(["1", 0])}
    result = comfy_host.run(first, capture=("1", "2")).raise_on_error()
    saved = Path(result.value("2"))
    assert saved.is_dir() and len(list(saved.glob("*.json"))) == 5
    shutil.copytree(saved, comfy_host.input_dir / "pt_tests" / saved.name)
    second = {"1": load_node(f"pt_tests/{saved.name}/"), "2": render_node(["1", 0])}
    reloaded = comfy_host.run(second, capture=("1",)).raise_on_error()
    before, after = from_pose_keypoint(result.value("1")), from_pose_keypoint(reloaded.value("1"))
    assert len(after) == 5
    assert [len(f.people) for f in after] == [len(f.people) for f in before] == [1, 1, 0, 1, 1]
    for a, b in zip(before, after, strict=True):
        for pa, pb in zip(a.people, b.people, strict=True):
            np.testing.assert_allclose(pb.body, pa.body)


def test_render_shows_progress_and_can_be_interrupted(comfy_host, pose_inputs):
    prompt = {"1": load_node(pose_inputs["deepfashion.csv"], first=2, count=6), "2": render_node(["1", 0])}
    done = comfy_host.run(prompt).raise_on_error()
    assert [p[1:] for p in done.progress if p[0] == "2"] == [(i, 6) for i in range(1, 7)]
    interrupted = comfy_host.run(prompt, interrupt_after_progress=2)
    assert not interrupted.success
    assert any(event == "execution_interrupted" for event, _ in interrupted.messages)
    assert len([p for p in interrupted.progress if p[0] == "2"]) == 2
    comfy_host.run(prompt).raise_on_error()
