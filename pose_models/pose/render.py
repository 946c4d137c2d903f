"""Rasterise poses: the OpenPose ControlNet skeleton, CFLD's skeleton, Gaussian heatmaps and limb masks.

Every function draws a :class:`~pose_models.pose.keypoints.PoseFrame` at an output size
``height`` x ``width`` (default: the frame's canvas size). Coordinates are scaled from the canvas to the
output by ``x * width / canvas_width`` and ``y * height / canvas_height`` (a stretch when the aspect ratios
differ; use :func:`pose_models.pose.ops.fit_to_canvas` first to letterbox instead). Missing points
(``conf == 0``) and limbs with a missing end are never drawn; points outside the output are kept and
simply clipped by the rasteriser. A frame with no people gives a black image / zero maps.

* :func:`render_openpose` -> ``uint8 [H, W, 3]`` **RGB**, the controlnet_aux ``draw_bodypose`` look that
  OpenPose ControlNets were trained on: black background, 17 limbs as filled ellipses (half-width
  ``stick_width`` = 4 px, optionally xinsir-scaled) in ``0.6 x`` the limb colour, then 18 joint discs
  (radius 4) in full colour; people drawn in order, each body then hands then face. Hands: 20 edges
  (2 px lines, HSV rainbow) and blue discs (radius 4); face: white discs (radius 3).
* :func:`render_cfld_skeleton` -> ``uint8 [H, W, 3]`` RGB, CFLD's ``draw_pose_from_cords`` look (2 px
  anti-aliased lines, radius 3 anti-aliased discs) for its 21-channel pose input.
* :func:`render_heatmaps` -> ``float32 [18, H, W]`` in ``[0, 1]``: ``exp(-d^2 / (2 sigma^2))`` around each
  joint, 1.0 at the joint's pixel, zero maps for missing joints, max over people.
* :func:`limb_masks` -> ``float32 [17, H, W]`` in ``{0, 1}``: 1 where the pixel centre lies within
  ``width_px / 2`` of the bone segment, max over people; :func:`body_mask` -> ``float32 [H, W]``, their
  union, drawn into one map.
* :class:`PoseMaps`: the heatmaps or limb masks of a whole batch, drawn frame by frame when asked, so a
  batch never holds ``F x C x H x W`` floats unless a consumer stacks them.
"""

from __future__ import annotations

import colorsys
import math
from dataclasses import dataclass

import numpy as np

from ..opencv import cv2_module
from .errors import PoseFormatError
from .keypoints import BONES, PoseFrame, check_canvas_side, visible

OPENPOSE_COLORS: tuple[tuple[int, int, int], ...] = (
    (255, 0, 0), (255, 85, 0), (255, 170, 0), (255, 255, 0), (170, 255, 0), (85, 255, 0), (0, 255, 0),
    (0, 255, 85), (0, 255, 170), (0, 255, 255), (0, 170, 255), (0, 85, 255), (0, 0, 255), (85, 0, 255),
    (170, 0, 255), (255, 0, 255), (255, 0, 170), (255, 0, 85),
)
"""RGB colour of joint ``i`` and of limb ``i`` (limbs in :data:`BONES` order use the first 17)."""

OPENPOSE_DRAWING = "Drawing the OpenPose skeleton (Render Pose)"
"""What needs OpenCV here, for the missing-OpenCV error."""

LIMB_COLOR_FACTOR = 0.6
"""Limbs are drawn in ``int(c * 0.6)`` of their colour."""

HAND_EDGES: tuple[tuple[int, int], ...] = tuple(
    (0 if k == 0 else 4 * f + k, 4 * f + k + 1) for f in range(5) for k in range(4)
)
"""The 20 hand edges (wrist to each finger, then along the finger), in drawing/colour order."""

HAND_EDGE_COLORS: tuple[tuple[float, ...], ...] = tuple(
    tuple(255.0 * v for v in colorsys.hsv_to_rgb(i / len(HAND_EDGES), 1.0, 1.0))
    for i in range(len(HAND_EDGES))
)
"""RGB colour of each hand edge: hue ``i / 20``, full saturation and value."""

HAND_JOINT_COLOR = (0, 0, 255)
FACE_COLOR = (255, 255, 255)
_COORD_LIMIT = 1e9  # keeps absurd off-canvas coordinates inside cv2's int32 range


def _output_size(frame: PoseFrame, height: int | None, width: int | None, label: str) -> tuple[int, int]:
    h = frame.canvas_height if height is None else check_canvas_side(height, "height", label)
    w = frame.canvas_width if width is None else check_canvas_side(width, "width", label)
    return h, w


def _scaled(points: np.ndarray, sx: float, sy: float) -> np.ndarray:
    """``float64 [N, 2]`` output-pixel coordinates of ``points`` (missing rows are meaningless)."""
    xy = points[:, :2].astype(np.float64) * (sx, sy)
    return np.clip(xy, -_COORD_LIMIT, _COORD_LIMIT)


def xinsir_stick_scale(height: int, width: int) -> int:
    """xinsir OpenPose ControlNet stick multiplier: 1 below 500 px side, else ``min(2 + side//1000, 7)``."""
    side = max(height, width)
    return 1 if side < 500 else min(2 + side // 1000, 7)


def render_openpose(frame: PoseFrame, height: int | None = None, width: int | None = None, *,
                    draw_body: bool = True, draw_hands: bool = False, draw_face: bool = False,
                    xinsir_stick_scaling: bool = False, stick_width: int = 4) -> np.ndarray:
    """OpenPose ControlNet skeleton image, ``uint8 [H, W, 3]`` RGB (see the module docstring)."""
    h, w = _output_size(frame, height, width, "render_openpose")
    if stick_width < 1:
        raise PoseFormatError(f"render_openpose: stick_width must be >= 1, got {stick_width}.")
    sx, sy = w / frame.canvas_width, h / frame.canvas_height
    half_width = stick_width * (xinsir_stick_scale(h, w) if xinsir_stick_scaling else 1)
    cv2 = cv2_module(OPENPOSE_DRAWING)
    canvas = np.zeros((h, w, 3), np.uint8)
    for person in frame.people:
        if draw_body:
            _draw_body(canvas, _scaled(person.body, sx, sy), visible(person.body), half_width)
        if draw_hands:
            for hand in (person.left_hand, person.right_hand):
                if hand is not None:
                    _draw_hand(canvas, _scaled(hand, sx, sy), visible(hand))
        if draw_face and person.face is not None:
            for x, y in _scaled(person.face, sx, sy)[visible(person.face)]:
                cv2.circle(canvas, (int(x), int(y)), 3, FACE_COLOR, thickness=-1)
    return canvas


def _draw_body(canvas: np.ndarray, xy: np.ndarray, vis: np.ndarray, half_width: int) -> None:
    cv2 = cv2_module(OPENPOSE_DRAWING)
    for (p, c), color in zip(BONES, OPENPOSE_COLORS, strict=False):
        if not (vis[p] and vis[c]):
            continue
        (x0, y0), (x1, y1) = xy[p], xy[c]
        length = math.hypot(x0 - x1, y0 - y1)
        angle = math.degrees(math.atan2(y0 - y1, x0 - x1))
        centre = (int((x0 + x1) / 2), int((y0 + y1) / 2))
        polygon = np.asarray(cv2.ellipse2Poly(centre, (int(length / 2), half_width), int(angle), 0, 360, 1))
        cv2.fillConvexPoly(canvas, polygon, [int(v * LIMB_COLOR_FACTOR) for v in color])
    for j, color in enumerate(OPENPOSE_COLORS):
        if vis[j]:
            cv2.circle(canvas, (int(xy[j, 0]), int(xy[j, 1])), 4, color, thickness=-1)


def _draw_hand(canvas: np.ndarray, xy: np.ndarray, vis: np.ndarray) -> None:
    cv2 = cv2_module(OPENPOSE_DRAWING)
    for (a, b), color in zip(HAND_EDGES, HAND_EDGE_COLORS, strict=True):
        if vis[a] and vis[b]:
            cv2.line(canvas, (int(xy[a, 0]), int(xy[a, 1])), (int(xy[b, 0]), int(xy[b, 1])), color,
                     thickness=2)
    for x, y in xy[vis]:
        cv2.circle(canvas, (int(x), int(y)), 4, HAND_JOINT_COLOR, thickness=-1)


def render_cfld_skeleton(frame: PoseFrame, height: int = 256, width: int = 256) -> np.ndarray:
    """CFLD's skeleton image, ``uint8 [H, W, 3]`` RGB: the 3 colour channels of its 21-channel pose input.

    Same calls as CFLD's ``draw_pose_from_cords`` (bones: ``cv2.line`` 2 px ``LINE_AA`` in 0.6 x colour;
    joints: filled ``cv2.circle`` radius 3 ``LINE_AA``), coordinates truncated to int after scaling.
    """
    h, w = _output_size(frame, height, width, "render_cfld_skeleton")
    cv2 = cv2_module("Drawing the CFLD skeleton")
    sx, sy = w / frame.canvas_width, h / frame.canvas_height
    canvas = np.zeros((h, w, 3), np.uint8)
    for person in frame.people:
        xy, vis = _scaled(person.body, sx, sy), visible(person.body)
        for (p, c), color in zip(BONES, OPENPOSE_COLORS, strict=False):
            if vis[p] and vis[c]:
                cv2.line(canvas, (int(xy[p, 0]), int(xy[p, 1])), (int(xy[c, 0]), int(xy[c, 1])),
                         [int(v * LIMB_COLOR_FACTOR) for v in color], 2, cv2.LINE_AA)
        for j, color in enumerate(OPENPOSE_COLORS):
            if vis[j]:
                cv2.circle(canvas, (int(xy[j, 0]), int(xy[j, 1])), 3, color, -1, cv2.LINE_AA)
    return canvas


def render_heatmaps(frame: PoseFrame, sigma: float = 6.0, height: int | None = None,
                    width: int | None = None, *, integer_centres: bool = True) -> np.ndarray:
    """Gaussian joint heatmaps, ``float32 [18, H, W]`` (see the module docstring).

    With ``integer_centres`` (CFLD's convention, the default) the scaled joint position is truncated to
    an integer pixel first, so that pixel holds exactly 1.0; otherwise the Gaussian is centred on the
    exact sub-pixel position. ``sigma`` is in output pixels and must be > 0.
    """
    h, w = _output_size(frame, height, width, "render_heatmaps")
    if not (np.isfinite(sigma) and sigma > 0):
        raise PoseFormatError(f"render_heatmaps: sigma must be a positive number of pixels, got {sigma!r}.")
    sx, sy = w / frame.canvas_width, h / frame.canvas_height
    xs, ys = np.arange(w, dtype=np.float64), np.arange(h, dtype=np.float64)
    maps = np.zeros((18, h, w), np.float32)
    for person in frame.people:
        xy, vis = _scaled(person.body, sx, sy), visible(person.body)
        if integer_centres:
            xy = np.trunc(xy)
        for j in np.flatnonzero(vis):
            gx = np.exp(-((xs - xy[j, 0]) ** 2) / (2 * sigma**2))
            gy = np.exp(-((ys - xy[j, 1]) ** 2) / (2 * sigma**2))
            np.maximum(maps[j], np.outer(gy, gx).astype(np.float32), out=maps[j])
    return maps


def limb_masks(frame: PoseFrame, width_px: float = 8.0, height: int | None = None,
               width: int | None = None) -> np.ndarray:
    """Per-limb masks, ``float32 [17, H, W]``: 1 within ``width_px / 2`` output px of each bone segment.

    Limbs in :data:`~pose_models.pose.keypoints.BONES` order; a limb with a missing end is all zero; a
    zero-length limb is a disc. Pixel ``(row i, column j)`` is tested at its centre ``(x=j, y=i)``.
    """
    h, w = _output_size(frame, height, width, "limb_masks")
    if not (np.isfinite(width_px) and width_px > 0):
        raise PoseFormatError(f"limb_masks: width_px must be a positive number of pixels, got {width_px!r}.")
    sx, sy = w / frame.canvas_width, h / frame.canvas_height
    radius = width_px / 2.0
    masks = np.zeros((len(BONES), h, w), np.float32)
    for person in frame.people:
        xy, vis = _scaled(person.body, sx, sy), visible(person.body)
        for k, (p, c) in enumerate(BONES):
            if vis[p] and vis[c]:
                _stamp_segment(masks[k], xy[p], xy[c], radius)
    return masks


def body_mask(frame: PoseFrame, width_px: float = 8.0, height: int | None = None,
              width: int | None = None) -> np.ndarray:
    """``float32 [H, W]``: the union of :func:`limb_masks` (same arguments), without the 17 maps."""
    h, w = _output_size(frame, height, width, "body_mask")
    if not (np.isfinite(width_px) and width_px > 0):
        raise PoseFormatError(f"body_mask: width_px must be a positive number of pixels, got {width_px!r}.")
    sx, sy = w / frame.canvas_width, h / frame.canvas_height
    mask = np.zeros((h, w), np.float32)
    for person in frame.people:
        xy, vis = _scaled(person.body, sx, sy), visible(person.body)
        for p, c in BONES:
            if vis[p] and vis[c]:
                _stamp_segment(mask, xy[p], xy[c], width_px / 2.0)
    return mask


MAP_KINDS = {"heatmaps": 18, "limb_masks": len(BONES)}
""":class:`PoseMaps` kinds and their channel counts."""


@dataclass(frozen=True)
class PoseMaps:
    """The dense maps of a pose batch, drawn on demand.

    ``kind`` ``"heatmaps"`` (:func:`render_heatmaps`, ``size`` = sigma in output px) or ``"limb_masks"``
    (:func:`limb_masks`, ``size`` = limb width in output px), at ``height`` x ``width`` for each of
    ``frames``. :meth:`frame` draws one frame's ``float32 [C, H, W]``; :meth:`stack` the whole
    ``float32 [F, C, H, W]`` (``nbytes`` bytes: check that it fits first). Holding a ``PoseMaps`` costs
    only its frames.
    """

    kind: str
    frames: tuple[PoseFrame, ...]
    height: int
    width: int
    size: float

    def __post_init__(self) -> None:
        if self.kind not in MAP_KINDS:
            raise PoseFormatError(f"PoseMaps: kind must be one of {sorted(MAP_KINDS)}, got {self.kind!r}.")
        if not (np.isfinite(self.size) and self.size > 0):
            what = "heatmap sigma" if self.kind == "heatmaps" else "limb width"
            raise PoseFormatError(
                f"PoseMaps: the {what} must be a positive number of pixels, got {self.size!r}.")
        check_canvas_side(self.height, "height", "PoseMaps")
        check_canvas_side(self.width, "width", "PoseMaps")

    @property
    def channels(self) -> int:
        return MAP_KINDS[self.kind]

    @property
    def nbytes(self) -> int:
        """Bytes of :meth:`stack`."""
        return len(self.frames) * self.channels * self.height * self.width * 4

    def __len__(self) -> int:
        return len(self.frames)

    def frame(self, index: int) -> np.ndarray:
        """``float32 [C, H, W]`` of frame ``index``."""
        frame = self.frames[index]
        if self.kind == "heatmaps":
            return render_heatmaps(frame, self.size, self.height, self.width)
        return limb_masks(frame, self.size, self.height, self.width)

    def stack(self) -> np.ndarray:
        """``float32 [F, C, H, W]`` of every frame."""
        out = np.zeros((len(self.frames), self.channels, self.height, self.width), np.float32)
        for i in range(len(self.frames)):
            out[i] = self.frame(i)
        return out


def _stamp_segment(mask: np.ndarray, a: np.ndarray, b: np.ndarray, radius: float) -> None:
    """Set to 1 the pixels of ``mask`` whose centre is within ``radius`` of segment ``a``-``b``."""
    h, w = mask.shape
    x0 = max(math.floor(min(a[0], b[0]) - radius), 0)
    x1 = min(math.ceil(max(a[0], b[0]) + radius) + 1, w)
    y0 = max(math.floor(min(a[1], b[1]) - radius), 0)
    y1 = min(math.ceil(max(a[1], b[1]) + radius) + 1, h)
    if x0 >= x1 or y0 >= y1:
        return
    px = np.arange(x0, x1, dtype=np.float64)[None, :]
    py = np.arange(y0, y1, dtype=np.float64)[:, None]
    d = b - a
    denom = float(d @ d)
    t = 0.0 if denom == 0 else np.clip(((px - a[0]) * d[0] + (py - a[1]) * d[1]) / denom, 0.0, 1.0)
    dist2 = (px - a[0] - t * d[0]) ** 2 + (py - a[1] - t * d[1]) ** 2
    mask[y0:y1, x0:x1][dist2 <= radius * radius] = 1.0
