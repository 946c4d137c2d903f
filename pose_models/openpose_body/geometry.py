"""Image <-> network-input <-> heatmap coordinates, and the differentiable OpenPose preprocessing.

Coordinate frames (all in pixels, origin top-left, ``x`` right, ``y`` down; integer coordinates are pixel
**centres**, as in :mod:`pose_models.pose.keypoints`):

* **image**: the ``[B, 3, H, W]`` estimator input.
* **network input**: the image resized (keeping its aspect ratio) so that its height is ``box_size``
  (OpenPose's ``boxsize``, 368), width ``round(W * box_size / H)``, then padded at the bottom and right to
  multiples of 8. Resizing is half-pixel aligned (``align_corners=False``, like ``cv2.resize``), so
  ``u = (x + 0.5) * net_width / W - 0.5`` (and likewise for ``y``).
* **heatmap**: the ``[h, w] = [padded_height / 8, padded_width / 8]`` output grid. Cell ``(row i, col j)``
  stands for network-input pixel ``(8 j + 3.5, 8 i + 3.5)``, the centre of its 8x8 block: the convention of
  the OpenPose training targets (``start = stride / 2 - 0.5``) and of its cubic x8 upsampling at test time.

Preprocessing (:func:`preprocess`) is the official one written with torch ops so gradients reach the
image: RGB ``[0, 1]`` -> ``0..255`` -> BGR -> resize -> ``/256 - 0.5`` -> pad with 0 (the official grey
128 pad value after normalisation).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from .network import STRIDE

DEFAULT_BOX_SIZE = 368
"""OpenPose's reference network-input height (``boxsize``). controlnet_aux's preprocessor runs at
``0.5 x 368 = 184`` (its ``scale_search = [0.5]``); OpenPose's multi-scale demo averages 0.5..2 x 368."""

HEATMAP_CELL_CENTRE = STRIDE / 2 - 0.5
"""Network-input coordinate of the centre of heatmap cell 0 (3.5)."""


@dataclass(frozen=True)
class NetGeometry:
    """Sizes of one estimator call and the maps between its coordinate frames (see the module docstring).

    ``net_height``/``net_width`` is the resized image, ``padded_height``/``padded_width`` the network
    input (multiples of 8), ``heatmap_height``/``heatmap_width`` the output grid.
    """

    image_height: int
    image_width: int
    net_height: int
    net_width: int

    @classmethod
    def for_image(cls, height: int, width: int, box_size: int = DEFAULT_BOX_SIZE) -> NetGeometry:
        """Geometry for an ``height`` x ``width`` image resized to network height ``box_size``."""
        for name, value in (("height", height), ("width", width), ("box_size", box_size)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(
                    f"NetGeometry: {name} must be a positive whole number of pixels, got {value!r}."
                )
        net_width = max(1, round(width * box_size / height))
        return cls(height, width, box_size, net_width)

    @property
    def padded_height(self) -> int:
        return math.ceil(self.net_height / STRIDE) * STRIDE

    @property
    def padded_width(self) -> int:
        return math.ceil(self.net_width / STRIDE) * STRIDE

    @property
    def heatmap_height(self) -> int:
        return self.padded_height // STRIDE

    @property
    def heatmap_width(self) -> int:
        return self.padded_width // STRIDE

    def _scale(self, like: torch.Tensor) -> torch.Tensor:
        """Network-input pixels per image pixel along ``(x, y)``, shape ``[2]``."""
        return like.new_tensor([self.net_width / self.image_width, self.net_height / self.image_height])

    def image_to_heatmap(self, xy: torch.Tensor) -> torch.Tensor:
        """Image-pixel points ``[..., 2]`` (x, y) -> heatmap-cell coordinates ``[..., 2]`` (x = column)."""
        net = (xy + 0.5) * self._scale(xy) - 0.5
        return (net - HEATMAP_CELL_CENTRE) / STRIDE

    def heatmap_to_image(self, xy: torch.Tensor) -> torch.Tensor:
        """Heatmap-cell coordinates ``[..., 2]`` (x = column, y = row) -> image-pixel points ``[..., 2]``."""
        net = xy * STRIDE + HEATMAP_CELL_CENTRE
        return (net + 0.5) / self._scale(xy) - 0.5


def check_images(images: torch.Tensor) -> None:
    """Raise ``ValueError`` unless ``images`` is a floating ``[B, 3, H, W]`` tensor with ``B, H, W >= 1``."""
    if not isinstance(images, torch.Tensor):
        raise ValueError(
            f"OpenPose body estimator: images must be a torch.Tensor, got {type(images).__name__}."
        )
    if images.ndim != 4 or images.shape[1] != 3 or 0 in images.shape:
        raise ValueError(
            f"OpenPose body estimator: images must be [B, 3, H, W] RGB, got shape {list(images.shape)}. "
            "A ComfyUI IMAGE is [B, H, W, 3]: pass image.permute(0, 3, 1, 2)."
        )
    if not images.is_floating_point():
        raise ValueError(
            f"OpenPose body estimator: images must be floating point in [0, 1], got dtype {images.dtype}."
        )


def preprocess(images: torch.Tensor, geometry: NetGeometry, antialias: bool = True) -> torch.Tensor:
    """RGB ``[B, 3, H, W]`` in ``[0, 1]`` -> network input ``[B, 3, padded_height, padded_width]``.

    Differentiable in ``images``. The resize is bilinear (``antialias`` low-pass filters when shrinking;
    OpenPose itself uses cv2 cubic without a low-pass). The output is BGR, ``pixel_0_255 / 256 - 0.5``,
    zero in the bottom/right padding. Dtype and device follow ``images``.
    """
    g = geometry
    x = images.flip(1) * (255.0 / 256.0) - 0.5
    if (g.net_height, g.net_width) != (g.image_height, g.image_width):
        x = F.interpolate(x, size=(g.net_height, g.net_width), mode="bilinear", align_corners=False,
                          antialias=antialias)
    return F.pad(x, (0, g.padded_width - g.net_width, 0, g.padded_height - g.net_height))
