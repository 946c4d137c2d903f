"""Differentiable OpenPose body estimator: geometry, preprocessing, soft-argmax, targets, gradients."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest
import torch
from torch import nn

from pose_models.openpose_body import (
    BodyPoseNet,
    NetGeometry,
    OpenPoseBodyEstimator,
    frames_to_keypoints,
    heatmaps_to_keypoints,
    keypoints_to_frames,
    preprocess,
    render_target_heatmaps,
    soft_argmax_2d,
)
from pose_models.pose import Person, PoseFormatError, PoseFrame


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


@pytest.fixture(scope="module")
def random_net() -> BodyPoseNet:
    """Full-size network, He-normal weights (deterministic), frozen like a loaded model."""
    net = BodyPoseNet()
    gen = _gen(0)
    with torch.no_grad():
        for name, p in net.named_parameters():
            std = math.sqrt(2.0 / p[0].numel()) if name.endswith(".weight") else 0.01
            p.copy_(torch.randn(p.shape, generator=gen) * std)
    return net.requires_grad_(False).eval()


def _interior_keypoints(batch: int, height: int, width: int, margin: float, seed: int) -> torch.Tensor:
    kp = torch.rand(batch, 18, 3, generator=_gen(seed))
    kp[..., 0] = margin + kp[..., 0] * (width - 1 - 2 * margin)
    kp[..., 1] = margin + kp[..., 1] * (height - 1 - 2 * margin)
    kp[..., 2] = 1.0
    return kp


class TargetNet(nn.Module):
    """Stands in for the network: returns the target maps of fixed image-pixel keypoints."""

    def __init__(self, keypoints: torch.Tensor, geometry: NetGeometry) -> None:
        super().__init__()
        self.anchor = nn.Parameter(torch.zeros(()), requires_grad=False)
        self.maps = render_target_heatmaps(keypoints, geometry, include_background=True)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        b, _, h, w = x.shape
        assert (h % 8, w % 8) == (0, 0) and self.maps.shape[2:] == (h // 8, w // 8)
        heatmaps = self.maps + 0.0 * x.mean()
        return torch.zeros(b, 38, h // 8, w // 8), heatmaps


def test_geometry_of_the_reference_size() -> None:
    g = NetGeometry.for_image(512, 384)
    assert (g.net_height, g.net_width, g.padded_height, g.padded_width) == (368, 276, 368, 280)
    assert (g.heatmap_height, g.heatmap_width) == (46, 35)
    g = NetGeometry.for_image(64, 48, box_size=64)
    assert (g.padded_height, g.padded_width, g.heatmap_height, g.heatmap_width) == (64, 48, 8, 6)
    for bad in [(0, 5, 8), (5, 5.0, 8), (5, 5, True)]:
        with pytest.raises(ValueError, match="positive whole number"):
            NetGeometry.for_image(*bad)


def test_heatmap_cells_map_to_image_pixels() -> None:
    g = NetGeometry.for_image(184, 100, box_size=368)  # x2 to the network: 368 x 200, cells 46 x 25
    assert (g.heatmap_height, g.heatmap_width) == (46, 25)
    # cell (col 5, row 10) covers network pixels 40..47 x 80..87, centre (43.5, 83.5) -> image /2
    image_xy = g.heatmap_to_image(torch.tensor([5.0, 10.0]))
    assert torch.allclose(image_xy, torch.tensor([21.5, 41.5]))
    pts = torch.rand(7, 2, generator=_gen(3)) * 100
    assert torch.allclose(g.image_to_heatmap(g.heatmap_to_image(pts)), pts, atol=1e-5)


def test_preprocess_matches_the_official_recipe_without_resize() -> None:
    rgb = torch.rand(1, 3, 21, 13, generator=_gen(4))
    out = preprocess(rgb, NetGeometry.for_image(21, 13, box_size=21))
    bgr_255 = rgb[0].numpy()[::-1] * 255.0
    expected = np.zeros((3, 24, 16), np.float32)  # grey 128 padding is 0 after /256 - 0.5
    expected[:, :21, :13] = bgr_255 / 256.0 - 0.5
    assert out.shape == (1, 3, 24, 16)
    np.testing.assert_allclose(out[0].numpy(), expected, atol=1e-6)


def test_preprocess_resize_is_half_pixel_aligned_like_cv2() -> None:
    rgb = torch.rand(1, 3, 23, 15, generator=_gen(5))
    out = preprocess(rgb, NetGeometry.for_image(23, 15, box_size=46))  # exactly x2 -> 46 x 30
    bgr_255 = np.ascontiguousarray(rgb[0].permute(1, 2, 0).numpy()[:, :, ::-1] * 255.0)
    resized = cv2.resize(bgr_255, (30, 46), interpolation=cv2.INTER_LINEAR) / 256.0 - 0.5
    assert out.shape == (1, 3, 48, 32)
    np.testing.assert_allclose(out[0, :, :46, :30].permute(1, 2, 0).numpy(), resized, atol=1e-4)
    assert out[0, :, 46:].abs().max() == 0 and out[0, :, :, 30:].abs().max() == 0


def test_soft_argmax_finds_a_known_peak() -> None:
    maps = torch.zeros(2, 3, 12, 9)
    peaks = [(0, 0, 4, 7), (0, 1, 0, 0), (0, 2, 11, 8), (1, 0, 6, 2), (1, 1, 5, 5), (1, 2, 9, 1)]
    for b, k, row, col in peaks:
        maps[b, k, row, col] = 0.8
    for upsample in (1, 4):
        xy, conf = soft_argmax_2d(maps, upsample=upsample)
        assert xy.shape == (2, 3, 2) and conf.shape == (2, 3)
        for b, k, row, col in peaks:
            inside = 0 < row < 11 and 0 < col < 8
            tol = 1e-3 if upsample == 1 or inside else 0.4  # a border peak is pulled inwards
            assert abs(xy[b, k, 0].item() - col) < tol and abs(xy[b, k, 1].item() - row) < tol
    _, conf = soft_argmax_2d(maps, upsample=1)
    assert torch.allclose(conf, torch.full((2, 3), 0.8), atol=1e-6)


@pytest.mark.parametrize("kwargs, match", [
    ({"beta": 0.0}, "beta"), ({"upsample": 0}, "upsample"), ({"upsample": 2.0}, "upsample"),
])
def test_soft_argmax_rejects_bad_settings(kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        soft_argmax_2d(torch.zeros(1, 1, 4, 4), **kwargs)


def _openpose_gaussian(cx: float, cy: float, grid_h: int, grid_w: int) -> np.ndarray:
    """OpenPose's training target on a stride-8 grid, in network pixels (sigma 7, 1 % cut-off)."""
    out = np.zeros((grid_h, grid_w))
    for gy in range(grid_h):
        for gx in range(grid_w):
            x, y = 3.5 + 8 * gx, 3.5 + 8 * gy
            e = ((x - cx) ** 2 + (y - cy) ** 2) / (2 * 7.0**2)
            out[gy, gx] = 0.0 if e > math.log(100) else math.exp(-e)
    return out


def test_target_heatmaps_follow_the_openpose_training_convention() -> None:
    g = NetGeometry.for_image(96, 80, box_size=96)  # no resize: image pixels are network pixels
    kp = torch.zeros(1, 18, 3)
    kp[0, 0] = torch.tensor([43.5, 27.5, 1.0])  # exactly the centre of cell (col 5, row 3)
    kp[0, 5] = torch.tensor([20.2, 70.9, 0.4])
    kp[0, 7] = torch.tensor([50.0, 50.0, 0.0])  # missing
    maps = render_target_heatmaps(kp, g)
    assert maps.shape == (1, 18, 12, 10) and maps.dtype == torch.float32
    np.testing.assert_allclose(maps[0, 0].numpy(), _openpose_gaussian(43.5, 27.5, 12, 10), atol=1e-6)
    np.testing.assert_allclose(maps[0, 5].numpy(), _openpose_gaussian(20.2, 70.9, 12, 10), atol=1e-6)
    assert maps[0, 0, 3, 5] == 1.0
    assert maps[0, 0, 3, 6].item() == pytest.approx(math.exp(-32 / 49))  # one cell = 8 px, sigma 7 px
    assert maps[0, 7].abs().max() == 0
    with_bg = render_target_heatmaps(kp, g, include_background=True)
    assert torch.equal(with_bg[:, :18], maps)
    assert torch.allclose(with_bg[0, 18], 1.0 - maps[0].amax(dim=0))
    with pytest.raises(ValueError, match=r"\[B, 18, 3\]"):
        render_target_heatmaps(torch.zeros(1, 17, 3), g)


@pytest.mark.parametrize("size", [(368, 276, 368), (100, 75, 368), (512, 512, 184)])
def test_targets_and_keypoints_round_trip(size: tuple[int, int, int]) -> None:
    height, width, box = size
    g = NetGeometry.for_image(height, width, box)
    cell = 8 * height / box
    kp = _interior_keypoints(4, height, width, cell, seed=6)
    decoded = heatmaps_to_keypoints(render_target_heatmaps(kp, g), g)
    err = (decoded[..., :2] - kp[..., :2]).norm(dim=-1)
    assert err.max() < 0.2 * cell
    assert (decoded[..., 2] > 0.8).all() and (decoded[..., 2] <= 1.0).all()


def test_estimator_reports_keypoints_in_input_pixels() -> None:
    height, width = 100, 75  # network 368 x 276 (x3.68), padded to 368 x 280
    kp = _interior_keypoints(2, height, width, 3.0, seed=7)
    estimator = OpenPoseBodyEstimator(TargetNet(kp, NetGeometry.for_image(height, width)))
    out = estimator(torch.rand(2, 3, height, width, generator=_gen(8)))
    assert out.geometry == estimator.geometry(height, width)
    assert (out.heatmaps.shape, out.pafs.shape) == ((2, 19, 46, 35), (2, 38, 46, 35))
    assert (out.keypoints[..., :2] - kp[..., :2]).norm(dim=-1).max() < 0.2 * 8 / 3.68


def test_gradients_flow_to_the_image(random_net: BodyPoseNet) -> None:
    images = torch.rand(1, 3, 40, 30, generator=_gen(9), dtype=torch.float64, requires_grad=True)
    estimator = OpenPoseBodyEstimator(random_net, box_size=64)  # upscaled to 64 x 48
    out = estimator(images)
    target = render_target_heatmaps(_interior_keypoints(1, 40, 30, 2.0, seed=10), out.geometry)
    energy = (out.heatmaps[:, :18] - target).square().sum() + out.keypoints[..., :2].square().mean()
    energy.backward()
    assert images.grad is not None and images.grad.dtype == torch.float64
    assert torch.isfinite(images.grad).all() and images.grad.abs().sum() > 0
    assert all(p.grad is None for p in random_net.parameters())


def test_batch_equals_per_image(random_net: BodyPoseNet) -> None:
    estimator = OpenPoseBodyEstimator(random_net, box_size=48)
    images = torch.rand(3, 3, 60, 44, generator=_gen(11))
    batched = estimator(images)
    for i in range(3):
        single = estimator(images[i : i + 1])
        torch.testing.assert_close(batched.heatmaps[i : i + 1], single.heatmaps, atol=1e-5, rtol=1e-4)
        torch.testing.assert_close(batched.pafs[i : i + 1], single.pafs, atol=1e-5, rtol=1e-4)
        torch.testing.assert_close(batched.keypoints[i : i + 1], single.keypoints, atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("images, match", [
    (torch.zeros(1, 64, 48, 3), "permute"),
    (torch.zeros(3, 64, 48), r"\[B, 3, H, W\]"),
    (torch.zeros(1, 3, 64, 48, dtype=torch.uint8), "floating point"),
    (np.zeros((1, 3, 8, 8), np.float32), "torch.Tensor"),
])
def test_estimator_rejects_bad_images(random_net: BodyPoseNet, images: object, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        OpenPoseBodyEstimator(random_net)(images)


def test_heatmaps_to_keypoints_checks_the_grid() -> None:
    g = NetGeometry.for_image(64, 48, box_size=64)
    with pytest.raises(ValueError, match=r"\[B, 18 or 19, 8, 6\]"):
        heatmaps_to_keypoints(torch.zeros(1, 19, 8, 7), g)


def test_keypoints_and_pose_frames() -> None:
    kp = torch.tensor([[[10.0, 20.0, 0.9]] * 18, [[1.0, 2.0, 0.0]] * 18])
    frames = keypoints_to_frames(kp, height=50, width=40)
    assert [(f.canvas_width, f.canvas_height, len(f.people)) for f in frames] == [(40, 50, 1)] * 2
    assert np.allclose(frames[0].people[0].body, kp[0].numpy())
    assert np.all(frames[1].people[0].body == 0)  # confidence 0 -> missing

    body = np.tile([[100.0, 50.0, 1.0]], (18, 1))
    big = PoseFrame((Person(body),), canvas_width=200, canvas_height=100)
    empty = PoseFrame((), canvas_width=200, canvas_height=100)
    back = frames_to_keypoints([big, empty], height=50, width=100)
    assert back.shape == (2, 18, 3) and back.dtype == torch.float32
    assert torch.allclose(back[0], torch.tensor([[50.0, 25.0, 1.0]] * 18))
    assert back[1].abs().max() == 0
    with pytest.raises(PoseFormatError, match="person index 1"):
        frames_to_keypoints([big], height=50, width=100, person=1)
