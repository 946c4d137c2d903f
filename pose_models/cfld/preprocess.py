"""Image preparation around CFLD: fit a photo to the 176:256 frame, stretch to a square, resize outputs.

CFLD was trained on 176:256 (W:H) DeepFashion photos stretched to squares (256x256 source, 512x512
target). A photo of another aspect is first **padded** (with a flat colour) or **centre-cropped** to
176:256, never distorted; :func:`fit_region` gives the region of the original canvas that becomes the
frame, so target keypoints on a canvas of the same size map consistently (see
:func:`.rasterize.frame_keypoints`). Images are ComfyUI-style ``float [B, H, W, 3]`` in [0, 1].
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .errors import CFLDError
from .rasterize import FRAME_HEIGHT, FRAME_WIDTH

FIT_MODES = ("pad", "crop")
OUTPUT_SIZES = {"512x512": None, "256x176": (256, 176), "512x352": (512, 352)}
"""Output choices (H x W): the model's square canvas, or the two official evaluation sizes."""


def fit_region(width: int, height: int, mode: str) -> tuple[float, float, float, float]:
    """``(left, top, region_width, region_height)`` of a ``width x height`` canvas that becomes the
    176:256 frame: ``pad`` grows the short side (negative offsets), ``crop`` centre-crops the long side."""
    if mode not in FIT_MODES:
        raise CFLDError(f"CFLD aspect handling must be one of {FIT_MODES}, got {mode!r}")
    target = FRAME_WIDTH / FRAME_HEIGHT
    aspect = width / height
    wider = aspect > target
    if (mode == "pad") != wider:  # pad a tall image / crop a wide one: the width changes
        region_w, region_h = height * target, float(height)
    else:
        region_w, region_h = float(width), width / target
    return (width - region_w) / 2, (height - region_h) / 2, region_w, region_h


def _fit(image: torch.Tensor, region: tuple[float, float, float, float], fill: float) -> torch.Tensor:
    """``[B, C, H, W]`` -> the region (integer-rounded), padding outside the image with ``fill``."""
    left, top, rw, rh = (round(v) for v in region)
    _, _, h, w = image.shape
    pads = (max(0, -left), max(0, left + rw - w), max(0, -top), max(0, top + rh - h))
    if any(pads):
        image = F.pad(image, pads, value=fill)
        left, top = left + pads[0], top + pads[2]
    return image[:, :, top:top + rh, left:left + rw]


def prepare_source(images: torch.Tensor, size: int, mode: str = "pad", fill: float = 1.0) -> torch.Tensor:
    """``[B, H, W, 3]`` in [0, 1] -> CFLD source input ``[B, 3, size, size]`` in [-1, 1].

    The photo is fitted to 176:256 by ``mode`` (``fill``: pad colour, 1.0 = white like DeepFashion's
    backgrounds), then stretched to ``size x size`` (bicubic, antialiased) as in the official dataset code.
    """
    if images.ndim != 4 or images.shape[-1] != 3:
        raise CFLDError(f"CFLD source: expected an image batch [B, H, W, 3], got {list(images.shape)}")
    region = fit_region(images.shape[2], images.shape[1], mode)
    x = _fit(images.movedim(-1, 1).float(), region, fill)
    x = F.interpolate(x, size=(size, size), mode="bicubic", antialias=True, align_corners=False)
    return (x.clamp(0, 1) * 2 - 1).contiguous()


def resize_output(images: torch.Tensor, choice: str) -> torch.Tensor:
    """``[B, H, W, 3]`` in [0, 1] -> the size named by ``choice`` (a key of :data:`OUTPUT_SIZES`)."""
    if choice not in OUTPUT_SIZES:
        raise CFLDError(f"CFLD output size must be one of {list(OUTPUT_SIZES)}, got {choice!r}")
    size = OUTPUT_SIZES[choice]
    if size is None or tuple(images.shape[1:3]) == size:
        return images
    x = F.interpolate(images.movedim(-1, 1), size=size, mode="bicubic", antialias=True, align_corners=False)
    return x.clamp(0, 1).movedim(1, -1).contiguous()
