"""Learned field: a quick in-test training reaches a held-out AUC, safetensors round trip, projection."""

from __future__ import annotations

import json

import pytest
import torch
from data_files import deepfashion_csv
from safetensors.torch import save_file

from pose_models.pose import BONES
from pose_models.pose_field import (
    FieldConfig,
    KinematicPriorField,
    LearnedPoseField,
    TrainConfig,
    evaluate_fields,
    load_field,
    load_learned_field,
    load_pose_table,
    project,
    roc_auc,
    save_learned_field,
    scorable,
    train_field,
    train_split,
)
from pose_models.pose_field.learned import FEATURES_V1, PARENT_BONE, pose_features
from pose_models.pose_field.perturb import (
    TRAINING_LIMB_BONES,
    choose_limbs,
    rotate_bones,
    rotate_one_limb,
    single_limb_rotations,
)
from pose_models.pose_field.skeleton import NUM_BONES, body_frame, normalised_points

QUICK = TrainConfig(epochs=100, max_steps=250, batch_size=128, samples_per_pose=4, lr=3e-3,
                    field=FieldConfig(hidden=(128, 128), members=1))
"""A short CPU training of one small member (single-limb rotations and the ranking term included)."""


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Train on one thread, as the CLI does: on a busy 2-core machine two threads contend and crawl."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def split() -> tuple[torch.Tensor, torch.Tensor]:
    table = load_pose_table(deepfashion_csv())
    train = train_split(table.names)
    return table.keypoints[train], table.keypoints[~train]


@pytest.fixture(scope="module")
def quick_field(split) -> LearnedPoseField:
    return train_field(split[0], QUICK)


def test_split_is_by_item_and_stable():
    names = ["fashionMENid0000123401_1front.jpg", "fashionMENid0000123402_2side.jpg",
             "fashionWOMENid0000999901_1front.jpg", "no-item.jpg"]
    split = train_split(names)
    assert split[0] == split[1]  # two photos of one item stay together
    assert torch.equal(split, train_split(list(reversed(names))).flip(0))
    table = load_pose_table(deepfashion_csv())
    fraction = train_split(table.names).float().mean().item()
    assert 0.75 < fraction < 0.85


def test_quick_training_separates_real_from_rotated_held_out(quick_field, split):
    rows = evaluate_fields({"quick": quick_field}, split[1], deltas=(0.4,), protocols=("limb",))
    assert rows[0].n > 300
    assert rows[0].auc > 0.78, rows


def test_training_is_deterministic(split):
    config = TrainConfig(epochs=1, max_steps=3, batch_size=64, samples_per_pose=2,
                         field=FieldConfig(hidden=(16,)))
    a, b = train_field(split[0], config), train_field(split[0], config)
    for (name, x), (_, y) in zip(a.state_dict().items(), b.state_dict().items(), strict=True):
        assert torch.equal(x, y), name


def test_safetensors_round_trip(quick_field, split, tmp_path):
    path = save_learned_field(quick_field, tmp_path / "field.safetensors", {"seed": 0})
    loaded = load_learned_field(path)
    assert loaded.config.hidden == (128, 128)  # sizes come from the file's metadata
    assert loaded.config.members == 1 and loaded.config.symmetric
    assert loaded.training_settings == {"seed": 0}
    poses = split[1][:200]
    with torch.no_grad():
        assert torch.equal(loaded(poses), quick_field(poses))
    assert isinstance(load_field(path), LearnedPoseField)
    assert isinstance(load_field("analytic"), KinematicPriorField)


def test_foreign_or_mismatched_files_rejected(quick_field, tmp_path):
    foreign = tmp_path / "foreign.safetensors"
    save_file({"w": torch.zeros(2)}, str(foreign), metadata={"format": "something-else"})
    with pytest.raises(ValueError, match="not a pose field file"):
        load_learned_field(foreign)
    bad = tmp_path / "bad.safetensors"
    tensors = {k: v.contiguous() for k, v in quick_field.state_dict().items()}
    save_file(tensors, str(bad), metadata={"format": "pose-transfer.pose-field.mlp.v1", "config": json.dumps(
        {"hidden": [64, 64], "softplus_beta": 10.0, "features": quick_field.config.features, "members": 1})})
    with pytest.raises(ValueError, match="do not match"):
        load_learned_field(bad)
    future = tmp_path / "future.safetensors"
    future_config = {"hidden": [128, 128], "softplus_beta": 10.0, "features": "something/v9"}
    save_file(tensors, str(future), metadata={"format": "pose-transfer.pose-field.mlp.v1",
                                              "config": json.dumps(future_config)})
    with pytest.raises(ValueError, match="feature set 'something/v9'.*retrain it with"):
        load_learned_field(future)
    with pytest.raises(FileNotFoundError):
        load_field(tmp_path / "missing.safetensors")


def test_v1_field_files_still_load(split, tmp_path):
    """Files of the previous feature set (no joint angles) load and score exactly as saved."""
    config = TrainConfig(epochs=1, max_steps=3, batch_size=64, samples_per_pose=2,
                         field=FieldConfig(hidden=(16,), features=FEATURES_V1, symmetric=False, members=1))
    old = train_field(split[0], config)
    path = tmp_path / "old.safetensors"  # written the way the v1 code wrote it
    v1_config = {"hidden": [16], "softplus_beta": 10.0, "features": "xy+dir+loglen+mask/v1"}
    v1_tensors = {k.replace("nets.0.", "net.", 1): v.contiguous() for k, v in old.state_dict().items()}
    save_file(v1_tensors, str(path),
              metadata={"format": "pose-transfer.pose-field.mlp.v1", "config": json.dumps(v1_config)})
    loaded = load_learned_field(path)
    assert loaded.config.features == FEATURES_V1
    assert loaded.config.members == 1 and not loaded.config.symmetric
    with torch.no_grad():
        assert torch.equal(loaded(split[1][:100]), old(split[1][:100]))


def test_joint_angle_features_see_exactly_the_rotated_joint(split):
    """Turning one bone by delta turns its (cos, sin) relative to the parent by delta, and the child bone's
    relative angle and every length ratio stay put."""
    poses = split[0][scorable(split[0])][:200]
    bone = 2  # right upper arm at the shoulder; its child is the forearm (bone 3)
    ok = (poses[:, [2, 3, 4], 2] > 0).all(-1)
    ok &= (poses[:, 2, :2] - poses[:, 1, :2]).norm(dim=-1) > 3  # a shoulder bone with a direction
    poses = poses[ok]
    angles = torch.zeros(len(poses), NUM_BONES)
    angles[:, bone] = 0.4
    turned = rotate_bones(poses, angles)

    def relative(kp: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        frame = body_frame(kp)
        feats = pose_features(normalised_points(frame), frame.visible)
        start = 18 * 2 + NUM_BONES * 3
        end = start + 2 * NUM_BONES
        return feats[:, start:end].view(-1, NUM_BONES, 2), feats[:, end:]

    (rel_a, tail_a), (rel_b, tail_b) = relative(poses), relative(turned)
    angle_a = torch.atan2(rel_a[:, bone, 1], rel_a[:, bone, 0])
    angle_b = torch.atan2(rel_b[:, bone, 1], rel_b[:, bone, 0])
    assert PARENT_BONE[bone] == 0 and PARENT_BONE[3] == bone
    torch.testing.assert_close(torch.remainder(angle_b - angle_a + torch.pi, 2 * torch.pi) - torch.pi,
                               torch.full_like(angle_a, 0.4), atol=1e-4, rtol=0)
    torch.testing.assert_close(rel_b[:, 3], rel_a[:, 3], atol=1e-4, rtol=0)
    torch.testing.assert_close(tail_b, tail_a, atol=1e-4, rtol=0)


def test_single_limb_training_rotations_turn_one_visible_limb(split):
    poses = split[0][:300]
    angles, size = single_limb_rotations(poses, torch.Generator().manual_seed(0), (0.1, 1.0))
    turned = angles != 0
    has_limb = torch.zeros(len(poses), dtype=torch.bool)
    for b in TRAINING_LIMB_BONES:
        parent, child = BONES[b]
        has_limb |= (poses[:, parent, 2] > 0) & (poses[:, child, 2] > 0)
    assert torch.equal(turned.sum(-1), has_limb.long())
    assert set(turned.nonzero()[:, 1].tolist()) <= set(TRAINING_LIMB_BONES)
    torch.testing.assert_close(angles.abs().sum(-1), size)
    assert ((size[has_limb] >= 0.1) & (size[has_limb] <= 1.0)).all()


@pytest.mark.parametrize("which", ["analytic", "learned"])
def test_projection_lowers_the_field(which, quick_field, split):
    field = quick_field if which == "learned" else KinematicPriorField()
    real = split[1][scorable(split[1])][:64]
    bone, sign, ok = choose_limbs(real, "limb", torch.Generator().manual_seed(5))
    broken = rotate_one_limb(real[ok], bone[ok], sign[ok], 0.8, round_pixels=False)
    if which == "analytic":  # rotations mostly stay anatomically possible: stretch the forearms too
        broken[:, 4, :2] = broken[:, 3, :2] + 2.2 * (broken[:, 4, :2] - broken[:, 3, :2])
        broken[:, 4, 2] = broken[:, 3, 2] * broken[:, 4, 2]
    with torch.no_grad():
        before = field(broken)
    repaired = project(broken, field, steps=15)
    with torch.no_grad():
        after = field(repaired)
    assert (after <= before + 1e-6).all()
    assert after.mean() < 0.6 * before.mean()
    assert torch.equal(repaired[..., 2], broken[..., 2])
    missing = broken[..., 2] == 0
    assert torch.equal(repaired[missing], broken[missing])


def test_roc_auc_matches_pairwise_definition():
    generator = torch.Generator().manual_seed(0)
    neg = torch.randint(0, 6, (40,), generator=generator).double().numpy()
    pos = torch.randint(2, 9, (30,), generator=generator).double().numpy()
    pairwise = sum((p > n) + 0.5 * (p == n) for p in pos for n in neg) / (len(pos) * len(neg))
    assert roc_auc(neg, pos) == pytest.approx(pairwise)
    assert roc_auc([0.0, 1.0], [2.0, 3.0]) == 1.0
    assert roc_auc([1.0, 1.0], [1.0]) == 0.5
