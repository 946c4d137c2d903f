"""Socket types shared by the pack's nodes.

* ``POSE_KEYPOINT``: the python value every pose producer in ComfyUI emits (a list of frame dicts; see
  ``pose_models.pose.pose_keypoint``). The pack writes the SDPose-like pixel form.
* ``PT_POSE_HEATMAPS``: a ``pose_models.pose.PoseMaps`` of kind ``"heatmaps"``: Gaussian joint heatmaps in
  ``[0, 1]`` (COCO-18 order), drawn on demand: ``.frame(i)`` is ``float32 [18, H, W]``, ``.stack()``
  ``float32 [F, 18, H, W]`` (so a batch costs nothing until a consumer draws it).
* ``PT_LIMB_MASKS``: a ``PoseMaps`` of kind ``"limb_masks"``: per-limb masks in ``{0, 1}`` (OpenPose limb
  order), ``float32 [17, H, W]`` per frame, drawn the same way.

Host conventions: ``IMAGE`` is ``float32 [B, H, W, 3]`` in ``[0, 1]``, ``MASK`` is ``float32 [B, H, W]``.
"""

from __future__ import annotations

from comfy_api.latest import io

PoseKeypoint = io.Custom("POSE_KEYPOINT")
PoseHeatmaps = io.Custom("PT_POSE_HEATMAPS")
LimbMasks = io.Custom("PT_LIMB_MASKS")
