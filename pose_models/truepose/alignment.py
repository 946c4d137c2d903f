"""CAA (CLIP-guided alignment), the pack's training-free reading: region CLIP embeddings of the source, and
an energy that pulls the same regions of a generated image toward them.

* :func:`region_crops` -- the bounding square of a region mask, pixels outside the mask greyed, resized to
  the CLIP input size; differentiable in the image.
* :func:`region_embeddings` -- CLIP embeddings of those crops.
* :class:`RegionClipEnergy` -- ``E = sum_g w_g * (1 - cos(CLIP(crop_g(image)), e_g))`` per image, over the
  groups whose target region is present.

The CLIP image encoder is passed in as a module (pixel values -> embeddings), so this module never
imports ComfyUI; the node layer hands it the host's CLIP vision model with normal (non-inference)
weights.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from torch import nn
from torch.nn import functional as F

from .errors import TruePoseError

MIN_REGION_PIXELS = 4
"""A region with fewer mask pixels above 0.5 counts as absent."""

DEFAULT_MARGIN = 0.05
"""Extra border around a region's bounding box, as a fraction of its longer side."""


def region_crops(images: torch.Tensor, masks: torch.Tensor, size: int, grey: float = 0.5,
                 margin: float = DEFAULT_MARGIN) -> tuple[torch.Tensor, torch.Tensor]:
    """Square crops of each image's region, ``size x size``, and which images have the region.

    Args:
        images: ``[B, 3, H, W]`` RGB in ``[0, 1]`` (gradients flow through).
        masks: ``[B, H, W]`` region masks in ``[0, 1]`` (same size as the images; not differentiated).
        size: output side (the CLIP input size, e.g. 224).
        grey: value of pixels outside the mask and outside the image.
        margin: border added around the bounding box, as a fraction of its longer side.

    Returns:
        ``crops [B, 3, size, size]`` (grey for absent regions) and ``present bool [B]``.
    """
    if images.ndim != 4 or images.shape[1] != 3 or masks.shape != (images.shape[0], *images.shape[2:]):
        raise TruePoseError(f"region_crops: images [B, 3, H, W] and masks [B, H, W] must match, got "
                            f"{list(images.shape)} and {list(masks.shape)}")
    height, width = images.shape[2:]
    crops, present = [], []
    for image, mask in zip(images, masks.to(images.device, images.dtype), strict=True):
        inside = mask > 0.5
        if int(inside.sum()) < MIN_REGION_PIXELS:
            crops.append(torch.full((3, size, size), grey, device=images.device, dtype=images.dtype))
            present.append(False)
            continue
        rows, cols = inside.any(dim=1).nonzero(), inside.any(dim=0).nonzero()
        top, bottom, left, right = int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1
        side = max(bottom - top, right - left)
        side = side + 2 * int(round(margin * side))
        cy, cx = (top + bottom) // 2, (left + right) // 2
        y0, x0 = cy - side // 2, cx - side // 2
        greyed = image * mask + grey * (1.0 - mask)
        oy, ox = max(0, -y0), max(0, -x0)  # padding before the image; crop starts at y0 + oy, x0 + ox
        padded = F.pad(greyed, (ox, max(0, x0 + side - width), oy, max(0, y0 + side - height)), value=grey)
        square = padded[:, y0 + oy: y0 + oy + side, x0 + ox: x0 + ox + side]
        crops.append(F.interpolate(square[None], size=(size, size), mode="bilinear", antialias=True,
                                   align_corners=False)[0])
        present.append(True)
    return torch.stack(crops), torch.tensor(present, device=images.device)


def region_embeddings(encoder: nn.Module, images: torch.Tensor, masks: torch.Tensor, size: int,
                      mean: torch.Tensor, std: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """CLIP embeddings ``[B, D]`` (float32) of each image's region and which images have it: the
    :func:`region_crops` of ``images [B, 3, H, W]`` / ``masks [B, H, W]``, normalised with ``mean`` and
    ``std`` ``[1, 3, 1, 1]``, through ``encoder`` (on the encoder's device). Differentiable in the images;
    ``present`` stays on the images' device."""
    crops, present = region_crops(images, masks, size)
    crops = crops.to(next(encoder.parameters()).device)
    pixels = (crops - mean.to(crops)) / std.to(crops)
    return encoder(pixels).float(), present


class RegionClipEnergy(nn.Module):
    """``forward(images, target_masks) -> [B]``: ``sum_g w_g * (1 - cos(CLIP(crop_g(image)), e_g))``.

    Args:
        encoder: CLIP image encoder (normalised pixels ``[N, 3, S, S]`` -> ``[N, D]``), a module whose
            weights are normal tensors (gradients flow to the pixels).
        size, mean, std: the encoder's input side and per-channel normalisation.
        source_embeddings: ``{group: [B_s, D]}`` (``B_s`` = 1 shares one source across the batch).
        weights: ``{group: w}``, ``w > 0``, for the groups of ``source_embeddings``.

    ``images [B, 3, H, W]`` RGB in ``[0, 1]``; ``target_masks {group: [B or 1, H, W]}``. A group whose target
    region is absent in an image adds nothing to that image's energy.
    """

    def __init__(self, encoder: nn.Module, size: int, mean: Sequence[float], std: Sequence[float],
                 source_embeddings: Mapping[str, torch.Tensor], weights: Mapping[str, float]) -> None:
        super().__init__()
        missing = [g for g in weights if g not in source_embeddings]
        if missing:
            raise TruePoseError(f"no source embedding for region groups {missing}")
        self.encoder = encoder
        self.size = size
        self.register_buffer("mean", torch.tensor(mean).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(std).view(1, 3, 1, 1), persistent=False)
        self.groups = tuple(weights)
        self.weights = dict(weights)
        for group in self.groups:
            embedding = source_embeddings[group].detach().float()
            self.register_buffer(f"source_{group}", embedding, persistent=False)

    def similarities(self, images: torch.Tensor, target_masks: Mapping[str, torch.Tensor]
                     ) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
        """``{group: (cosine [B], present bool [B])}`` of the images' regions against the source's."""
        batch = images.shape[0]
        out = {}
        for group in self.groups:
            masks = target_masks[group]
            masks = masks.expand(batch, -1, -1) if masks.shape[0] == 1 else masks
            embeds, present = region_embeddings(self.encoder, images, masks, self.size, self.mean, self.std)
            source = getattr(self, f"source_{group}").to(embeds.device)
            source = source.expand(batch, -1) if source.shape[0] == 1 else source
            out[group] = (F.cosine_similarity(embeds, source, dim=-1), present)
        return out

    def forward(self, images: torch.Tensor, target_masks: Mapping[str, torch.Tensor]) -> torch.Tensor:
        energy = torch.zeros(images.shape[0], device=images.device)
        for group, (cosine, present) in self.similarities(images, target_masks).items():
            energy = energy + self.weights[group] * (1.0 - cosine) * present.to(cosine.dtype)
        return energy
