"""Learned pose field: an MLP on normalised keypoints, saved and loaded as safetensors.

Input features (:func:`pose_features`), from normalised coordinates ``x [B, 18, 2]`` (neck at the origin,
body scale 1, see :func:`.skeleton.normalised_points`) and visibility ``m [B, 18]``:
``x * m`` (36), bone directions ``v / sqrt(|v|^2 + 0.05^2)`` (34: unit vectors for all but very short bones,
with a bounded gradient) and ``log(|v| + 0.05)`` (17) of the 17 bones ``v``, zeroed for missing bones, and
``m`` itself (18): 105 numbers. Network (Pose-NDF DFNet style): ``Linear -> Softplus`` for each
hidden width, then ``Linear -> 1``; ``f = |output|`` so ``f >= 0`` and the zero level is reachable.

File format: a ``.safetensors`` file with the ``state_dict`` tensors (``net.<i>.weight``/``bias``) and string
metadata :data:`METADATA_FORMAT` in ``format``, the architecture in ``config`` (JSON: ``hidden``,
``softplus_beta``, ``features``) and the training settings in ``training`` (JSON, informational).
:func:`load_learned_field` rebuilds the network from ``config`` alone, then checks every tensor shape.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors import safe_open
from safetensors.torch import save_file
from torch import nn

from .base import PoseField
from .skeleton import (
    NUM_BONES,
    NUM_JOINTS,
    body_frame,
    bone_vectors,
    bone_visibility,
    normalised_points,
    safe_norm,
)

METADATA_FORMAT = "pose-transfer.pose-field.mlp.v1"
NUM_FEATURES = NUM_JOINTS * 2 + NUM_BONES * 3 + NUM_JOINTS
LENGTH_OFFSET = 0.05


@dataclass(frozen=True)
class FieldConfig:
    """Architecture of a :class:`LearnedPoseField`: hidden widths and the Softplus ``beta``."""

    hidden: tuple[int, ...] = (512, 512, 512)
    softplus_beta: float = 10.0

    def __post_init__(self) -> None:
        if not self.hidden or any(int(w) < 1 for w in self.hidden):
            raise ValueError(f"hidden widths must be positive integers, got {self.hidden}.")
        object.__setattr__(self, "hidden", tuple(int(w) for w in self.hidden))


def pose_features(points: torch.Tensor, visible: torch.Tensor) -> torch.Tensor:
    """``float [B, 105]`` network input from normalised ``points [B, 18, 2]`` and ``visible [B, 18]``."""
    vis = visible.to(points.dtype)
    bones = bone_vectors(points)
    bone_vis = bone_visibility(visible).to(points.dtype)
    length = safe_norm(bones)
    soft_length = torch.sqrt(length * length + LENGTH_OFFSET * LENGTH_OFFSET)
    direction = bones / soft_length[..., None] * bone_vis[..., None]
    log_length = torch.log(length + LENGTH_OFFSET) * bone_vis
    return torch.cat([(points * vis[..., None]).flatten(1), direction.flatten(1), log_length, vis], -1)


class LearnedPoseField(PoseField):
    """MLP pose field (see the module docstring). ``forward(keypoints [B, 18, 3]) -> [B]``."""

    kind = "learned"

    def __init__(self, config: FieldConfig | None = None) -> None:
        super().__init__()
        self.config = config or FieldConfig()
        self.training_settings: dict[str, Any] = {}
        """The ``training`` metadata of the file it was loaded from (empty for a fresh field)."""
        layers: list[nn.Module] = []
        width = NUM_FEATURES
        for hidden in self.config.hidden:
            layers += [nn.Linear(width, hidden), nn.Softplus(beta=self.config.softplus_beta)]
            width = hidden
        layers.append(nn.Linear(width, 1))
        self.net = nn.Sequential(*layers)

    def normalised_distance(self, points: torch.Tensor, visible: torch.Tensor) -> torch.Tensor:
        """``[B]`` field of normalised ``points [B, 18, 2]`` with ``visible [B, 18]`` (the training path)."""
        return self.net(pose_features(points, visible)).squeeze(-1).abs()

    def distance(self, keypoints: torch.Tensor) -> torch.Tensor:
        """``[B]`` field value of pixel ``keypoints [B, 18, 3]`` (normalised by :func:`body_frame`)."""
        frame = body_frame(keypoints)
        return self.normalised_distance(normalised_points(frame), frame.visible)


def save_learned_field(field: LearnedPoseField, path: str | Path, training: dict[str, Any] | None = None
                       ) -> Path:
    """Write ``field`` as safetensors with its config (and ``training`` settings) in the metadata."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    config = {**asdict(field.config), "features": "xy+dir+loglen+mask/v1"}
    metadata = {"format": METADATA_FORMAT, "config": json.dumps(config),
                "training": json.dumps(training or {}, sort_keys=True)}
    tensors = {k: v.detach().contiguous().cpu() for k, v in field.state_dict().items()}
    save_file(tensors, str(path), metadata=metadata)
    return path


def read_field_metadata(path: str | Path) -> dict[str, Any]:
    """``{"config": {...}, "training": {...}}`` of a learned field file (raises ``ValueError`` if it is
    not one)."""
    with safe_open(str(path), framework="pt") as f:
        metadata = f.metadata() or {}
    if metadata.get("format") != METADATA_FORMAT:
        raise ValueError(f"{path}: not a pose field file (metadata format {metadata.get('format')!r}, "
                         f"expected {METADATA_FORMAT!r}).")
    return {"config": json.loads(metadata["config"]), "training": json.loads(metadata.get("training", "{}"))}


def load_learned_field(path: str | Path, device: str | torch.device = "cpu") -> LearnedPoseField:
    """Load a file written by :func:`save_learned_field` (safetensors only, no pickle); eval mode."""
    meta = read_field_metadata(path)
    config = meta["config"]
    if config.get("features") != "xy+dir+loglen+mask/v1":
        raise ValueError(f"{path}: unsupported feature set {config.get('features')!r}.")
    field = LearnedPoseField(FieldConfig(tuple(config["hidden"]), float(config["softplus_beta"])))
    with safe_open(str(path), framework="pt", device=str(device)) as f:
        tensors = {k: f.get_tensor(k) for k in f.keys()}
    expected = {k: tuple(v.shape) for k, v in field.state_dict().items()}
    found = {k: tuple(v.shape) for k, v in tensors.items()}
    if expected != found:
        raise ValueError(f"{path}: tensors {found} do not match the config's network {expected}.")
    field.load_state_dict(tensors)
    field.training_settings = meta["training"]
    return field.to(device).eval()
