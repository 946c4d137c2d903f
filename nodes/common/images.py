"""Image inputs as every node receives them: the host's ``IMAGE`` from any producer, made RGB and checked.

ComfyUI's ``IMAGE`` is ``float32 [B, H, W, C]`` in ``[0, 1]`` with ``C = 3``, but producers hand over
grey (``C = 1``), grey + alpha (``C = 2``) and RGBA (``C = 4``) too. :func:`rgb_images` turns all of these
into RGB (grey repeated, alpha dropped as the host's Load Image does) and refuses, naming the node and the
input, what no node can use: another layout, an empty batch, an image smaller than the node needs, or
NaN/inf pixels (a broken upstream node; parsing or encoding them would give a silent wrong result).
"""

from __future__ import annotations

import torch

from ...pose_models.errors import PoseTransferError


class ImageInputError(PoseTransferError):
    """An image input no node of the pack can use; the message names the node, the input and the fix."""


def rgb_images(images: torch.Tensor, node: str, name: str, min_side: int = 1) -> torch.Tensor:
    """``images`` (``[B, H, W, C]``, ``C`` in 1..4, or one ``[H, W, C]`` image) as ``float32 [B, H, W, 3]``
    (a view when it already is one); :class:`ImageInputError` for anything else (module docstring)."""
    if not isinstance(images, torch.Tensor):
        raise ImageInputError(f"{node}: {name} is a {type(images).__name__}, not an image batch; connect an "
                              "IMAGE output (e.g. Load Image).")
    if images.ndim == 3:
        images = images[None]
    if images.ndim != 4 or not 1 <= images.shape[-1] <= 4:
        raise ImageInputError(f"{node}: {name} has shape {list(images.shape)}; an image batch is [batch, "
                              "height, width, channels] with 1 to 4 channels.")
    batch, height, width, channels = images.shape
    if batch == 0:
        raise ImageInputError(f"{node}: {name} is an empty batch (0 images).")
    if min(height, width) < min_side:
        raise ImageInputError(f"{node}: {name} is {width}x{height} px; this node needs at least "
                              f"{min_side} px a side. Upscale the image or use a larger one.")
    if not images.is_floating_point():
        images = images.float() / 255.0 if images.dtype == torch.uint8 else images.float()
    finite = torch.isfinite(images)
    if not bool(finite.all()):
        first = int((~finite).flatten(1).any(1).nonzero()[0])
        raise ImageInputError(f"{node}: {name} image {first} has NaN or infinite pixels (a broken node "
                              "upstream produced it); fix or remove that node's output.")
    if channels == 3:
        return images.float()
    grey = images[..., :1] if channels <= 2 else None
    rgb = grey.expand(-1, -1, -1, 3) if grey is not None else images[..., :3]
    return rgb.float().contiguous()
