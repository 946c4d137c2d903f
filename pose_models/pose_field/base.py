"""The :class:`PoseField` interface: ``f(keypoints [B, 18, 3]) -> [B]``, ``f >= 0``, differentiable."""

from __future__ import annotations

from abc import ABC, abstractmethod

import torch
from torch import nn

from .skeleton import BodyFrame, body_frame, check_keypoints, frame_scorable


class PoseField(nn.Module, ABC):
    """A pose interaction field: distance of a 2D COCO-18 pose from the valid-pose manifold.

    ``forward(keypoints)`` takes ``float [B, 18, 3]`` ``(x, y, conf)`` pixel rows (any canvas; ``conf == 0``
    marks a missing joint, see :mod:`.skeleton`) and returns ``float [B]`` with ``f >= 0``: about 0 for
    valid poses, growing with the violation. It is differentiable in the visible coordinates (the gradient
    with respect to missing joints and to the confidences is zero), batch-independent (row ``i`` of the
    output depends on row ``i`` of the input only), and 0 for poses that are not :func:`scorable`.
    """

    kind: str = "field"
    """Short name used in logs and tables."""

    @abstractmethod
    def distance(self, keypoints: torch.Tensor, frame: BodyFrame | None = None) -> torch.Tensor:
        """``[B]`` field value of checked ``keypoints [B, 18, 3]`` (scorable or not; masked by forward);
        ``frame``: their :func:`.skeleton.body_frame` when the caller has it (computed otherwise)."""

    def forward(self, keypoints: torch.Tensor) -> torch.Tensor:
        """``f(keypoints)``: ``float [B]``, ``>= 0``, 0 where the pose is not :func:`.skeleton.scorable`."""
        keypoints = check_keypoints(keypoints)
        frame = body_frame(keypoints)
        value = self.distance(keypoints, frame)
        return torch.where(frame_scorable(frame), value, torch.zeros_like(value))
