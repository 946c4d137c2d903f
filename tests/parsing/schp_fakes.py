"""Random-weight SCHP checkpoints in the official layout, written independently of ``pose_models.parsing``.

:func:`official_shapes` spells out the key layout of SCHP's ``networks/AugmentCE2P.py`` ResNet-101 model
(InPlaceABNSync norms hold ``weight``, ``bias``, ``running_mean``, ``running_var`` and no
``num_batches_tracked``), so comparing it with the package's network is a real check of the layout.

:func:`official_state_dict` fills it with random values that keep activations finite and spatially
varied: every convolution weight is a view into one shared ``N(0, 1)`` pool (so ``torch.save`` writes
that pool once, about 80 MB, instead of 267 MB per checkpoint) and each following norm's running
variance is the convolution's fan-in, so pre-activations stay near unit scale. Shapes, dtypes and keys
are the official ones; :func:`save_official` wraps them as the released files are
(``{"state_dict": {"module." + key: tensor}, "cycle_n": int}``).
"""

from __future__ import annotations

from pathlib import Path

import torch

NUM_CLASSES = {"lip": 20, "atr": 18, "pascal": 7}
POOL_SIZE = 20_000_000  # > the largest tensor, context_encoding.bottleneck.0.weight (512 x 4096 x 3 x 3)


def official_shapes(num_classes: int) -> dict[str, tuple[int, ...]]:
    """``{key: shape}`` of the official model's state dict (no ``module.`` prefix), in module order."""
    shapes: dict[str, tuple[int, ...]] = {}

    def conv(name: str, out_c: int, in_c: int, k: int, bias: bool = False) -> None:
        shapes[f"{name}.weight"] = (out_c, in_c, k, k)
        if bias:
            shapes[f"{name}.bias"] = (out_c,)

    def norm(name: str, c: int) -> None:
        for field in ("weight", "bias", "running_mean", "running_var"):
            shapes[f"{name}.{field}"] = (c,)

    conv("conv1", 64, 3, 3), norm("bn1", 64)
    conv("conv2", 64, 64, 3), norm("bn2", 64)
    conv("conv3", 128, 64, 3), norm("bn3", 128)
    in_c = 128
    for stage, (planes, blocks) in enumerate(zip((64, 128, 256, 512), (3, 4, 23, 3), strict=True), start=1):
        for b in range(blocks):
            p = f"layer{stage}.{b}"
            conv(f"{p}.conv1", planes, in_c, 1), norm(f"{p}.bn1", planes)
            conv(f"{p}.conv2", planes, planes, 3), norm(f"{p}.bn2", planes)
            conv(f"{p}.conv3", planes * 4, planes, 1), norm(f"{p}.bn3", planes * 4)
            if b == 0:
                conv(f"{p}.downsample.0", planes * 4, in_c, 1), norm(f"{p}.downsample.1", planes * 4)
            in_c = planes * 4
    for s in range(4):
        conv(f"context_encoding.stages.{s}.1", 512, 2048, 1), norm(f"context_encoding.stages.{s}.2", 512)
    conv("context_encoding.bottleneck.0", 512, 2048 + 4 * 512, 3), norm("context_encoding.bottleneck.1", 512)
    for i, c in enumerate((256, 512, 1024), start=1):
        conv(f"edge.conv{i}.0", 256, c, 1), norm(f"edge.conv{i}.1", 256)
    conv("edge.conv4", 2, 256, 3, bias=True)
    conv("edge.conv5", 2, 6, 1, bias=True)
    conv("decoder.conv1.0", 256, 512, 1), norm("decoder.conv1.1", 256)
    conv("decoder.conv2.0", 48, 256, 1), norm("decoder.conv2.1", 48)
    conv("decoder.conv3.0", 256, 304, 1), norm("decoder.conv3.1", 256)
    conv("decoder.conv3.2", 256, 256, 1), norm("decoder.conv3.3", 256)
    conv("decoder.conv4", num_classes, 256, 1, bias=True)
    conv("fushion.0", 256, 1024, 1), norm("fushion.1", 256)
    conv("fushion.3", num_classes, 256, 1, bias=True)
    return shapes


def official_state_dict(num_classes: int, seed: int = 0) -> dict[str, torch.Tensor]:
    """Random float32 tensors in the official layout, keys with the ``module.`` prefix."""
    g = torch.Generator().manual_seed(seed)
    pool = torch.randn(POOL_SIZE, generator=g)
    state: dict[str, torch.Tensor] = {}
    fan_in = 1
    for key, shape in official_shapes(num_classes).items():
        numel = torch.Size(shape).numel()
        field = key.rsplit(".", 1)[1]
        if len(shape) == 4:
            start = int(torch.randint(0, POOL_SIZE - numel, (1,), generator=g))
            value = pool[start:start + numel].view(shape)
            fan_in = shape[1] * shape[2] * shape[3]
        elif field == "running_var":
            value = fan_in * (0.5 + torch.rand(shape, generator=g))
        elif field == "running_mean":
            value = 0.1 * fan_in**0.5 * torch.randn(shape, generator=g)
        elif field == "weight":  # norm scale; small on residual branches keeps the stream bounded
            scale = 0.3 if ".bn3." in key or ".downsample." in key else 1.0
            value = scale * (0.5 + torch.rand(shape, generator=g))
        else:
            value = 0.1 * torch.randn(shape, generator=g)
        state[f"module.{key}"] = value
    return state


def save_official(path: Path, state: dict[str, torch.Tensor], legacy: bool = False) -> Path:
    """``torch.save`` as the released files are (``legacy``: pre-1.6 non-zip serialisation)."""
    torch.save({"state_dict": state, "cycle_n": 3}, path, _use_new_zipfile_serialization=not legacy)
    return path


def write_official(directory: Path, name: str, num_classes: int, seed: int = 0) -> Path:
    """:func:`official_state_dict` saved as ``directory / name``."""
    return save_official(directory / name, official_state_dict(num_classes, seed))
