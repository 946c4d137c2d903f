"""Pose interaction fields (RePoseDM): ``f(pose) >= 0``, the distance of a 2D COCO-18 pose from the manifold
of valid poses, differentiable in the keypoints. Torch, numpy and safetensors only; never imports ComfyUI.

Every field is a :class:`PoseField` (``torch.nn.Module``): ``forward(keypoints [B, 18, 3]) -> [B]`` with
``(x, y, conf)`` pixel rows on any canvas, ``conf == 0`` = missing joint (see :mod:`.skeleton`).

* :class:`KinematicPriorField` (:mod:`.analytic`) -- hand-written penalties: bone length ratios, elbow/knee
  flexion and bend direction, left/right order, limb crossings. No weights file.
* :class:`LearnedPoseField` (:mod:`.learned`) -- a small ensemble of MLPs on keypoints and joint angles,
  trained the Pose-NDF way plus single-limb rotations with a ranking term on DeepFashion keypoints
  (:mod:`.train`, :mod:`.targets`, :mod:`.perturb`), stored as ``.safetensors`` in ComfyUI's
  ``models/pose_fields/`` (:data:`FIELD_MODELS_FOLDER`).
* :func:`project` (:mod:`.project`) -- NRDF-style repair of a pose by adaptive descent on a field.
* :mod:`.evaluate` -- real vs limb-rotated ROC-AUC; :mod:`.cli` -- ``python cli.py pose-field``
  ``train | score | evaluate``.
"""

from .analytic import KinematicPriorField
from .base import PoseField
from .data import PoseTable, load_pose_table, train_split
from .evaluate import EvalRow, evaluate_fields, roc_auc
from .fields import FIELD_MODELS_FOLDER, load_field
from .learned import FieldConfig, LearnedPoseField, load_learned_field, save_learned_field
from .project import project
from .skeleton import MIN_VISIBLE_JOINTS, scorable
from .train import TrainConfig, train_field

__all__ = [
    "FIELD_MODELS_FOLDER",
    "MIN_VISIBLE_JOINTS",
    "EvalRow",
    "FieldConfig",
    "KinematicPriorField",
    "LearnedPoseField",
    "PoseField",
    "PoseTable",
    "TrainConfig",
    "evaluate_fields",
    "load_field",
    "load_learned_field",
    "load_pose_table",
    "project",
    "roc_auc",
    "save_learned_field",
    "scorable",
    "train_field",
    "train_split",
]
