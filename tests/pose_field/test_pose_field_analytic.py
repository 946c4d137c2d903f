"""Analytic kinematic prior: canonical and real poses score (about) zero, each kind of violation raises f."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from data_files import deepfashion_csv

from pose_models.pose_field import KinematicPriorField, load_pose_table, scorable

FIELD = KinematicPriorField()


def canonical_pose() -> torch.Tensor:
    """A frontal standing pose on the 176 x 256 DeepFashion canvas, ``[1, 18, 3]`` (torso 70 px)."""
    xy = [(88, 33), (88, 60), (68, 62), (62, 99), (60, 132), (108, 62), (114, 99), (116, 132), (75, 130),
          (74, 186), (73, 240), (101, 130), (102, 186), (103, 240), (84, 29), (92, 29), (78, 32), (98, 32)]
    return torch.tensor([[x, y, 1.0] for x, y in xy])[None]


def side_view_pose(wrist: tuple[float, float]) -> torch.Tensor:
    """A side view facing image right (nose ahead of the visible ear, shoulders overlapping), right arm
    hanging with the given right wrist; the far ear, eye and left arm are hidden."""
    pose = canonical_pose().clone()
    points = {0: (104, 36), 1: (88, 60), 2: (86, 62), 3: (86, 100), 4: wrist, 5: (90, 62), 8: (86, 130),
              9: (88, 186), 10: (86, 240), 11: (90, 130), 12: (92, 186), 13: (90, 240), 14: (98, 30),
              16: (84, 32)}
    pose[0, :, 2] = 0.0
    for j, (x, y) in points.items():
        pose[0, j] = torch.tensor([x, y, 1.0])
    return pose


def with_points(pose: torch.Tensor, **points: tuple[float, float]) -> torch.Tensor:
    out = pose.clone()
    for name, (x, y) in points.items():
        out[0, int(name[1:]), :2] = torch.tensor([x, y])
    return out


def terms(pose: torch.Tensor) -> dict[str, float]:
    with torch.no_grad():
        return {k: float(v[0]) for k, v in FIELD.terms(pose).items()}


def f(pose: torch.Tensor) -> float:
    with torch.no_grad():
        return float(FIELD(pose)[0])


def test_canonical_pose_is_on_the_manifold():
    assert f(canonical_pose()) == 0.0
    assert f(side_view_pose((108, 126))) == 0.0  # elbow flexed forwards in a side view


def test_real_poses_score_low():
    keypoints = load_pose_table(deepfashion_csv()).keypoints
    with torch.no_grad():
        values = FIELD(keypoints[scorable(keypoints)]).numpy()
    assert len(values) > 1600
    assert np.median(values) == 0.0
    assert (values == 0).mean() > 0.85
    assert np.percentile(values, 95) < 0.15


def test_elbow_hyperextension_in_a_side_view():
    flexed, hyper = side_view_pose((108, 126)), side_view_pose((64, 126))
    assert terms(flexed)["bend"] == 0.0
    assert terms(hyper)["bend"] > 0.3
    assert f(hyper) > f(flexed) + 0.5


def test_bend_direction_ignored_when_facing_is_unknown():
    # Frontal view: the forearm may swing either way in the image (humerus rotation), no facing.
    out = with_points(canonical_pose(), j4=(40, 126))
    inward = with_points(canonical_pose(), j4=(84, 126))
    assert terms(out)["bend"] == terms(inward)["bend"] == 0.0


def test_swapped_left_right():
    swapped = canonical_pose()[:, [0, 1, 5, 6, 7, 2, 3, 4, *range(8, 18)]].clone()
    swapped[0, [2, 3, 4, 5, 6, 7], 2] = 1.0
    assert terms(swapped)["left_right"] > 0.3
    assert f(swapped) > 1.0
    # A consistent mirror (a back view) is fine.
    back = canonical_pose()[:, [0, 1, 5, 6, 7, 2, 3, 4, 11, 12, 13, 8, 9, 10, 15, 14, 17, 16]]
    assert terms(back)["left_right"] == 0.0


def test_bone_twice_too_long():
    pose = canonical_pose()
    elbow, wrist = pose[0, 3, :2], pose[0, 4, :2]
    long_forearm = with_points(pose, j4=tuple((elbow + 2 * (wrist - elbow)).tolist()))
    assert terms(long_forearm)["length"] > 0.2
    assert f(long_forearm) > 1.0
    # Foreshortening only shortens: a half-length forearm is fine.
    short = with_points(pose, j4=tuple((elbow + 0.5 * (wrist - elbow)).tolist()))
    assert f(short) == 0.0


def test_crossing_limbs():
    crossed = with_points(canonical_pose(), j3=(70, 100), j4=(100, 122), j6=(106, 100), j7=(76, 122))
    uncrossed = with_points(canonical_pose(), j3=(70, 100), j4=(76, 122), j6=(106, 100), j7=(100, 122))
    assert terms(uncrossed)["crossing"] == 0.0
    assert terms(crossed)["crossing"] > 0.01
    assert f(crossed) > f(uncrossed) + 0.1


def test_maximum_flexion():
    folded = with_points(canonical_pose(), j4=(66, 64))  # forearm folded flat onto the upper arm
    assert terms(folded)["flexion"] > 0.1
    assert f(folded) > 0.2


def test_unknown_weight_rejected():
    with pytest.raises(ValueError, match="unknown term"):
        KinematicPriorField({"lenght": 1.0})
