"""Interpolation between two poses: exact endpoints, linear and angle-space midpoints, missing joints."""

from __future__ import annotations

import math

import numpy as np
import pytest

from pose_models.pose import BONES, Person, PoseFrame, bone_lengths, interpolate_person, interpolate_poses


def person(points: dict[int, tuple[float, float]], conf: float = 1.0, **parts) -> Person:
    b = np.zeros((18, 3), np.float32)
    for j, (x, y) in points.items():
        b[j] = (x, y, conf)
    return Person(b, **parts)


def frame(*people: Person) -> PoseFrame:
    return PoseFrame(people, 200, 200)


ARM_A = {1: (100, 50), 2: (80, 50), 3: (80, 90), 4: (80, 130)}   # forearm pointing down
ARM_B = {1: (100, 50), 2: (80, 50), 3: (80, 90), 4: (120, 90)}   # forearm pointing right


def test_endpoints_are_the_inputs_and_count():
    a, b = frame(person(ARM_A)), frame(person(ARM_B, conf=0.5))
    for n in (2, 3, 7):
        out = interpolate_poses(a, b, n)
        assert len(out) == n and out[0] is a and out[-1] is b
    assert interpolate_poses(a, b, 2) == [a, b]


def test_linear_midpoint():
    a, b = frame(person(ARM_A)), frame(person(ARM_B, conf=0.5))
    mid = interpolate_poses(a, b, 3)[1].people[0].body
    np.testing.assert_allclose(mid[4], (100, 110, 0.75))
    np.testing.assert_allclose(mid[1], (100, 50, 0.75))
    quarter = interpolate_poses(a, b, 5)[1].people[0].body
    np.testing.assert_allclose(quarter[4, :2], (90, 120))


def test_angle_mode_rotates_limbs_instead_of_shrinking_them():
    a, b = frame(person(ARM_A)), frame(person(ARM_B))
    lin = interpolate_poses(a, b, 3)[1].people[0]
    ang = interpolate_poses(a, b, 3, mode="angle")[1].people[0]
    k = BONES.index((3, 4))
    assert bone_lengths(lin)[k] == pytest.approx(40 * math.cos(math.pi / 4), rel=1e-5)
    assert bone_lengths(ang)[k] == pytest.approx(40, rel=1e-5)
    d = ang.body[4, :2] - ang.body[3, :2]
    assert math.degrees(math.atan2(d[1], d[0])) == pytest.approx(45, abs=1e-4)  # halfway from 90 to 0


def test_angle_mode_interpolates_lengths_and_takes_the_short_arc():
    a = frame(person({1: (100, 100), 0: (100 - 10 * math.cos(math.radians(10)), 100 + 10 * math.sin(
        math.radians(10)))}))  # 170 degrees
    b = frame(person({1: (100, 100), 0: (100 - 30 * math.cos(math.radians(10)), 100 - 30 * math.sin(
        math.radians(10)))}))  # -170 degrees
    mid = interpolate_poses(a, b, 3, mode="angle")[1].people[0].body
    d = mid[0, :2] - mid[1, :2]
    assert np.hypot(*d) == pytest.approx(20, rel=1e-5)
    assert abs(math.degrees(math.atan2(d[1], d[0]))) == pytest.approx(180, abs=1e-3)  # via 180, not 0


def test_joint_visible_at_one_end_only():
    a = frame(person({**ARM_A}))
    b_points = dict(ARM_B)
    del b_points[4]  # wrist missing at the end
    b = frame(person(b_points))
    out = interpolate_poses(a, b, 5)  # t = 0, .25, .5, .75, 1
    assert out[1].people[0].body[4].tolist() == [80, 130, 1]  # held at a's position while t < 0.5
    assert out[2].people[0].body[4, 2] == 0 and out[3].people[0].body[4, 2] == 0
    end = frame(person({1: (100, 50), 2: (80, 50), 3: (60, 70)}))  # elbow moved, wrist missing
    ang = interpolate_poses(frame(person(ARM_A)), end, 5, mode="angle")
    # in angle mode the one-ended wrist is carried by its elbow (same offset as at its end)
    body = ang[1].people[0].body
    np.testing.assert_allclose(body[4, :2] - body[3, :2], (0, 40), atol=1e-4)


def test_unmatched_people_nearest_end():
    p, q = person(ARM_A), person(ARM_B)
    a, b = frame(p, q), frame(p)
    out = interpolate_poses(a, b, 4)  # t = 0, 1/3, 2/3, 1
    assert [len(f.people) for f in out] == [2, 2, 1, 1]
    assert out[1].people[1] == q
    out = interpolate_poses(frame(), frame(q), 3)
    assert [len(f.people) for f in out] == [0, 1, 1] and out[1].people[0] == q


def test_parts_and_one_ended_parts():
    hand_a = np.zeros((21, 3), np.float32)
    hand_a[0], hand_a[5] = (80, 130, 1), (80, 140, 1)
    hand_b = np.zeros((21, 3), np.float32)
    hand_b[0], hand_b[5] = (120, 90, 1), (130, 90, 1)
    a = frame(person(ARM_A, right_hand=hand_a))
    b = frame(person(ARM_B, right_hand=hand_b))
    lin = interpolate_poses(a, b, 3)[1].people[0]
    np.testing.assert_allclose(lin.right_hand[5, :2], (105, 115))
    ang = interpolate_poses(a, b, 3, mode="angle")[1].people[0]
    wrist = ang.body[4, :2]
    np.testing.assert_allclose(ang.right_hand[5, :2], wrist + (5, 5), atol=1e-4)  # offset lerped
    only_a = interpolate_poses(a, frame(person(ARM_B)), 5, mode="angle")
    assert only_a[2].people[0].right_hand is None
    carried = only_a[1].people[0]
    np.testing.assert_allclose(carried.right_hand[5, :2] - carried.body[4, :2], (0, 10), atol=1e-4)


def test_interpolate_person_rejects_t_outside():
    with pytest.raises(ValueError, match=r"t must be in \[0, 1\]"):
        interpolate_person(person(ARM_A), person(ARM_B), 1.5)


@pytest.mark.parametrize("mode", ["linear", "angle"])
def test_real_pose_pairs_give_valid_frames(mode):
    rng = np.random.default_rng(7)
    for _ in range(30):
        pts_a = {j: tuple(rng.uniform(0, 200, 2)) for j in range(18) if rng.random() > 0.2}
        pts_b = {j: tuple(rng.uniform(0, 200, 2)) for j in range(18) if rng.random() > 0.2}
        frames = interpolate_poses(frame(person(pts_a)), frame(person(pts_b)), 6, mode=mode)
        len_a, len_b = bone_lengths(frames[0].people[0]), bone_lengths(frames[-1].people[0])
        for k, f in enumerate(frames[1:-1], start=1):
            b = f.people[0].body
            assert np.isfinite(b).all()
            both = [j for j in range(18) if j in pts_a and j in pts_b]
            assert (b[both, 2] > 0).all()  # joints visible at both ends are never lost
            if mode == "angle":  # every bone seen at both ends has the interpolated length
                t = k / 5
                ok = np.isfinite(len_a) & np.isfinite(len_b)
                np.testing.assert_allclose(bone_lengths(f.people[0])[ok], ((1 - t) * len_a + t * len_b)[ok],
                                           rtol=1e-4)
