"""Turn label maps into pictures and masks: the coloured parsing map, region-group masks, the legend.

Label maps are ``int64 [B, H, W]`` with values in ``0 .. num_classes - 1`` of a
:class:`~pose_models.parsing.labels.LabelSet`; outputs stay on the label map's device. Images use the
host's ``IMAGE`` layout (``float32 [B, H, W, 3]`` RGB in ``[0, 1]``), masks its ``MASK`` layout
(``float32 [B, H, W]`` in ``{0, 1}``).
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont

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

    White background, black text (Pillow's default font), each label vertically centred in its row; the
    swatches carry the palette colours exactly.
    """
    image = Image.new("RGB", (width, label_set.num_classes * row_height), (255, 255, 255))
    draw = ImageDraw.Draw(image)
    try:
        font: ImageFont.ImageFont | ImageFont.FreeTypeFont = ImageFont.load_default(
            size=max(8, round(row_height * 0.55)))
    except TypeError:  # Pillow < 10.1: one fixed-size bitmap font
        font = ImageFont.load_default()
    pad = max(1, row_height // 8)
    swatch = row_height - 2 * pad
    for index, (name, rgb) in enumerate(zip(label_set.labels, label_set.palette, strict=True)):
        top = index * row_height
        colour = tuple(int(c) for c in rgb)
        draw.rectangle((pad, top + pad, pad + swatch - 1, top + pad + swatch - 1), fill=colour)
        text = f"{index} {name}"
        left, upper, _, lower = draw.textbbox((0, 0), text, font=font)
        draw.text((2 * pad + swatch + pad - left, top + (row_height - (lower - upper)) // 2 - upper), text,
                  fill=(0, 0, 0), font=font)
    canvas = np.asarray(image, dtype=np.uint8).copy()
    return torch.from_numpy(canvas).float().div(255).unsqueeze(0)
