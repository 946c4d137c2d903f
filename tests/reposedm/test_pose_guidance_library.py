"""pose_models.pose_guidance: FreeDoM step, guidance window, pose energy (no ComfyUI)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from pose_models.openpose_body import NetGeometry, OpenPoseBodyEstimator, render_target_heatmaps
from pose_models.pose_field import KinematicPriorField
from pose_models.pose_guidance import EnergyWeights, GuidanceWindow, PoseEnergy, normalised_step, rms


class HeatmapNet(nn.Module):
    """Stand-in body network: joint heatmaps = learnable-free function of the image (mean brightness map)."""

    def __init__(self) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.ones(()), requires_grad=False)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        pooled = nn.functional.avg_pool2d(x.mean(dim=1, keepdim=True) + 0.5, 8) * self.scale
        heatmaps = pooled.expand(-1, 19, -1, -1).clone()
        return torch.zeros(x.shape[0], 38, *pooled.shape[2:]), heatmaps


def _target(batch: int, height: int, width: int) -> torch.Tensor:
    gen = torch.Generator().manual_seed(3)
    xy = torch.rand(batch, 18, 2, generator=gen) * torch.tensor([width * 0.8, height * 0.8]) + 0.1 * width
    return torch.cat([xy, torch.ones(batch, 18, 1)], dim=-1)


def test_normalised_step_size_follows_the_reference():
    gen = torch.Generator().manual_seed(0)
    x0 = torch.randn(3, 4, 8, 8, generator=gen)
    grad = torch.randn(3, 4, 8, 8, generator=gen) * torch.tensor([1.0, 10.0, 0.01])[:, None, None, None]
    reference = torch.tensor([0.5, 1.0, 2.0])
    stepped, rho = normalised_step(x0, grad, reference, strength=0.1)
    assert torch.allclose(rms(stepped - x0), 0.1 * reference, rtol=1e-4)
    assert torch.equal(normalised_step(x0, grad, reference, 0.0)[0], x0)
    zero_step, _ = normalised_step(x0, torch.zeros_like(x0), reference, 0.1)
    assert torch.equal(zero_step, x0)


def test_normalised_step_checks_shapes():
    x0 = torch.zeros(2, 4, 8, 8)
    with pytest.raises(ValueError, match="grad"):
        normalised_step(x0, torch.zeros(2, 4, 8, 9), torch.ones(2), 0.1)
    with pytest.raises(ValueError, match="reference"):
        normalised_step(x0, x0, torch.ones(3), 0.1)


def test_window_edges_and_stride():
    schedule = torch.tensor([14.6, 8.0, 4.0, 2.0, 1.0, 0.5, 0.0])
    window = GuidanceWindow(sigma_high=8.0, sigma_low=1.0, every=2)
    active = [window.is_active(float(s), schedule) for s in schedule]
    assert active == [False, True, False, True, False, False, False]
    assert GuidanceWindow(8.0, 1.0).is_active(3.0, schedule), "off-schedule sigma inside the window is guided"
    assert not GuidanceWindow(8.0, 1.0).is_active(0.9, schedule)
    with pytest.raises(ValueError, match="every"):
        GuidanceWindow(1.0, 0.5, every=0)
    with pytest.raises(ValueError, match="start percent"):
        GuidanceWindow(0.5, 1.0)


def test_energy_is_per_image_and_differentiable():
    estimator = OpenPoseBodyEstimator(HeatmapNet(), box_size=64)
    energy = PoseEnergy(estimator, EnergyWeights(heatmap=1.0, field=0.5, keypoint=2.0), KinematicPriorField())
    gen = torch.Generator().manual_seed(1)
    images = torch.rand(3, 3, 64, 48, generator=gen, requires_grad=True)
    target = _target(3, 64, 48)
    terms = energy(images, target)
    assert terms.total.shape == (3,) and bool((terms.total > 0).all())
    single = energy(images[1:2], target[1:2]).total
    assert torch.allclose(single, terms.total[1:2], atol=1e-6)
    (grad,) = torch.autograd.grad(terms.total.sum(), images)
    assert grad.abs().sum() > 0


def test_energy_heatmap_term_matches_the_targets():
    """An estimator whose heatmaps are exactly the targets gives zero heatmap error."""
    geometry = NetGeometry.for_image(64, 64, 64)
    target = _target(1, 64, 64)
    wanted = render_target_heatmaps(target, geometry, include_background=True)

    class Perfect(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.w = nn.Parameter(torch.zeros(()), requires_grad=False)

        def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            return torch.zeros(1, 38, 8, 8), wanted + 0 * x.sum()

    energy = PoseEnergy(OpenPoseBodyEstimator(Perfect(), box_size=64), EnergyWeights())
    terms = energy(torch.rand(1, 3, 64, 64), target)
    assert float(terms.heatmap[0]) == pytest.approx(0.0, abs=1e-10)


def test_energy_without_visible_target_joints_is_zero():
    estimator = OpenPoseBodyEstimator(HeatmapNet(), box_size=64)
    energy = PoseEnergy(estimator, EnergyWeights(heatmap=1.0, keypoint=1.0))
    target = _target(2, 64, 64)
    target[1, :, 2] = 0
    terms = energy(torch.rand(2, 3, 64, 64), target)
    assert float(terms.total[0]) > 0 and float(terms.total[1]) == 0.0


def test_energy_settings_are_checked():
    with pytest.raises(ValueError, match="every weight is 0"):
        EnergyWeights(heatmap=0.0)
    with pytest.raises(ValueError, match=">= 0"):
        EnergyWeights(field=-1.0)
    with pytest.raises(ValueError, match="needs a pose field"):
        PoseEnergy(OpenPoseBodyEstimator(HeatmapNet(), box_size=64), EnergyWeights(field=1.0))
    energy = PoseEnergy(OpenPoseBodyEstimator(HeatmapNet(), box_size=64), EnergyWeights())
    with pytest.raises(ValueError, match="target must be"):
        energy(torch.rand(2, 3, 64, 64), _target(1, 64, 64))
