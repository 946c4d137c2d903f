"""DeepFashion keypoint CSVs as tensors, and the deterministic train/held-out split.

``load_pose_table(path)`` reads a CSV with :func:`pose_models.pose.read_deepfashion_csv` (``-1`` = missing,
176 x 256 pixel frame) into ``keypoints float32 [N, 18, 3]`` (``x, y, conf``; rows without a person are all
zeros, i.e. fully missing) in file order.

Split: by **item**, not by row, so that the photos of one garment/model (DeepFashion names
``...id<8-digit item><2-digit photo>_<view>.jpg``) never straddle train and held-out. An item goes to the
train split when ``crc32(item) mod 10000 < 10000 * train_fraction``: stable across runs, machines, file
order and training seeds. Names without that pattern use the whole name as the item.
"""

from __future__ import annotations

import re
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..pose import read_deepfashion_csv

ITEM_PATTERN = re.compile(r"id(\d{8})")
DEFAULT_TRAIN_FRACTION = 0.8


@dataclass(frozen=True)
class PoseTable:
    """Named poses of one CSV: ``names`` (N) and ``keypoints float32 [N, 18, 3]`` in file order."""

    names: tuple[str, ...]
    keypoints: torch.Tensor

    def __len__(self) -> int:
        return len(self.names)


def load_pose_table(path: str | Path) -> PoseTable:
    """Read a DeepFashion keypoint CSV (raises :class:`pose_models.pose.PoseFormatError` on bad input)."""
    frames = read_deepfashion_csv(path)
    rows = [f.frame.people[0].body if f.frame.people else np.zeros((18, 3), np.float32) for f in frames]
    keypoints = torch.from_numpy(np.stack(rows)) if rows else torch.zeros(0, 18, 3)
    return PoseTable(tuple(f.name for f in frames), keypoints.float())


def item_of(name: str) -> str:
    """The DeepFashion item id in an image name (the name itself when there is none)."""
    match = ITEM_PATTERN.search(name)
    return match.group(1) if match else name


def train_split(names: tuple[str, ...] | list[str], train_fraction: float = DEFAULT_TRAIN_FRACTION
                ) -> torch.Tensor:
    """``bool [N]``: which rows belong to the train split (the rest is held out); see the module docstring."""
    if not 0.0 < train_fraction < 1.0:
        raise ValueError(f"train fraction must be between 0 and 1 (exclusive), got {train_fraction}.")
    cut = round(10000 * train_fraction)
    return torch.tensor([zlib.crc32(item_of(n).encode("utf-8")) % 10000 < cut for n in names],
                        dtype=torch.bool)
