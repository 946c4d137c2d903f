"""Pose utilities: mirror, confidence threshold, canvas changes, clipping, batch helpers."""

from __future__ import annotations

import numpy as np
import pytest

from pose_models.pose import (
    Person,
    PoseFrame,
    bone_lengths,
    broadcast_frames,
    clip_to_canvas,
    fit_to_canvas,
    mirror_frame,
    render_heatmaps,
    scale_to_canvas,
    select_people,
    threshold_confidence,
)
from pose_models.pose.keypoints import BODY_MIRROR


def random_person(rng: np.random.Generator, w: int, h: int, parts: bool = True) -> Person:
    def pts(n: int) -> np.ndarray:
        a = np.column_stack([rng.integers(0, w, n), rng.integers(0, h, n), rng.uniform(0.1, 1, n)])
        a[rng.random(n) < 0.2] = 0
        return a.astype(np.float32)

    if not parts:
        return Person(pts(18))
    return Person(pts(18), face=pts(70), left_hand=pts(21), right_hand=pts(21), feet=pts(6))


@pytest.fixture
def frames() -> list[PoseFrame]:
    rng = np.random.default_rng(11)
    return [PoseFrame(tuple(random_person(rng, 176, 256) for _ in range(k)), 176, 256) for k in (0, 1, 2, 3)]


def test_mirror_twice_is_identity(frames):
    for f in frames:
        once = mirror_frame(f)
        assert once != f or not f.people
        assert mirror_frame(once) == f


def test_mirror_swaps_sides_and_flips_x():
    b = np.zeros((18, 3), np.float32)
    b[4] = (10, 50, 0.9)  # right wrist near the left image edge
    hand = np.zeros((21, 3), np.float32)
    hand[0] = (12, 52, 0.8)
    feet = np.zeros((6, 3), np.float32)
    feet[0] = (20, 90, 0.7)  # left big toe
    face = np.zeros((70, 3), np.float32)
    face[0] = (30, 10, 0.6)  # jaw start
    m = mirror_frame(PoseFrame((Person(b, right_hand=hand, feet=feet, face=face),), 100, 100)).people[0]
    assert m.body[7].tolist() == pytest.approx([89, 50, 0.9])  # now the left wrist at W - 1 - x
    assert m.body[4].tolist() == [0, 0, 0]
    assert m.left_hand[0].tolist() == pytest.approx([87, 52, 0.8]) and m.right_hand is None
    assert m.feet[3].tolist() == pytest.approx([79, 90, 0.7])  # right big toe
    assert m.face[16].tolist() == pytest.approx([69, 10, 0.6])  # jaw end


def test_mirror_lines_up_with_a_flipped_image():
    rng = np.random.default_rng(5)
    f = PoseFrame((random_person(rng, 64, 48, parts=False),), 64, 48)
    maps = render_heatmaps(f, 2.0)
    mirrored = render_heatmaps(mirror_frame(f), 2.0)
    assert np.array_equal(mirrored[list(BODY_MIRROR)], maps[:, :, ::-1])


def test_threshold_confidence(frames):
    f = frames[2]
    out = threshold_confidence(f, 0.5)
    for p, q in zip(f.people, out.people, strict=True):
        keep = p.body[:, 2] >= 0.5
        assert np.array_equal(q.body[keep], p.body[keep]) and not q.body[~keep].any()
    binar = threshold_confidence(f, 0.5, binarize=True)
    assert set(np.unique(binar.people[0].body[:, 2])) <= {0.0, 1.0}
    gone = threshold_confidence(f, 2.0)
    assert all(p.face is None and p.feet is None and not p.has_visible() for p in gone.people)
    assert threshold_confidence(f, 0.0) == f


def test_scale_and_fit_to_canvas():
    b = np.zeros((18, 3), np.float32)
    b[1], b[2] = (88, 128, 1), (0, 0, 0.5)
    f = PoseFrame((Person(b),), 176, 256)
    s = scale_to_canvas(f, 352, 256)
    assert (s.canvas_width, s.canvas_height) == (352, 256)
    assert s.people[0].body[1].tolist() == [176, 128, 1] and s.people[0].body[2].tolist() == [0, 0, 0.5]
    assert scale_to_canvas(s, 176, 256) == f
    c = fit_to_canvas(f, 512, 512)  # scale 2, padded 80 px left and right
    assert c.people[0].body[1].tolist() == [256, 256, 1] and c.people[0].body[2].tolist() == [80, 0, 0.5]
    cover = fit_to_canvas(f, 512, 512, mode="cover")  # scale 512 / 176, cropped top and bottom
    k = 512 / 176
    np.testing.assert_allclose(cover.people[0].body[2, :2], (0, (512 - 256 * k) / 2), rtol=1e-6)
    with pytest.raises(ValueError, match="mode must be"):
        fit_to_canvas(f, 512, 512, mode="stretch")


def test_clip_to_canvas():
    b = np.zeros((18, 3), np.float32)
    b[1], b[2], b[3], b[4] = (10, 10, 1), (-1, 10, 1), (10, 64, 1), (63.9, 63.9, 1)
    out = clip_to_canvas(PoseFrame((Person(b),), 64, 64)).people[0].body
    assert out[:, 2].tolist()[:5] == [0, 1, 0, 0, 1]


def test_bone_lengths_and_batch_helpers(frames):
    b = np.zeros((18, 3), np.float32)
    b[1], b[2] = (10, 10, 1), (13, 14, 1)
    lengths = bone_lengths(Person(b))
    assert lengths[0] == 5 and np.isnan(lengths[1:]).all()
    one = [frames[1]]
    assert broadcast_frames(one, 3) == [frames[1]] * 3
    assert broadcast_frames(frames, 4) == frames
    assert select_people(frames[3], [2, 0]).people == (frames[3].people[2], frames[3].people[0])
