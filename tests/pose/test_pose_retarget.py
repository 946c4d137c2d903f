"""Retargeting: source bone lengths with target directions, checked over many real DeepFashion pairs."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from data_files import deepfashion_csv

from pose_models.pose import (
    BONES,
    Person,
    PoseFormatError,
    PoseFrame,
    bone_lengths,
    read_deepfashion_csv,
    retarget_frame,
    retarget_person,
    retarget_sequence,
)
from pose_models.pose.keypoints import BONE_MIRROR
from pose_models.pose.retarget import CANONICAL_BONE_LENGTHS, source_bone_lengths

N_ROWS = 50  # all ordered pairs of the first 50 well-annotated rows: 2,450 pairs per scale mode


@pytest.fixture(scope="module")
def frames() -> list[PoseFrame]:
    return [f for _, f in read_deepfashion_csv(deepfashion_csv()) if f.people]


@pytest.fixture(scope="module")
def well_annotated(frames) -> list[PoseFrame]:
    """Rows with at least 12 visible joints including the neck (enough bones to compare ratios)."""
    good = [f for f in frames if (f.people[0].body[:, 2] > 0).sum() >= 12 and f.people[0].body[1, 2] > 0]
    assert len(good) >= N_ROWS
    return good[:N_ROWS]


def body(points: dict[int, tuple[float, float]]) -> Person:
    b = np.zeros((18, 3), np.float32)
    for j, (x, y) in points.items():
        b[j] = (x, y, 1.0)
    return Person(b)


@pytest.mark.parametrize("scale", ["source", "target", "fit"])
def test_bone_ratios_equal_the_source_within_one_percent(well_annotated, scale):
    checked = 0
    for src, tgt in itertools.permutations(well_annotated, 2):
        out = retarget_frame(src, tgt, scale=scale)
        s_len = bone_lengths(src.people[0])
        t_len = bone_lengths(tgt.people[0])
        o_len = bone_lengths(out.people[0])
        # confidences (and so which joints exist) always come from the target
        assert np.array_equal(out.people[0].body[:, 2], tgt.people[0].body[:, 2])
        both = np.isfinite(s_len) & np.isfinite(t_len) & (s_len > 1.0)
        assert np.isfinite(o_len[np.isfinite(t_len)]).all()
        if both.sum() < 2:
            continue
        ratios = o_len[both] / s_len[both]  # one common factor <=> every bone-length ratio preserved
        assert ratios.max() / ratios.min() < 1.01, (scale, ratios)
        if scale == "source":  # equal canvases: the source's pixel lengths exactly
            np.testing.assert_allclose(ratios, 1.0, rtol=1e-4)
        checked += 1
    assert checked > 2000


def test_directions_are_the_targets(well_annotated):
    for src, tgt in itertools.permutations(well_annotated[:20], 2):
        o, t = out_body(retarget_frame(src, tgt)), tgt.people[0].body
        for p, c in BONES:
            if t[p, 2] > 0 and t[c, 2] > 0 and np.linalg.norm(t[c, :2] - t[p, :2]) > 1:
                dt = (t[c, :2] - t[p, :2]) / np.linalg.norm(t[c, :2] - t[p, :2])
                do = (o[c, :2] - o[p, :2]) / np.linalg.norm(o[c, :2] - o[p, :2])
                assert float(dt @ do) == pytest.approx(1.0, abs=1e-5)
        assert np.array_equal(o[1, :2], t[1, :2])  # anchored at the target neck


def out_body(frame: PoseFrame) -> np.ndarray:
    return frame.people[0].body.astype(np.float64)


def test_identity_when_source_is_target(frames):
    for f in frames:
        out = retarget_frame(f, f)
        np.testing.assert_allclose(out.people[0].body, f.people[0].body, atol=2e-4)


def test_missing_source_bone_borrows_the_mirror_length():
    src = body({1: (100, 50), 2: (80, 50), 3: (70, 90), 4: (65, 130), 5: (120, 50), 6: (130, 90)})
    tgt = body({1: (50, 50), 2: (30, 50), 3: (20, 80), 4: (15, 100), 5: (70, 50), 6: (90, 70), 7: (110, 80)})
    lengths = source_bone_lengths(src)
    k_left_forearm, k_right_forearm = BONES.index((6, 7)), BONES.index((3, 4))
    assert BONE_MIRROR[k_left_forearm] == k_right_forearm
    assert lengths[k_left_forearm] == pytest.approx(np.hypot(5, 40))
    out = retarget_person(src, tgt)
    assert np.hypot(*(out.body[7, :2] - out.body[6, :2])) == pytest.approx(np.hypot(5, 40), rel=1e-5)


def test_degenerate_sources_are_refused_in_the_users_terms():
    """A source whose visible joints all sit on one point, or with a single joint, has no proportions:
    refused naming the cause (it used to end in "'float' object is not iterable" in fit mode)."""
    tgt = PoseFrame((body({1: (50, 50), 2: (30, 50), 3: (20, 80), 5: (70, 50)}),), 128, 128)
    for src in (body(dict.fromkeys(range(18), (40.0, 40.0))), body({1: (40, 40)})):
        for scale in ("source", "target", "fit"):
            with pytest.raises(PoseFormatError, match="proportions are unknown"):
                retarget_frame(PoseFrame((src,), 128, 128), tgt, scale=scale)


def test_zero_length_source_bone_counts_as_missing():
    src = body({1: (100, 50), 2: (80, 50), 3: (70, 90), 4: (65, 130), 5: (120, 50), 6: (130, 90),
                7: (130, 90)})
    lengths = source_bone_lengths(src)
    assert lengths[BONES.index((6, 7))] == pytest.approx(np.hypot(5, 40))  # the mirror forearm's


def test_fit_keeps_a_target_collapsed_to_one_point():
    src = PoseFrame((body({1: (100, 50), 2: (80, 50), 5: (120, 50)}),), 256, 256)
    tgt = PoseFrame((body({1: (60, 60)}),), 128, 128)
    (out,) = retarget_frame(src, tgt, scale="fit").people
    assert tuple(out.body[1]) == (60, 60, 1)


def test_missing_source_bones_without_mirror_use_canonical_proportions():
    # only the torso is known, at twice the canonical size
    hip_drop = 2 * 67.5 * np.cos(np.arcsin(10 / 135))  # left hip 10 px to the side, same 135 px length
    src = body({1: (100, 50), 8: (100, 50 + 2 * 67.5), 11: (110, 50 + hip_drop)})
    lengths = source_bone_lengths(src)
    canonical = np.asarray(CANONICAL_BONE_LENGTHS)
    assert lengths[BONES.index((2, 3))] == pytest.approx(2 * canonical[BONES.index((2, 3))], rel=1e-3)
    assert lengths[BONES.index((0, 14))] == pytest.approx(2 * canonical[BONES.index((0, 14))], rel=1e-3)


def test_target_missing_joints_stay_missing_and_orphans_follow_the_global_scale():
    src = body({1: (100, 40), 2: (60, 40), 3: (50, 120), 4: (45, 200), 5: (140, 40), 8: (80, 200)})
    tgt = body({1: (50, 20), 2: (30, 20), 4: (20, 80), 5: (70, 20), 8: (40, 100)})  # no right elbow
    out = retarget_person(src, tgt)
    assert out.body[3].tolist() == [0, 0, 0]
    assert out.body[0, 2] == 0 and out.body[7, 2] == 0
    s = np.median([40 / 20, 40 / 20, 160 / np.hypot(10, 80)])  # result/target over the target's bones
    expected = np.array([50, 20]) + s * (np.array([20, 80]) - np.array([50, 20]))  # orphan wrist
    np.testing.assert_allclose(out.body[4, :2], expected, rtol=1e-5)


def test_hidden_neck_between_the_shoulders():
    src = body({1: (100, 40), 2: (60, 40), 5: (140, 40), 3: (55, 100)})
    tgt = body({2: (30, 20), 5: (50, 20), 3: (30, 60)})  # no neck
    out = retarget_person(src, tgt)
    assert out.body[1, 2] == 0  # still missing
    assert np.hypot(*(out.body[5, :2] - out.body[2, :2])) == pytest.approx(80, rel=1e-5)  # 40 + 40
    np.testing.assert_allclose((out.body[2, :2] + out.body[5, :2]) / 2, (40, 20), atol=1e-4)
    assert np.hypot(*(out.body[3, :2] - out.body[2, :2])) == pytest.approx(np.hypot(5, 60), rel=1e-5)


def test_zero_length_target_bone_takes_the_source_direction():
    src = body({1: (100, 40), 0: (100, 10)})
    tgt = body({1: (50, 50), 0: (50, 50)})
    out = retarget_person(src, tgt)
    np.testing.assert_allclose(out.body[0, :2], (50, 20), atol=1e-5)


def test_parts_move_with_their_anchor_joints():
    src = body({1: (100, 40), 2: (60, 40), 3: (50, 120), 4: (40, 200)})
    t = np.zeros((18, 3), np.float32)
    for j, (x, y) in {1: (50, 20), 2: (30, 20), 3: (25, 60), 4: (20, 100)}.items():
        t[j] = (x, y, 0.9)
    hand = np.zeros((21, 3), np.float32)
    hand[0], hand[8] = (20, 100, 0.8), (22, 110, 0.5)
    out = retarget_person(src, Person(t, right_hand=hand))
    s = 2.0  # every source bone is twice the target's
    np.testing.assert_allclose(out.right_hand[0, :2], out.body[4, :2], atol=1e-4)
    np.testing.assert_allclose(out.right_hand[8, :2], out.body[4, :2] + s * np.array([2, 10]), atol=1e-4)
    assert out.right_hand[:, 2].tolist() == hand[:, 2].tolist() and out.left_hand is None


def test_scale_modes_and_canvases(well_annotated):
    src, tgt = well_annotated[0], well_annotated[1]
    big_target = PoseFrame(tuple(Person(p.body * (2, 2, 1)) for p in tgt.people), 352, 512)
    out = retarget_frame(src, big_target, scale="source")  # canvas twice as high: lengths doubled
    ok = np.isfinite(bone_lengths(out.people[0])) & np.isfinite(bone_lengths(src.people[0]))
    np.testing.assert_allclose(bone_lengths(out.people[0])[ok], 2 * bone_lengths(src.people[0])[ok],
                               rtol=1e-4)

    out = retarget_frame(src, tgt, scale="target")
    t_len = bone_lengths(tgt.people[0])
    assert np.nansum(bone_lengths(out.people[0])) == pytest.approx(np.nansum(t_len), rel=1e-4)

    huge_source = PoseFrame(tuple(Person(p.body * (6, 6, 1)) for p in src.people), 176, 256)
    raw = retarget_frame(huge_source, tgt, scale="source")
    assert raw.people[0].body[:, :2].max() > 256  # sticks out of the canvas
    fit = retarget_frame(huge_source, tgt, scale="fit", margin=0.05)
    b = fit.people[0].body
    vis = b[:, 2] > 0
    assert (b[vis, 0] >= 176 * 0.05 - 1e-3).all() and (b[vis, 0] <= 175 * 0.95 + 1e-3).all()
    assert (b[vis, 1] >= 256 * 0.05 - 1e-3).all() and (b[vis, 1] <= 255 * 0.95 + 1e-3).all()


def test_people_matching_and_sequences(well_annotated):
    src, a, b = well_annotated[:3]
    two = PoseFrame(a.people + b.people, 176, 256)
    out = retarget_frame(src, two)  # one source person serves every target person
    assert len(out.people) == 2
    assert out.people[1] == retarget_frame(src, b).people[0]
    with pytest.raises(PoseFormatError, match="source has 2 people and the target 3"):
        retarget_frame(two, PoseFrame(two.people + a.people, 176, 256))
    seq = retarget_sequence(src, [a, b])
    assert seq == [retarget_frame(src, a), retarget_frame(src, b)]
    empty_target = PoseFrame((Person.empty(),), 176, 256)
    assert retarget_frame(src, empty_target) == empty_target  # nothing visible: unchanged
