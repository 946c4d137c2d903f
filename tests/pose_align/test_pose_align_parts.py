"""Pose alignment building blocks: hulls, reference length, part shapes, per-part maps and their paths."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from pose_models.pose_align import PART_NAMES, PartShapeSettings, part_map, part_shapes, path_maps
from pose_models.pose_align.masks import hull_distance, shape_part_masks
from pose_models.pose_align.parts import convex_hull, reference_length
from pose_models.pose_align.transforms import compose, fit_affine, invert

STAND = {0: (64, 30), 1: (64, 50), 2: (50, 52), 3: (46, 80), 4: (46, 108), 5: (78, 52), 6: (82, 80),
         7: (82, 108), 8: (56, 100), 9: (55, 125), 10: (54, 150), 11: (72, 100), 12: (73, 125),
         13: (74, 150), 14: (60, 27), 15: (68, 27), 16: (56, 29), 17: (72, 29)}


def body(points: dict[int, tuple[float, float]]) -> np.ndarray:
    b = np.zeros((18, 3), np.float32)
    for j, (x, y) in points.items():
        b[j] = (x, y, 1.0)
    return b


def apply(affine: np.ndarray, xy: np.ndarray) -> np.ndarray:
    return xy @ affine[:, :2].T + affine[:, 2]


def test_convex_hull_drops_interior_duplicate_and_collinear_points():
    hull = convex_hull(np.array([[0, 0], [4, 0], [4, 4], [0, 4], [2, 2], [4, 0], [2, 0]]))
    assert sorted(map(tuple, hull.tolist())) == [(0, 0), (0, 4), (4, 0), (4, 4)]
    assert convex_hull(np.array([[0, 0], [1, 1], [3, 3], [2, 2]])).tolist() == [[0, 0], [3, 3]]
    assert convex_hull(np.array([[5, 5], [5, 5]])).tolist() == [[5, 5]]


def test_hull_distance_is_zero_inside_and_euclidean_outside():
    xs, ys = torch.arange(12.0)[None], torch.arange(10.0)[:, None]
    square = ((2.0, 2.0), (6.0, 2.0), (6.0, 6.0), (2.0, 6.0))
    for points in (square, square[::-1]):  # either orientation
        d = hull_distance(points, xs, ys)
        assert d[4, 4] == 0 and d[2, 2] == 0
        assert d[4, 9] == pytest.approx(3.0) and d[9, 9] == pytest.approx(math.hypot(3, 3))
    seg = hull_distance(((2.0, 5.0), (8.0, 5.0)), xs, ys)
    assert seg[5, 5] == 0 and seg[8, 5] == pytest.approx(3.0) and seg[5, 11] == pytest.approx(3.0)
    assert hull_distance(((3.0, 3.0),), xs, ys)[7, 6] == pytest.approx(5.0)


def test_reference_length_prefers_the_torso_and_falls_back():
    full = body(STAND)
    assert reference_length(full, 160) == pytest.approx(50.0)  # neck (64, 50) to hip centre (64, 100)
    no_hips = full.copy()
    no_hips[[8, 11]] = 0
    assert reference_length(no_hips, 160) == pytest.approx(max(28 * 1.3, 20 * 2.2, math.hypot(4, 28) * 1.7))
    assert reference_length(np.zeros((18, 3), np.float32), 160) == pytest.approx(0.3 * 160)


def test_part_shapes_follow_the_joints_and_settings():
    settings = PartShapeSettings(arm_radius=0.1, hand_extension=0.5)
    shapes = part_shapes(body(STAND), settings, 160)
    assert tuple(shapes) == PART_NAMES
    forearm = shapes["right_lower_arm"]
    np.testing.assert_allclose(forearm.points, [[46, 80], [46, 122]])  # wrist + half the forearm
    assert forearm.radius == pytest.approx(5.0)
    upper_body = body({j: xy for j, xy in STAND.items() if j in (0, 1, 2, 5, 14, 15)})
    torso = part_shapes(upper_body, settings, 160)["torso"].points
    # no hips: shoulder line pushed away from the nose by the reference length (neck-nose 20 px x 2.2)
    assert torso[:, 1].max() == pytest.approx(52 + 44) and torso[:, 1].min() == pytest.approx(50)
    assert set(part_shapes(upper_body, settings, 160)) == {"torso", "head"}
    with pytest.raises(ValueError, match="arm_radius"):
        PartShapeSettings(arm_radius=-1)


def test_shape_masks_partition_and_give_joint_caps_to_the_front_part():
    shapes = part_shapes(body(STAND), PartShapeSettings(), 160)
    masks = shape_part_masks(shapes, 160, 128, torch.device("cpu"), torch.float32)
    assert masks.shape == (len(PART_NAMES), 160, 128)
    assert masks.sum(0).max() == 1 and set(masks.unique().tolist()) == {0.0, 1.0}
    assert masks[PART_NAMES.index("right_lower_arm"), 80, 46] == 1  # elbow: lower arm, not upper arm
    assert masks[PART_NAMES.index("right_upper_arm"), 52, 50] == 1  # shoulder: upper arm, not torso
    assert masks[PART_NAMES.index("head"), 28, 64] == 1


def test_limb_map_is_the_similarity_through_both_joints():
    a, b = body(STAND), body(STAND)
    b[4] = (18, 80, 1)  # right forearm turned 90 degrees about the elbow
    usable = np.ones(18, bool)
    m = part_map("right_lower_arm", a, b, usable)
    np.testing.assert_allclose(apply(m, a[[3, 4], :2].astype(float)), b[[3, 4], :2], atol=1e-9)
    np.testing.assert_allclose(m[:, :2], [[0, -1], [1, 0]], atol=1e-12)  # down -> left
    usable[4] = False
    assert part_map("right_lower_arm", a, b, usable) is None
    assert part_map("right_upper_arm", a, b, usable) is not None


def test_torso_map_is_the_least_squares_affine_with_a_collinear_fallback():
    a = body(STAND)
    affine = np.array([[1.1, 0.2, 5.0], [-0.1, 0.9, -3.0]])
    b = a.copy()
    b[:, :2] = apply(affine, a[:, :2].astype(float))
    usable = np.ones(18, bool)
    np.testing.assert_allclose(part_map("torso", a, b, usable), affine, atol=1e-4)
    np.testing.assert_allclose(part_map("head", a, b, usable), affine, atol=1e-4)
    usable[[8, 11]] = False  # neck and shoulders only: nearly collinear, so a similarity
    m = part_map("torso", a, b, usable)
    assert m[0, 0] == pytest.approx(m[1, 1]) and m[0, 1] == pytest.approx(-m[1, 0])
    usable[[2, 5]] = False
    assert part_map("torso", a, b, usable) is None
    assert fit_affine(np.zeros((3, 2)), np.ones((3, 2))) is None


def test_compose_and_invert():
    f = np.array([[0.0, -2.0, 1.0], [2.0, 0.0, 3.0]])
    g = np.array([[1.0, 0.5, -4.0], [0.0, 1.0, 2.0]])
    xy = np.array([[3.0, 7.0], [-1.0, 2.0]])
    np.testing.assert_allclose(apply(compose(f, g), xy), apply(g, apply(f, xy)))
    np.testing.assert_allclose(apply(invert(f), apply(f, xy)), xy)


def test_path_maps_compose_to_the_direct_limb_map():
    a, b = body(STAND), body(STAND)
    b[3], b[4] = (30, 40, 1), (60, 20, 1)  # right arm raised and bent across
    for steps in (1, 2, 7):
        maps = path_maps(a, b, steps, 128, 160, PART_NAMES)
        for name in ("right_upper_arm", "right_lower_arm"):
            np.testing.assert_allclose(maps[name], part_map(name, a, b, np.ones(18, bool)), atol=1e-4)
        np.testing.assert_allclose(maps["torso"], np.eye(2, 3), atol=1e-5)
