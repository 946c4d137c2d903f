"""Target region prior from a pose: where the face, clothes and limbs of the re-posed person will be.

Drawn per person of a :class:`~pose_models.pose.PoseFrame` (COCO-18 body, pixel coordinates of the frame's
canvas) into a label map of :data:`~pose_models.truepose.regions.REGION_LABEL_SET`: lower clothes (hip band
and thighs), legs (shins), shoes (disks at the ankles), upper clothes (neck-shoulder-hip polygon), arms
(shoulder-elbow-wrist capsules), face (disk over nose, eyes and ears), painted in that order so later
regions win. Sizes scale with the person: ``unit`` is the neck-to-mid-hip distance (or, when the hips are
missing, 1.5 x the shoulder width, else 3 x the head size, else a tenth of the image height).
"""

from __future__ import annotations

import math

import numpy as np

from ..opencv import cv2_module
from ..pose import PoseFrame
from ..pose.keypoints import visible
from .regions import REGION_LABEL_SET

NOSE, NECK, R_SHOULDER, R_ELBOW, R_WRIST, L_SHOULDER, L_ELBOW, L_WRIST = range(8)
R_HIP, R_KNEE, R_ANKLE, L_HIP, L_KNEE, L_ANKLE, R_EYE, L_EYE, R_EAR, L_EAR = range(8, 18)
HEAD = (NOSE, R_EYE, L_EYE, R_EAR, L_EAR)

ARM_WIDTH, THIGH_WIDTH, SHIN_WIDTH, TORSO_MARGIN, SHOE_RADIUS, FACE_RADIUS = 0.26, 0.34, 0.24, 0.12, 0.14, 0.2
"""Region sizes as fractions of the person's ``unit`` length."""

FEATURE = "Drawing target regions from a pose (TruePose Target Regions)"
"""What needs OpenCV here, for the missing-OpenCV error."""


def _label(group: str) -> int:
    return REGION_LABEL_SET.parts[group][0]


def _unit(xy: np.ndarray, vis: np.ndarray, height: int) -> float:
    if vis[NECK] and (vis[R_HIP] or vis[L_HIP]):
        hips = xy[[i for i in (R_HIP, L_HIP) if vis[i]]].mean(0)
        return float(np.linalg.norm(hips - xy[NECK]))
    if vis[R_SHOULDER] and vis[L_SHOULDER]:
        return 1.5 * float(np.linalg.norm(xy[R_SHOULDER] - xy[L_SHOULDER]))
    head = xy[[i for i in HEAD if vis[i]]]
    if len(head) >= 2:
        return 3.0 * float(np.ptp(head, axis=0).max())
    return height / 10.0


def _pt(p: np.ndarray) -> tuple[int, int]:
    return int(round(float(p[0]))), int(round(float(p[1])))


def _capsules(canvas: np.ndarray, xy: np.ndarray, vis: np.ndarray, chain: tuple[int, ...], width: float,
              label: int) -> None:
    cv2 = cv2_module(FEATURE)
    thickness = max(1, int(round(width)))
    for a, b in zip(chain, chain[1:], strict=False):
        if vis[a] and vis[b]:
            cv2.line(canvas, _pt(xy[a]), _pt(xy[b]), label, thickness)
            for p in (a, b):
                cv2.circle(canvas, _pt(xy[p]), max(1, thickness // 2), label, -1)


def _draw_person(canvas: np.ndarray, xy: np.ndarray, vis: np.ndarray, scale: float) -> None:
    cv2 = cv2_module(FEATURE)
    unit = max(_unit(xy, vis, canvas.shape[0]), 1.0) * scale
    lower, legs, shoes = _label("lower_clothes"), _label("legs"), _label("shoes")
    for hip, knee, ankle in ((R_HIP, R_KNEE, R_ANKLE), (L_HIP, L_KNEE, L_ANKLE)):
        _capsules(canvas, xy, vis, (hip, knee), THIGH_WIDTH * unit, lower)
        _capsules(canvas, xy, vis, (knee, ankle), SHIN_WIDTH * unit, legs)
        if vis[ankle]:
            cv2.circle(canvas, _pt(xy[ankle]), max(1, int(SHOE_RADIUS * unit)), shoes, -1)
    _capsules(canvas, xy, vis, (R_HIP, L_HIP), THIGH_WIDTH * unit, lower)
    torso = [i for i in (NECK, R_SHOULDER, L_SHOULDER, R_HIP, L_HIP) if vis[i]]
    if len(torso) >= 3:
        hull = cv2.convexHull(np.array([_pt(xy[i]) for i in torso], dtype=np.int32))
        cv2.fillConvexPoly(canvas, hull, _label("upper_clothes"))
        cv2.polylines(canvas, [hull], True, _label("upper_clothes"), max(1, int(TORSO_MARGIN * unit)))
    for chain in ((R_SHOULDER, R_ELBOW, R_WRIST), (L_SHOULDER, L_ELBOW, L_WRIST)):
        _capsules(canvas, xy, vis, chain, ARM_WIDTH * unit, _label("arms"))
    head = [i for i in HEAD if vis[i]]
    if head:
        points = xy[head]
        centre = points.mean(0)
        spread = max((float(np.linalg.norm(p - centre)) for p in points), default=0.0)
        radius = max(FACE_RADIUS * unit, 1.3 * spread)
        cv2.circle(canvas, _pt(centre), max(1, int(math.ceil(radius))), _label("face"), -1)


def target_region_labels(frame: PoseFrame, height: int, width: int, scale: float = 1.0) -> np.ndarray:
    """``int64 [height, width]`` label map of :data:`REGION_LABEL_SET` for every person of ``frame``.

    The frame's canvas is stretched onto ``height x width``; ``scale`` multiplies every region size.
    People without visible joints draw nothing (the map stays background).
    """
    canvas = np.zeros((height, width), dtype=np.uint8)
    sx, sy = width / frame.canvas_width, height / frame.canvas_height
    for person in frame.people:
        body = person.body
        xy = body[:, :2].astype(np.float64) * np.array([sx, sy])
        _draw_person(canvas, xy, visible(body), scale)
    return canvas.astype(np.int64)
