"""SCHP pre/post-processing: the affine crop against OpenCV, normalisation, round trips."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from pose_models.parsing import crop_transform
from pose_models.parsing.transforms import MEAN_BGR, STD_BGR, affine_sample, to_image_logits, to_network_input

SIZES = [(40, 56), (300, 200), (77, 77), (9, 400)]
INPUTS = [(473, 473), (512, 512), (65, 65), (96, 64)]


def three_point_matrix(height: int, width: int, input_size: tuple[int, int]) -> np.ndarray:
    """The crop as SCHP builds it: box -> centre/scale, then cv2.getAffineTransform of three points."""
    aspect = input_size[1] / input_size[0]
    w, h = width - 1.0, height - 1.0
    center = np.array([w / 2, h / 2])
    if w > aspect * h:
        h = w / aspect
    elif w < aspect * h:
        w = h * aspect
    out_w, out_h = input_size[1] - 1, input_size[0] - 1
    out_c = np.array([out_w / 2, out_h / 2])
    # Centre, a point half the box width above it, and the point to the left of that (both sides scale
    # with the width, as in SCHP's get_affine_transform).
    src = np.array([center, center + [0, -w / 2], center + [-w / 2, -w / 2]], np.float32)
    dst = np.array([out_c, out_c + [0, -out_w / 2], out_c + [-out_w / 2, -out_w / 2]], np.float32)
    return cv2.getAffineTransform(src, dst)


def smooth_image(height: int, width: int, seed: int = 0, cell: int = 8) -> np.ndarray:
    """``float32 [H, W, 3]`` in ``[0, 1]``: noise on a ``cell``-pixel grid, bicubic-upsampled (smooth)."""
    grid = (max(2, height // cell), max(2, width // cell), 3)
    small = np.random.default_rng(seed).random(grid, dtype=np.float32)
    return np.clip(cv2.resize(small, (width, height), interpolation=cv2.INTER_CUBIC), 0, 1)


@pytest.mark.parametrize("image_size", SIZES)
@pytest.mark.parametrize("input_size", INPUTS)
def test_matrices_match_the_official_construction(image_size, input_size):
    t = crop_transform(image_size, input_size)
    forward = t.image_to_input()
    np.testing.assert_allclose(forward, three_point_matrix(*image_size, input_size), atol=1e-4)
    back = np.vstack([t.input_to_image(), [0, 0, 1]]) @ np.vstack([forward, [0, 0, 1]])
    np.testing.assert_allclose(back, np.eye(3), atol=1e-9)
    # The whole image fits the input, touching it on the limiting side, and is centred.
    h, w = image_size
    corners = forward @ np.array([[0, w - 1, 0, w - 1], [0, 0, h - 1, h - 1], [1, 1, 1, 1]])
    assert corners.min() > -1e-9 and (corners[0].max() < input_size[1]) and corners[1].max() < input_size[0]
    np.testing.assert_allclose(forward @ [(w - 1) / 2, (h - 1) / 2, 1],
                               [(input_size[1] - 1) / 2, (input_size[0] - 1) / 2], atol=1e-9)


@pytest.mark.parametrize("image_size", [(300, 200), (40, 56)])
def test_crop_matches_cv2_warp_affine_and_normalises_bgr(image_size):
    h, w = image_size
    rgb = smooth_image(h, w)
    t = crop_transform(image_size, (96, 64))
    net_input = to_network_input(torch.from_numpy(rgb).permute(2, 0, 1)[None], t)[0]
    assert net_input.shape == (3, 96, 64) and net_input.dtype == torch.float32
    bgr = np.ascontiguousarray(rgb[..., ::-1])
    reference = cv2.warpAffine(bgr, t.image_to_input(), (64, 96), flags=cv2.INTER_LINEAR,
                               borderMode=cv2.BORDER_CONSTANT, borderValue=(0, 0, 0))
    mean, std = torch.tensor(MEAN_BGR).view(3, 1, 1), torch.tensor(STD_BGR).view(3, 1, 1)
    unnormalised = net_input * std + mean
    # OpenCV quantises sub-pixel positions to 1/32 px; on a smooth image that is well under 1 %.
    assert (unnormalised - torch.from_numpy(reference).permute(2, 0, 1)).abs().max() < 0.01


def test_padding_is_black_before_normalisation():
    t = crop_transform((20, 80), (64, 64))  # wide image: bands above and below
    white = torch.ones(1, 3, 20, 80)
    net_input = to_network_input(white, t)[0]
    black = (-torch.tensor(MEAN_BGR) / torch.tensor(STD_BGR)).view(3, 1)
    inside = ((1 - torch.tensor(MEAN_BGR)) / torch.tensor(STD_BGR)).view(3, 1)
    assert torch.allclose(net_input[:, 0], black.expand(3, 64), atol=1e-6)
    assert torch.allclose(net_input[:, 32], inside.expand(3, 64), atol=1e-6)


@pytest.mark.parametrize("image_size", [(300, 200), (120, 180)])
def test_crop_then_inverse_round_trips(image_size):
    rgb = torch.from_numpy(smooth_image(*image_size, seed=3, cell=20)).permute(2, 0, 1)[None]
    t = crop_transform(image_size, (473, 473))  # upsampling both ways: the round trip is near exact
    crop = affine_sample(rgb, t.input_to_image(), t.input_size)
    back = affine_sample(crop, t.image_to_input(), t.image_size)
    assert back.shape == rgb.shape
    error = (back - rgb)[..., 1:-1, 1:-1].abs()
    assert error.max() < 0.02 and error.mean() < 0.002


def test_logits_go_back_like_the_official_upsample_and_inverse_warp():
    torch.manual_seed(0)
    image_size, input_size = (150, 100), (96, 96)
    t = crop_transform(image_size, input_size)
    logits = torch.randn(1, 5, 24, 24)
    result = to_image_logits(logits, t)
    assert result.shape == (1, 5, 150, 100) and result.dtype == torch.float32
    up = F.interpolate(logits, size=input_size, mode="bilinear", align_corners=True)[0].numpy()
    reference = np.stack([cv2.warpAffine(channel, t.input_to_image(), (100, 150), flags=cv2.INTER_LINEAR,
                                         borderMode=cv2.BORDER_CONSTANT, borderValue=0) for channel in up])
    assert np.abs(result[0].numpy() - reference).max() < 0.05
    assert (result[0].argmax(0).numpy() == reference.argmax(0)).mean() > 0.99
