"""Contract shared by both fields: f >= 0, batch independence, finite gradients, missing joints masked."""

from __future__ import annotations

import pytest
import torch
from data_files import deepfashion_csv

from pose_models.pose_field import KinematicPriorField, LearnedPoseField, load_pose_table, scorable
from pose_models.pose_field.learned import FEATURES_V1, FieldConfig
from pose_models.pose_field.skeleton import mirror_keypoints


def canonical_pose() -> torch.Tensor:
    """A frontal standing pose on the 176 x 256 DeepFashion canvas, ``[1, 18, 3]``."""
    xy = [(88, 33), (88, 60), (68, 62), (62, 99), (60, 132), (108, 62), (114, 99), (116, 132), (75, 130),
          (74, 186), (73, 240), (101, 130), (102, 186), (103, 240), (84, 29), (92, 29), (78, 32), (98, 32)]
    return torch.tensor([[x, y, 1.0] for x, y in xy])[None]


def fields() -> list[torch.nn.Module]:
    """Both fields; the learned one with seeded random weights (the contract holds for any weights), with
    the current and the previous (v1) feature set."""
    with torch.random.fork_rng():
        torch.manual_seed(0)
        learned = LearnedPoseField(FieldConfig(hidden=(32, 32))).eval()
        v1_config = FieldConfig(hidden=(32, 32), features=FEATURES_V1, symmetric=False)
        learned_v1 = LearnedPoseField(v1_config).eval()
    return [KinematicPriorField(), learned, learned_v1]


def field_id(field: torch.nn.Module) -> str:
    return field.kind if field.kind == "analytic" else f"learned-{field.config.features.rsplit('/', 1)[-1]}"


@pytest.fixture(scope="module")
def real_poses() -> torch.Tensor:
    keypoints = load_pose_table(deepfashion_csv()).keypoints
    return keypoints[scorable(keypoints)][:300]


def messy_batch(real: torch.Tensor) -> torch.Tensor:
    """Real poses, random garbage, a pose with missing joints, an empty pose, coincident joints."""
    generator = torch.Generator().manual_seed(3)
    garbage = torch.rand(8, 18, 3, generator=generator) * torch.tensor([176.0, 256.0, 1.0])
    holes = canonical_pose().clone()
    holes[0, [3, 4, 9, 14, 16], 2] = 0.0
    holes[0, [3, 4], :2] = float("nan")  # missing joints may carry any coordinates
    empty = torch.zeros(1, 18, 3)
    stacked = canonical_pose().clone()
    stacked[0, [14, 16], :2] = stacked[0, 0, :2]  # eye and ear on the nose pixel
    stacked[0, 3, :2] = stacked[0, 2, :2]  # zero-length upper arm
    return torch.cat([real[:40], garbage, holes, empty, stacked])


@pytest.mark.parametrize("field", fields(), ids=field_id)
def test_nonnegative_and_batch_independent(field, real_poses):
    batch = messy_batch(real_poses)
    with torch.no_grad():
        together = field(batch)
        alone = torch.cat([field(batch[i : i + 1]) for i in range(len(batch))])
    assert together.shape == (len(batch),)
    assert torch.isfinite(together).all()
    assert (together >= 0).all()
    torch.testing.assert_close(together, alone, rtol=1e-5, atol=1e-6)
    assert together[-2] == 0  # an empty pose is not scorable: no evidence, distance 0


@pytest.mark.parametrize("field", fields(), ids=field_id)
def test_gradients_finite_and_masked(field, real_poses):
    batch = messy_batch(real_poses)
    xy = torch.nan_to_num(batch[..., :2]).requires_grad_(True)
    conf = batch[..., 2:].clone().requires_grad_(True)
    field(torch.cat([xy, conf], -1)).sum().backward()
    assert torch.isfinite(xy.grad).all()
    missing = batch[..., 2] == 0
    assert (xy.grad[missing] == 0).all()
    assert (conf.grad == 0).all()  # confidences are a mask only


def test_gradient_nonzero_for_invalid_poses():
    bad = canonical_pose().clone()
    bad[0, 4, :2] = torch.tensor([60.0, 170.0])  # forearm twice its length
    analytic = KinematicPriorField()
    xy = bad[..., :2].clone().requires_grad_(True)
    value = analytic(torch.cat([xy, bad[..., 2:]], -1))
    value.sum().backward()
    assert value.item() > 0
    assert xy.grad[0, 4].abs().sum() > 0
    learned = fields()[1]
    noise = torch.randn(1, 18, 2, generator=torch.Generator().manual_seed(1))
    xy = (canonical_pose()[..., :2] + 5 * noise).requires_grad_(True)
    learned(torch.cat([xy, canonical_pose()[..., 2:]], -1)).sum().backward()
    assert xy.grad.abs().sum() > 0


@pytest.mark.parametrize("field", fields(), ids=field_id)
def test_invariant_to_translation_and_scale(field, real_poses):
    poses = real_poses[:20]
    moved = poses.clone()
    moved[..., :2] = (poses[..., :2] * 2.5 + torch.tensor([300.0, -40.0])) * (poses[..., 2:] > 0)
    with torch.no_grad():
        torch.testing.assert_close(field(moved), field(poses), rtol=1e-3, atol=1e-4)


def test_bad_shapes_raise():
    with pytest.raises(ValueError, match=r"\[B, 18, 3\]"):
        KinematicPriorField()(torch.zeros(2, 17, 3))
    with pytest.raises(TypeError):
        KinematicPriorField()([[0.0] * 3] * 18)


def test_symmetric_learned_field_is_mirror_invariant(real_poses):
    symmetric, one_sided = fields()[1], fields()[2]
    assert symmetric.config.symmetric and not one_sided.config.symmetric
    with torch.no_grad():
        torch.testing.assert_close(symmetric(mirror_keypoints(real_poses)), symmetric(real_poses))
        assert not torch.allclose(one_sided(mirror_keypoints(real_poses)), one_sided(real_poses))
