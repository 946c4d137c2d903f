"""Learned pose field: an ensemble of MLPs on normalised keypoints, saved and loaded as safetensors.

Input features (:func:`pose_features`), from normalised coordinates ``x [B, 18, 2]`` (neck at the origin,
body scale 1, see :func:`.skeleton.normalised_points`) and visibility ``m [B, 18]``; two feature sets
(:data:`FEATURE_SETS`, stored in the file's ``config``):

* ``xy+dir+loglen+mask/v1`` (105 numbers): ``x * m`` (36), bone directions ``v / sqrt(|v|^2 + 0.05^2)``
  (34: unit vectors for all but very short bones, with a bounded gradient) and ``log(|v| + 0.05)`` (17) of
  the 17 bones ``v``, zeroed for missing bones, and ``m`` itself (18).
* ``xy+dir+loglen+relangle+mask/v2`` (the default, 156 numbers): v1 plus, per bone, the joint angle as
  ``(cos, sin)`` of the bone relative to its parent bone (:data:`PARENT_BONE`; the five bones at the neck
  relative to the body's up axis, :func:`.skeleton.body_frame`) (34), and the log length ratio to the
  parent bone (17, 0 for the neck bones), zeroed where the bone or its reference is missing. A joint angle
  is exactly what a limb rotation changes, so the network does not have to learn trigonometry from ``x``.

Network: an ensemble of ``members`` MLPs (Pose-NDF DFNet style: ``Linear -> Softplus`` for each hidden
width, then ``Linear -> 1``; ``|output|`` so each is ``>= 0`` and the zero level is reachable), averaged, and
averaged again over the pose and its left/right mirror when ``symmetric``.

File format: a ``.safetensors`` file with the ``state_dict`` tensors (``nets.<member>.<i>.weight``/``bias``;
files of the v1 feature set hold one member as ``net.<i>.*``) and string
metadata :data:`METADATA_FORMAT` in ``format``, the architecture in ``config`` (JSON: ``hidden``,
``softplus_beta``, ``features``, ``symmetric``, ``members``; v1 files have neither and are read as one
one-sided member) and the training settings in ``training`` (JSON, informational).
:func:`load_learned_field` rebuilds the network from ``config`` alone, then checks every tensor shape.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import save_file
from torch import nn

from ..state_dicts import read_safetensors_metadata, read_weight_file
from .base import PoseField
from .skeleton import (
    BONE_CHILD_JOINT,
    BONE_PARENT_JOINT,
    MIRROR_INDEX,
    NUM_BONES,
    NUM_JOINTS,
    BodyFrame,
    body_frame,
    bone_vectors,
    bone_visibility,
    cross2,
    normalised_points,
    safe_norm,
)

METADATA_FORMAT = "pose-transfer.pose-field.mlp.v1"
FEATURES_V1 = "xy+dir+loglen+mask/v1"
FEATURES_V2 = "xy+dir+loglen+relangle+mask/v2"
FEATURE_SETS: dict[str, int] = {
    FEATURES_V1: NUM_JOINTS * 2 + NUM_BONES * 3 + NUM_JOINTS,
    FEATURES_V2: NUM_JOINTS * 2 + NUM_BONES * 6 + NUM_JOINTS,
}
"""Feature set name -> input width of the network (see the module docstring)."""
LENGTH_OFFSET = 0.05

TRAIN_HINT = ("A learned pose field is a .safetensors file written by 'python cli.py pose-field train' "
              "(cli.py is in the pack folder); the analytic field needs no file.")



def _parent_bones() -> tuple[int, ...]:
    child_of = {child: b for b, child in enumerate(BONE_CHILD_JOINT.tolist())}
    return tuple(child_of.get(int(p), -1) for p in BONE_PARENT_JOINT.tolist())


PARENT_BONE: tuple[int, ...] = _parent_bones()
"""Index of the parent bone of each bone (the bone ending at its parent joint), ``-1`` for the neck bones."""


@dataclass(frozen=True)
class FieldConfig:
    """Architecture of a :class:`LearnedPoseField`: hidden widths of each member MLP, the Softplus
    ``beta``, the input feature set (a key of :data:`FEATURE_SETS`), mirror averaging and ensemble size."""

    hidden: tuple[int, ...] = (256, 256, 256)
    softplus_beta: float = 10.0
    features: str = FEATURES_V2
    symmetric: bool = True
    """Score a pose as the mean of the network on it and on its left/right mirror (see :meth:`distance`)."""
    members: int = 2
    """Independently initialised and trained MLPs whose outputs are averaged (an ensemble)."""

    def __post_init__(self) -> None:
        if not self.hidden or any(int(w) < 1 for w in self.hidden):
            raise ValueError(f"hidden widths must be positive integers, got {self.hidden}.")
        if int(self.members) < 1:
            raise ValueError(f"an ensemble needs at least one member, got {self.members}.")
        if self.features not in FEATURE_SETS:
            raise ValueError(f"unknown pose field feature set {self.features!r}; this version of the pack "
                             f"reads {sorted(FEATURE_SETS)}. Retrain the field with 'python cli.py "
                             "pose-field train' (in the pack folder) or update the pack.")
        object.__setattr__(self, "hidden", tuple(int(w) for w in self.hidden))


def pose_features(points: torch.Tensor, visible: torch.Tensor, features: str = FEATURES_V2) -> torch.Tensor:
    """``float [B, FEATURE_SETS[features]]`` network input from normalised ``points [B, 18, 2]`` and
    ``visible [B, 18]`` (see the module docstring)."""
    vis = visible.to(points.dtype)
    bones = bone_vectors(points)
    bone_vis = bone_visibility(visible).to(points.dtype)
    length = safe_norm(bones)
    soft_length = torch.sqrt(length * length + LENGTH_OFFSET * LENGTH_OFFSET)
    direction = bones / soft_length[..., None] * bone_vis[..., None]
    log_length = torch.log(length + LENGTH_OFFSET) * bone_vis
    parts = [(points * vis[..., None]).flatten(1), direction.flatten(1), log_length]
    if features == FEATURES_V2:
        parts += _relative_angles(points, visible, bones, soft_length, log_length, bone_vis)
    return torch.cat([*parts, vis], -1)


def _relative_angles(points: torch.Tensor, visible: torch.Tensor, bones: torch.Tensor,
                     soft_length: torch.Tensor, log_length: torch.Tensor, bone_vis: torch.Tensor
                     ) -> list[torch.Tensor]:
    """``[(cos, sin) [B, 34], log length ratio [B, 17]]`` of each bone relative to its parent bone."""
    parent = torch.tensor(PARENT_BONE)
    has_parent = parent >= 0
    safe_parent = parent.clamp(min=0)
    # Neck bones: reference = the body's up axis (hip centre -> neck, image up without hips), unit length.
    frame_up = body_frame(torch.cat([points, visible[..., None].to(points.dtype)], -1)).up
    ref = torch.where(has_parent[None, :, None], bones[:, safe_parent], frame_up[:, None, :])
    ref_len = torch.where(has_parent[None, :], soft_length[:, safe_parent], torch.ones_like(soft_length))
    ref_vis = torch.where(has_parent[None, :], bone_vis[:, safe_parent], torch.ones_like(bone_vis)) * bone_vis
    scale = (soft_length * ref_len).reciprocal() * ref_vis
    cos = (bones * ref).sum(-1) * scale
    sin = cross2(ref, bones) * scale
    ratio = torch.where(has_parent[None, :], log_length - log_length[:, safe_parent],
                        torch.zeros_like(log_length)) * ref_vis
    return [torch.stack([cos, sin], -1).flatten(1), ratio]


class LearnedPoseField(PoseField):
    """MLP pose field (see the module docstring). ``forward(keypoints [B, 18, 3]) -> [B]``."""

    kind = "learned"

    def __init__(self, config: FieldConfig | None = None) -> None:
        super().__init__()
        self.config = config or FieldConfig()
        self.training_settings: dict[str, Any] = {}
        """The ``training`` metadata of the file it was loaded from (empty for a fresh field)."""
        self.nets = nn.ModuleList(_mlp(self.config) for _ in range(self.config.members))

    def member_distances(self, points: torch.Tensor, visible: torch.Tensor) -> torch.Tensor:
        """``[members, B]`` outputs of every member on normalised ``points`` and ``visible [B, 18]``;
        ``points`` is ``[B, 18, 2]`` (shared) or ``[members, B, 18, 2]`` (one copy per member, so that
        training can take each member's own gradient with respect to its input)."""
        if points.dim() == 3:
            features = pose_features(points, visible, self.config.features)
            return torch.stack([net(features).squeeze(-1).abs() for net in self.nets])
        return torch.stack([net(pose_features(p, visible, self.config.features)).squeeze(-1).abs()
                            for net, p in zip(self.nets, points, strict=True)])

    def normalised_distance(self, points: torch.Tensor, visible: torch.Tensor) -> torch.Tensor:
        """``[B]`` field of normalised ``points [B, 18, 2]`` with ``visible [B, 18]``: the members' mean,
        one orientation (the training path)."""
        return self.member_distances(points, visible).mean(0)

    def distance(self, keypoints: torch.Tensor, frame: BodyFrame | None = None) -> torch.Tensor:
        """``[B]`` field value of pixel ``keypoints [B, 18, 3]`` (normalised by :func:`body_frame`; ``frame``
        when the caller has it).

        With ``config.symmetric`` it is the mean of :meth:`normalised_distance` of the pose and of its
        left/right mirror (the network is trained on both orientations, so this is a free two-member
        ensemble, and the field is exactly mirror-invariant)."""
        frame = body_frame(keypoints) if frame is None else frame
        points = normalised_points(frame)
        value = self.normalised_distance(points, frame.visible)
        if not self.config.symmetric:
            return value
        flip_x = torch.tensor([-1.0, 1.0], dtype=points.dtype, device=points.device)
        mirrored = points[:, MIRROR_INDEX] * flip_x
        return 0.5 * (value + self.normalised_distance(mirrored, frame.visible[:, MIRROR_INDEX]))


def _mlp(config: FieldConfig) -> nn.Sequential:
    """One member: ``Linear -> Softplus`` per hidden width, then ``Linear -> 1``."""
    layers: list[nn.Module] = []
    width = FEATURE_SETS[config.features]
    for hidden in config.hidden:
        layers += [nn.Linear(width, hidden), nn.Softplus(beta=config.softplus_beta)]
        width = hidden
    layers.append(nn.Linear(width, 1))
    return nn.Sequential(*layers)


def save_learned_field(field: LearnedPoseField, path: str | Path, training: dict[str, Any] | None = None
                       ) -> Path:
    """Write ``field`` as safetensors with its config (and ``training`` settings) in the metadata."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    config = asdict(field.config)
    metadata = {"format": METADATA_FORMAT, "config": json.dumps(config),
                "training": json.dumps(training or {}, sort_keys=True)}
    tensors = {k: v.detach().contiguous().cpu() for k, v in field.state_dict().items()}
    save_file(tensors, str(path), metadata=metadata)
    return path


def read_field_metadata(path: str | Path) -> dict[str, Any]:
    """``{"config": {...}, "training": {...}}`` of a learned field file (raises ``ValueError`` if it is
    not one)."""
    metadata = read_safetensors_metadata(path, TRAIN_HINT)
    if metadata.get("format") != METADATA_FORMAT:
        raise ValueError(f"{path}: not a pose field file (metadata format {metadata.get('format')!r}, "
                         f"expected {METADATA_FORMAT!r}).")
    return {"config": json.loads(metadata["config"]), "training": json.loads(metadata.get("training", "{}"))}


def load_learned_field(path: str | Path, device: str | torch.device = "cpu") -> LearnedPoseField:
    """Load a file written by :func:`save_learned_field` (safetensors only, no pickle); eval mode."""
    meta = read_field_metadata(path)
    config = meta["config"]
    features = config.get("features")
    if features not in FEATURE_SETS:
        raise ValueError(f"{path}: unsupported pose field feature set {features!r} (this pack reads "
                         f"{sorted(FEATURE_SETS)}); retrain it with 'python cli.py pose-field train' "
                         "or update the pack.")
    field = LearnedPoseField(FieldConfig(tuple(config["hidden"]), float(config["softplus_beta"]), features,
                                         bool(config.get("symmetric", False)), int(config.get("members", 1))))
    tensors = dict(read_weight_file(path, TRAIN_HINT))
    if "members" not in config:  # v1 files: one MLP stored as net.<i>.*
        tensors = {("nets.0." + k[4:] if k.startswith("net.") else k): v for k, v in tensors.items()}
    expected = {k: tuple(v.shape) for k, v in field.state_dict().items()}
    found = {k: tuple(v.shape) for k, v in tensors.items()}
    if expected != found:
        raise ValueError(f"{path}: tensors {found} do not match the config's network {expected}.")
    field.load_state_dict(tensors)
    field.training_settings = meta["training"]
    return field.to(device).eval()
