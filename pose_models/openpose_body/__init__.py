"""Differentiable OpenPose body estimator (CMU ``body_pose_model.pth``) for pose guidance.

Never imports ComfyUI. Modules (each documents its tensor shapes, value ranges and coordinate frames):

* :mod:`.network` -- :class:`BodyPoseNet`, the COCO body network with the released layer names.
* :mod:`.loading` -- :func:`find_body_model`, :func:`load_body_model` (``weights_only=True``/safetensors).
* :mod:`.geometry` -- :class:`NetGeometry` (image <-> network input <-> stride-8 heatmap) and the torch
  preprocessing (BGR, ``/256 - 0.5``, resize to height ``box_size``, pad to multiples of 8).
* :mod:`.softargmax` -- peak-normalised soft-argmax (``beta``, ``upsample``).
* :mod:`.estimator` -- :class:`OpenPoseBodyEstimator` -> :class:`BodyPoseOutput` (heatmaps, PAFs,
  keypoints in input-image pixels). Single person per image by design.
* :mod:`.targets` -- :func:`render_target_heatmaps`, OpenPose-style Gaussian targets on the same grid.
* :mod:`.convert` -- keypoint tensors <-> :class:`pose_models.pose.PoseFrame`.

Typical use (guidance energy)::

    net = load_body_model(find_body_model([models_dir, custom_nodes_dir]), device=device)
    estimator = OpenPoseBodyEstimator(net)
    out = estimator(images)                                   # images [B, 3, H, W] in [0, 1]
    target = render_target_heatmaps(frames_to_keypoints(frames, H, W).to(images.device), out.geometry)
    energy = ((out.heatmaps[:, :18].float() - target) ** 2).sum()

The weights are CMU's and licensed for non-commercial use only.
"""

from .convert import frames_to_keypoints, keypoints_to_frames
from .estimator import BodyPoseOutput, OpenPoseBodyEstimator, heatmaps_to_keypoints
from .geometry import DEFAULT_BOX_SIZE, NetGeometry, preprocess
from .loading import (
    DOWNLOAD_HINT,
    MODEL_FILENAMES,
    SEARCH_SUBFOLDERS,
    BodyModelError,
    check_state_dict,
    find_body_model,
    load_body_model,
    read_state_dict,
)
from .network import (
    HEATMAP_CHANNELS,
    NUM_HEATMAPS,
    NUM_PAFS,
    PAF_LIMBS,
    STRIDE,
    BodyPoseNet,
    expected_state_dict_shapes,
)
from .softargmax import DEFAULT_BETA, DEFAULT_UPSAMPLE, soft_argmax_2d
from .targets import DEFAULT_TARGET_SIGMA, render_target_heatmaps

__all__ = [
    "DEFAULT_BETA",
    "DEFAULT_BOX_SIZE",
    "DEFAULT_TARGET_SIGMA",
    "DEFAULT_UPSAMPLE",
    "DOWNLOAD_HINT",
    "HEATMAP_CHANNELS",
    "MODEL_FILENAMES",
    "NUM_HEATMAPS",
    "NUM_PAFS",
    "PAF_LIMBS",
    "SEARCH_SUBFOLDERS",
    "STRIDE",
    "BodyModelError",
    "BodyPoseNet",
    "BodyPoseOutput",
    "NetGeometry",
    "OpenPoseBodyEstimator",
    "check_state_dict",
    "expected_state_dict_shapes",
    "find_body_model",
    "frames_to_keypoints",
    "heatmaps_to_keypoints",
    "keypoints_to_frames",
    "load_body_model",
    "preprocess",
    "read_state_dict",
    "render_target_heatmaps",
    "soft_argmax_2d",
]
