"""Retarget a pose onto another person's proportions: source bone lengths, target bone directions.

Algorithm (per person)
----------------------
The 17 bones form a kinematic tree rooted at the neck (neck -> shoulders -> elbows -> wrists,
neck -> hips -> knees -> ankles, neck -> nose -> eyes -> ears; :data:`~pose_models.pose.keypoints.BONES`
lists parents before children). The result is anchored at the **target neck** and built outwards: each
child joint = placed parent + (source bone length x ``length_scale``) x (unit direction of the target
bone). So every bone whose two ends are visible in the target has exactly the source's length (times one
global factor), and every joint angle is the target's.

Missing data
------------
* **Source bone missing** (an end joint not visible, or both ends on one point): its length is borrowed
  from the mirror bone (left forearm <-> right forearm, ...); if that is missing too, from
  :data:`CANONICAL_BONE_LENGTHS` scaled by the median ratio source/canonical over the source's measured
  bones. A source with no measurable bone (fewer than two connected joints, or all joints on one point)
  raises :class:`~pose_models.pose.errors.PoseFormatError`.
* **Target joint missing**: stays missing in the result (confidences always come from the target).
* **Target neck missing**: the midpoint of the target shoulders is used as a hidden anchor (the neck
  itself stays missing); without both shoulders, the centroid of the visible target joints is.
* **Orphan joint** (visible in the target, parent not placed): placed by the person's global similarity
  map about the anchor, ``anchor + s * (joint - anchor)``, with ``s`` = median ratio result/target bone
  length (1 when no bone is measurable in the target); its own children follow the tree again.
* **Zero-length target bone** (coincident joints): the source bone's direction is used, or the child sits
  on its parent when the source bone is degenerate or missing too.
* A target person with no visible body joint is returned unchanged.
* Face, hands and feet move rigidly with their anchor joint (face: nose, hands: wrists, feet: ankles,
  falling back to the person's anchor) and are scaled by ``s``.

Global scale (:func:`retarget_frame`, ``scale=``)
-------------------------------------------------
* ``"source"`` (default): source lengths in source pixels, converted to the target canvas by
  ``target_canvas_height / source_canvas_height`` (exact source pixel lengths on equal canvases): the
  person keeps the fraction of the frame height they had in the source image.
* ``"target"``: one factor so the summed length of the target's visible bones is unchanged: the person
  keeps the target's overall size with the source's proportions.
* ``"fit"``: as ``"source"``, then shrunk about the anchor (never enlarged) and shifted, if needed, so
  every visible point lies inside the canvas (less ``margin`` x canvas on each side).
All three are one uniform factor per person, so bone-length **ratios** always equal the source's.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import replace
from typing import Literal

import numpy as np

from .errors import PoseFormatError
from .keypoints import BONE_MIRROR, BONES, NECK, Person, PoseFrame, visible
from .ops import bone_lengths, map_points

logger = logging.getLogger(__name__)

ScaleMode = Literal["source", "target", "fit"]

CANONICAL_BONE_LENGTHS: tuple[float, ...] = (
    20.0, 20.0, 37.2, 33.1, 37.2, 33.1, 67.5, 55.0, 52.5, 67.5, 55.0, 52.5, 26.7, 6.4, 7.0, 6.4, 7.0,
)
"""Typical bone lengths in :data:`BONES` order, px in a 256 px high frame: the left/right-averaged
medians over the 291 fully annotated rows of the DeepFashion dev keypoints. Only their ratios matter."""

PART_ANCHORS: dict[str, int] = {"face": 0, "left_hand": 7, "right_hand": 4}
"""Body joint each optional part moves with (feet: left half with joint 13, right half with 10)."""

_PARENT: dict[int, int] = {c: p for p, c in BONES}
_BONE_OF: dict[int, int] = {c: k for k, (_, c) in enumerate(BONES)}
_EPS = 1e-6


def source_bone_lengths(source: Person) -> np.ndarray:
    """``float64 [17]`` bone lengths of ``source`` with the gaps filled (mirror, then canonical).

    A bone of zero length (both ends on one point: a detector or editing glitch) counts as missing.
    """
    measured = bone_lengths(source)
    measured[measured <= _EPS] = np.nan
    known = np.isfinite(measured)
    if not known.any():
        raise PoseFormatError(
            "retarget: the source person has no bone with both ends visible and apart (its visible joints "
            "are fewer than two connected ones, or all on one point), so its proportions are unknown. Use "
            "a source pose with at least two connected joints in different places (e.g. neck and a "
            "shoulder)."
        )
    lengths = measured.copy()
    mirror = measured[list(BONE_MIRROR)]
    fill = ~known & np.isfinite(mirror)
    lengths[fill] = mirror[fill]
    canonical = np.asarray(CANONICAL_BONE_LENGTHS)
    rest = ~np.isfinite(lengths)
    if rest.any():
        lengths[rest] = canonical[rest] * float(np.median(measured[known] / canonical[known]))
    return lengths


def retarget_person(source: Person, target: Person, *, length_scale: float = 1.0) -> Person:
    """``target``'s pose with ``source``'s bone lengths x ``length_scale`` (see the module docstring).

    Both people are in pixels of their own canvases; the result is in the target's canvas.
    """
    if not (np.isfinite(length_scale) and length_scale > 0):
        raise PoseFormatError(f"retarget: length_scale must be a positive number, got {length_scale!r}.")
    lengths = source_bone_lengths(source) * length_scale
    tgt = target.body.astype(np.float64)
    tvis = visible(target.body)
    src = source.body.astype(np.float64)
    svis = visible(source.body)
    if not tvis.any():
        return target
    anchor = _anchor(tgt, tvis)
    target_lengths = bone_lengths(target)
    ok = np.isfinite(target_lengths) & (target_lengths > _EPS)
    s = float(np.median(lengths[ok] / target_lengths[ok])) if ok.any() else 1.0

    pos = np.zeros((18, 2))
    placed = np.zeros(18, bool)
    if not tvis[NECK] and tvis[2] and tvis[5]:
        # hidden neck between the shoulders: an anchor for the tree, still missing in the output
        tgt[NECK, :2] = pos[NECK] = anchor
        placed[NECK] = True
    for j in (NECK, *(c for _, c in BONES)):
        if not tvis[j]:
            continue
        p = _PARENT.get(j)
        if p is None or not placed[p]:
            pos[j] = anchor + s * (tgt[j, :2] - anchor)
        else:
            pos[j] = pos[p] + lengths[_BONE_OF[j]] * _direction(tgt, src, svis, p, j)
        placed[j] = True

    body = np.zeros((18, 3))
    body[tvis, :2] = pos[tvis]
    body[:, 2] = target.body[:, 2]
    return Person(body=body, **_moved_parts(target, tgt, tvis, pos, anchor, s))


def _anchor(tgt: np.ndarray, tvis: np.ndarray) -> np.ndarray:
    if tvis[NECK]:
        return tgt[NECK, :2].copy()
    if tvis[2] and tvis[5]:
        return (tgt[2, :2] + tgt[5, :2]) / 2
    return tgt[tvis, :2].mean(axis=0)


def _direction(tgt: np.ndarray, src: np.ndarray, svis: np.ndarray, p: int, c: int) -> np.ndarray:
    """Unit direction of target bone ``p -> c``; the source's if the target bone has zero length."""
    for pts, ok in ((tgt, True), (src, bool(svis[p] and svis[c]))):
        d = pts[c, :2] - pts[p, :2]
        n = float(np.hypot(*d))
        if ok and n > _EPS:
            return d / n
    return np.zeros(2)


def _moved_parts(target: Person, tgt: np.ndarray, tvis: np.ndarray, pos: np.ndarray,
                 anchor: np.ndarray, s: float) -> dict[str, np.ndarray | None]:
    """Face, hands and feet of ``target`` moved rigidly with their anchor joints and scaled by ``s``."""
    def follow(points: np.ndarray, joint: int) -> np.ndarray:
        old, new = (tgt[joint, :2], pos[joint]) if tvis[joint] else (anchor, anchor)
        out = points.astype(np.float64)
        vis = visible(points)
        out[vis, :2] = new + s * (out[vis, :2] - old)
        return out

    parts: dict[str, np.ndarray | None] = {
        name: None if getattr(target, name) is None else follow(getattr(target, name), joint)
        for name, joint in PART_ANCHORS.items()
    }
    feet = target.feet
    parts["feet"] = None if feet is None else np.concatenate([follow(feet[:3], 13), follow(feet[3:], 10)])
    return parts


def retarget_frame(source: PoseFrame, target: PoseFrame, *, scale: ScaleMode = "source",
                   margin: float = 0.0) -> PoseFrame:
    """Retarget every person of ``target`` onto ``source``'s proportions; the result has the target canvas.

    People are matched by index; a source with exactly one person is used for every target person. A
    target with no people gives an empty frame. See the module docstring for ``scale`` and ``margin``.
    """
    if scale not in ("source", "target", "fit"):
        raise PoseFormatError(f"retarget: scale must be 'source', 'target' or 'fit', not {scale!r}.")
    if not 0 <= margin < 0.5:
        raise PoseFormatError(f"retarget: margin must be in [0, 0.5) of the canvas, got {margin!r}.")
    if not target.people:
        return target
    if not source.people:
        raise PoseFormatError("retarget: the source pose has no people; its proportions are needed.")
    if len(source.people) != 1 and len(source.people) < len(target.people):
        raise PoseFormatError(
            f"retarget: the source has {len(source.people)} people and the target {len(target.people)}; "
            "give one source person (used for everyone) or at least one per target person."
        )
    canvas_ratio = target.canvas_height / source.canvas_height
    people = []
    for i, person in enumerate(target.people):
        src = source.people[0 if len(source.people) == 1 else i]
        length_scale = canvas_ratio
        if scale == "target":
            length_scale = _target_size_factor(src, person)
        result = retarget_person(src, person, length_scale=length_scale)
        if scale == "fit":
            result = _fit_inside(result, target.canvas_width, target.canvas_height, margin)
        people.append(result)
    return replace(target, people=tuple(people))


def retarget_sequence(source: PoseFrame, targets: Sequence[PoseFrame], *, scale: ScaleMode = "source",
                      margin: float = 0.0) -> list[PoseFrame]:
    """:func:`retarget_frame` of one source pose onto each target frame (a video or batch)."""
    return [retarget_frame(source, t, scale=scale, margin=margin) for t in targets]


def _target_size_factor(source: Person, target: Person) -> float:
    """Factor on the source lengths that keeps the total length of the target's visible bones."""
    lengths = source_bone_lengths(source)
    target_lengths = bone_lengths(target)
    ok = np.isfinite(target_lengths)
    total = float(lengths[ok].sum())
    if not ok.any() or total <= _EPS or float(target_lengths[ok].sum()) <= _EPS:
        return 1.0
    return float(target_lengths[ok].sum()) / total


def _fit_inside(person: Person, width: int, height: int, margin: float) -> Person:
    """Shrink ``person`` about its anchor (never enlarge) and shift it so all visible points fit."""
    pts = np.concatenate([p[visible(p), :2] for p in person.parts().values()]).astype(np.float64)
    if not len(pts):
        return person
    lo_x, hi_x = margin * width, (width - 1) * (1 - margin)
    lo_y, hi_y = margin * height, (height - 1) * (1 - margin)
    span = pts.max(axis=0) - pts.min(axis=0)
    fits = [(hi - lo) / d for d, lo, hi in ((span[0], lo_x, hi_x), (span[1], lo_y, hi_y)) if d > _EPS]
    f = min([1.0, *fits])
    anchor = _anchor(person.body.astype(np.float64), visible(person.body))
    scaled = anchor + f * (pts - anchor)
    shift = np.zeros(2)
    for axis, (lo, hi) in enumerate(((lo_x, hi_x), (lo_y, hi_y))):
        mn, mx = scaled[:, axis].min(), scaled[:, axis].max()
        shift[axis] = lo - mn if mn < lo else (hi - mx if mx > hi else 0.0)
    if f < 1.0 or shift.any():
        logger.debug("retarget fit: scale %.4f, shift %s", f, shift)
    return map_points(person, lambda xy: anchor + f * (xy - anchor) + shift)
