"""CFLD nodes: load the release pair, rasterise target poses, encode source + pose into CFLD's conditions,
the three-branch guider for any host sampler, the official 50-step DDPM preset, and output resizing.

Library: ``pose_models.cfld``; host glue: :mod:`.cfld_host`. Typical graph: Load CFLD -> (MODEL,
CFLD model); Load Image + pose -> CFLD Pose -> CFLD Conditions -> CFLD Guider; CFLD Official Schedule
(or any sampler and sigmas) -> SamplerCustomAdvanced on an Empty Latent Image of 512x512 -> VAE Decode
(SD1.5 VAE) -> CFLD Resize Output.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import comfy.model_management
import comfy.samplers
import comfy.utils
import folder_paths
import numpy as np
import torch
from comfy_api.latest import io

from ..pose_models.cfld import (
    DEFAULT_APPEARANCE_SCALE,
    DEFAULT_POSE_SCALE,
    DEFAULT_STEPS,
    FIT_MODES,
    MODELS_FOLDER,
    OUTPUT_SIZES,
    CFLDError,
    Conditions,
    fit_region,
    frame_keypoints,
    pose_input,
    prepare_source,
    resize_output,
    skeleton_image,
)
from ..pose_models.cfld.checkpoint import CONDITIONING_FILE, UNET_FILE, download_hint
from ..pose_models.pose import require_person
from ..pose_models.pose.keypoints import visible
from .cfld_host import CFLDConditioning, CFLDGuider, load_cfld, patched_model
from .model_folders import ensure_model_folder, model_files
from .pose_common import read_pose_input
from .types import PoseKeypoint

LOG = logging.getLogger(__name__)

CATEGORY = "pose transfer/CFLD"
CFLDModelType = io.Custom("PT_CFLD_MODEL")
"""Value: :class:`.cfld_host.CFLDConditioning` (Swin, HGA, pose adapter, decoder, null prompt)."""
CFLDPoseType = io.Custom("PT_CFLD_POSE")
"""Value: :class:`CFLDPoses`, target keypoints in CFLD's 256x176 frame."""
CFLDConditionsType = io.Custom("PT_CFLD_CONDITIONS")
"""Value: :class:`pose_models.cfld.Conditions` on the intermediate device (prompt, residuals, biases)."""

ensure_model_folder(MODELS_FOLDER)


@dataclass(frozen=True)
class CFLDPoses:
    """Target poses: ``keypoints_yx float64 [F, 18, 2]``, (y, x) in the 256x176 frame, -1 = missing."""

    keypoints_yx: np.ndarray


def _release_file_input(name: str, release_name: str, tooltip: str) -> io.Combo.Input:
    """Combo of the files in models/cfld/, preselecting the release file or its safetensors conversion.

    The release name is always listed, so a workflow that names it validates before the download; running
    it without the file raises the error that says where to get it.
    """
    files = model_files(MODELS_FOLDER)
    stem = release_name.removesuffix(".bin")
    default = next((f for f in files if f.rsplit("/", 1)[-1].rsplit(".", 1)[0] == stem), release_name)
    return io.Combo.Input(name, options=sorted({*files, release_name}), default=default, tooltip=tooltip)


class LoadCFLD(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="PT_CFLDLoader",
            display_name="Load CFLD",
            category=CATEGORY,
            description=(
                "Loads the official CFLD DeepFashion release: pytorch_model.bin (conditioning model: Swin-B, "
                "appearance encoder, pose adapter, prompt decoder) and pytorch_model_1.bin (its SD1.5 UNet), "
                "from models/cfld/. The UNet becomes a normal MODEL (host memory management, any sampler); "
                "use your usual SD1.5 VAE to decode. Weights are read without unpickling code; the "
                "safetensors conversions (python -m pose_models.cfld convert) load too."
            ),
            inputs=[
                _release_file_input("conditioning_file", CONDITIONING_FILE,
                                    "pytorch_model.bin of the CFLD release (or its .safetensors conversion) "
                                    "in models/cfld/."),
                _release_file_input("unet_file", UNET_FILE,
                                    "pytorch_model_1.bin of the same release (the SD1.5 UNet CFLD "
                                    "fine-tuned) in models/cfld/."),
            ],
            outputs=[io.Model.Output(display_name="model"), CFLDModelType.Output(display_name="cfld")],
        )

    @classmethod
    def execute(cls, conditioning_file: str, unet_file: str) -> io.NodeOutput:
        paths = []
        for name in (conditioning_file, unet_file):
            path = folder_paths.get_full_path(MODELS_FOLDER, name)
            if path is None:
                raise CFLDError(f"Load CFLD: {name} is not in models/{MODELS_FOLDER}/. {download_hint()}")
            paths.append(path)
        model, cfld = load_cfld(Path(paths[0]), Path(paths[1]))
        return io.NodeOutput(model, cfld)


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
        rows = []
        for i, frame in enumerate(frames):
            person = require_person(frame, person_index, what="CFLD Pose", label=f"frame {i}")
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
        keypoints = cfld_pose.keypoints_yx
        count = _broadcast(source.shape[0], len(keypoints))
        size = cfld.source_size
        images = prepare_source(source, size, source_aspect, pad_value)
        poses = torch.stack([pose_input(k, size) for k in keypoints])
        comfy.model_management.load_models_gpu([cfld.patcher])
        device = cfld.patcher.load_device
        bar = comfy.utils.ProgressBar(count)
        parts: list[Conditions] = []
        with torch.no_grad():
            for i in range(count):
                comfy.model_management.throw_exception_if_processing_interrupted()
                img = images[min(i, images.shape[0] - 1)][None].to(device)
                pose = poses[min(i, poses.shape[0] - 1)][None].to(device)
                parts.append(cfld.network(img, pose).to(comfy.model_management.intermediate_device()))
                bar.update(1)
        conditions = Conditions(
            torch.cat([p.null_prompt() for p in parts] + [p.source_prompt() for p in parts]),
            [torch.cat([p.pose_residuals[i] for p in parts]) for i in range(len(parts[0].pose_residuals))],
            {k: torch.cat([p.appearance_biases[k] for p in parts]) for k in parts[0].appearance_biases})
        preview = ((images + 1) / 2).movedim(1, -1).clamp(0, 1)
        return io.NodeOutput(conditions, preview)


class CFLDGuiderNode(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="PT_CFLDGuider",
            display_name="CFLD Guider",
            category=CATEGORY,
            description=(
                "CFLD's three-branch guidance for SamplerCustomAdvanced with any sampler and sigmas: "
                "uncond (null prompt), pose (null prompt + pose residuals), full (prompt + pose + "
                "appearance), noise = uc + pose_scale (pose - uc) + appearance_scale (full - pose), one "
                "batched UNet call per step like the official code. Needs a 512x512 latent."
            ),
            inputs=[
                io.Model.Input("model", tooltip="The model output of Load CFLD (not modified)."),
                CFLDModelType.Input("cfld", tooltip="The cfld output of Load CFLD."),
                CFLDConditionsType.Input("cfld_conditions", tooltip="From CFLD Conditions."),
                io.Float.Input("pose_scale", default=DEFAULT_POSE_SCALE, min=0.0, max=20.0, step=0.1,
                               tooltip="Weight of the pose branch over the unconditional one "
                                       "(official 2.0)."),
                io.Float.Input("appearance_scale", default=DEFAULT_APPEARANCE_SCALE, min=0.0, max=20.0,
                               step=0.1, tooltip="Weight of the full branch (source appearance and prompt) "
                                                 "over the pose branch (official 2.0)."),
            ],
            outputs=[io.Guider.Output(display_name="guider")],
        )

    @classmethod
    def execute(cls, model: Any, cfld: CFLDConditioning, cfld_conditions: Conditions, pose_scale: float,
                appearance_scale: float) -> io.NodeOutput:
        context = model.model.model_config.unet_config.get("context_dim")
        if context != cfld_conditions.prompt.shape[-1]:
            raise CFLDError(f"CFLD Guider: the model's cross-attention width is {context} but the CFLD "
                            f"prompt is {cfld_conditions.prompt.shape[-1]} wide; connect the model output of "
                            f"the same Load CFLD node that made the conditions.")
        guider = CFLDGuider(patched_model(model, cfld_conditions, cfld.unet_layers_per_block))
        guider.set_cfld(cfld_conditions, pose_scale, appearance_scale, cfld.latent_size)
        return io.NodeOutput(guider)


class CFLDOfficialSchedule(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="PT_CFLDOfficialSchedule",
            display_name="CFLD Official Schedule",
            category=CATEGORY,
            description=(
                "The official CFLD sampling settings as a SAMPLER and SIGMAS for SamplerCustomAdvanced: "
                "DDPM (fixed-small variance) on 50 'leading' timesteps 981, 961, ..., 1 (host: sampler ddpm "
                "+ scheduler ddim_uniform). Only the random noise stream differs from the official script."
            ),
            inputs=[
                io.Model.Input("model", tooltip="The model output of Load CFLD (its noise schedule)."),
                io.Int.Input("steps", default=DEFAULT_STEPS, min=1, max=1000,
                             tooltip="Number of DDPM steps (official: 50)."),
            ],
            outputs=[io.Sampler.Output(display_name="sampler"), io.Sigmas.Output(display_name="sigmas")],
        )

    @classmethod
    def execute(cls, model: Any, steps: int) -> io.NodeOutput:
        sigmas = comfy.samplers.calculate_sigmas(model.get_model_object("model_sampling"), "ddim_uniform",
                                                 steps).cpu()
        return io.NodeOutput(comfy.samplers.sampler_object("ddpm"), sigmas)


class CFLDResizeOutput(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="PT_CFLDResizeOutput",
            display_name="CFLD Resize Output",
            category=CATEGORY,
            description=(
                "Brings CFLD's square 512x512 output back to the DeepFashion aspect the official evaluation "
                "uses (bicubic, antialiased): 256x176 or 512x352, or keeps 512x512."
            ),
            inputs=[
                io.Image.Input("image", tooltip="Decoded CFLD output (512x512)."),
                io.Combo.Input("size", options=list(OUTPUT_SIZES), default="512x352",
                               tooltip="Output size H x W: the square canvas or an official evaluation "
                                       "size."),
            ],
            outputs=[io.Image.Output(display_name="image")],
        )

    @classmethod
    def execute(cls, image: torch.Tensor, size: str) -> io.NodeOutput:
        return io.NodeOutput(resize_output(image, size))


CFLD_NODES: tuple[type[io.ComfyNode], ...] = (
    LoadCFLD, CFLDPose, CFLDConditionsNode, CFLDGuiderNode, CFLDOfficialSchedule, CFLDResizeOutput,
)
