"""Source part masks: keypoint shapes alone, or a human parser's groups split by the shapes.

Both functions return ``[P, H, W]`` masks in :data:`~pose_models.pose_align.parts.PART_NAMES` order, values in
``[0, 1]``, that **partition** the person: at every pixel at most one part is non-zero (absent parts are all
zero). They run in torch on the given device/dtype. Pixel ``(row i, column j)`` is tested at its centre
``(x=j, y=i)`` in image pixels.

* :func:`shape_part_masks` (no parser): a pixel belongs to the **front-most** part (latest in
  ``PART_NAMES``) whose shape contains it; ``{0, 1}`` values.
* :func:`parsing_part_masks`: the person mask (``person`` group, else the union of the non-background
  groups, else ``1 - background``) times a one-hot part label. The label is the front-most *allowed* part
  whose shape contains the pixel, else the nearest allowed part within ``reach`` pixels of its shape, else
  none. Parser groups restrict the allowed parts where they are ``>= 0.5``: ``face``/``hair`` -> head,
  ``arms`` -> the four arm parts, ``legs``/``shoes`` -> the four leg parts; ``upper_clothes``,
  ``lower_clothes``, ``dress_coat``, ``accessories`` allow every part. Where no allowed part has a shape
  (e.g. ``arms`` pixels but both arms undetected) every part is allowed.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import torch

from .parts import PART_NAMES, PartShape

PARSER_GROUPS: tuple[str, ...] = (
    "face", "hair", "upper_clothes", "lower_clothes", "dress_coat", "arms", "legs", "shoes",
    "accessories", "person", "background",
)
"""Group names a parser may give (any subset)."""

_ARMS = ("right_upper_arm", "right_lower_arm", "left_upper_arm", "left_lower_arm")
_LEGS = ("right_thigh", "right_shin", "left_thigh", "left_shin")
GROUP_PARTS: dict[str, tuple[str, ...]] = {
    "face": ("head",), "hair": ("head",), "arms": _ARMS, "legs": _LEGS, "shoes": _LEGS,
}
"""Parser groups that restrict which parts their pixels may join."""


def _pixel_grid(height: int, width: int, device: torch.device, dtype: torch.dtype
                ) -> tuple[torch.Tensor, torch.Tensor]:
    ys = torch.arange(height, device=device, dtype=dtype)[:, None]
    xs = torch.arange(width, device=device, dtype=dtype)[None, :]
    return xs, ys


def _segment_distance(xs: torch.Tensor, ys: torch.Tensor, a: tuple[float, float],
                      b: tuple[float, float]) -> torch.Tensor:
    dx, dy = b[0] - a[0], b[1] - a[1]
    denom = dx * dx + dy * dy
    px, py = xs - a[0], ys - a[1]
    t = torch.zeros_like(px * py) if denom == 0 else ((px * dx + py * dy) / denom).clamp(0.0, 1.0)
    return torch.hypot(px - t * dx, py - t * dy)


def hull_distance(points: tuple[tuple[float, float], ...], xs: torch.Tensor, ys: torch.Tensor
                  ) -> torch.Tensor:
    """Distance ``[H, W]`` from each pixel centre to a convex polygon (0 inside).

    ``points``: the hull vertices in order (:func:`~pose_models.pose_align.parts.convex_hull`); one vertex
    is a point, two a segment. ``xs`` ``[1, W]`` and ``ys`` ``[H, 1]`` are the pixel-centre coordinates.
    """
    n = len(points)
    if n == 1:
        return torch.hypot(xs - points[0][0], ys - points[0][1])
    edges = [(points[i], points[(i + 1) % n]) for i in range(n if n > 2 else 1)]
    dist = torch.stack([_segment_distance(xs, ys, a, b) for a, b in edges]).amin(dim=0)
    if n > 2:
        area2 = sum(a[0] * b[1] - b[0] * a[1] for a, b in edges)
        sides = torch.stack([(b[0] - a[0]) * (ys - a[1]) - (b[1] - a[1]) * (xs - a[0]) for a, b in edges])
        inside = (sides * (1.0 if area2 > 0 else -1.0) >= 0).all(dim=0)
        dist = torch.where(inside, torch.zeros_like(dist), dist)
    return dist


def surface_distances(shapes: Mapping[str, PartShape], height: int, width: int, device: torch.device,
                      dtype: torch.dtype, margin: float = 1.0) -> torch.Tensor:
    """``[P, H, W]`` distance in pixels to each part's dilated shape: ``<= 0`` inside.

    Exact up to ``margin`` pixels outside a shape (computed in its bounding box only); ``inf`` beyond,
    and for absent parts.
    """
    xs, ys = _pixel_grid(height, width, device, dtype)
    out = torch.full((len(PART_NAMES), height, width), float("inf"), device=device, dtype=dtype)
    for p, name in enumerate(PART_NAMES):
        if name not in shapes:
            continue
        shape = shapes[name]
        pad = shape.radius + margin
        x0, y0 = (max(math.floor(v - pad), 0) for v in shape.points.min(axis=0))
        x1, y1 = (math.ceil(v + pad) + 1 for v in shape.points.max(axis=0))
        x1, y1 = min(x1, width), min(y1, height)
        if x0 >= x1 or y0 >= y1:
            continue
        points = tuple((float(x), float(y)) for x, y in shape.points)
        out[p, y0:y1, x0:x1] = hull_distance(points, xs[:, x0:x1], ys[y0:y1]) - shape.radius
    return out


def _one_hot(label: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """``[P, H, W]`` from an ``int64 [H, W]`` label (``-1`` = no part)."""
    parts = torch.arange(len(PART_NAMES), device=label.device)[:, None, None]
    return (label[None] == parts).to(dtype)


def _front_most(inside: torch.Tensor) -> torch.Tensor:
    """Index of the last ``True`` part per pixel of a ``bool [P, H, W]`` tensor, ``-1`` where none."""
    parts = torch.arange(inside.shape[0], device=inside.device)[:, None, None]
    return torch.where(inside, parts, torch.full_like(parts, -1)).amax(dim=0)


def shape_part_masks(shapes: Mapping[str, PartShape], height: int, width: int, device: torch.device,
                     dtype: torch.dtype) -> torch.Tensor:
    """``{0, 1}`` masks ``[P, H, W]``: each pixel to the front-most part whose shape contains it."""
    inside = surface_distances(shapes, height, width, device, dtype) <= 0
    return _one_hot(_front_most(inside), dtype)


def person_mask(groups: Mapping[str, torch.Tensor]) -> torch.Tensor:
    """``[H, W]`` person mask from parser groups (all ``[H, W]``, values in ``[0, 1]``)."""
    if "person" in groups:
        return groups["person"]
    people = [m for name, m in groups.items() if name != "background"]
    if people:
        return torch.stack(people).amax(dim=0)
    return 1.0 - groups["background"]


def parsing_part_masks(groups: Mapping[str, torch.Tensor], shapes: Mapping[str, PartShape],
                       reach: float) -> torch.Tensor:
    """Masks ``[P, H, W]`` splitting the parser's person mask by the part shapes (module docstring).

    ``groups``: non-empty, names from :data:`PARSER_GROUPS`, each ``[H, W]`` in ``[0, 1]`` on one device
    and dtype; ``reach`` in pixels.
    """
    person = person_mask(groups).clamp(0.0, 1.0)
    height, width = person.shape
    dist = surface_distances(shapes, height, width, person.device, person.dtype, margin=reach + 1.0)
    exists = torch.isfinite(dist)
    allowed = exists.clone()
    for group, names in GROUP_PARTS.items():
        if group in groups:
            barred = torch.tensor([name not in names for name in PART_NAMES], device=person.device)
            allowed &= ~(barred[:, None, None] & (groups[group] >= 0.5)[None])
    allowed = torch.where(allowed.any(dim=0, keepdim=True), allowed, exists)
    label = _front_most(allowed & (dist <= 0))
    nearest_dist, nearest = torch.where(allowed, dist, torch.full_like(dist, float("inf"))).min(dim=0)
    label = torch.where((label < 0) & (nearest_dist <= reach), nearest, label)
    return _one_hot(label, person.dtype) * person[None]
