"""Pose alignment inputs: missing joints, batches, parser masks, canvas scaling, dtypes/devices, errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from pose_models.pose import Person, PoseFormatError, PoseFrame
from pose_models.pose_align import PART_NAMES, align_pose

H, W = 160, 128
STAND = {0: (64, 30), 1: (64, 50), 2: (50, 52), 3: (46, 80), 4: (46, 108), 5: (78, 52), 6: (82, 80),
         7: (82, 108), 8: (56, 100), 9: (55, 125), 10: (54, 150), 11: (72, 100), 12: (73, 125),
         13: (74, 150), 14: (60, 27), 15: (68, 27), 16: (56, 29), 17: (72, 29)}
TURNED = {**STAND, 4: (18, 80)}  # right forearm turned 90 degrees about the elbow
TOL = 1e-4


def frame(points: dict[int, tuple[float, float]], width: int = W, height: int = H, scale: float = 1.0
          ) -> PoseFrame:
    b = np.zeros((18, 3), np.float32)
    for j, (x, y) in points.items():
        b[j] = (x * scale, y * scale, 1.0)
    return PoseFrame((Person(b),), width, height)


def without(points: dict[int, tuple[float, float]], *joints: int) -> dict[int, tuple[float, float]]:
    return {j: xy for j, xy in points.items() if j not in joints}


def noise_image(seed: int = 0, batch: int = 1) -> torch.Tensor:
    return torch.rand(batch, H, W, 3, generator=torch.Generator().manual_seed(seed))


def part(name: str) -> int:
    return PART_NAMES.index(name)


def test_missing_target_wrist_skips_only_the_lower_arm():
    image = noise_image()
    full = align_pose(image, frame(STAND), frame(STAND))
    result = align_pose(image, frame(STAND), frame(without(STAND, 4)))
    assert result.skipped == (("right_lower_arm",),)
    assert result.part_masks[0, part("right_lower_arm")].max() == 0
    others = [p for p in range(len(PART_NAMES)) if p != part("right_lower_arm")]
    torch.testing.assert_close(result.part_masks[0, others], full.part_masks[0, others])
    kept = result.coverage[0] > 1 - TOL
    assert (result.image[0] - image[0]).abs()[kept].max() < TOL
    forearm_pixels = full.part_masks[0, part("right_lower_arm")] > 0.5
    assert result.coverage[0][forearm_pixels].max() < TOL  # its pixels are dropped, not taken by others


def test_missing_source_elbow_skips_both_right_arm_parts():
    result = align_pose(noise_image(), frame(without(STAND, 3)), frame(STAND))
    assert result.skipped == (("right_upper_arm", "right_lower_arm"),)
    assert result.part_masks[0, part("left_lower_arm")].sum() > 100


def test_head_and_torso_fall_back_to_fewer_joints():
    """An upper-body crop (no hips, legs, eyes or ears) still moves its torso and head with the pose."""
    crop = without(STAND, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17)
    shifted = {j: (x + 5, y + 3) for j, (x, y) in crop.items()}
    image = noise_image(3)
    result = align_pose(image, frame(crop), frame(shifted))
    assert set(result.skipped[0]) == {"right_thigh", "right_shin", "left_thigh", "left_shin"}
    for name in ("torso", "head"):
        assert result.part_masks[0, part(name)].sum() > 200
    covered = result.coverage[0, 3:, 5:] > 1 - TOL
    assert (result.image[0, 3:, 5:] - image[0, :-3, :-5]).abs()[covered].max() < TOL
    torso = result.part_masks[0, part("torso")]
    assert torso[:, :].nonzero()[:, 0].max() > 52 + 3 + 30  # the torso reaches down past the shoulders


def test_batch_of_targets_equals_one_call_per_target():
    image = noise_image(4)
    targets = [frame(STAND), frame(TURNED), frame(without(STAND, 10))]
    batch = align_pose(image, frame(STAND), targets, steps=2)
    assert batch.image.shape == (3, H, W, 3)
    for i, target in enumerate(targets):
        single = align_pose(image, frame(STAND), target, steps=2)
        torch.testing.assert_close(batch.image[i], single.image[0], atol=1e-6, rtol=0)
        torch.testing.assert_close(batch.coverage[i], single.coverage[0], atol=1e-6, rtol=0)
        torch.testing.assert_close(batch.part_masks[i], single.part_masks[0], atol=1e-6, rtol=0)
        assert batch.skipped[i] == single.skipped[0]
    assert batch.skipped == ((), (), ("right_shin",))


def test_batch_of_sources_pairs_images_with_poses():
    images = noise_image(5, batch=2)
    sources = [frame(STAND), frame(TURNED)]
    paired = align_pose(images, sources, frame(STAND))
    for i in range(2):
        single = align_pose(images[i:i + 1], sources[i], frame(STAND))
        torch.testing.assert_close(paired.image[i], single.image[0], atol=1e-6, rtol=0)
    with pytest.raises(PoseFormatError, match="3 target poses for 2 images"):
        align_pose(images, sources, [frame(STAND)] * 3)
    with pytest.raises(PoseFormatError, match="3 source poses for 2 images"):
        align_pose(images, [frame(STAND)] * 3, frame(STAND))


def test_poses_are_scaled_from_their_canvas_to_the_image():
    image = noise_image(6)
    native = align_pose(image, frame(STAND), frame(TURNED))
    doubled = align_pose(image, frame(STAND, 2 * W, 2 * H, scale=2.0), frame(TURNED, 2 * W, 2 * H, scale=2.0))
    torch.testing.assert_close(doubled.image, native.image, atol=1e-5, rtol=0)


def silhouette() -> dict[str, torch.Tensor]:
    """Parser groups of a synthetic person: a body ellipse, a face disc, and the right arm as ``arms``."""
    ys, xs = torch.meshgrid(torch.arange(H, dtype=torch.float32), torch.arange(W, dtype=torch.float32),
                            indexing="ij")
    person = (((xs - 64) / 30) ** 2 + ((ys - 88) / 70) ** 2 <= 1).float()
    face = ((xs - 64) ** 2 + (ys - 30) ** 2 <= 12**2).float()
    arms = ((xs - 46).abs() <= 7) & (ys >= 55) & (ys <= 115)
    return {"person": person, "face": face, "arms": arms.float() * person, "background": 1 - person}


def test_parsing_masks_split_the_person_by_part():
    groups = silhouette()
    image = noise_image(7)
    result = align_pose(image, frame(STAND), frame(STAND), parsing=groups)
    person = groups["person"]
    torch.testing.assert_close(result.coverage[0], person, atol=TOL, rtol=0)  # every person pixel kept
    masks = result.part_masks[0]
    assert masks[part("head")][groups["face"] > 0].min() > 1 - TOL  # face pixels go to the head only
    arm_pixels = groups["arms"] > 0
    assert (masks[part("right_upper_arm")] + masks[part("right_lower_arm")])[arm_pixels].min() > 1 - TOL
    assert masks[part("torso")][arm_pixels].max() < TOL
    covered = result.coverage[0] > 1 - TOL
    assert (result.image[0] - image[0]).abs()[covered].max() < TOL


def test_parsing_path_and_shape_path_both_move_the_forearm():
    groups = silhouette()
    wrist_region = (slice(76, 85), slice(20, 36))  # along the turned forearm, clear of the elbow
    for parsing in (None, groups):
        still = align_pose(noise_image(), frame(STAND), frame(STAND), parsing=parsing)
        turned = align_pose(noise_image(), frame(STAND), frame(TURNED), parsing=parsing)
        lower_arm = turned.part_masks[0, part("right_lower_arm")]
        assert lower_arm[wrist_region].min() > 1 - TOL
        area = still.part_masks[0, part("right_lower_arm")].sum().item()
        assert lower_arm.sum().item() == pytest.approx(area, rel=0.05)


def test_parsing_masks_of_another_size_are_resized():
    groups = {name: m[None, ::2, ::2] for name, m in silhouette().items() if name in ("person", "face")}
    result = align_pose(noise_image(), frame(STAND), frame(STAND), parsing=groups)
    assert result.coverage.shape == (1, H, W)
    assert result.part_masks[0, part("head"), 30, 64] > 1 - TOL
    only_background = align_pose(noise_image(), frame(STAND), frame(STAND),
                                 parsing={"background": silhouette()["background"]})
    torch.testing.assert_close(only_background.coverage[0], silhouette()["person"], atol=TOL, rtol=0)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.bfloat16])
def test_output_contract(dtype):
    image = noise_image(8, batch=1).to(dtype)
    result = align_pose(image, frame(STAND), [frame(STAND), frame(TURNED)], steps=3, background=0.25)
    assert result.image.shape == (2, H, W, 3) and result.image.dtype == dtype
    assert result.coverage.shape == (2, H, W) and result.coverage.dtype == dtype
    assert result.part_masks.shape == (2, len(PART_NAMES), H, W) and result.part_masks.dtype == dtype
    assert result.part_names == PART_NAMES == (
        "torso", "right_thigh", "right_shin", "left_thigh", "left_shin",
        "right_upper_arm", "right_lower_arm", "left_upper_arm", "left_lower_arm", "head")
    for t in (result.image, result.coverage, result.part_masks):
        assert t.min() >= 0 and t.max() <= 1 and torch.isfinite(t).all()
    assert (result.image[result.coverage == 0] == 0.25).all()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_runs_on_the_image_device():
    image = noise_image().cuda()
    result = align_pose(image, frame(STAND), frame(TURNED), parsing={"person": silhouette()["person"]})
    assert result.image.device == image.device and result.part_masks.device == image.device
    cpu = align_pose(image.cpu(), frame(STAND), frame(TURNED), parsing={"person": silhouette()["person"]})
    torch.testing.assert_close(result.image.cpu(), cpu.image, atol=1e-4, rtol=0)


@pytest.mark.parametrize("kwargs, message", [
    ({"image": torch.rand(H, W, 3)}, "image must be a float tensor"),
    ({"image": torch.zeros(1, H, W, 3, dtype=torch.uint8)}, "image must be a float tensor"),
    ({"steps": 0}, "steps must be an integer"),
    ({"steps": True}, "steps must be an integer"),
    ({"background": 1.5}, "background must be a number"),
    ({"parsing": {"skin": torch.ones(H, W)}}, "unknown: \\['skin'\\]"),
    ({"parsing": {}}, "non-empty subset"),
    ({"parsing": {"person": torch.ones(3, H, W)}}, "must be \\[H, W\\] or \\[1, H, W\\]"),
    ({"target_pose": []}, "non-empty sequence"),
    ({"target_pose": PoseFrame((), W, H)}, "target pose 0 has no people"),
    ({"person": 1}, "person index 1 does not exist"),
])
def test_bad_input_is_explained(kwargs, message):
    args = {"image": noise_image(), "source_pose": frame(STAND), "target_pose": frame(STAND), **kwargs}
    with pytest.raises(ValueError, match=message):
        align_pose(**args)
