"""The CMU OpenPose COCO body network (``body_pose_model.pth``) as a PyTorch module with the released names.

Architecture (Cao et al., CVPR 2017, "Realtime Multi-Person 2D Pose Estimation using Part Affinity
Fields"; the converted Caffe model that ControlNet's OpenPose preprocessors load):

* **Front end** ``conv1_1`` .. ``conv4_2`` (the first ten convolutions of VGG-19, 3x3, three 2x2 max pools,
  so stride 8) followed by ``conv4_3_CPM`` (512 -> 256) and ``conv4_4_CPM`` (256 -> 128); every
  convolution is followed by a ReLU. Output: features ``F`` with 128 channels.
* **Stage 1**, two branches ``b`` in ``L1`` (38 PAF channels) and ``L2`` (19 heatmap channels):
  ``conv5_{1,2,3}_CPM_Lb`` (3x3, 128), ``conv5_4_CPM_Lb`` (1x1, 512), ``conv5_5_CPM_Lb`` (1x1, out).
* **Stages 2..6**, input ``concat(L1, L2, F)`` (38 + 19 + 128 = 185 channels), per branch
  ``Mconv{1..5}_stage{t}_Lb`` (7x7, 128), ``Mconv6_stage{t}_Lb`` (1x1, 128),
  ``Mconv7_stage{t}_Lb`` (1x1, out).

The last convolution of every branch and stage is linear (no ReLU), as in the released Caffe prototxt.
(pytorch-openpose and controlnet_aux list ``Mconv7_stage6_L1`` twice in their "no ReLU" list, so they
clamp the final heatmaps at 0; positive values, hence peaks and keypoints, are the same, but the clamp would
stop gradients wherever the raw heatmap is negative, which matters for guidance energies.)

Every convolution is a direct child of :class:`BodyPoseNet` named after its layer, so the module's
``state_dict()`` keys are exactly those of the released file: ``conv1_1.weight``, ``conv1_1.bias``, ...,
``Mconv7_stage6_L2.bias`` (92 convolutions, 184 tensors, 52,311,446 parameters, no buffers).

Outputs at stride 8 (see :data:`HEATMAP_CHANNELS` and :data:`PAF_LIMBS` for the channel order).
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

NUM_HEATMAPS = 19
"""L2 branch channels: the 18 COCO-18 joints in OpenPose order, then the background map (index 18)."""

NUM_PAFS = 38
"""L1 branch channels: 19 limbs x (x, y) part affinity field components."""

STRIDE = 8
"""Output stride of the network: one heatmap cell per 8x8 network-input pixels."""

FEATURE_CHANNELS = 128
"""Channels of the front-end features ``F`` fed to every stage."""

NUM_STAGES = 6

HEATMAP_CHANNELS: tuple[str, ...] = (
    "nose", "neck", "right_shoulder", "right_elbow", "right_wrist", "left_shoulder", "left_elbow",
    "left_wrist", "right_hip", "right_knee", "right_ankle", "left_hip", "left_knee", "left_ankle",
    "right_eye", "left_eye", "right_ear", "left_ear", "background",
)
"""Name of each heatmap channel; 0..17 match :data:`pose_models.pose.BODY_JOINTS`."""

PAF_LIMBS: tuple[tuple[tuple[int, int], tuple[int, int]], ...] = (
    ((1, 2), (12, 13)), ((1, 5), (20, 21)), ((2, 3), (14, 15)), ((3, 4), (16, 17)),
    ((5, 6), (22, 23)), ((6, 7), (24, 25)), ((1, 8), (0, 1)), ((8, 9), (2, 3)),
    ((9, 10), (4, 5)), ((1, 11), (6, 7)), ((11, 12), (8, 9)), ((12, 13), (10, 11)),
    ((1, 0), (28, 29)), ((0, 14), (30, 31)), ((14, 16), (34, 35)), ((0, 15), (32, 33)),
    ((15, 17), (36, 37)), ((2, 16), (18, 19)), ((5, 17), (26, 27)),
)
"""``((joint_a, joint_b), (channel_x, channel_y))`` for each of the 19 PAF limbs, in the order of the
OpenPose COCO decoder (its ``limbSeq``/``mapIdx`` tables, 0-based). The field points from ``joint_a`` to
``joint_b``; the last two limbs (shoulder-ear) are used only by the grouping step, not drawn."""


class ConvSpec(NamedTuple):
    """One convolution of the network: layer name, input/output channels, square kernel size.

    Padding is ``kernel // 2`` and stride 1 for every layer.
    """

    name: str
    in_channels: int
    out_channels: int
    kernel: int


FRONT_END: tuple[ConvSpec | None, ...] = (
    ConvSpec("conv1_1", 3, 64, 3), ConvSpec("conv1_2", 64, 64, 3), None,
    ConvSpec("conv2_1", 64, 128, 3), ConvSpec("conv2_2", 128, 128, 3), None,
    ConvSpec("conv3_1", 128, 256, 3), ConvSpec("conv3_2", 256, 256, 3), ConvSpec("conv3_3", 256, 256, 3),
    ConvSpec("conv3_4", 256, 256, 3), None,
    ConvSpec("conv4_1", 256, 512, 3), ConvSpec("conv4_2", 512, 512, 3),
    ConvSpec("conv4_3_CPM", 512, 256, 3), ConvSpec("conv4_4_CPM", 256, FEATURE_CHANNELS, 3),
)
"""VGG-19 front end plus the two CPM adaptation layers; ``None`` is a 2x2 max pool with stride 2."""

BRANCH_CHANNELS: dict[str, int] = {"L1": NUM_PAFS, "L2": NUM_HEATMAPS}
"""Output channels of each branch: ``L1`` = PAFs, ``L2`` = heatmaps."""


def stage_specs(stage: int, branch: str) -> tuple[ConvSpec, ...]:
    """Convolutions of ``branch`` (``"L1"`` or ``"L2"``) in ``stage`` (1..6), input to output."""
    out = BRANCH_CHANNELS[branch]
    if stage == 1:
        return (
            ConvSpec(f"conv5_1_CPM_{branch}", FEATURE_CHANNELS, 128, 3),
            ConvSpec(f"conv5_2_CPM_{branch}", 128, 128, 3),
            ConvSpec(f"conv5_3_CPM_{branch}", 128, 128, 3),
            ConvSpec(f"conv5_4_CPM_{branch}", 128, 512, 1),
            ConvSpec(f"conv5_5_CPM_{branch}", 512, out, 1),
        )
    stage_in = NUM_PAFS + NUM_HEATMAPS + FEATURE_CHANNELS
    return (
        ConvSpec(f"Mconv1_stage{stage}_{branch}", stage_in, 128, 7),
        *(ConvSpec(f"Mconv{i}_stage{stage}_{branch}", 128, 128, 7) for i in range(2, 6)),
        ConvSpec(f"Mconv6_stage{stage}_{branch}", 128, 128, 1),
        ConvSpec(f"Mconv7_stage{stage}_{branch}", 128, out, 1),
    )


def all_conv_specs() -> tuple[ConvSpec, ...]:
    """Every convolution in state-dict order: front end, then stage 1..6 with ``L1`` before ``L2``."""
    specs = [s for s in FRONT_END if s is not None]
    for stage in range(1, NUM_STAGES + 1):
        for branch in BRANCH_CHANNELS:
            specs.extend(stage_specs(stage, branch))
    return tuple(specs)


def expected_state_dict_shapes() -> dict[str, tuple[int, ...]]:
    """``{key: shape}`` of the released ``body_pose_model.pth`` (184 tensors)."""
    shapes: dict[str, tuple[int, ...]] = {}
    for s in all_conv_specs():
        shapes[f"{s.name}.weight"] = (s.out_channels, s.in_channels, s.kernel, s.kernel)
        shapes[f"{s.name}.bias"] = (s.out_channels,)
    return shapes


class BodyPoseNet(nn.Module):
    """The OpenPose COCO body network.

    ``forward(x)`` takes the **preprocessed** network input ``[B, 3, Hp, Wp]`` (BGR, ``pixel/256 - 0.5``,
    ``Hp`` and ``Wp`` multiples of 8; see :mod:`.geometry`) and returns ``(pafs, heatmaps)``:
    ``pafs [B, 38, Hp/8, Wp/8]`` (stage-6 ``L1``) and ``heatmaps [B, 19, Hp/8, Wp/8]`` (stage-6 ``L2``),
    both raw network outputs (heatmaps roughly in [0, 1], PAF components roughly in [-1, 1]).
    """

    def __init__(self) -> None:
        super().__init__()
        for spec in all_conv_specs():
            self.add_module(spec.name, nn.Conv2d(spec.in_channels, spec.out_channels, spec.kernel,
                                                 padding=spec.kernel // 2))

    def _run(self, x: torch.Tensor, specs: tuple[ConvSpec, ...]) -> torch.Tensor:
        """Apply ``specs`` in order, ReLU after every convolution but the last."""
        for i, spec in enumerate(specs):
            x = self.get_submodule(spec.name)(x)
            if i < len(specs) - 1:
                x = F.relu(x)
        return x

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Front end: ``[B, 3, Hp, Wp]`` -> ``[B, 128, Hp/8, Wp/8]`` (ReLU after every convolution)."""
        for spec in FRONT_END:
            if spec is None:
                x = F.max_pool2d(x, kernel_size=2, stride=2)
            else:
                x = F.relu(self.get_submodule(spec.name)(x))
        return x

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        feats = self.features(x)
        stage_in = feats
        for stage in range(1, NUM_STAGES + 1):
            pafs = self._run(stage_in, stage_specs(stage, "L1"))
            heatmaps = self._run(stage_in, stage_specs(stage, "L2"))
            stage_in = torch.cat([pafs, heatmaps, feats], dim=1)
        return pafs, heatmaps
