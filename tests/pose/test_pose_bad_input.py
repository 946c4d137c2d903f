"""Every bad-input case raises a PoseFormatError saying what, where and how to fix -- never a numpy trace."""

from __future__ import annotations

import json

import numpy as np
import pytest

from pose_models.pose import (
    Person,
    PoseFormatError,
    PoseFrame,
    broadcast_frames,
    from_pose_keypoint,
    interpolate_poses,
    limb_masks,
    load_poses,
    read_deepfashion_csv,
    read_openpose_json,
    render_heatmaps,
    render_openpose,
    retarget_frame,
    select_people,
    threshold_confidence,
    write_deepfashion_csv,
)


def frame_with(person: dict, w: int = 64, h: int = 64) -> list[dict]:
    return [{"people": [{"pose_keypoints_2d": [0.0] * 54}, person], "canvas_width": w, "canvas_height": h}]


def body54(**points: tuple[float, float, float]) -> list[float]:
    b = np.zeros((18, 3))
    for i, v in points.items():
        b[int(i[1:])] = v
    return b.ravel().tolist()


def test_error_is_a_value_error():
    assert issubclass(PoseFormatError, ValueError)


@pytest.mark.parametrize("part, n, pattern", [
    ("pose_keypoints_2d", 53, r"frame 0, person 1, pose_keypoints_2d: 53 numbers is not a multiple of 3"),
    ("pose_keypoints_2d", 51, r"person 1, pose_keypoints_2d: 17 points; expected 18 \(COCO-18\) or 25"),
    ("face_keypoints_2d", 69 * 3, r"person 1, face_keypoints_2d: 69 points; expected 70"),
    ("hand_left_keypoints_2d", 20 * 3, r"hand_left_keypoints_2d: 20 points; expected 21"),
    ("foot_keypoints_2d", 7 * 3, r"foot_keypoints_2d: 7 points; expected 6"),
])
def test_wrong_lengths(part, n, pattern):
    person = {"pose_keypoints_2d": [0.0] * 54, part: [1.0] * n}
    with pytest.raises(PoseFormatError, match=pattern):
        from_pose_keypoint(frame_with(person))


def test_nested_part_with_wrong_inner_size():
    with pytest.raises(PoseFormatError, match=r"shape \[18, 2\] is neither a flat list"):
        from_pose_keypoint(frame_with({"pose_keypoints_2d": [[1.0, 2.0]] * 18}))


@pytest.mark.parametrize("bad", [["a"] * 54, [[1, 2, 3], [1, 2]], {"x": 1}, "1,2,3"])
def test_non_numbers(bad):
    with pytest.raises(PoseFormatError, match=r"person 1, pose_keypoints_2d: .*(not a list of numbers|"
                                              r"expected a list of numbers)"):
        from_pose_keypoint(frame_with({"pose_keypoints_2d": bad}))


def test_nan_and_inf():
    pattern = r"person 1, pose_keypoints_2d, point 2: coordinates \[nan, 5.0\] are not finite.*to 0"
    with pytest.raises(PoseFormatError, match=pattern):
        from_pose_keypoint(frame_with({"pose_keypoints_2d": body54(j2=(np.nan, 5, 0.9))}))
    with pytest.raises(PoseFormatError, match=r"point 4: confidence inf is not finite"):
        from_pose_keypoint(frame_with({"pose_keypoints_2d": body54(j4=(1, 5, np.inf))}))
    # NaN on a point whose confidence is 0 is just a missing point
    (f,) = from_pose_keypoint(frame_with({"pose_keypoints_2d": body54(j2=(np.nan, np.nan, 0), j1=(3, 4, 1))}))
    assert f.people[1].body[2].tolist() == [0, 0, 0] and f.people[1].body[1].tolist() == [3, 4, 1]
    # JSON text with NaN/Infinity (Python's json accepts them) goes through the same checks
    with pytest.raises(PoseFormatError, match="not finite"):
        from_pose_keypoint(json.dumps(frame_with({"pose_keypoints_2d": body54(j0=(np.inf, 1, 1))})))


def test_negative_confidence_is_missing():
    (f,) = from_pose_keypoint(frame_with({"pose_keypoints_2d": body54(j3=(10, 10, -0.2), j1=(3, 4, 1))}))
    assert f.people[1].body[3].tolist() == [0, 0, 0]


@pytest.mark.parametrize("canvas, pattern", [
    ({"canvas_width": 0, "canvas_height": 64}, r"frame 0: canvas_width is 0; it must be a positive whole"),
    ({"canvas_width": 64, "canvas_height": -5}, r"canvas_height is -5"),
    ({"canvas_width": 64.5, "canvas_height": 64}, r"canvas_width is 64.5"),
    ({"canvas_width": "64", "canvas_height": 64}, r"canvas_width is '64'"),
    ({"canvas_height": 64}, r"frame 0: canvas_width missing.*pass canvas_size=\(W, H\)"),
    ({}, r"canvas_width and canvas_height missing"),
])
def test_bad_or_missing_canvas(canvas, pattern):
    with pytest.raises(PoseFormatError, match=pattern):
        from_pose_keypoint([{"people": [], **canvas}])


def test_missing_canvas_uses_fallback_but_fallback_is_checked():
    (f,) = from_pose_keypoint([{"people": []}], canvas_size=(30, 40))
    assert (f.canvas_width, f.canvas_height) == (30, 40)
    with pytest.raises(PoseFormatError, match="canvas width is 0"):
        from_pose_keypoint([{"people": []}], canvas_size=(0, 40))


@pytest.mark.parametrize("value, pattern", [
    ("{not json", r"POSE_KEYPOINT: not valid JSON \(.* at line 1, column 2\)"),
    (42, r"expected a list of frame dicts .* got int"),
    ([1, "x"], r"POSE_KEYPOINT frame 0: expected a dict .* got int"),
    (["frame"], r"POSE_KEYPOINT frame 0: expected a dict with 'people'"),
    ([{"people": {"a": 1}, "canvas_width": 4, "canvas_height": 4}], r"'people' must be a list"),
    ([{"people": [[1, 2, 3]], "canvas_width": 4, "canvas_height": 4}], r"person 0: expected a person dict"),
])
def test_malformed_values(value, pattern):
    with pytest.raises(PoseFormatError, match=pattern):
        from_pose_keypoint(value)


def test_unknown_coordinates_option():
    with pytest.raises(PoseFormatError, match="coordinates must be"):
        from_pose_keypoint([], coordinates="percent")


def test_unreadable_and_malformed_files(tmp_path):
    with pytest.raises(PoseFormatError, match="no such file"):
        load_poses(tmp_path / "missing.json")
    bad = tmp_path / "bad.json"
    bad.write_text('{"people": [1, 2,')
    with pytest.raises(PoseFormatError, match=r"bad.json: not valid JSON .*line 1"):
        read_openpose_json(bad)
    binary = tmp_path / "bin.json"
    binary.write_bytes(b"\x81\x00\xff\xfe")
    with pytest.raises(PoseFormatError, match="not UTF-8 text"):
        read_openpose_json(binary)
    scalar = tmp_path / "scalar.json"
    scalar.write_text("3")
    with pytest.raises(PoseFormatError, match="top-level JSON is a int"):
        read_openpose_json(scalar)
    nopeople = tmp_path / "nopeople.json"
    nopeople.write_text('{"version": 1.3}')
    with pytest.raises(PoseFormatError, match="no 'people' key"):
        read_openpose_json(nopeople)
    (tmp_path / "empty_dir").mkdir()
    with pytest.raises(PoseFormatError, match="holds no"):
        read_openpose_json(tmp_path / "empty_dir")
    other = tmp_path / "pose.txt"
    other.write_text("x")
    with pytest.raises(PoseFormatError, match="this is a text file, not a pose file"):
        load_poses(other)


@pytest.mark.parametrize("text, pattern", [
    ("", r"the file is empty; expected a DeepFashion keypoint CSV"),
    ("name,keypoints_y,keypoints_x\n", r"first line must be the header"),
    ("name:keypoints_y:keypoints_x\nimg.jpg:[1, 2]:[3, 4]\n",
     r"line 2 \(img.jpg\): keypoints_y must be a list of 18"),
    ("name:keypoints_y:keypoints_x\nimg.jpg:[1, 2\n", r"line 2: expected 'name:\[18 y values\]"),
    ("name:keypoints_y:keypoints_x\n\nimg.jpg:[1, 2:[3]\n",
     r"line 3 \(img.jpg\): keypoints_y '\[1, 2' is not a list"),
    ("name:keypoints_y:keypoints_x\nimg.jpg:" + str([1] * 18) + ":" + json.dumps(["a"] * 18) + "\n",
     r"keypoints_x must be a list of 18 numbers"),
    ("name:keypoints_y:keypoints_x\nimg.jpg:" + str([1] * 18) + ":[NaN" + ", 1" * 17 + "]\n",
     r"img.jpg\), point 0: coordinates \[nan, 1.0\] are not finite"),
])
def test_malformed_deepfashion_csv(tmp_path, text, pattern):
    path = tmp_path / "a.csv"
    path.write_text(text)
    with pytest.raises(PoseFormatError, match=pattern):
        read_deepfashion_csv(path)


def test_deepfashion_writer_refuses_what_it_cannot_represent(tmp_path):
    b = np.zeros((18, 3), np.float32)
    b[1] = (10, 10, 1)
    p = Person(b)
    cases = [
        (("x.jpg", PoseFrame((p,), 352, 512)), r"canvas is 352x512.*fit_to_canvas\(frame, 176, 256\)"),
        (("x.jpg", PoseFrame((p, p), 176, 256)), r"2 people; a DeepFashion row holds one"),
        (("a:b.jpg", PoseFrame((p,), 176, 256)), r"no ':'"),
    ]
    b2 = b.copy()
    b2[1] = (-1.2, 10, 1)
    cases.append((("x.jpg", PoseFrame((Person(b2),), 176, 256)), r"joint 1: \(-1, 10\) rounds to the -1"))
    for item, pattern in cases:
        with pytest.raises(PoseFormatError, match=pattern):
            write_deepfashion_csv(tmp_path / "o.csv", [item])


def test_functions_that_need_people_say_so():
    empty = PoseFrame((), 64, 64)
    b = np.zeros((18, 3), np.float32)
    b[1], b[2] = (30, 30, 1), (20, 30, 1)
    one = PoseFrame((Person(b),), 64, 64)
    with pytest.raises(PoseFormatError, match="source pose has no people"):
        retarget_frame(empty, one)
    assert retarget_frame(one, empty) == empty  # nothing to retarget: an empty frame stays empty
    with pytest.raises(PoseFormatError, match="source person has no bone with both ends visible"):
        retarget_frame(PoseFrame((Person.empty(),), 64, 64), one)
    with pytest.raises(PoseFormatError, match="person index 2 does not exist"):
        select_people(one, [2])


def test_empty_frames_render_black_and_zero():
    empty = PoseFrame((), 40, 30)
    assert render_openpose(empty).shape == (30, 40, 3) and not render_openpose(empty).any()
    assert not render_heatmaps(empty).any() and not limb_masks(empty).any()


def test_bad_arguments():
    f = PoseFrame((), 40, 30)
    with pytest.raises(PoseFormatError, match="sigma must be a positive"):
        render_heatmaps(f, 0)
    with pytest.raises(PoseFormatError, match="width_px must be a positive"):
        limb_masks(f, -1)
    with pytest.raises(PoseFormatError, match="render_openpose: width is 0"):
        render_openpose(f, 10, 0)
    with pytest.raises(PoseFormatError, match="threshold must be"):
        threshold_confidence(f, float("nan"))
    with pytest.raises(PoseFormatError, match=r"3 poses for 2 images: give one pose"):
        broadcast_frames([f, f, f], 2)
    with pytest.raises(PoseFormatError, match="n must be an integer >= 2"):
        interpolate_poses(f, f, 1)
    with pytest.raises(PoseFormatError, match=r"canvases differ \(40x30 vs 40x31\)"):
        interpolate_poses(f, PoseFrame((), 40, 31), 3)
    with pytest.raises(PoseFormatError, match="scale must be 'source', 'target' or 'fit'"):
        retarget_frame(f, f, scale="bigger")
