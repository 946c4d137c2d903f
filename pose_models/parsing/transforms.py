"""SCHP's pre- and post-processing: the aspect-keeping affine crop, normalisation and its inverse.

Coordinate frames: *image* pixels ``(x, y)`` and *input* pixels ``(u, v)`` of the network input of size
``input_size = (height, width)``, both with pixel centres at integer coordinates (OpenCV's convention).
As SCHP's ``SimpleFolderDataset`` does, the box ``[0, 0, W - 1, H - 1]`` of the whole image is widened
(or heightened) to the input's aspect ratio ``width / height`` around the image centre, and mapped by a
similarity (no rotation) so that its width spans ``0 .. input_width - 1``::

    u = k * (x - cx) + (input_width - 1) / 2,   v = k * (y - cy) + (input_height - 1) / 2,
    k = (input_width - 1) / box_width,   (cx, cy) = ((W - 1) / 2, (H - 1) / 2).

Warps sample bilinearly with zeros outside the source, like ``cv2.warpAffine(..., INTER_LINEAR,
BORDER_CONSTANT, 0)`` (OpenCV quantises sub-pixel positions to 1/32 px; this module does not), and run
in ``float32`` on the tensors' device. The image is warped in ``[0, 1]`` before normalisation, so the
padding is black as in the original, which warps the 8-bit image first.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from .layers import resize

MEAN_BGR: tuple[float, float, float] = (0.406, 0.456, 0.485)
"""Per-channel mean of the normalised BGR input (ImageNet's, in BGR order), for values in ``[0, 1]``."""

STD_BGR: tuple[float, float, float] = (0.225, 0.224, 0.229)
"""Per-channel standard deviation of the normalised BGR input."""


@dataclass(frozen=True)
class CropTransform:
    """The similarity between an image of ``image_size`` and a network input of ``input_size``.

    ``center`` is ``(cx, cy)`` in image pixels, ``box`` the ``(width, height)`` in image pixels that the
    input covers; sizes are ``(height, width)``.
    """

    image_size: tuple[int, int]
    input_size: tuple[int, int]
    center: tuple[float, float]
    box: tuple[float, float]

    @property
    def zoom(self) -> float:
        """Input pixels per image pixel (``k``)."""
        return (self.input_size[1] - 1) / self.box[0]

    def image_to_input(self) -> np.ndarray:
        """``float64 [2, 3]`` matrix mapping image ``(x, y, 1)`` to input ``(u, v)``."""
        k = self.zoom
        tu = (self.input_size[1] - 1) / 2 - k * self.center[0]
        tv = (self.input_size[0] - 1) / 2 - k * self.center[1]
        return np.array([[k, 0.0, tu], [0.0, k, tv]])

    def input_to_image(self) -> np.ndarray:
        """``float64 [2, 3]`` matrix mapping input ``(u, v, 1)`` to image ``(x, y)``."""
        k = self.zoom
        return np.array([[1 / k, 0.0, self.center[0] - (self.input_size[1] - 1) / (2 * k)],
                         [0.0, 1 / k, self.center[1] - (self.input_size[0] - 1) / (2 * k)]])


def crop_transform(image_size: tuple[int, int], input_size: tuple[int, int]) -> CropTransform:
    """SCHP's centre and box for a whole image of ``image_size`` ``(H, W)``, ``max(H, W) >= 2``."""
    height, width = image_size
    aspect = input_size[1] / input_size[0]
    box_w, box_h = float(width - 1), float(height - 1)
    if box_w > aspect * box_h:
        box_h = box_w / aspect
    elif box_w < aspect * box_h:
        box_w = box_h * aspect
    return CropTransform(image_size, input_size, ((width - 1) / 2, (height - 1) / 2), (box_w, box_h))


def affine_sample(source: torch.Tensor, out_to_source: np.ndarray, out_size: tuple[int, int]) -> torch.Tensor:
    """Warp ``source [B, C, Hs, Ws]`` to ``[B, C, *out_size]``: output pixel ``p`` takes ``source(M p)``.

    ``out_to_source`` is the ``[2, 3]`` matrix ``M`` from output to source pixel coordinates. Bilinear,
    zeros outside the source; computed in ``float32`` on ``source``'s device.
    """
    height, width = out_size
    src_h, src_w = source.shape[2], source.shape[3]
    m = torch.as_tensor(out_to_source, dtype=torch.float32, device=source.device)
    ys = torch.arange(height, dtype=torch.float32, device=source.device)
    xs = torch.arange(width, dtype=torch.float32, device=source.device)
    gy, gx = torch.meshgrid(ys, xs, indexing="ij")
    sx = m[0, 0] * gx + m[0, 1] * gy + m[0, 2]
    sy = m[1, 0] * gx + m[1, 1] * gy + m[1, 2]
    # Pixel centre i of n pixels sits at (2 i + 1) / n - 1 in grid_sample's align_corners=False frame.
    grid = torch.stack([(2 * sx + 1) / src_w - 1, (2 * sy + 1) / src_h - 1], dim=-1)
    grid = grid.unsqueeze(0).expand(source.shape[0], -1, -1, -1)
    return F.grid_sample(source.float(), grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def to_network_input(images: torch.Tensor, transform: CropTransform) -> torch.Tensor:
    """RGB ``float [B, 3, H, W]`` in ``[0, 1]`` -> normalised BGR network input ``float32 [B, 3, h, w]``.

    ``(h, w)`` is ``transform.input_size``; pixels outside the image are black before normalisation.
    """
    crop = affine_sample(images, transform.input_to_image(), transform.input_size).flip(1)
    mean = torch.tensor(MEAN_BGR, device=crop.device).view(1, 3, 1, 1)
    std = torch.tensor(STD_BGR, device=crop.device).view(1, 3, 1, 1)
    return (crop - mean) / std


def to_image_logits(logits: torch.Tensor, transform: CropTransform) -> torch.Tensor:
    """Network logits ``[B, C, h', w']`` (any resolution) -> ``float32 [B, C, H, W]`` over the image.

    As SCHP's ``simple_extractor.py``: upsample to the input size (bilinear, ``align_corners=True``),
    then warp back with the inverse affine (zeros outside the input, which never happens inside the image).
    """
    upsampled = resize(logits.float(), transform.input_size)
    return affine_sample(upsampled, transform.image_to_input(), transform.image_size)
