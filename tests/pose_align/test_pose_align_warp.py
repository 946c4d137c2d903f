"""Pose alignment on synthetic images: identity, whole-pose motions, a textured forearm, recurrent steps."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from pose_models.pose import Person, PoseFrame, limb_masks
from pose_models.pose_align import PART_NAMES, align_pose

H, W = 160, 128
STAND = {0: (64, 30), 1: (64, 50), 2: (50, 52), 3: (46, 80), 4: (46, 108), 5: (78, 52), 6: (82, 80),
         7: (82, 108), 8: (56, 100), 9: (55, 125), 10: (54, 150), 11: (72, 100), 12: (73, 125),
         13: (74, 150), 14: (60, 27), 15: (68, 27), 16: (56, 29), 17: (72, 29)}
ELBOW, WRIST = 3, 4
TOL = 1e-4  # grid_sample at (almost) exact pixel centres


def frame(points: dict[int, tuple[float, float]], width: int = W, height: int = H) -> PoseFrame:
    b = np.zeros((18, 3), np.float32)
    for j, (x, y) in points.items():
        b[j] = (x, y, 1.0)
    return PoseFrame((Person(b),), width, height)


def moved(dx: float, dy: float, angle_deg: float = 0.0, centre: tuple[float, float] = (64, 80),
          points: dict[int, tuple[float, float]] = STAND) -> dict[int, tuple[float, float]]:
    c, s = math.cos(math.radians(angle_deg)), math.sin(math.radians(angle_deg))
    out = {}
    for j, (x, y) in points.items():
        u, v = x - centre[0], y - centre[1]
        out[j] = (centre[0] + c * u - s * v + dx, centre[1] + s * u + c * v + dy)
    return out


def noise_image(seed: int = 0) -> torch.Tensor:
    return torch.rand(1, H, W, 3, generator=torch.Generator().manual_seed(seed))


def coordinate_image() -> torch.Tensor:
    """Colour encodes the pixel: r = x / W, g = y / H (bilinear sampling reproduces it exactly)."""
    ys, xs = torch.meshgrid(torch.arange(H, dtype=torch.float64), torch.arange(W, dtype=torch.float64),
                            indexing="ij")
    return torch.stack([xs / W, ys / H, torch.full_like(xs, 0.5)], dim=-1)[None]


@pytest.mark.parametrize("steps", [1, 3])
def test_identity_reproduces_the_person(steps):
    image = noise_image()
    result = align_pose(image, frame(STAND), frame(STAND), steps=steps)
    covered = result.coverage[0] > 1 - 1e-4
    assert (result.image[0] - image[0]).abs()[covered].max() < TOL
    assert (result.image[0][result.coverage[0] == 0] == 0).all()  # background 0 where nothing landed
    capsules = torch.from_numpy(limb_masks(frame(STAND), width_px=8).max(axis=0)) > 0
    assert covered[capsules].all()
    assert result.skipped == ((),)
    assert torch.equal(result.part_masks.sum(1), result.coverage)
    masks = result.part_masks
    assert ((masks < TOL) | (masks > 1 - TOL)).all()  # hard source masks stay hard


def test_whole_pose_translation_translates_the_image():
    image = noise_image(1)
    dx, dy = 9, -6
    still = align_pose(image, frame(STAND), frame(STAND))
    shifted = align_pose(image, frame(STAND), frame(moved(dx, dy)))
    # output (x + 9, y - 6) shows input (x, y)
    np.testing.assert_allclose(shifted.coverage[0, :-6, 9:], still.coverage[0, 6:, :-9], atol=TOL)
    np.testing.assert_allclose(shifted.part_masks[0, :, :-6, 9:], still.part_masks[0, :, 6:, :-9], atol=TOL)
    covered = still.coverage[0, 6:, :-9] > 1 - 1e-4
    assert covered.sum() > 2000
    moved_pixels = shifted.image[0, :-6, 9:][covered]
    assert (moved_pixels - image[0, 6:, :-9][covered]).abs().max() < TOL


@pytest.mark.parametrize("steps", [1, 4])
def test_whole_pose_rotation_moves_every_part_rigidly(steps):
    angle = 30.0
    result = align_pose(coordinate_image(), frame(STAND), frame(moved(0, 0, angle)), steps=steps)
    assert result.image.dtype == torch.float64
    inside = result.coverage[0] > 1 - 1e-9
    # pull every covered output pixel back through the rotation: its colour must name that source pixel
    ys, xs = torch.nonzero(inside, as_tuple=True)
    c, s = math.cos(math.radians(angle)), math.sin(math.radians(angle))
    u, v = xs.double() - 64, ys.double() - 80
    src_x, src_y = 64 + c * u + s * v, 80 - s * u + c * v
    colours = result.image[0][inside]
    assert (colours[:, 0] * W - src_x).abs().max() < 1e-3
    assert (colours[:, 1] * H - src_y).abs().max() < 1e-3
    for part in range(len(PART_NAMES)):
        assert result.part_masks[0, part].sum() > 20


def forearm_image() -> torch.Tensor:
    """Grey figure-free canvas with a red forearm along the right forearm, striped across the bone.

    The stripe level (green channel) at distance t below the elbow is ``0.5 * ((t // 4) % 2)``.
    """
    image = torch.full((1, H, W, 3), 0.3)
    (ex, ey), (_, wy) = STAND[ELBOW], STAND[WRIST]
    for t in range(0, wy - ey + 1):
        row = ey + t
        image[0, row, ex - 5:ex + 6] = torch.tensor([1.0, 0.5 * ((t // 4) % 2), 0.0])
    return image


def is_red(pixels: torch.Tensor) -> torch.Tensor:
    return (pixels[..., 0] > 0.9) & (pixels[..., 2] < 0.1)


@pytest.mark.parametrize("steps", [1, 4])
def test_forearm_texture_lands_on_the_turned_forearm(steps):
    image = forearm_image()
    ex, ey = STAND[ELBOW]
    target = dict(STAND)
    target[WRIST] = (ex - 28, ey)  # forearm turned 90 degrees about the elbow: pointing left
    result = align_pose(image, frame(STAND), frame(target), steps=steps)
    out = result.image[0]
    ts = range(6, 27)  # along the bone, clear of the elbow cap
    new_axis = torch.stack([out[ey, ex - t] for t in ts])
    old_axis = torch.stack([out[ey + t, ex] for t in ts])
    assert is_red(new_axis).all()
    assert not is_red(old_axis).any()
    source_stripes = torch.stack([image[0, ey + t, ex, 1] for t in ts])
    assert (new_axis[:, 1] - source_stripes).abs().max() < 1e-3  # the stripes keep their order and pitch
    across = out[ey - 4:ey + 5, ex - 20]  # the width turned too: red across the new bone
    assert is_red(across).all()
    lower_arm = result.part_masks[0, PART_NAMES.index("right_lower_arm")]
    assert lower_arm[ey, ex - 20] == pytest.approx(1) and lower_arm[ey + 20, ex] == 0


def test_steps_do_not_change_where_limbs_land():
    target = dict(STAND)
    target[3], target[4] = (30, 40), (60, 20)  # right arm raised, forearm swung over the head
    target[9], target[10] = (40, 120), (30, 145)
    image = noise_image(2)
    direct = align_pose(image, frame(STAND), frame(target), steps=1)
    stepped = align_pose(image, frame(STAND), frame(target), steps=6)
    torch.testing.assert_close(stepped.part_masks, direct.part_masks, atol=1e-3, rtol=0)
    torch.testing.assert_close(stepped.image, direct.image, atol=1e-3, rtol=0)


def test_background_fills_uncovered_pixels():
    result = align_pose(noise_image(), frame(STAND), frame(STAND), background=0.5)
    uncovered = result.coverage[0] == 0
    assert uncovered.any() and (result.image[0][uncovered] == 0.5).all()
