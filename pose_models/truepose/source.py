"""The SourceNet's input: the source image cropped to whole latent cells, every pixel outside the bank's
region groups replaced by a flat fill colour (the bit-exact exclusion of ``nodes/truepose/bank.py``)."""

from __future__ import annotations

import torch

from .errors import TruePoseError
from .regions import BANK_GROUPS


def center_crop(x: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Crop ``[..., H, W]`` to ``height x width`` around the centre, as the host's VAE crops its input."""
    top, left = (x.shape[-2] - height) // 2, (x.shape[-1] - width) // 2
    return x[..., top:top + height, left:left + width]


def masked_source(image: torch.Tensor, masks: torch.Tensor, groups: tuple[str, ...], fill: float,
                  factor: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Crop ``image [1, H, W, C]`` and its group masks ``[1, G, H, W]`` (over ``BANK_GROUPS``) to whole
    latent cells of ``factor`` px and replace pixels outside ``groups`` by ``fill`` exactly.

    Returns the masked image ``[1, H', W', 3]`` and the cropped masks ``[1, G, H', W']``.
    """
    height = image.shape[1] // factor * factor
    width = image.shape[2] // factor * factor
    if min(height, width) < 2 * factor:
        raise TruePoseError(f"the source image is {image.shape[2]}x{image.shape[1]} px; it needs at least "
                            f"{2 * factor} px per side (use the target size).")
    image = center_crop(image[..., :3].movedim(-1, 1), height, width).movedim(1, -1)
    masks = center_crop(masks, height, width)
    chosen = torch.tensor([g in groups for g in BANK_GROUPS])
    keep = masks[:, chosen].sum(1) > 0.5
    if not keep.any():
        raise TruePoseError(
            f"the source parsing has no pixel in the groups {', '.join(groups)} (no person found?). "
            "Check the source image shows the person, or pick other groups / another parsing model.")
    filled = torch.where(keep.unsqueeze(-1), image, torch.full_like(image, fill))
    return filled, masks
