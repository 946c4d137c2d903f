"""Accept image batches in the layouts callers have: the host's ``IMAGE`` tensor or 8-bit numpy arrays.

An image batch is ``[B, H, W, 3]`` RGB (a single ``[H, W, 3]`` image counts as ``B = 1``), either floating
point in ``[0, 1]`` (torch or numpy) or ``uint8`` in ``0 .. 255``. :func:`batch_view` validates the layout
without copying; :func:`to_rgb_tensor` converts a (sub-)batch for the network.
"""

from __future__ import annotations

import numpy as np
import torch

from .errors import ParsingError

ImageBatch = torch.Tensor | np.ndarray
"""``[B, H, W, 3]`` or ``[H, W, 3]`` RGB, float in ``[0, 1]`` or ``uint8``."""


def _is_float_or_uint8(images: ImageBatch) -> bool:
    if isinstance(images, torch.Tensor):
        return images.is_floating_point() or images.dtype == torch.uint8
    return bool(np.issubdtype(images.dtype, np.floating)) or images.dtype == np.uint8


def batch_view(images: ImageBatch) -> ImageBatch:
    """``images`` as a ``[B, H, W, 3]`` view; raises :class:`ParsingError` for anything else."""
    if not isinstance(images, torch.Tensor | np.ndarray):
        raise ParsingError(f"images must be a torch tensor or numpy array, not {type(images).__name__}")
    if images.ndim == 3:
        images = images[None]
    if images.ndim != 4 or images.shape[-1] != 3:
        raise ParsingError(f"images must be RGB [batch, height, width, 3], got shape {tuple(images.shape)}")
    if not _is_float_or_uint8(images):
        raise ParsingError(f"images must be float in [0, 1] or uint8, got dtype {images.dtype}")
    if images.shape[0] < 1 or max(images.shape[1], images.shape[2]) < 2 or min(images.shape[1:3]) < 1:
        raise ParsingError(f"images of shape {tuple(images.shape)} are empty or a single pixel")
    return images


def to_rgb_tensor(images: ImageBatch, device: torch.device) -> torch.Tensor:
    """A validated ``[B, H, W, 3]`` batch as ``float32 [B, 3, H, W]`` RGB in ``[0, 1]`` on ``device``."""
    if isinstance(images, np.ndarray):
        images = torch.from_numpy(np.ascontiguousarray(images))  # also takes negative strides (x[..., ::-1])
    tensor = images.to(device)
    tensor = tensor.float().clamp(0, 1) if tensor.is_floating_point() else tensor.float() / 255
    return tensor.permute(0, 3, 1, 2)
