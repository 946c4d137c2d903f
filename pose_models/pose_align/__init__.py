"""Recurrent pose alignment (RePoseDM, training-free stand-in): part-wise affine warp of a source person.

The source image is split into body parts (:data:`PART_NAMES`: torso, thighs, shins, upper and lower arms,
head) by keypoint shapes or by human-parser groups, each part is mapped to the target pose (similarity per
limb from its two joints, least-squares affine for torso and head) through ``K`` interpolated poses, and
the parts are composited back to front. Outputs: warped image, coverage mask, per-part masks (uses:
img2img init, HPFA source, inpainting source with coverage = keep). Torch only (runs on any device);
never imports ComfyUI.

* :mod:`.align` -- :func:`align_pose`, :class:`AlignResult`; the recurrence and missing-joint rules.
* :mod:`.parts` -- part names/order, joints, shapes, :class:`PartShapeSettings`.
* :mod:`.masks` -- source part masks from shapes or parser groups.
* :mod:`.transforms` -- per-part maps and their composition along the pose path.
* :mod:`.warp` -- ``grid_sample`` warp and back-to-front compositing.
"""

from .align import AlignResult, align_pose
from .masks import PARSER_GROUPS, parsing_part_masks, shape_part_masks
from .parts import PART_NAMES, PartShape, PartShapeSettings, part_shapes, reference_length
from .transforms import part_map, path_maps
from .warp import composite, warp_layers

__all__ = [
    "PARSER_GROUPS",
    "PART_NAMES",
    "AlignResult",
    "PartShape",
    "PartShapeSettings",
    "align_pose",
    "composite",
    "parsing_part_masks",
    "part_map",
    "part_shapes",
    "path_maps",
    "reference_length",
    "shape_part_masks",
    "warp_layers",
]
