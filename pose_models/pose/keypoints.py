"""Canonical pose types of the pack: :class:`Person`, :class:`PoseFrame` and a sequence of frames.

Data contract
-------------
* Every point is a row ``(x, y, conf)`` of a ``float32`` array, ``x``/``y`` in **absolute pixels of the
  frame's canvas** (origin top-left, ``x`` to the right, ``y`` down; a point at integer ``(x, y)`` is the
  centre of pixel column ``x``, row ``y``), ``conf`` a real confidence ``>= 0``.
* ``conf == 0`` means **missing**; a missing point is stored as ``(0, 0, 0)`` whatever coordinates were given
  (they may even be NaN). Visible points must have finite coordinates.
* Coordinates outside the canvas are **kept** (a retargeted or mirrored pose may stick out); renderers clip
  what they draw, :func:`pose_models.pose.ops.clip_to_canvas` marks such points missing on request.
* ``Person.body`` is ``[18, 3]`` in OpenPose COCO-18 order (:data:`BODY_JOINTS`); optional parts are
  ``face [70, 3]`` (68 iBUG landmarks + right pupil + left pupil), ``left_hand``/``right_hand [21, 3]``
  (OpenPose hand order: wrist, then 4 points per finger from thumb to little finger) and
  ``feet [6, 3]`` (:data:`FEET_POINTS`). ``None`` = part not present. "Left" is the person's left.
* :class:`PoseFrame` holds any number of people (zero is valid data: nothing detected) and the canvas size
  in pixels (both ``>= 1``). A sequence of frames (one per batch image) is a plain ``list[PoseFrame]``
  (:data:`PoseSequence`).

Arrays are copied to ``float32`` and made read-only on construction, so the dataclasses are truly frozen.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, fields
from typing import Any, NamedTuple

import numpy as np

from .errors import PoseFormatError

BODY_JOINTS: tuple[str, ...] = (
    "nose", "neck", "right_shoulder", "right_elbow", "right_wrist", "left_shoulder", "left_elbow",
    "left_wrist", "right_hip", "right_knee", "right_ankle", "left_hip", "left_knee", "left_ankle",
    "right_eye", "left_eye", "right_ear", "left_ear",
)
"""OpenPose COCO-18 joint names, index = row of ``Person.body``."""

NECK = 1
"""Index of the neck, the root of the kinematic tree."""

MAX_CANVAS_SIDE = 65536
"""Largest canvas side (px) a pose may declare; larger values are data errors (a scale factor, a typo)."""

BONES: tuple[tuple[int, int], ...] = (
    (1, 2), (1, 5), (2, 3), (3, 4), (5, 6), (6, 7), (1, 8), (8, 9), (9, 10), (1, 11), (11, 12), (12, 13),
    (1, 0), (0, 14), (14, 16), (0, 15), (15, 17),
)
"""The 17 OpenPose limbs as ``(parent, child)`` joint indices, in the order (and colours) of the
ControlNet render. Every bone points away from the neck, so the list is also the kinematic tree rooted at
the neck, parents always placed before children."""

BODY_LR_PAIRS: tuple[tuple[int, int], ...] = (
    (2, 5), (3, 6), (4, 7), (8, 11), (9, 12), (10, 13), (14, 15), (16, 17),
)
"""(right, left) body joint pairs swapped by mirroring."""

FEET_POINTS: tuple[str, ...] = (
    "left_big_toe", "left_small_toe", "left_heel", "right_big_toe", "right_small_toe", "right_heel",
)
"""Order of ``Person.feet`` (COCO-WholeBody / OpenPose BODY_25 19-24, as core SDPose writes it)."""


def _mirror_permutation(n: int, pairs: Sequence[tuple[int, int]]) -> tuple[int, ...]:
    perm = list(range(n))
    for a, b in pairs:
        perm[a], perm[b] = b, a
    return tuple(perm)


BODY_MIRROR: tuple[int, ...] = _mirror_permutation(18, BODY_LR_PAIRS)
"""``mirrored.body = body[BODY_MIRROR]`` after flipping x."""

BONE_MIRROR: tuple[int, ...] = tuple(
    BONES.index((BODY_MIRROR[p], BODY_MIRROR[c])) for p, c in BONES
)
"""Index of the mirror bone of each bone (neck-nose is its own mirror)."""

FEET_MIRROR: tuple[int, ...] = (3, 4, 5, 0, 1, 2)
"""``mirrored.feet = feet[FEET_MIRROR]``."""

FACE_MIRROR: tuple[int, ...] = _mirror_permutation(70, (
    *((i, 16 - i) for i in range(8)),                      # jaw line
    (17, 26), (18, 25), (19, 24), (20, 23), (21, 22),     # eyebrows
    (31, 35), (32, 34),                                   # nostrils
    (36, 45), (37, 44), (38, 43), (39, 42), (40, 47), (41, 46),  # eyes
    (48, 54), (49, 53), (50, 52), (55, 59), (56, 58),     # outer lips
    (60, 64), (61, 63), (65, 67),                         # inner lips
    (68, 69),                                             # pupils
))
"""``mirrored.face = face[FACE_MIRROR]`` for the 70-point OpenPose face (iBUG-68 + 2 pupils)."""

PART_SIZES: dict[str, int] = {"body": 18, "face": 70, "left_hand": 21, "right_hand": 21, "feet": 6}
"""Number of points of each part of a :class:`Person`."""

OPTIONAL_PARTS: tuple[str, ...] = ("face", "left_hand", "right_hand", "feet")


def check_points(value: Any, n: int, label: str) -> np.ndarray:
    """Return ``value`` as a fresh, read-only ``float32 [n, 3]`` array in canonical form.

    Raises :class:`PoseFormatError` naming ``label`` when the shape is not ``[n, 3]``, a value is not a
    number, a confidence is negative or not finite, or a visible point (``conf > 0``) has a non-finite
    coordinate. Missing points (``conf == 0``) become ``(0, 0, 0)``.
    """
    try:
        arr = np.array(value, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise PoseFormatError(
            f"{label}: values are not numbers ({exc}). Give an array of {n} (x, y, confidence) rows."
        ) from None
    if arr.shape != (n, 3):
        raise PoseFormatError(
            f"{label}: expected shape [{n}, 3] (x, y, confidence), got {list(arr.shape)}."
        )
    conf = arr[:, 2]
    bad = ~np.isfinite(conf) | (conf < 0)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise PoseFormatError(
            f"{label}, point {i}: confidence {float(conf[i])} is not a finite number >= 0. "
            "Use 0 for a missing point."
        )
    missing = conf == 0
    bad = ~missing & ~np.isfinite(arr[:, :2]).all(axis=1)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise PoseFormatError(
            f"{label}, point {i}: coordinates {arr[i, :2].tolist()} are not finite although its "
            f"confidence is {conf[i]:g}. Fix the producer, or set the confidence to 0 to mark it missing."
        )
    arr[missing] = 0.0
    with np.errstate(over="ignore"):
        out = arr.astype(np.float32)
    if not np.isfinite(out).all():
        raise PoseFormatError(f"{label}: a coordinate is too large for float32 (|value| > 3.4e38).")
    out.setflags(write=False)
    return out


def visible(points: np.ndarray) -> np.ndarray:
    """Boolean mask ``[N]`` of the visible rows (``conf > 0``) of a ``[N, 3]`` point array."""
    return points[:, 2] > 0


@dataclass(frozen=True, eq=False)
class Person:
    """One person: COCO-18 body plus optional face, hands and feet, all ``float32 [N, 3]`` pixel rows.

    See the module docstring for the contract. Equality compares every part exactly (``None`` only equals
    ``None``).
    """

    body: np.ndarray
    face: np.ndarray | None = None
    left_hand: np.ndarray | None = None
    right_hand: np.ndarray | None = None
    feet: np.ndarray | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "body", check_points(self.body, 18, "Person.body"))
        for name in OPTIONAL_PARTS:
            value = getattr(self, name)
            if value is not None:
                object.__setattr__(self, name, check_points(value, PART_SIZES[name], f"Person.{name}"))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Person):
            return NotImplemented
        for f in fields(self):
            a, b = getattr(self, f.name), getattr(other, f.name)
            if (a is None) != (b is None) or (a is not None and not np.array_equal(a, b)):
                return False
        return True

    __hash__ = None  # type: ignore[assignment]  # mutable-looking arrays: not hashable

    def parts(self) -> dict[str, np.ndarray]:
        """The present parts by name (``"body"`` first), each ``float32 [N, 3]``."""
        return {f.name: getattr(self, f.name) for f in fields(self) if getattr(self, f.name) is not None}

    def has_visible(self) -> bool:
        """Whether any point of any part is visible."""
        return any(bool(visible(p).any()) for p in self.parts().values())

    @staticmethod
    def empty() -> Person:
        """A person with all 18 body joints missing and no other part."""
        return Person(np.zeros((18, 3), np.float32))


@dataclass(frozen=True)
class PoseFrame:
    """All people of one image and that image's canvas size in pixels.

    ``people`` may be empty: a frame where nothing was detected is valid data (renderers draw a black
    image, heatmaps are zero); functions that need a person raise :class:`PoseFormatError` via
    :func:`require_person`. ``canvas_width``/``canvas_height`` are integers ``>= 1``.
    """

    people: tuple[Person, ...]
    canvas_width: int
    canvas_height: int

    def __post_init__(self) -> None:
        people = tuple(self.people)
        for i, p in enumerate(people):
            if not isinstance(p, Person):
                raise PoseFormatError(f"PoseFrame.people[{i}] is a {type(p).__name__}, not a Person.")
        object.__setattr__(self, "people", people)
        object.__setattr__(self, "canvas_width", check_canvas_side(self.canvas_width, "canvas_width"))
        object.__setattr__(self, "canvas_height", check_canvas_side(self.canvas_height, "canvas_height"))


PoseSequence = list[PoseFrame]
"""A batch or video of poses: one :class:`PoseFrame` per image."""


class NamedFrame(NamedTuple):
    """A frame with a name (the image file name of a DeepFashion row, a JSON file stem, ...)."""

    name: str
    frame: PoseFrame


def check_canvas_side(value: Any, name: str, label: str = "PoseFrame") -> int:
    """Return ``value`` as an ``int >= 1`` or raise :class:`PoseFormatError` naming ``label``/``name``."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise PoseFormatError(
            f"{label}: {name} is {value!r}; it must be a positive whole number of pixels."
        )
    try:
        number = float(value)
    except OverflowError:
        number = math.inf
    if not math.isfinite(number) or number != int(value) or number < 1:
        raise PoseFormatError(
            f"{label}: {name} is {value!r}; it must be a positive whole number of pixels "
            "(the size of the image the keypoints were measured on)."
        )
    if int(value) > MAX_CANVAS_SIDE:
        raise PoseFormatError(
            f"{label}: {name} is {int(value)} px; pose canvases are at most {MAX_CANVAS_SIDE} px a side. "
            "Check the value (a normalised pose needs the image size, not a scale factor)."
        )
    return int(value)


def require_person(frame: PoseFrame, index: int = 0, *, what: str = "this operation",
                   label: str = "frame", min_joints: int = 0) -> Person:
    """Return ``frame.people[index]`` or raise :class:`PoseFormatError` explaining that ``what`` needs it.

    ``min_joints`` > 0 also requires that many visible body joints, and (for 2 or more) that they are not
    all on one point: such a person has no shape to draw, follow or warp, and would give a blank map.
    """
    if not frame.people:
        raise PoseFormatError(
            f"{label} has no people, but {what} needs one. Use a pose in which a person was detected "
            "(lower the detector threshold or pick another frame)."
        )
    if not -len(frame.people) <= index < len(frame.people):
        raise PoseFormatError(
            f"{label} has {len(frame.people)} people; person index {index} does not exist ({what})."
        )
    person = frame.people[index]
    if min_joints > 0:
        shown = person.body[visible(person.body), :2]
        if len(shown) < min_joints:
            raise PoseFormatError(
                f"{label}: person {index} has {len(shown)} visible body joint(s), but {what} needs at least "
                f"{min_joints}. Use a pose where the person was detected (or fix it in the Pose Editor).")
        if min_joints >= 2 and float(np.ptp(shown, axis=0).max()) == 0.0:
            raise PoseFormatError(
                f"{label}: every visible body joint of person {index} is on one point, so {what} has no "
                "body shape to use. The pose is broken; re-detect it or fix it in the Pose Editor.")
    return person
