"""Between keypoint tensors ``[B, 18, 3]`` (image pixels) and the pose toolkit's :class:`PoseFrame`."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from ..pose import Person, PoseFrame, require_person, scale_to_canvas


def keypoints_to_frames(keypoints: torch.Tensor, height: int, width: int) -> list[PoseFrame]:
    """One :class:`PoseFrame` per image, each with one :class:`Person` whose body is the keypoints row.

    ``keypoints [B, 18, 3]`` are in pixels of ``height`` x ``width`` images (the canvas size of the
    frames). Confidences are kept as they are (soft peaks, never exactly 0): apply
    :func:`pose_models.pose.threshold_confidence` to drop weak joints.
    """
    if keypoints.ndim != 3 or keypoints.shape[1:] != (18, 3):
        raise ValueError(f"keypoints_to_frames: keypoints must be [B, 18, 3], got {list(keypoints.shape)}.")
    rows = keypoints.detach().to(device="cpu", dtype=torch.float64).numpy()
    return [PoseFrame((Person(body),), width, height) for body in rows]


def frames_to_keypoints(frames: Sequence[PoseFrame], height: int, width: int,
                        person: int = 0) -> torch.Tensor:
    """Body keypoints ``float32 [B, 18, 3]`` of person ``person`` of each frame, in ``height`` x ``width``
    image pixels (each frame stretched from its canvas like :func:`pose_models.pose.scale_to_canvas`).

    A frame with no people gives 18 missing joints (all zeros); a person index that does not exist in a
    frame that has people raises :class:`pose_models.pose.PoseFormatError`.
    """
    rows = []
    for i, frame in enumerate(frames):
        if not frame.people:
            rows.append(np.zeros((18, 3), np.float32))
            continue
        scaled = scale_to_canvas(frame, width, height)
        rows.append(require_person(scaled, person, what="the estimator target", label=f"frame {i}").body)
    return torch.from_numpy(np.stack(rows)) if rows else torch.zeros((0, 18, 3))
