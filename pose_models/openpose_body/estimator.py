"""The differentiable OpenPose body estimator: image in, heatmaps, PAFs and soft-argmax keypoints out."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from .geometry import DEFAULT_BOX_SIZE, NetGeometry, check_images, preprocess
from .network import NUM_HEATMAPS
from .softargmax import DEFAULT_BETA, DEFAULT_UPSAMPLE, soft_argmax_2d


@dataclass(frozen=True)
class BodyPoseOutput:
    """Result of :class:`OpenPoseBodyEstimator` for a batch of ``B`` images of one size.

    * ``heatmaps [B, 19, h, w]``: raw stage-6 joint heatmaps (COCO-18 order, then background), roughly in
      ``[0, 1]``, on the stride-8 grid of ``geometry`` (``h = geometry.heatmap_height``), in the network's
      dtype.
    * ``pafs [B, 38, h, w]``: raw part affinity fields (channel pairs in :data:`~.network.PAF_LIMBS`).
    * ``keypoints [B, 18, 3]`` float32: ``(x, y, confidence)`` per joint, ``x``/``y`` in **input-image
      pixels** (pixel centres at integers), confidence = soft peak heatmap value ``>= 0`` (about 0.5..1 for
      a clearly visible joint; OpenPose's own detector drops peaks below 0.1). One person per image.
    * ``geometry``: the coordinate frames of this call (:class:`~.geometry.NetGeometry`).

    Everything is differentiable with respect to the input images.
    """

    heatmaps: torch.Tensor
    pafs: torch.Tensor
    keypoints: torch.Tensor
    geometry: NetGeometry


def heatmaps_to_keypoints(heatmaps: torch.Tensor, geometry: NetGeometry, beta: float = DEFAULT_BETA,
                          upsample: int = DEFAULT_UPSAMPLE) -> torch.Tensor:
    """Keypoints ``[B, 18, 3]`` (image pixels, confidence) from heatmaps ``[B, >=18, h, w]``.

    Only the first 18 channels (the joints) are used; see :mod:`.softargmax` for ``beta``/``upsample``.
    """
    if heatmaps.ndim != 4 or heatmaps.shape[1] < NUM_HEATMAPS - 1 or heatmaps.shape[2:] != (
            geometry.heatmap_height, geometry.heatmap_width):
        raise ValueError(
            f"heatmaps_to_keypoints: heatmaps must be [B, 18 or 19, {geometry.heatmap_height}, "
            f"{geometry.heatmap_width}] for this geometry, got {list(heatmaps.shape)}."
        )
    cells, confidence = soft_argmax_2d(heatmaps[:, : NUM_HEATMAPS - 1], beta=beta, upsample=upsample)
    return torch.cat([geometry.heatmap_to_image(cells), confidence[..., None]], dim=-1)


class OpenPoseBodyEstimator(nn.Module):
    """Differentiable single-person OpenPose body estimator around a loaded :class:`BodyPoseNet` (or any
    module with its ``forward`` contract and at least one parameter, whose device/dtype the input takes).

    ``forward(images)`` takes RGB ``[B, 3, H, W]`` floats in ``[0, 1]`` (a VAE decoder's output layout),
    on any device/dtype (moved to the network's), and returns a :class:`BodyPoseOutput`. One network pass
    at one scale: the image is resized so that its height is ``box_size`` (368 = OpenPose's reference; 184
    is what controlnet_aux uses), keeping its aspect ratio, with bilinear ``antialias`` filtering when
    shrinking. ``beta`` and ``upsample`` set the soft-argmax (:mod:`.softargmax`).

    The network's weights are frozen; gradients flow to the images. Batched results equal per-image ones.
    """

    def __init__(self, net: nn.Module, box_size: int = DEFAULT_BOX_SIZE, beta: float = DEFAULT_BETA,
                 upsample: int = DEFAULT_UPSAMPLE, antialias: bool = True) -> None:
        super().__init__()
        NetGeometry.for_image(1, 1, box_size)  # validates box_size
        self.net = net
        self.box_size = box_size
        self.beta = beta
        self.upsample = upsample
        self.antialias = antialias

    def geometry(self, height: int, width: int) -> NetGeometry:
        """Coordinate frames of a call on ``height`` x ``width`` images (to render targets beforehand)."""
        return NetGeometry.for_image(height, width, self.box_size)

    def forward(self, images: torch.Tensor) -> BodyPoseOutput:
        check_images(images)
        weight = next(self.net.parameters())
        geometry = self.geometry(images.shape[2], images.shape[3])
        x = preprocess(images.to(device=weight.device, dtype=weight.dtype), geometry, self.antialias)
        pafs, heatmaps = self.net(x)
        keypoints = heatmaps_to_keypoints(heatmaps, geometry, self.beta, self.upsample)
        return BodyPoseOutput(heatmaps=heatmaps, pafs=pafs, keypoints=keypoints, geometry=geometry)
