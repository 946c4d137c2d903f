"""Pose keypoint toolkit of the Pose Transfer pack: canonical types, format readers/writers, rendering,
retargeting and interpolation. Depends on numpy (and OpenCV for drawing); never imports ComfyUI.

Modules (each documents its data contract):

* :mod:`.keypoints` -- :class:`Person`, :class:`PoseFrame`, COCO-18 names, bones, mirror tables.
* :mod:`.pose_keypoint` -- ComfyUI ``POSE_KEYPOINT`` values from every producer, and back.
* :mod:`.openpose_json`, :mod:`.deepfashion` -- OpenPose JSON files, DeepFashion CSV; :mod:`.files` -- the
  registry of pose file formats (name, label, suffix, sniff, read, write).
* :mod:`.render` -- OpenPose ControlNet skeleton, CFLD skeleton, Gaussian heatmaps, limb masks.
* :mod:`.ops` -- mirror, confidence threshold, canvas changes, batch helpers.
* :mod:`.retarget`, :mod:`.interpolate` -- proportions transfer and in-betweening.
* :mod:`.cli` -- ``python cli.py pose`` (``cli.py`` in the pack folder).

Bad input raises :class:`PoseFormatError` (a ``ValueError``) with a message that says what, where, and how
to fix it.
"""

from .deepfashion import read_deepfashion_csv, write_deepfashion_csv
from .errors import PoseFormatError
from .files import POSE_FILE_FORMATS, PoseFileFormat, file_format, load_poses, save_poses
from .interpolate import interpolate_person, interpolate_poses
from .keypoints import (
    BODY_JOINTS,
    BONES,
    NamedFrame,
    Person,
    PoseFrame,
    PoseSequence,
    require_person,
)
from .openpose_json import read_openpose_json, write_openpose_json
from .ops import (
    bone_lengths,
    broadcast_frames,
    clip_to_canvas,
    fit_to_canvas,
    mirror_frame,
    mirror_person,
    scale_to_canvas,
    select_people,
    threshold_confidence,
)
from .pose_keypoint import from_pose_keypoint, to_pose_keypoint
from .render import (
    PoseMaps,
    body_mask,
    limb_masks,
    render_cfld_skeleton,
    render_heatmaps,
    render_openpose,
)
from .retarget import retarget_frame, retarget_person, retarget_sequence

__all__ = [
    "BODY_JOINTS",
    "BONES",
    "POSE_FILE_FORMATS",
    "NamedFrame",
    "Person",
    "PoseFileFormat",
    "PoseFormatError",
    "PoseFrame",
    "PoseMaps",
    "PoseSequence",
    "body_mask",
    "bone_lengths",
    "broadcast_frames",
    "clip_to_canvas",
    "file_format",
    "fit_to_canvas",
    "from_pose_keypoint",
    "interpolate_person",
    "interpolate_poses",
    "limb_masks",
    "load_poses",
    "mirror_frame",
    "mirror_person",
    "read_deepfashion_csv",
    "read_openpose_json",
    "render_cfld_skeleton",
    "render_heatmaps",
    "render_openpose",
    "require_person",
    "retarget_frame",
    "retarget_person",
    "retarget_sequence",
    "save_poses",
    "scale_to_canvas",
    "select_people",
    "threshold_confidence",
    "to_pose_keypoint",
    "write_deepfashion_csv",
    "write_openpose_json",
]
