"""People with nothing to use (no joints, all joints on one point) and the lazily drawn pose maps."""

from __future__ import annotations

import numpy as np
import pytest

from pose_models.pose import (
    PoseFormatError,
    PoseMaps,
    body_mask,
    from_pose_keypoint,
    limb_masks,
    render_heatmaps,
    require_person,
)


def frame(body: np.ndarray) -> object:
    return from_pose_keypoint([{"people": [{"pose_keypoints_2d": body.ravel().tolist()}],
                                "canvas_width": 64, "canvas_height": 64}])[0]


def standing() -> np.ndarray:
    rng = np.random.default_rng(3)
    return np.concatenate([rng.uniform(5, 60, (18, 2)), np.ones((18, 1))], axis=1)


def test_a_person_without_joints_or_on_one_point_is_refused_when_joints_are_needed():
    empty = frame(np.zeros((18, 3)))
    assert require_person(empty, 0, what="x").body.shape == (18, 3)  # the default asks for no joints
    with pytest.raises(PoseFormatError, match="0 visible body joint"):
        require_person(empty, 0, what="CFLD Pose", min_joints=2)
    point = np.zeros((18, 3))
    point[:, :2], point[:, 2] = 30.0, 1.0
    with pytest.raises(PoseFormatError, match="on one point"):
        require_person(frame(point), 0, what="CFLD Pose", min_joints=2)
    single = np.zeros((18, 3))
    single[1] = (30.0, 30.0, 1.0)
    with pytest.raises(PoseFormatError, match="1 visible body joint"):
        require_person(frame(single), 0, what="x", min_joints=2)
    assert require_person(frame(standing()), 0, what="x", min_joints=2) is not None


def test_pose_maps_draw_the_same_maps_one_frame_at_a_time():
    frames = (frame(standing()), frame(np.zeros((18, 3))))
    heat = PoseMaps("heatmaps", frames, 40, 30, 3.0)
    limbs = PoseMaps("limb_masks", frames, 40, 30, 5.0)
    assert (len(heat), heat.channels, limbs.channels) == (2, 18, 17)
    assert heat.nbytes == 2 * 18 * 40 * 30 * 4
    for i, f in enumerate(frames):
        np.testing.assert_array_equal(heat.frame(i), render_heatmaps(f, 3.0, 40, 30))
        np.testing.assert_array_equal(limbs.stack()[i], limb_masks(f, 5.0, 40, 30))
        np.testing.assert_array_equal(body_mask(f, 5.0, 40, 30), limb_masks(f, 5.0, 40, 30).max(axis=0))
    with pytest.raises(PoseFormatError, match="kind"):
        PoseMaps("depth", frames, 40, 30, 3.0)
    with pytest.raises(PoseFormatError, match="limb width"):
        PoseMaps("limb_masks", frames, 40, 30, float("nan"))
    with pytest.raises(PoseFormatError, match="65536"):
        PoseMaps("heatmaps", frames, 10**9, 30, 3.0)
