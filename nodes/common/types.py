"""Socket types shared by the pack's nodes, and conversions between host tensors and numpy.

* ``POSE_KEYPOINT``: the python value every pose producer in ComfyUI emits (a list of frame dicts; see
  ``pose_models.pose.pose_keypoint``). The pack writes the SDPose-like pixel form.
* ``PT_POSE_HEATMAPS``: ``torch.float32 [F, 18, H, W]`` Gaussian joint heatmaps in ``[0, 1]`` (COCO-18 order).
* ``PT_LIMB_MASKS``: ``torch.float32 [F, 17, H, W]`` per-limb masks in ``{0, 1}`` (OpenPose limb order).

Host conventions: ``IMAGE`` is ``float32 [B, H, W, 3]`` in ``[0, 1]``, ``MASK`` is ``float32 [B, H, W]``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from comfy_api.latest import io

PoseKeypoint = io.Custom("POSE_KEYPOINT")
PoseHeatmaps = io.Custom("PT_POSE_HEATMAPS")
LimbMasks = io.Custom("PT_LIMB_MASKS")


def images_to_tensor(images: Sequence[np.ndarray]) -> torch.Tensor:
    """Stack ``uint8 [H, W, 3]`` RGB arrays into a host ``IMAGE`` batch ``float32 [B, H, W, 3]`` in [0, 1]."""
    return torch.from_numpy(np.stack(images).astype(np.float32) / 255.0)


def maps_to_tensor(maps: Sequence[np.ndarray]) -> torch.Tensor:
    """Stack equally shaped ``float32`` arrays into one ``torch.float32`` batch along a new first axis."""
    return torch.from_numpy(np.stack(maps).astype(np.float32, copy=False))
