"""Read and write ComfyUI's ``POSE_KEYPOINT`` value (the OpenPose-JSON-like python structure).

Accepted input (``from_pose_keypoint``)
---------------------------------------
* a **list of frame dicts** ``{"people": [...], "canvas_width": W, "canvas_height": H}`` (one per batch
  image), a single frame dict, or either of those as a JSON string;
* a bare person dict (``{"pose_keypoints_2d": [...]}``) or a bare flat body list, read as one frame with
  one person (the canvas must then come from ``canvas_size``);
* per person, the parts ``pose_keypoints_2d`` (18 COCO-18 points, or 25 OpenPose BODY_25 points which are
  converted: MidHip dropped, toes/heels become the feet), ``face_keypoints_2d`` (70, or 68 without pupils),
  ``hand_left_keypoints_2d``/``hand_right_keypoints_2d`` (21), ``foot_keypoints_2d`` (6, core SDPose);
  each a **flat** ``[x0, y0, c0, x1, ...]`` list or nested ``[[x, y, c], ...]`` triplets. A part that is
  ``None``, ``[]``, absent, or has every point missing is read as absent (``None``); an absent body is a
  body with all 18 joints missing. ``"animals"`` and unknown keys are ignored.

Producers covered: controlnet_aux OpenPose (normalised 0-1 coordinates, confidence 1, missing
``[0, 0, 0]``), controlnet_aux DWPose (pixels, 0/1), ComfyUI core SDPose (pixels, real scores,
``foot_keypoints_2d``, ``(-1, -1)`` for points it could not place), OpenPose JSON (pixels, real scores).

Reading rules
-------------
* A point is **missing** when its confidence is ``<= 0`` or its coordinates are exactly ``(-1, -1)`` (the
  SDPose/DeepFashion sentinel). Non-finite coordinates are allowed only on missing points.
* **Normalised or pixel** is decided per frame (``coordinates="auto"``): if every visible coordinate of
  every person and part satisfies ``|v| <= 1`` and the canvas is larger than
  :data:`NORMALIZED_MIN_CANVAS` px, the frame is normalised and scaled by ``canvas_width``/``canvas_height``
  (never by an assumed image size). Pass ``coordinates="pixel"`` or ``"normalized"`` to override (e.g. a
  pixel pose whose few joints all lie within one pixel of the origin).
* A person whose points are all missing is **kept** (so people stay matched by index across frames).
* ``canvas_width``/``canvas_height`` are required on every frame unless ``canvas_size=(W, H)`` is given as
  a fallback; they must be whole numbers ``>= 1``.

Bad input raises :class:`~pose_models.pose.errors.PoseFormatError` naming the frame, person and part.

Writing (``to_pose_keypoint``) emits the SDPose-like pixel form: every person has all five part keys
(absent parts written as all-missing zeros, which both controlnet_aux and core SDPose render nodes accept
and which read back as absent). ``binarize=True`` sets every visible confidence to 1.0 (controlnet_aux's
decoder drops points with ``c < 1``); threshold weak points first with
:func:`pose_models.pose.ops.threshold_confidence`. ``coordinates="normalized"`` writes the controlnet_aux
OpenPose 0-1 form instead.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np

from .errors import PoseFormatError, where
from .keypoints import PART_SIZES, Person, PoseFrame, check_canvas_side, check_points, visible
from .text_files import decode_pose_text, parse_json

logger = logging.getLogger(__name__)

Coordinates = Literal["auto", "pixel", "normalized"]

NORMALIZED_MIN_CANVAS = 4
"""A frame is only read as normalised when ``max(canvas_width, canvas_height)`` exceeds this many px."""

PART_KEYS: dict[str, str] = {
    "pose_keypoints_2d": "body",
    "face_keypoints_2d": "face",
    "hand_left_keypoints_2d": "left_hand",
    "hand_right_keypoints_2d": "right_hand",
    "foot_keypoints_2d": "feet",
}
"""``POSE_KEYPOINT`` person key -> :class:`Person` field."""

_KEY_OF = {name: key for key, name in PART_KEYS.items()}
_ACCEPTED_POINTS: dict[str, tuple[int, ...]] = {
    "body": (18, 25), "face": (70, 68), "left_hand": (21,), "right_hand": (21,), "feet": (6,),
}
_BODY25_TO_COCO18 = (0, 1, 2, 3, 4, 5, 6, 7, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18)
_BODY25_FEET = (19, 20, 21, 22, 23, 24)


def from_pose_keypoint(value: Any, *, coordinates: Coordinates = "auto",
                       canvas_size: tuple[int, int] | None = None,
                       source: str = "POSE_KEYPOINT") -> list[PoseFrame]:
    """Read a ``POSE_KEYPOINT`` value (see the module docstring) into canonical pixel frames.

    ``canvas_size=(width, height)`` is used for frames that lack ``canvas_width``/``canvas_height``;
    ``source`` names the input in error messages. Returns one :class:`PoseFrame` per frame dict.
    """
    if coordinates not in ("auto", "pixel", "normalized"):
        raise PoseFormatError(f"coordinates must be 'auto', 'pixel' or 'normalized', not {coordinates!r}.")
    if isinstance(value, bytes):
        value = decode_pose_text(value, source, "POSE_KEYPOINT JSON")
    if isinstance(value, str):
        value = parse_json(value, source, "a POSE_KEYPOINT list of frame dicts")
    if isinstance(value, dict):
        if "people" not in value and any(k in value for k in PART_KEYS):
            value = {"people": [value]}
        value = [value]
    elif isinstance(value, (list, tuple)) and value and all(_is_number(v) for v in value):
        value = [{"people": [{"pose_keypoints_2d": list(value)}]}]
    if not isinstance(value, (list, tuple)):
        raise PoseFormatError(
            f"{source}: expected a list of frame dicts ({{'people': [...], 'canvas_width': W, "
            f"'canvas_height': H}}) or one such dict, got {type(value).__name__}."
        )
    return [
        frame_from_dict(d, coordinates=coordinates, canvas_size=canvas_size, label=f"{source} frame {i}")
        for i, d in enumerate(value)
    ]


def frame_from_dict(d: Any, *, coordinates: Coordinates = "auto",
                    canvas_size: tuple[int, int] | None = None, label: str = "frame") -> PoseFrame:
    """Read one frame dict ``{"people": [...], "canvas_width": W, "canvas_height": H}`` (see module doc)."""
    if not isinstance(d, dict):
        raise PoseFormatError(
            f"{label}: expected a dict with 'people', 'canvas_width' and 'canvas_height', "
            f"got {type(d).__name__}."
        )
    width, height = _canvas_of(d, canvas_size, label)
    people_raw = d.get("people")
    if people_raw is None:
        people_raw = []
    if not isinstance(people_raw, (list, tuple)):
        raise PoseFormatError(
            f"{label}: 'people' must be a list of person dicts, got {type(people_raw).__name__}."
        )
    raw_people = [_read_person_arrays(p, where(label, f"person {i}")) for i, p in enumerate(people_raw)]
    scale_xy = _coordinate_scale(raw_people, width, height, coordinates, label)
    people = []
    for i, parts in enumerate(raw_people):
        kwargs: dict[str, Any] = {}
        for name, arr in parts.items():
            arr[:, :2] *= scale_xy
            pts = check_points(arr, PART_SIZES[name], where(label, f"person {i}", _KEY_OF[name]))
            kwargs[name] = pts if name == "body" or visible(pts).any() else None
        people.append(Person(**kwargs))
    return PoseFrame(tuple(people), width, height)


def to_pose_keypoint(frames: PoseFrame | Sequence[PoseFrame], *, binarize: bool = False,
                     coordinates: Literal["pixel", "normalized"] = "pixel") -> list[dict[str, Any]]:
    """Write frames as a ``POSE_KEYPOINT`` list (SDPose-like pixel form; see the module docstring)."""
    if isinstance(frames, PoseFrame):
        frames = [frames]
    if coordinates not in ("pixel", "normalized"):
        raise PoseFormatError(f"coordinates must be 'pixel' or 'normalized', not {coordinates!r}.")
    out = []
    for i, frame in enumerate(frames):
        if not isinstance(frame, PoseFrame):
            raise PoseFormatError(f"to_pose_keypoint: item {i} is a {type(frame).__name__}, not a PoseFrame.")
        out.append(frame_to_dict(frame, binarize=binarize, coordinates=coordinates, label=f"frame {i}"))
    return out


def frame_to_dict(frame: PoseFrame, *, binarize: bool = False,
                  coordinates: Literal["pixel", "normalized"] = "pixel", label: str = "frame",
                  absent_as_zeros: bool = True) -> dict[str, Any]:
    """One frame as a ``POSE_KEYPOINT`` frame dict.

    ``absent_as_zeros=True`` writes absent parts as all-missing zero lists (SDPose form); ``False`` writes
    ``[]`` for an absent face/hand and omits absent feet (OpenPose file form).
    """
    w, h = frame.canvas_width, frame.canvas_height
    divisor = np.array([w, h], np.float64) if coordinates == "normalized" else np.ones(2)
    people = []
    lo, hi = np.inf, -np.inf
    for person in frame.people:
        entry: dict[str, Any] = {}
        for key, name in PART_KEYS.items():
            pts = getattr(person, name)
            if pts is None:
                if absent_as_zeros:
                    entry[key] = [0.0] * (3 * PART_SIZES[name])
                elif name != "feet":
                    entry[key] = []
                continue
            arr = pts.astype(np.float64)
            vis = visible(pts)
            arr[:, :2] /= divisor
            if binarize:
                arr[vis, 2] = 1.0
            if vis.any():
                lo, hi = min(lo, float(arr[vis, :2].min())), max(hi, float(np.abs(arr[vis, :2]).max()))
            entry[key] = arr.reshape(-1).tolist()
        people.append(entry)
    if lo <= hi:  # something is visible
        _warn_if_ambiguous(lo, hi, coordinates, max(w, h), label)
    return {"people": people, "canvas_width": w, "canvas_height": h}


def _warn_if_ambiguous(lo: float, hi: float, coordinates: str, max_side: int, label: str) -> None:
    """Warn when the written coordinates would be misread by the auto normalised/pixel detection."""
    if coordinates == "normalized" and (lo < 0 or hi > 1):
        logger.warning("%s: normalised coordinates outside [0, 1] (points off the canvas); readers will "
                       "take this frame for pixels unless told coordinates='normalized'.", label)
    elif coordinates == "pixel" and hi <= 1 and max_side > NORMALIZED_MIN_CANVAS:
        logger.warning("%s: every visible pixel coordinate is <= 1; readers will take this frame for "
                       "normalised coordinates unless told coordinates='pixel'.", label)


def _holds_bool(raw: Any) -> bool:
    """A boolean among the items of ``raw`` or of its sub-lists (one level down: ``[[x, y, c], ...]``)."""
    for item in raw if isinstance(raw, (list, tuple)) else (raw,):
        inner = item if isinstance(item, (list, tuple)) else (item,)
        if any(isinstance(v, bool) for v in inner):
            return True
    return False


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool)


def _canvas_of(d: dict[str, Any], canvas_size: tuple[int, int] | None, label: str) -> tuple[int, int]:
    has_w, has_h = d.get("canvas_width") is not None, d.get("canvas_height") is not None
    if has_w and has_h:
        return (check_canvas_side(d["canvas_width"], "canvas_width", label),
                check_canvas_side(d["canvas_height"], "canvas_height", label))
    if canvas_size is not None:
        if len(canvas_size) != 2:
            raise PoseFormatError(f"{label}: canvas_size must be (width, height), got {canvas_size!r}.")
        return (check_canvas_side(canvas_size[0], "canvas width", label),
                check_canvas_side(canvas_size[1], "canvas height", label))
    missing = " and ".join(k for k, ok in (("canvas_width", has_w), ("canvas_height", has_h)) if not ok)
    raise PoseFormatError(
        f"{label}: {missing} missing. Keypoints are only meaningful with the size of the image they were "
        "measured on: add canvas_width/canvas_height to the frame, or pass canvas_size=(W, H) "
        "(CLI: --canvas WxH)."
    )


def _read_person_arrays(p: Any, label: str) -> dict[str, np.ndarray]:
    """Parse one person dict into float64 ``[N, 3]`` arrays per part (raw coordinates, missing zeroed)."""
    if not isinstance(p, dict):
        raise PoseFormatError(
            f"{label}: expected a person dict with 'pose_keypoints_2d', got {type(p).__name__}."
        )
    parts: dict[str, np.ndarray] = {}
    for key, name in PART_KEYS.items():
        arr = _parse_part(p.get(key), name, where(label, key))
        if arr is None:
            continue
        if name == "body" and len(arr) == 25:  # a foot_keypoints_2d part, read later, takes precedence
            parts["feet"] = arr[list(_BODY25_FEET)]
            arr = arr[list(_BODY25_TO_COCO18)]
        elif name == "face" and len(arr) == 68:
            arr = np.concatenate([arr, np.zeros((2, 3))])
        parts[name] = arr
    if "body" not in parts:
        parts["body"] = np.zeros((18, 3))
    return parts


def _parse_part(raw: Any, name: str, label: str) -> np.ndarray | None:
    if raw is None:
        return None
    if isinstance(raw, (str, bytes, dict)):
        raise PoseFormatError(
            f"{label}: expected a list of numbers [x0, y0, c0, x1, ...], got {type(raw).__name__}."
        )
    if _holds_bool(raw):
        raise PoseFormatError(
            f"{label}: true/false where a number belongs. Give numbers: x and y in pixels (or 0-1), the "
            "confidence 0 for a missing point."
        )
    try:
        arr = np.array(raw, dtype=np.float64)
    except (TypeError, ValueError):
        raise PoseFormatError(
            f"{label}: not a list of numbers. Expected a flat list [x0, y0, c0, x1, ...] or [[x, y, c], ...]."
        ) from None
    if arr.size == 0:
        return None
    allowed = _ACCEPTED_POINTS[name]
    if arr.ndim == 1:
        if arr.size % 3:
            raise PoseFormatError(
                f"{label}: {arr.size} numbers is not a multiple of 3; each point needs (x, y, confidence). "
                f"Expected {3 * allowed[0]} numbers ({allowed[0]} points)."
            )
        arr = arr.reshape(-1, 3)
    elif arr.ndim != 2 or arr.shape[1] != 3:
        raise PoseFormatError(
            f"{label}: shape {list(arr.shape)} is neither a flat list nor [[x, y, c], ...]."
        )
    if len(arr) not in allowed:
        names = {"body": "18 (COCO-18) or 25 (BODY_25)", "face": "70 (or 68 without pupils)"}
        raise PoseFormatError(
            f"{label}: {len(arr)} points; expected {names.get(name, str(allowed[0]))}. "
            "Check that the producer writes OpenPose-style keypoints for this part."
        )
    conf = arr[:, 2]
    if not np.isfinite(conf).all():
        i = int(np.flatnonzero(~np.isfinite(conf))[0])
        raise PoseFormatError(
            f"{label}, point {i}: confidence {float(conf[i])} is not finite. Use 0 for a missing point."
        )
    missing = (conf <= 0) | ((arr[:, 0] == -1) & (arr[:, 1] == -1))
    arr[missing] = 0.0
    return arr


def _coordinate_scale(people: list[dict[str, np.ndarray]], width: int, height: int,
                      coordinates: Coordinates, label: str) -> np.ndarray:
    """``[sx, sy]`` that turns this frame's coordinates into pixels (``[W, H]`` if normalised, else ones)."""
    if coordinates == "normalized":
        return np.array([width, height], np.float64)
    if coordinates == "pixel":
        return np.ones(2)
    vis = [a[a[:, 2] > 0, :2] for parts in people for a in parts.values()]
    xy = np.concatenate(vis) if vis else np.zeros((0, 2))
    finite = xy[np.isfinite(xy).all(axis=1)]
    if len(finite) and max(width, height) > NORMALIZED_MIN_CANVAS and np.abs(finite).max() <= 1.0:
        logger.debug("%s: all visible coordinates <= 1, reading them as normalised", label)
        return np.array([width, height], np.float64)
    return np.ones(2)
