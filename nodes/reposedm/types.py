"""RePoseDM socket types.

* ``PT_POSE_ESTIMATOR``: :class:`pose_models.openpose_body.OpenPoseBodyEstimator` with normal
  (non-inference) weights.
* ``PT_POSE_FIELD``: a :class:`pose_models.pose_field.PoseField` (analytic or learned) with normal weights.
"""

from __future__ import annotations

from comfy_api.latest import io

PoseEstimator = io.Custom("PT_POSE_ESTIMATOR")
PoseFieldType = io.Custom("PT_POSE_FIELD")
