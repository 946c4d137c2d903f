"""Readers and writers: round trips between every format on the real DeepFashion rows, producer detection."""

from __future__ import annotations

import json
import logging

import numpy as np
import pytest
from data_files import deepfashion_csv

from pose_models.pose import (
    NamedFrame,
    Person,
    PoseFrame,
    from_pose_keypoint,
    load_poses,
    read_deepfashion_csv,
    read_openpose_json,
    save_poses,
    to_pose_keypoint,
    write_deepfashion_csv,
    write_openpose_json,
)
from pose_models.pose.deepfashion import DEEPFASHION_HEADER


@pytest.fixture(scope="module")
def rows() -> list[NamedFrame]:
    return read_deepfashion_csv(deepfashion_csv())


@pytest.fixture(scope="module")
def frames(rows) -> list[PoseFrame]:
    return [f for _, f in rows]


def with_real_scores(frames: list[PoseFrame], seed: int = 0) -> list[PoseFrame]:
    """The same poses with deterministic real-valued confidences in (0, 1] (as SDPose/OpenPose give)."""
    rng = np.random.default_rng(seed)
    out = []
    for f in frames:
        people = []
        for p in f.people:
            b = p.body.copy()
            vis = b[:, 2] > 0
            b[vis, 2] = rng.uniform(0.05, 1.0, vis.sum()).astype(np.float32)
            people.append(Person(b))
        out.append(PoseFrame(tuple(people), f.canvas_width, f.canvas_height))
    return out


# --- DeepFashion CSV -------------------------------------------------------------------------------------

def test_deepfashion_reads_every_row(rows):
    assert len(rows) == 2019
    name, frame = rows[2]
    assert name == "fashionWOMENTees_Tanksid0000298802_7additional.jpg"
    assert (frame.canvas_width, frame.canvas_height) == (176, 256)
    b = frame.people[0].body
    # y first in the file: keypoints_y[0] = 36, keypoints_x[0] = 87
    assert b[0].tolist() == [87, 36, 1] and b[9].tolist() == [0, 0, 0]
    empty = [f for _, f in rows if not f.people]
    assert len(empty) == 322  # rows with all 18 joints -1 -> frames with zero people
    assert all(len(f.people) == 1 and f.people[0].has_visible() for _, f in rows if f.people)


def test_deepfashion_csv_round_trip_is_byte_exact(rows, tmp_path):
    out = write_deepfashion_csv(tmp_path / "out.csv", rows)
    assert out.read_bytes() == deepfashion_csv().read_bytes()
    assert read_deepfashion_csv(out) == rows


def test_deepfashion_keeps_off_canvas_annotations(rows):
    xs = np.concatenate([f.people[0].body[f.people[0].body[:, 2] > 0, 0] for _, f in rows if f.people])
    assert xs.min() < 0 and xs.max() > 176  # the real annotations contain them; we keep them


def test_deepfashion_writer_rounds_to_integers(tmp_path):
    b = np.zeros((18, 3), np.float32)
    b[1] = (10.4, 20.6, 0.3)
    path = write_deepfashion_csv(tmp_path / "r.csv", [("a.jpg", PoseFrame((Person(b),), 176, 256)),
                                                      ("b.jpg", PoseFrame((), 176, 256))])
    lines = path.read_text().splitlines()
    assert lines[0] == DEEPFASHION_HEADER
    assert lines[1] == "a.jpg:[-1, 21" + ", -1" * 16 + "]:[-1, 10" + ", -1" * 16 + "]"
    assert lines[2] == "b.jpg:" + str([-1] * 18) + ":" + str([-1] * 18)


# --- POSE_KEYPOINT ---------------------------------------------------------------------------------------

def test_pose_keypoint_pixel_round_trip_exact(frames):
    scored = with_real_scores(frames)
    value = json.loads(json.dumps(to_pose_keypoint(scored)))  # as it would travel through a workflow
    assert len(value) == len(frames)
    assert from_pose_keypoint(value) == scored


def test_pose_keypoint_writes_sdpose_like_form(frames):
    d = to_pose_keypoint(frames[2])[0]
    assert (d["canvas_width"], d["canvas_height"]) == (176, 256)
    person = d["people"][0]
    sizes = {k: len(v) for k, v in person.items()}
    assert sizes == {"pose_keypoints_2d": 54, "face_keypoints_2d": 210, "hand_left_keypoints_2d": 63,
                     "hand_right_keypoints_2d": 63, "foot_keypoints_2d": 18}
    assert person["pose_keypoints_2d"][:3] == [87.0, 36.0, 1.0]
    assert not any(person["face_keypoints_2d"])  # absent parts: all-missing zeros, read back as None
    assert from_pose_keypoint([d])[0].people[0].face is None


def test_pose_keypoint_normalised_round_trip(frames, caplog):
    inside = [f for f in frames
              if all((np.abs(p.body[:, :2]) <= (176, 256)).all() for p in f.people)]
    assert len(inside) > 1500
    value = to_pose_keypoint(inside, coordinates="normalized")
    for d in value:
        for person in d["people"]:
            assert max(abs(v) for v in person["pose_keypoints_2d"]) <= 1.0
    back = from_pose_keypoint(value)  # auto-detected as normalised, scaled by the canvas
    for a, b in zip(inside, back, strict=True):
        for pa, pb in zip(a.people, b.people, strict=True):
            np.testing.assert_allclose(pb.body, pa.body, atol=1e-4)
    # a pose sticking out of the canvas cannot be auto-detected once normalised: the writer warns, and
    # the reader's explicit override reads it correctly
    outside = next(f for f in frames if f.people and f.people[0].body[:, 0].max() > 176)
    with caplog.at_level(logging.WARNING):
        value = to_pose_keypoint(outside, coordinates="normalized")
    assert "outside [0, 1]" in caplog.text
    back = from_pose_keypoint(value, coordinates="normalized")[0]
    np.testing.assert_allclose(back.people[0].body, outside.people[0].body, atol=1e-4)


def test_pose_keypoint_binarised(frames):
    scored = with_real_scores(frames)
    value = to_pose_keypoint(scored, binarize=True)
    for d in value:
        for person in d["people"]:
            conf = person["pose_keypoints_2d"][2::3]
            assert set(conf) <= {0.0, 1.0}
    back = from_pose_keypoint(value)
    for a, b in zip(scored, back, strict=True):
        for pa, pb in zip(a.people, b.people, strict=True):
            vis = pa.body[:, 2] > 0
            assert np.array_equal(pb.body[:, :2], pa.body[:, :2])
            assert np.array_equal(pb.body[:, 2], vis.astype(np.float32))


def test_pose_keypoint_normalised_binarised_is_controlnet_aux_openpose_form(frames):
    d = to_pose_keypoint(frames[2], binarize=True, coordinates="normalized")[0]
    flat = d["people"][0]["pose_keypoints_2d"]
    assert flat[:3] == pytest.approx([87 / 176, 36 / 256, 1.0])
    assert flat[27:30] == [0.0, 0.0, 0.0]  # missing right knee
    assert from_pose_keypoint(d)[0] == frames[2]


# --- OpenPose JSON ---------------------------------------------------------------------------------------

def test_openpose_json_file_round_trip(frames, tmp_path):
    scored = with_real_scores(frames[:200])
    for i, f in enumerate(scored):
        write_openpose_json(f, tmp_path / f"{i}.json")
        (named,) = read_openpose_json(tmp_path / f"{i}.json")
        assert named.frame == f and named.name == str(i)
    data = json.loads((tmp_path / "2.json").read_text())
    assert data["people"][0]["face_keypoints_2d"] == [] and "foot_keypoints_2d" not in data["people"][0]


def test_openpose_file_without_canvas_needs_one(tmp_path):
    b = np.zeros((18, 3))
    b[1], b[2] = (100, 50, 0.9), (80, 52, 0.7)
    path = tmp_path / "frame_000000000000_keypoints.json"
    path.write_text(json.dumps({"version": 1.3, "people": [{"person_id": [-1],
                                                           "pose_keypoints_2d": b.ravel().tolist()}]}))
    with pytest.raises(ValueError, match=r"canvas_width and canvas_height missing.*canvas_size=\(W, H\)"):
        read_openpose_json(path)
    (named,) = read_openpose_json(path, canvas_size=(640, 480))
    assert (named.frame.canvas_width, named.frame.canvas_height) == (640, 480)
    assert named.frame.people[0].body[1].tolist() == pytest.approx([100, 50, 0.9])


def test_openpose_json_file_may_hold_a_pose_keypoint_list(frames, tmp_path):
    path = tmp_path / "batch.json"
    path.write_text(json.dumps(to_pose_keypoint(frames[:5])))
    named = read_openpose_json(path)
    assert [n.name for n in named] == [f"batch_{i:04d}" for i in range(5)]
    assert [n.frame for n in named] == frames[:5]


@pytest.mark.parametrize("fmt, suffix", [("csv", ".csv"), ("pose_keypoint", ".json"), ("openpose", "")])
def test_every_file_format_round_trips_through_files(rows, tmp_path, fmt, suffix):
    subset = rows[:300]
    written = save_poses(subset, tmp_path / f"out{suffix}", fmt)
    assert len(written) == (300 if fmt == "openpose" else 1)
    assert load_poses(tmp_path / f"out{suffix}") == subset  # names, order and poses


def test_chain_csv_pose_keypoint_openpose_csv_is_exact(rows, tmp_path):
    pk = from_pose_keypoint(json.dumps(to_pose_keypoint([f for _, f in rows])))
    for (name, _), f in zip(rows, pk, strict=True):
        write_openpose_json(f, tmp_path / "op" / f"{name}.json")
    back = [read_openpose_json(tmp_path / "op" / f"{name}.json")[0].frame for name, _ in rows]
    out = write_deepfashion_csv(tmp_path / "x.csv", [(n, f) for (n, _), f in zip(rows, back, strict=True)])
    assert out.read_bytes() == deepfashion_csv().read_bytes()


# --- producers -------------------------------------------------------------------------------------------

def flat(points: list[tuple[float, float, float]]) -> list[float]:
    return [v for p in points for v in p]


def test_controlnet_aux_openpose_normalised_detected():
    body = [(0.0, 0.0, 0.0)] * 18
    body[1], body[2] = (0.5, 0.25, 1.0), (0.4, 0.25, 1.0)
    value = [{"people": [{"pose_keypoints_2d": flat(body), "face_keypoints_2d": None,
                          "hand_left_keypoints_2d": None, "hand_right_keypoints_2d": None}],
              "canvas_height": 768, "canvas_width": 512}]
    (f,) = from_pose_keypoint(value)
    p = f.people[0]
    assert p.body[1].tolist() == [256, 192, 1] and p.body[2].tolist() == pytest.approx([204.8, 192, 1])
    assert p.body[0].tolist() == [0, 0, 0] and p.face is None and p.left_hand is None


def test_dwpose_pixels_with_hands_and_face():
    body = [(0.0, 0.0, 0.0)] * 18
    body[1], body[4] = (300.0, 200.0, 1.0), (350.0, 420.0, 1.0)
    hand = [(350.0 + i, 430.0 + i, 1.0) for i in range(21)]
    face = [(300.0 + i, 100.0, 1.0) for i in range(70)]
    value = [{"people": [{"pose_keypoints_2d": flat(body), "face_keypoints_2d": flat(face),
                          "hand_left_keypoints_2d": None, "hand_right_keypoints_2d": flat(hand)}],
              "canvas_height": 768, "canvas_width": 512}]
    p = from_pose_keypoint(value)[0].people[0]
    assert p.body[4].tolist() == [350, 420, 1] and p.right_hand[20].tolist() == [370, 450, 1]
    assert p.face.shape == (70, 3) and p.left_hand is None


def test_sdpose_real_scores_feet_and_sentinels():
    rng = np.random.default_rng(3)
    body = np.column_stack([rng.uniform(10, 500, 18), rng.uniform(10, 700, 18), rng.uniform(0.3, 0.95, 18)])
    body[1, 2] = 0.0  # SDPose zeroes the neck score when a shoulder is weak
    body[9] = (-1, -1, 0.12)  # a point SDPose could not place: (-1, -1) with a real score
    feet = np.column_stack([rng.uniform(10, 500, 6), rng.uniform(600, 760, 6), rng.uniform(0, 1, 6)])
    parts = {"pose_keypoints_2d": body, "foot_keypoints_2d": feet,
             "face_keypoints_2d": np.zeros((70, 3)), "hand_right_keypoints_2d": np.zeros((21, 3)),
             "hand_left_keypoints_2d": np.zeros((21, 3))}
    value = [{"canvas_width": 512, "canvas_height": 768,
              "people": [{k: v.ravel().tolist() for k, v in parts.items()}]}]
    p = from_pose_keypoint(value)[0].people[0]
    assert p.body[1].tolist() == [0, 0, 0] and p.body[9].tolist() == [0, 0, 0]
    np.testing.assert_allclose(p.body[0], body[0], rtol=1e-6)
    np.testing.assert_allclose(p.feet, feet, rtol=1e-6)
    assert p.face is None and p.left_hand is None  # all-missing parts read as absent


def test_openpose_body25_is_converted():
    b25 = np.zeros((25, 3))
    b25[:, 0], b25[:, 1], b25[:, 2] = np.arange(25) * 10 + 5, 100, 0.8
    (f,) = from_pose_keypoint({"people": [{"pose_keypoints_2d": b25.ravel().tolist()}],
                               "canvas_width": 640, "canvas_height": 480})
    p = f.people[0]
    assert p.body[8, 0] == 95 and p.body[7, 0] == 75  # BODY_25 MidHip (8) dropped: COCO R-hip = BODY_25 9
    assert p.feet[:, 0].tolist() == [195, 205, 215, 225, 235, 245]


def test_accepted_shapes_single_dict_json_string_nested_and_flat():
    body = np.zeros((18, 3))
    body[1], body[5] = (40, 30, 1), (50, 30, 0.6)
    frame = {"people": [{"pose_keypoints_2d": body.ravel().tolist()}],
             "canvas_width": 64, "canvas_height": 48}
    expected = from_pose_keypoint([frame])
    assert from_pose_keypoint(frame) == expected
    assert from_pose_keypoint(json.dumps([frame])) == expected
    nested = {**frame, "people": [{"pose_keypoints_2d": body.tolist()}]}
    assert from_pose_keypoint(nested) == expected
    assert from_pose_keypoint({"pose_keypoints_2d": body.ravel().tolist()}, canvas_size=(64, 48)) == expected
    assert from_pose_keypoint(body.ravel().tolist(), canvas_size=(64, 48)) == expected
    assert from_pose_keypoint({**frame, "animals": [[1, 2, 3]], "version": "ap10k"}) == expected


@pytest.mark.parametrize("missing", [None, [], "absent"])
def test_missing_parts_none_empty_or_absent(missing):
    person = {"pose_keypoints_2d": [0.0] * 54}
    if missing != "absent":
        person.update({"face_keypoints_2d": missing, "hand_left_keypoints_2d": missing,
                       "hand_right_keypoints_2d": missing, "foot_keypoints_2d": missing})
    p = from_pose_keypoint({"people": [person], "canvas_width": 8, "canvas_height": 8})[0].people[0]
    assert p.face is None and p.left_hand is None and p.right_hand is None and p.feet is None
    assert not p.has_visible()  # an all-missing person is kept (people stay matched by index)


def test_empty_people_and_empty_batch():
    assert from_pose_keypoint([]) == []
    (f,) = from_pose_keypoint({"people": [], "canvas_width": 10, "canvas_height": 20})
    assert f.people == () and (f.canvas_width, f.canvas_height) == (10, 20)


def test_normalised_detection_rules():
    body = np.zeros((18, 3))
    body[1] = (1.0, 1.0, 1.0)
    value = {"people": [{"pose_keypoints_2d": body.ravel().tolist()}],
             "canvas_width": 100, "canvas_height": 50}
    assert from_pose_keypoint(value)[0].people[0].body[1].tolist() == [100, 50, 1]  # all <= 1: normalised
    assert from_pose_keypoint(value, coordinates="pixel")[0].people[0].body[1].tolist() == [1, 1, 1]
    tiny = {**value, "canvas_width": 2, "canvas_height": 2}
    assert from_pose_keypoint(tiny)[0].people[0].body[1].tolist() == [1, 1, 1]  # tiny canvas: pixels
    # one person in pixels makes the whole frame pixels
    other = np.zeros((18, 3))
    other[1] = (30.0, 20.0, 1.0)
    both = {**value, "people": value["people"] + [{"pose_keypoints_2d": other.ravel().tolist()}]}
    assert from_pose_keypoint(both)[0].people[0].body[1].tolist() == [1, 1, 1]


def test_pixel_writer_warns_when_readers_would_see_normalised(caplog):
    b = np.zeros((18, 3), np.float32)
    b[1] = (0.5, 0.5, 1)
    with caplog.at_level(logging.WARNING):
        to_pose_keypoint(PoseFrame((Person(b),), 512, 512))
    assert "coordinates='pixel'" in caplog.text
