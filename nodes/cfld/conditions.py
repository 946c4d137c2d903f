"""CFLD Pose and CFLD Conditions: target poses in CFLD's frame, and the source + pose encoded by CFLD's
conditioning model (coarse prompt, pose residuals, appearance biases)."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from comfy_api.latest import io

from ...pose_models.cfld import (
    FIT_MODES,
    CFLDError,
    Conditions,
    fit_region,
    frame_keypoints,
    pose_input,
    prepare_source,
    skeleton_image,
)
from ...pose_models.pose import require_person
from ...pose_models.pose.keypoints import visible
from ..common.categories import CFLD as CATEGORY
from ..common.images import rgb_images
from ..common.pose_input import read_pose_input
from ..common.types import PoseKeypoint
from ..host.memory import require_memory
from ..host.models import intermediate_device, load_models
from ..host.progress import ProgressBar, check_interrupted
from .types import CFLDConditioning, CFLDConditionsType, CFLDModelType, CFLDPoses, CFLDPoseType


class CFLDPose(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="PT_CFLDPose",
            display_name="CFLD Pose",
            category=CATEGORY,
            description=(
                "Turns target poses (POSE_KEYPOINT, COCO-18 body) into CFLD's pose input: the canvas is "
                "padded or cropped to CFLD's 176:256 frame exactly like the source image, then rasterised "
                "the official way (cv2 skeleton + Gaussian heatmaps, sigma 6, stretched to a square). The "
                "preview shows the skeleton channels as the model sees them."
            ),
            inputs=[
                PoseKeypoint.Input("pose", tooltip="Target pose(s); one frame per output image."),
                io.Combo.Input("aspect", options=list(FIT_MODES), default="pad",
                               tooltip="How a canvas that is not 176:256 (W:H) becomes the CFLD frame: pad "
                                       "(keep everything) or crop (centre). Use the same setting as CFLD "
                                       "Conditions' source_aspect when the pose comes from a photo of the "
                                       "same size."),
                io.Int.Input("person_index", default=0, min=0, max=63,
                             tooltip="Which person of each frame to use (CFLD re-poses one person)."),
            ],
            outputs=[CFLDPoseType.Output(display_name="cfld_pose"), io.Image.Output(display_name="preview")],
        )

    @classmethod
    def execute(cls, pose: Any, aspect: str, person_index: int) -> io.NodeOutput:
        frames = read_pose_input(pose, "pose")
        require_memory(len(frames) * 256 * 256 * 3 * 5, "CFLD Pose", f"{len(frames)} pose frame(s)",
                       "Give fewer pose frames at once (Load Pose File: first_frame / max_frames).")
        rows = []
        for i, frame in enumerate(frames):
            person = require_person(frame, person_index, what="CFLD Pose", label=f"frame {i}",
                                    min_joints=2)
            region = fit_region(frame.canvas_width, frame.canvas_height, aspect)
            rows.append(frame_keypoints(person.body[:, :2], visible(person.body), region))
        keypoints = np.stack(rows)
        skeletons = np.stack([skeleton_image(k, 256) for k in keypoints])
        preview = torch.from_numpy(skeletons.astype(np.float32) / 255)
        return io.NodeOutput(CFLDPoses(keypoints), preview)


def _broadcast(n_source: int, n_pose: int) -> int:
    if n_source != n_pose and 1 not in (n_source, n_pose):
        raise CFLDError(f"CFLD Conditions: {n_source} source images and {n_pose} poses; give one source, one "
                        f"pose, or equally many of both.")
    return max(n_source, n_pose)


class CFLDConditionsNode(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="PT_CFLDConditions",
            display_name="CFLD Conditions",
            category=CATEGORY,
            description=(
                "Encodes the source person and the target pose with CFLD's conditioning model: the coarse "
                "prompt (replaces text), the pose residuals and the appearance biases. The source photo is "
                "padded or cropped to 176:256 (never distorted) and stretched to the model's square input. "
                "One output image per source/pose pair; a single source or pose is shared."
            ),
            inputs=[
                CFLDModelType.Input("cfld", tooltip="The cfld output of Load CFLD."),
                io.Image.Input("source", tooltip="Photo(s) of the person to re-pose, ideally full body on a "
                                                 "plain background like DeepFashion."),
                CFLDPoseType.Input("cfld_pose", tooltip="Target pose(s) from CFLD Pose."),
                io.Combo.Input("source_aspect", options=list(FIT_MODES), default="pad",
                               tooltip="How a photo that is not 176:256 (W:H) is fitted: pad (keep all) or "
                                       "crop (centre)."),
                io.Float.Input("pad_value", default=1.0, min=0.0, max=1.0, step=0.01,
                               tooltip="Grey level of the padding (1 = white, like DeepFashion "
                                       "backgrounds)."),
            ],
            outputs=[CFLDConditionsType.Output(display_name="cfld_conditions"),
                     io.Image.Output(display_name="source_input")],
        )

    @classmethod
    def execute(cls, cfld: CFLDConditioning, source: torch.Tensor, cfld_pose: CFLDPoses, source_aspect: str,
                pad_value: float) -> io.NodeOutput:
        source = rgb_images(source, "CFLD Conditions", "source", 8)
        keypoints = cfld_pose.keypoints_yx
        count = _broadcast(source.shape[0], len(keypoints))
        size = cfld.source_size
        images = prepare_source(source, size, source_aspect, pad_value)
        poses = torch.stack([pose_input(k, size) for k in keypoints])
        load_models([cfld.patcher])
        device = cfld.patcher.load_device
        bar = ProgressBar(count)
        parts: list[Conditions] = []
        with torch.no_grad():
            for i in range(count):
                check_interrupted()
                img = images[min(i, images.shape[0] - 1)][None].to(device)
                pose = poses[min(i, poses.shape[0] - 1)][None].to(device)
                parts.append(cfld.network(img, pose).to(intermediate_device()))
                bar.update(1)
        conditions = Conditions(
            torch.cat([p.null_prompt() for p in parts] + [p.source_prompt() for p in parts]),
            [torch.cat([p.pose_residuals[i] for p in parts]) for i in range(len(parts[0].pose_residuals))],
            {k: torch.cat([p.appearance_biases[k] for p in parts]) for k in parts[0].appearance_biases})
        preview = ((images + 1) / 2).movedim(1, -1).clamp(0, 1)
        return io.NodeOutput(conditions, preview)
