"""RePoseDM nodes (arXiv 2310.16074; our training-free design, ``docs/methods.md``, "RePoseDM"): the
OpenPose body estimator (:mod:`.estimator`), pose interaction fields (:mod:`.field`), recurrent pose
alignment (:mod:`.align`) and gradient pose guidance during sampling (:mod:`.guidance`)."""

from __future__ import annotations

from comfy_api.latest import io

from .align import AlignPose
from .estimator import EstimatePose, LoadPoseEstimator
from .field import LoadPoseField, RepairPose
from .guidance import PoseGuidance

REPOSEDM_NODES: tuple[type[io.ComfyNode], ...] = (
    LoadPoseEstimator, LoadPoseField, EstimatePose, RepairPose, AlignPose, PoseGuidance,
)
