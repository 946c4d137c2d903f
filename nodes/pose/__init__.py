"""The pose toolkit nodes (category ``pose transfer/Pose``): files (:mod:`.files`) and keypoint
operations (:mod:`.keypoints`). Library: ``pose_models.pose`` (``docs/methods.md``, "Pose toolkit")."""

from __future__ import annotations

from comfy_api.latest import io

from .files import LoadPoseFile, SavePoseFile
from .keypoints import KEYPOINT_NODES

POSE_NODES: tuple[type[io.ComfyNode], ...] = (LoadPoseFile, SavePoseFile, *KEYPOINT_NODES)
