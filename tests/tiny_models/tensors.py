"""Seeded, deterministic state dicts built from (key, shape, kind) declarations.

The tiny-model builders declare every tensor of an original checkpoint layout with its shape and an
initialisation *kind*; ``StateDict.materialise`` then draws the values from one ``torch.Generator``
seeded per file, in declaration order, so a given ``(seed, name)`` always gives the same bytes.

Initialisation (chosen so that random models give finite, non-constant outputs):

* ``weight``: normal with std ``1/sqrt(fan_in)`` (``fan_in`` = product of all but the first dimension);
* ``norm``: ``1 + 0.02 * normal`` (GroupNorm / LayerNorm scales);
* ``bias``, ``embedding``: ``0.02 * normal``;
* ``position_ids``: ``arange`` (int64, as older HF CLIP checkpoints store it);
* ``constant``: every element equal to the declared value.
"""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import torch
from safetensors.torch import save_file

SMALL_STD = 0.02
"""Standard deviation of biases and embeddings, and of the noise on normalisation scales."""


def derive_seed(seed: int, name: str) -> int:
    """A per-file seed that is stable across processes (no dependency on Python's ``hash``)."""
    return zlib.crc32(f"{name}:{seed}".encode()) & 0x7FFF_FFFF


@dataclass(frozen=True)
class TensorSpec:
    """Shape and initialisation kind of one tensor (see the module docstring for the kinds)."""

    shape: tuple[int, ...]
    kind: str
    value: float = 0.0


@dataclass
class StateDict:
    """An ordered declaration of checkpoint tensors; keys are full checkpoint keys."""

    specs: dict[str, TensorSpec] = field(default_factory=dict)

    def add(self, key: str, shape: tuple[int, ...], kind: str, value: float = 0.0) -> None:
        if key in self.specs:
            raise ValueError(f"duplicate tensor key {key!r}")
        self.specs[key] = TensorSpec(tuple(shape), kind, value)

    def linear(self, prefix: str, fan_in: int, fan_out: int, bias: bool = True) -> None:
        """``prefix.weight`` ``[fan_out, fan_in]`` (+ ``prefix.bias``), as ``nn.Linear`` stores them."""
        self.add(f"{prefix}.weight", (fan_out, fan_in), "weight")
        if bias:
            self.add(f"{prefix}.bias", (fan_out,), "bias")

    def conv(self, prefix: str, c_in: int, c_out: int, kernel: int, bias: bool = True) -> None:
        """A 2-D convolution ``prefix.weight`` ``[c_out, c_in, k, k]`` (+ ``prefix.bias``)."""
        self.add(f"{prefix}.weight", (c_out, c_in, kernel, kernel), "weight")
        if bias:
            self.add(f"{prefix}.bias", (c_out,), "bias")

    def norm(self, prefix: str, channels: int) -> None:
        """An affine GroupNorm / LayerNorm: ``prefix.weight`` and ``prefix.bias``."""
        self.add(f"{prefix}.weight", (channels,), "norm")
        self.add(f"{prefix}.bias", (channels,), "bias")

    def update(self, other: StateDict, prefix: str = "") -> None:
        """Append every declaration of ``other``, its keys prefixed with ``prefix``."""
        for key, spec in other.specs.items():
            self.add(prefix + key, spec.shape, spec.kind, spec.value)

    def num_parameters(self) -> int:
        return sum(math.prod(spec.shape) for spec in self.specs.values())

    def materialise(self, seed: int, name: str, dtype: torch.dtype = torch.float16,
                    device: str = "cpu") -> dict[str, torch.Tensor]:
        """Draw every tensor from a generator seeded with ``derive_seed(seed, name)``; cast to ``dtype``.

        Values are drawn in float32 and then cast, so the bytes do not depend on ``dtype`` support
        of the random kernels. ``position_ids`` stay int64. ``device``: where the values are drawn
        (``"cuda"`` draws the full-size benchmark models in seconds; other values than the CPU's, still
        seeded); the tensors are returned on the CPU.
        """
        generator = torch.Generator(device).manual_seed(derive_seed(seed, name))
        tensors: dict[str, torch.Tensor] = {}
        for key, spec in self.specs.items():
            tensor = _draw(spec, generator)
            tensors[key] = (tensor if spec.kind == "position_ids" else tensor.to(dtype)).cpu()
        return tensors


def _draw(spec: TensorSpec, generator: torch.Generator) -> torch.Tensor:
    if spec.kind == "position_ids":
        return torch.arange(spec.shape[-1], dtype=torch.int64).expand(spec.shape).contiguous()
    if spec.kind == "constant":
        return torch.full(spec.shape, spec.value, dtype=torch.float32)
    noise = torch.randn(spec.shape, generator=generator, dtype=torch.float32, device=generator.device)
    if spec.kind == "weight":
        fan_in = math.prod(spec.shape[1:]) if len(spec.shape) > 1 else 1
        return noise / math.sqrt(fan_in)
    if spec.kind == "norm":
        return 1.0 + SMALL_STD * noise
    if spec.kind in ("bias", "embedding"):
        return SMALL_STD * noise
    raise ValueError(f"unknown initialisation kind {spec.kind!r}")


def fixture_metadata(seed: int) -> dict[str, str]:
    """Safetensors header metadata marking a file as a seeded test fixture.

    One entry only: safetensors writes the metadata map in hash order, so several entries would make
    the file bytes differ from run to run.
    """
    return {"pt_test_models": f"tiny seeded test fixture, seed {seed}"}


def write_safetensors(path: Path, tensors: dict[str, torch.Tensor],
                      metadata: dict[str, str] | None = None) -> Path:
    """Write ``tensors`` to ``path`` (parents created) and return ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(path), metadata=metadata)
    return path
