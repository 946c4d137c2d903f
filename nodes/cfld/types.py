"""CFLD socket types and their values.

* ``PT_CFLD_MODEL``: :class:`CFLDConditioning` (Swin, HGA, pose adapter, decoder, null prompt).
* ``PT_CFLD_POSE``: :class:`CFLDPoses`, target keypoints in CFLD's 256x176 frame.
* ``PT_CFLD_CONDITIONS``: :class:`pose_models.cfld.Conditions` on the intermediate device (prompt,
  residuals, biases).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from comfy_api.latest import io

from ...pose_models.cfld import CFLDConditioner

CFLDModelType = io.Custom("PT_CFLD_MODEL")
CFLDPoseType = io.Custom("PT_CFLD_POSE")
CFLDConditionsType = io.Custom("PT_CFLD_CONDITIONS")


@dataclass(frozen=True)
class CFLDPoses:
    """Target poses: ``keypoints_yx float64 [F, 18, 2]``, (y, x) in the 256x176 frame, -1 = missing."""

    keypoints_yx: np.ndarray


@dataclass(frozen=True)
class CFLDConditioning:
    """Value of ``PT_CFLD_MODEL``: the conditioning network in a ``ModelPatcher`` and its sizes."""

    patcher: Any
    source_size: int
    latent_size: int
    prompt_width: int
    unet_layers_per_block: int

    @property
    def network(self) -> CFLDConditioner:
        return self.patcher.model
