"""Turn label maps into pictures and masks: the coloured parsing map, region-group masks, the legend.

Label maps are ``int64 [B, H, W]`` with values in ``0 .. num_classes - 1`` of a
:class:`~pose_models.parsing.labels.LabelSet`; outputs stay on the label map's device. Images use the
host's ``IMAGE`` layout (``float32 [B, H, W, 3]`` RGB in ``[0, 1]``), masks its ``MASK`` layout
(``float32 [B, H, W]`` in ``{0, 1}``).
"""

from __future__ import annotations

from collections.abc import Iterable

import cv2
import numpy as np
import torch

from .labels import GROUPS, LabelSet


def color_map(labels: torch.Tensor, label_set: LabelSet) -> torch.Tensor:
    """``float32 [B, H, W, 3]`` in ``[0, 1]``: each pixel in its label's official palette colour."""
    palette = torch.as_tensor(label_set.palette, device=labels.device).float() / 255
    return palette[labels]


def group_mask(labels: torch.Tensor, label_set: LabelSet, group: str) -> torch.Tensor:
    """``float32 [B, H, W]``: 1 where the label belongs to ``group`` (see :data:`GROUPS`), else 0.

    All zeros for a group the label set does not have (e.g. ``hair`` for Pascal-Person-Part).
    """
    members = torch.tensor(label_set.group_labels(group), dtype=labels.dtype, device=labels.device)
    return torch.isin(labels, members).float()


def group_masks(labels: torch.Tensor, label_set: LabelSet,
                groups: Iterable[str] = GROUPS) -> dict[str, torch.Tensor]:
    """``{group: float32 [B, H, W]}`` for each name in ``groups`` (default: all of :data:`GROUPS`)."""
    return {group: group_mask(labels, label_set, group) for group in groups}


def legend(label_set: LabelSet) -> dict[str, tuple[int, int, int]]:
    """``{label name: (r, g, b)}`` in label order, colours as ``0 .. 255`` integers."""
    pairs = zip(label_set.labels, label_set.palette, strict=True)
    return {name: (int(rgb[0]), int(rgb[1]), int(rgb[2])) for name, rgb in pairs}


def legend_image(label_set: LabelSet, row_height: int = 24, width: int = 240) -> torch.Tensor:
    """``float32 [1, num_classes * row_height, width, 3]``: one row per label, swatch then ``"index name"``.

    White background, black text; the swatches carry the palette colours exactly.
    """
    canvas = np.full((label_set.num_classes * row_height, width, 3), 255, dtype=np.uint8)
    pad = max(1, row_height // 8)
    swatch = row_height - 2 * pad
    font_scale = row_height / 48
    thickness = max(1, row_height // 24)
    for index, (name, rgb) in enumerate(zip(label_set.labels, label_set.palette, strict=True)):
        top = index * row_height
        canvas[top + pad: top + pad + swatch, pad: pad + swatch] = rgb
        (_, text_h), _ = cv2.getTextSize(name, cv2.FONT_HERSHEY_SIMPLEX, font_scale, thickness)
        cv2.putText(canvas, f"{index} {name}", (2 * pad + swatch + pad, top + (row_height + text_h) // 2),
                    cv2.FONT_HERSHEY_SIMPLEX, font_scale, (0, 0, 0), thickness, cv2.LINE_AA)
    return torch.from_numpy(canvas).float().div(255).unsqueeze(0)
