"""The human parser: SCHP inference over image batches, with optional flip averaging.

``HumanParser.from_file(path, device, dtype).parse(images)`` runs the official pipeline on every image:
aspect-keeping affine crop to the label set's input size (473 x 473 for LIP, 512 x 512 for ATR and
Pascal-Person-Part; ``input_size`` overrides it), BGR normalisation, the network's fusion logits at a
quarter of the input size, optionally averaged with those of the mirrored input (left/right label
channels swapped back), upsampling to the input size, the inverse affine to the image, argmax.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import torch

from ..interrupts import InterruptCheck, checked_forward
from .checkpoint import load_network
from .errors import ParsingError
from .images import ImageBatch, batch_view, to_rgb_tensor
from .labels import GROUPS, LabelSet
from .network import SCHPNet
from .render import color_map, group_mask, group_masks, legend, legend_image
from .transforms import CropTransform, crop_transform, to_image_logits, to_network_input

logger = logging.getLogger(__name__)

ProgressCallback = Callable[[int, int], None]
"""Called as ``progress(done, total)`` with image counts after each processed chunk."""

MIN_INPUT_SIDE = 16
"""Smallest accepted network input side (the backbone reduces it 16-fold)."""


@dataclass(frozen=True)
class ParsingResult:
    """Label maps ``int64 [B, H, W]`` (values ``0 .. num_classes - 1``, on the CPU) and their label set.

    The methods derive the other outputs on demand (see :mod:`pose_models.parsing.render`).
    """

    labels: torch.Tensor
    label_set: LabelSet

    def color_map(self) -> torch.Tensor:
        """``float32 [B, H, W, 3]`` RGB in ``[0, 1]`` with the official palette."""
        return color_map(self.labels, self.label_set)

    def mask(self, group: str) -> torch.Tensor:
        """``float32 [B, H, W]`` in ``{0, 1}`` for one region group; zeros if the label set lacks it."""
        return group_mask(self.labels, self.label_set, group)

    def masks(self, groups: Iterable[str] = GROUPS) -> dict[str, torch.Tensor]:
        """``{group: float32 [B, H, W]}`` for ``groups`` (default: every group)."""
        return group_masks(self.labels, self.label_set, groups)

    def legend(self) -> dict[str, tuple[int, int, int]]:
        """``{label name: (r, g, b)}`` in label order."""
        return legend(self.label_set)

    def legend_image(self) -> torch.Tensor:
        """``float32 [1, h, w, 3]`` rendering of :meth:`legend`."""
        return legend_image(self.label_set)


def _check_input_size(input_size: tuple[int, int]) -> tuple[int, int]:
    if len(input_size) != 2 or min(input_size) < MIN_INPUT_SIDE:
        raise ParsingError(f"input_size must be (height, width) with sides >= {MIN_INPUT_SIDE}, "
                           f"got {input_size}")
    return int(input_size[0]), int(input_size[1])


class HumanParser:
    """An SCHP network with its label set; runs on the network's device and dtype."""

    def __init__(self, network: SCHPNet, label_set: LabelSet) -> None:
        if network.num_classes != label_set.num_classes:
            raise ParsingError(f"the network has {network.num_classes} labels but {label_set.title} has "
                               f"{label_set.num_classes}")
        self.network = network.eval()
        self.label_set = label_set

    @classmethod
    def from_file(cls, path: str | Path, device: str | torch.device = "cpu",
                  dtype: torch.dtype = torch.float32) -> HumanParser:
        """Load an official SCHP ``.pth`` or a converted ``.safetensors`` (label set from the weights)."""
        return cls(*load_network(path, device, dtype))

    @property
    def device(self) -> torch.device:
        """Where the network's weights are (and where inference runs)."""
        return self.network.conv1.weight.device

    @property
    def dtype(self) -> torch.dtype:
        """The network's weight dtype; pre- and post-processing always run in ``float32``."""
        return self.network.conv1.weight.dtype

    def to(self, device: str | torch.device | None = None, dtype: torch.dtype | None = None) -> HumanParser:
        """Move the network (in place) to ``device`` and/or ``dtype``; returns ``self``."""
        self.network.to(device=device, dtype=dtype)
        return self

    def logits(self, images: torch.Tensor, transform: CropTransform, flip: bool = False) -> torch.Tensor:
        """Fusion logits ``float32 [B, C, H, W]`` over the image for RGB ``[B, 3, H, W]`` in ``[0, 1]``.

        ``images`` must be on :attr:`device`; ``transform`` is :func:`crop_transform` for their size.
        With ``flip``, the mirrored input runs in the same forward pass and its logits, mirrored back with
        the left/right labels swapped, are averaged with the plain ones (at network resolution, as SCHP's
        ``evaluate.py`` does).
        """
        x = to_network_input(images, transform).to(self.dtype)
        if flip:
            out = self.network(torch.cat([x, x.flip(-1)])).fusion.float()
            count = images.shape[0]
            mirrored = out[count:, self.label_set.flip_permutation()].flip(-1)
            fused = (out[:count] + mirrored) / 2
        else:
            fused = self.network(x).fusion.float()
        return to_image_logits(fused, transform)

    @torch.no_grad()  # not inference_mode: callers may modify the results in place
    def parse(self, images: ImageBatch, *, flip: bool = False, batch_size: int = 4,
              input_size: tuple[int, int] | None = None,
              progress: ProgressCallback | None = None,
              interrupt: InterruptCheck | None = None) -> ParsingResult:
        """Parse RGB images ``[B, H, W, 3]`` (float in ``[0, 1]`` or ``uint8``; see :mod:`.images`).

        Runs ``batch_size`` images per forward pass (twice that with ``flip``) and calls
        ``progress(done, total)`` after each; ``interrupt()`` runs between the network's layers
        (:func:`pose_models.interrupts.checked_forward`). An exception raised by either stops the run (a
        host cancels that way). ``input_size`` ``(height, width)`` overrides the label set's network input
        size (the network is fully convolutional; the official sizes give the official results).
        """
        batch = batch_view(images)
        if batch_size < 1:
            raise ParsingError(f"batch_size must be >= 1, got {batch_size}")
        total, height, width = batch.shape[0], batch.shape[1], batch.shape[2]
        size = _check_input_size(input_size or self.label_set.input_size)
        transform = crop_transform((height, width), size)
        labels = torch.empty((total, height, width), dtype=torch.int64)
        with checked_forward(self.network, interrupt):
            for start in range(0, total, batch_size):
                end = min(start + batch_size, total)
                chunk = to_rgb_tensor(batch[start:end], self.device)
                labels[start:end] = self.logits(chunk, transform, flip).argmax(dim=1).cpu()
                logger.debug("parsed images %d-%d of %d", start + 1, end, total)
                if progress is not None:
                    progress(end, total)
        return ParsingResult(labels, self.label_set)
