"""The OpenPose body estimator nodes: Load OpenPose Body Estimator and Estimate Body Pose."""

from __future__ import annotations

import os

import torch
from comfy_api.latest import io, ui

from ...pose_models.openpose_body import (
    DEFAULT_BOX_SIZE,
    DOWNLOAD_HINT,
    OpenPoseBodyEstimator,
    find_body_model,
    keypoints_to_frames,
    load_body_model,
)
from ...pose_models.pose import PoseFrame, threshold_confidence, to_pose_keypoint
from ..common.categories import REPOSEDM as CATEGORY
from ..common.images import rgb_images
from ..common.pose_input import frame_summary
from ..common.types import PoseKeypoint
from ..host.autograd import normal_module
from ..host.models import (
    MissingModelFile,
    accept_file_name,
    ensure_model_folder,
    model_files,
    model_folders,
    model_path,
    models_dir,
    offload_device,
    torch_device,
)
from ..host.progress import ProgressBar, check_interrupted
from .types import PoseEstimator

ESTIMATOR_FOLDER = "openpose"
AUTO_ESTIMATOR = "[auto] search models/ and comfyui_controlnet_aux"
NODE = "Load OpenPose Body Estimator"
ensure_model_folder(ESTIMATOR_FOLDER)


def _estimator_search_roots() -> list[str]:
    roots = [*model_folders(ESTIMATOR_FOLDER), models_dir()]
    for custom in model_folders("custom_nodes"):
        roots += [custom, os.path.join(custom, "comfyui_controlnet_aux")]
    if os.environ.get("AUX_ANNOTATOR_CKPTS_PATH"):
        roots.append(os.environ["AUX_ANNOTATOR_CKPTS_PATH"])
    return roots


class LoadPoseEstimator(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="PT_LoadPoseEstimator",
            display_name="Load OpenPose Body Estimator",
            category=CATEGORY,
            description=(
                "Loads the CMU OpenPose body network (body_pose_model.pth, the file every OpenPose "
                "preprocessor uses) as a differentiable single-person estimator for Pose Guidance and "
                "Estimate Body Pose. Put the file in models/openpose/; [auto] also finds the copy "
                "comfyui_controlnet_aux downloaded. Weights are read without unpickling code."
            ),
            inputs=[
                io.Combo.Input("model_name", options=[AUTO_ESTIMATOR, *model_files(ESTIMATOR_FOLDER)],
                               default=AUTO_ESTIMATOR,
                               tooltip="body_pose_model.pth (or .safetensors) from models/openpose/, or "
                                       "[auto] to search models/ and comfyui_controlnet_aux's ckpts folder."),
                io.Int.Input("box_size", default=DEFAULT_BOX_SIZE, min=64, max=1024, step=8,
                             tooltip="Network input height in pixels (368 = OpenPose's reference, 184 = "
                                     "controlnet_aux's fast setting). Smaller is faster and coarser."),
                io.Float.Input("softargmax_beta", default=20.0, min=1.0, max=200.0, step=1.0,
                               tooltip="Sharpness of the soft-argmax that turns heatmaps into keypoints "
                                       "(higher = closer to the hard peak, less smooth gradients)."),
            ],
            outputs=[PoseEstimator.Output(display_name="estimator")],
        )

    @classmethod
    def validate_inputs(cls, model_name: str) -> bool | str:
        return accept_file_name(model_name)

    @classmethod
    def execute(cls, model_name: str, box_size: int, softargmax_beta: float) -> io.NodeOutput:
        if model_name == AUTO_ESTIMATOR:
            path = find_body_model(_estimator_search_roots())
            if path is None:
                raise MissingModelFile(
                    f"{NODE}: body_pose_model.pth was not found in "
                    f"{', '.join(model_folders(ESTIMATOR_FOLDER))} nor in "
                    f"comfyui_controlnet_aux's ckpts folder. {DOWNLOAD_HINT}"
                )
        else:
            path = model_path(ESTIMATOR_FOLDER, model_name, NODE, DOWNLOAD_HINT)
        estimator = normal_module(lambda: OpenPoseBodyEstimator(load_body_model(path), box_size=box_size,
                                                                beta=softargmax_beta))
        return io.NodeOutput(estimator)


class EstimatePose(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="PT_EstimatePose",
            display_name="Estimate Body Pose (OpenPose)",
            category=CATEGORY,
            description=(
                "Runs the OpenPose body estimator on every image and writes one person per image as "
                "POSE_KEYPOINT (pixel coordinates, soft-argmax keypoints). Use it for a source photo's "
                "pose, or to check how well a generated image follows its target pose."
            ),
            inputs=[
                io.Image.Input("images", tooltip="Images with one person each."),
                PoseEstimator.Input("estimator", tooltip="From Load OpenPose Body Estimator."),
                io.Float.Input("confidence_threshold", default=0.1, min=0.0, max=1.0, step=0.01,
                               tooltip="Joints with a lower peak become missing (OpenPose uses 0.1)."),
            ],
            outputs=[PoseKeypoint.Output(display_name="pose")],
            is_output_node=True,
        )

    @classmethod
    def execute(cls, images: torch.Tensor, estimator: OpenPoseBodyEstimator,
                confidence_threshold: float) -> io.NodeOutput:
        images = rgb_images(images, "Estimate Body Pose", "images", 2)
        device = torch_device()
        height, width = images.shape[1], images.shape[2]
        frames: list[PoseFrame] = []
        bar = ProgressBar(len(images))
        try:
            estimator.to(device)
            with torch.inference_mode(False), torch.no_grad():
                for image in images:
                    check_interrupted()
                    out = estimator(image.permute(2, 0, 1)[None].clone())
                    frames += keypoints_to_frames(out.keypoints.cpu(), height, width)
                    bar.update(1)
        finally:
            estimator.to(offload_device())
        frames = [threshold_confidence(f, confidence_threshold) for f in frames]
        return io.NodeOutput(to_pose_keypoint(frames), ui=ui.PreviewText(frame_summary(frames)))
