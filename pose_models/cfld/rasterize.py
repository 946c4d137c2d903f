"""CFLD's 21-channel pose input, rasterised with the official arithmetic (bit-exact with its dataset code).

Keypoints are COCO-18 ``(y, x)`` rows in the **256 x 176** (H x W) DeepFashion frame, ``-1`` in either
coordinate = missing; fractional values are allowed. The output ``float32 [21, side, side]`` is the frame
*stretched* to a square: channels 0-2 the RGB skeleton in ``[0, 1]`` (``cv2.line`` 2 px ``LINE_AA`` bones in
the bone colours, filled ``cv2.circle`` radius 3 ``LINE_AA`` joints), channels 3-20 Gaussian heatmaps
``exp(-d^2 / (2 sigma^2))`` (sigma = 6 output pixels) around the truncated scaled joint, zero when missing.

:func:`frame_keypoints` maps a canonical pose (pixels on any canvas) into that frame.
"""

from __future__ import annotations

import numpy as np
import torch

from ..opencv import cv2_module
from .errors import CFLDError

FRAME_HEIGHT, FRAME_WIDTH = 256, 176
"""The DeepFashion keypoint frame (H x W) CFLD's annotations and training use."""

SIGMA = 6.0

BONES = ((1, 2), (1, 5), (2, 3), (3, 4), (5, 6), (6, 7), (1, 8), (8, 9), (9, 10), (1, 11), (11, 12),
         (12, 13), (1, 0), (0, 14), (14, 16), (0, 15), (15, 17))

JOINT_COLORS = ((255, 0, 0), (255, 85, 0), (255, 170, 0), (255, 255, 0), (170, 255, 0), (85, 255, 0),
                (0, 255, 0), (0, 255, 85), (0, 255, 170), (0, 255, 255), (0, 170, 255), (0, 85, 255),
                (0, 0, 255), (85, 0, 255), (170, 0, 255), (255, 0, 255), (255, 0, 170), (255, 0, 85))

BONE_COLORS = ((153, 0, 0), (153, 51, 0), (153, 102, 0), (153, 153, 0), (102, 153, 0), (51, 153, 0),
               (0, 153, 0), (0, 153, 51), (0, 153, 102), (0, 153, 153), (0, 102, 153), (0, 51, 153),
               (0, 0, 153), (51, 0, 153), (102, 0, 153), (153, 0, 153), (153, 0, 102))


def _checked(keypoints_yx: np.ndarray) -> np.ndarray:
    kp = np.asarray(keypoints_yx, dtype=np.float64)
    if kp.shape != (18, 2) or not np.isfinite(kp).all():
        raise CFLDError(f"CFLD pose: expected 18 finite (y, x) keypoints in the 256x176 frame, got an array "
                        f"of shape {kp.shape}. Use COCO-18 body keypoints (-1 for a missing joint).")
    return kp


def _missing(point: np.ndarray) -> bool:
    return bool(point[0] == -1 or point[1] == -1)


def skeleton_image(keypoints_yx: np.ndarray, side: int = 256) -> np.ndarray:
    """``uint8 [side, side, 3]`` RGB skeleton (the official ``draw_pose_from_cords``)."""
    kp = _checked(keypoints_yx)
    cv2 = cv2_module("CFLD Pose (the official skeleton drawing)")
    canvas = np.zeros((side, side, 3), dtype=np.uint8)
    scale_y, scale_x = side / FRAME_HEIGHT, side / FRAME_WIDTH

    def at(j: int) -> tuple[int, int]:
        return int(kp[j][1] * scale_x), int(kp[j][0] * scale_y)

    for i, (a, b) in enumerate(BONES):
        if not (_missing(kp[a]) or _missing(kp[b])):
            cv2.line(canvas, at(a), at(b), BONE_COLORS[i], 2, cv2.LINE_AA)
    for j in range(18):
        if not _missing(kp[j]):
            cv2.circle(canvas, at(j), 3, JOINT_COLORS[j], -1, cv2.LINE_AA)
    return canvas


def heatmaps(keypoints_yx: np.ndarray, side: int = 256, sigma: float = SIGMA) -> np.ndarray:
    """``float32 [18, side, side]`` Gaussian joint maps (the official ``cords_to_map``)."""
    kp = _checked(keypoints_yx)
    maps = np.zeros((side, side, 18), dtype=np.float32)
    xx, yy = np.meshgrid(np.arange(side), np.arange(side))
    for i, point in enumerate(kp):
        if _missing(point):
            continue
        cy = int(point[0] / FRAME_HEIGHT * side)
        cx = int(point[1] / FRAME_WIDTH * side)
        maps[..., i] = np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * sigma**2))
    return maps.transpose(2, 0, 1)


def pose_input(keypoints_yx: np.ndarray, side: int = 256) -> torch.Tensor:
    """``float32 [21, side, side]``: skeleton / 255 then the 18 heatmaps (see the module docstring)."""
    rgb = skeleton_image(keypoints_yx, side).transpose(2, 0, 1)
    skeleton = torch.tensor(rgb / 255.0, dtype=torch.float32)
    return torch.cat([skeleton, torch.from_numpy(np.ascontiguousarray(heatmaps(keypoints_yx, side)))])


def frame_keypoints(xy: np.ndarray, visible: np.ndarray,
                    region: tuple[float, float, float, float]) -> np.ndarray:
    """Canonical body points -> ``(y, x)`` rows in the 256x176 frame.

    ``xy``: ``[18, 2]`` pixel ``(x, y)`` on the pose canvas; ``visible``: ``[18]`` bool; ``region``:
    ``(left, top, width, height)`` of the canvas area that becomes the 176:256 target frame (the same
    pad/crop the source image gets). Missing joints, and joints outside the region, become ``-1``.
    """
    left, top, width, height = region
    y = (np.asarray(xy, np.float64)[:, 1] - top) / height * FRAME_HEIGHT
    x = (np.asarray(xy, np.float64)[:, 0] - left) / width * FRAME_WIDTH
    inside = np.asarray(visible, bool) & (y >= 0) & (y < FRAME_HEIGHT) & (x >= 0) & (x < FRAME_WIDTH)
    return np.where(inside[:, None], np.stack([y, x], axis=1), -1.0)
