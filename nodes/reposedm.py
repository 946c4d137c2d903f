"""RePoseDM nodes: OpenPose body estimator, pose interaction fields, recurrent pose alignment, and gradient
pose guidance during sampling (``pose_models.openpose_body``, ``pose_field``, ``pose_align``,
``pose_guidance``; host glue in :mod:`.guidance`)."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

import comfy.model_management
import comfy.utils
import folder_paths
import torch
from comfy_api.latest import io, ui

from ..pose_models.openpose_body import (
    DEFAULT_BOX_SIZE,
    DOWNLOAD_HINT,
    OpenPoseBodyEstimator,
    find_body_model,
    frames_to_keypoints,
    keypoints_to_frames,
    load_body_model,
)
from ..pose_models.pose import PoseFormatError, PoseFrame, threshold_confidence, to_pose_keypoint
from ..pose_models.pose_align import align_pose
from ..pose_models.pose_field import (
    FIELD_MODELS_FOLDER,
    KinematicPriorField,
    PoseField,
    load_learned_field,
    project,
)
from ..pose_models.pose_guidance import EnergyWeights, PoseEnergy
from .guidance import (
    GuidanceSettings,
    check_before_sampling,
    enable_unet_gradients,
    gradient_decoder,
    guidance_post_cfg,
    module_patcher,
    schedule_inputs,
    strength_input,
)
from .model_folders import ensure_model_folder, model_files
from .pose_common import frame_summary, read_pose_input
from .types import PoseKeypoint

LOG = logging.getLogger(__name__)

CATEGORY = "pose transfer/RePoseDM"
ESTIMATOR_FOLDER = "openpose"
AUTO_ESTIMATOR = "[auto] search models/ and comfyui_controlnet_aux"
ANALYTIC_FIELD = "analytic (kinematic prior, no file)"
WRAPPER_KEY = "pose_transfer.pose_guidance"
CANVAS_ASPECT_TOLERANCE = 0.02
"""Largest relative difference between the target pose canvas aspect and the latent's aspect."""

PoseEstimator = io.Custom("PT_POSE_ESTIMATOR")
"""Value: :class:`pose_models.openpose_body.OpenPoseBodyEstimator` with normal (non-inference) weights."""
PoseFieldType = io.Custom("PT_POSE_FIELD")
"""Value: a :class:`pose_models.pose_field.PoseField` (analytic or learned) with normal weights."""

ensure_model_folder(ESTIMATOR_FOLDER)
ensure_model_folder(FIELD_MODELS_FOLDER, {".safetensors", ".sft"})


def _estimator_search_roots() -> list[str]:
    roots = [*folder_paths.get_folder_paths(ESTIMATOR_FOLDER), folder_paths.models_dir]
    for custom in folder_paths.get_folder_paths("custom_nodes"):
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
    def execute(cls, model_name: str, box_size: int, softargmax_beta: float) -> io.NodeOutput:
        if model_name == AUTO_ESTIMATOR:
            path = find_body_model(_estimator_search_roots())
            if path is None:
                raise FileNotFoundError(
                    "Load OpenPose Body Estimator: body_pose_model.pth was not found in "
                    f"{', '.join(folder_paths.get_folder_paths(ESTIMATOR_FOLDER))} nor in "
                    f"comfyui_controlnet_aux's ckpts folder. {DOWNLOAD_HINT}"
                )
        else:
            path = folder_paths.get_full_path(ESTIMATOR_FOLDER, model_name)
            if path is None:
                raise FileNotFoundError(f"Load OpenPose Body Estimator: {model_name} is not in "
                                        f"models/{ESTIMATOR_FOLDER}/ any more. {DOWNLOAD_HINT}")
        with torch.inference_mode(False):
            net = load_body_model(path)
            estimator = OpenPoseBodyEstimator(net, box_size=box_size, beta=softargmax_beta)
        return io.NodeOutput(estimator)


class LoadPoseField(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="PT_LoadPoseField",
            display_name="Load Pose Field",
            category=CATEGORY,
            description=(
                "A pose interaction field: the distance of a body pose from the valid-pose manifold. "
                "'analytic' is a hand-written kinematic prior (bone ratios, joint limits, left/right order, "
                "limb crossings) that needs no file; learned fields (.safetensors trained with "
                "python -m pose_models.pose_field train) go in models/pose_fields/."
            ),
            inputs=[
                io.Combo.Input("field_name", options=[ANALYTIC_FIELD, *model_files(FIELD_MODELS_FOLDER)],
                               default=ANALYTIC_FIELD,
                               tooltip="analytic, or a learned field file from models/pose_fields/."),
            ],
            outputs=[PoseFieldType.Output(display_name="field")],
        )

    @classmethod
    def execute(cls, field_name: str) -> io.NodeOutput:
        if field_name == ANALYTIC_FIELD:
            with torch.inference_mode(False):
                return io.NodeOutput(KinematicPriorField())
        path = folder_paths.get_full_path(FIELD_MODELS_FOLDER, field_name)
        if path is None:
            raise FileNotFoundError(f"Load Pose Field: {field_name} is not in models/{FIELD_MODELS_FOLDER}/.")
        try:
            with torch.inference_mode(False):
                field = load_learned_field(path)
        except (ValueError, KeyError, OSError) as exc:
            raise ValueError(
                f"Load Pose Field: {path} is not a usable pose field file ({exc}). Pick another file in "
                f"models/{FIELD_MODELS_FOLDER}/, retrain it with 'python -m pose_models.pose_field train', "
                "or use the analytic field."
            ) from None
        field.requires_grad_(False)
        return io.NodeOutput(field)


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
        device = comfy.model_management.get_torch_device()
        height, width = images.shape[1], images.shape[2]
        frames: list[PoseFrame] = []
        bar = comfy.utils.ProgressBar(len(images))
        try:
            estimator.to(device)
            with torch.inference_mode(False), torch.no_grad():
                for image in images:
                    comfy.model_management.throw_exception_if_processing_interrupted()
                    out = estimator(image.permute(2, 0, 1)[None].clone())
                    frames += keypoints_to_frames(out.keypoints.cpu(), height, width)
                    bar.update(1)
        finally:
            estimator.to(comfy.model_management.unet_offload_device())
        frames = [threshold_confidence(f, confidence_threshold) for f in frames]
        return io.NodeOutput(to_pose_keypoint(frames), ui=ui.PreviewText(frame_summary(frames)))


class RepairPose(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="PT_RepairPose",
            display_name="Repair Pose (Pose Field)",
            category=CATEGORY,
            description=(
                "Moves each body toward the valid-pose manifold by adaptive gradient descent on a pose field "
                "(NRDF-style projection): fixes impossible bone ratios, bent-backward knees and crossed "
                "limbs in a target skeleton before it is rendered or used for guidance. A pose is never "
                "made worse; missing joints stay missing."
            ),
            inputs=[
                PoseKeypoint.Input("pose", tooltip="Poses to repair (any POSE_KEYPOINT producer)."),
                PoseFieldType.Input("field", tooltip="From Load Pose Field."),
                io.Int.Input("steps", default=20, min=1, max=500,
                             tooltip="Most descent steps per body (stops early once valid)."),
                io.Float.Input("max_step", default=0.1, min=0.001, max=1.0, step=0.001,
                               tooltip="Largest joint move per step, as a fraction of the body size."),
            ],
            outputs=[PoseKeypoint.Output(display_name="pose")],
            is_output_node=True,
        )

    @classmethod
    def execute(cls, pose: Any, field: PoseField, steps: int, max_step: float) -> io.NodeOutput:
        frames = read_pose_input(pose, "pose")
        repaired, lines = [], []
        with torch.inference_mode(False):
            for i, frame in enumerate(frames):
                people = []
                for j, person in enumerate(frame.people):
                    body = torch.tensor(person.body, dtype=torch.float32)[None]
                    fixed = project(body, field, steps=steps, max_step=max_step)
                    with torch.no_grad():
                        before, after = float(field(body)[0]), float(field(fixed)[0])
                    lines.append(f"frame {i} person {j}: distance {before:.4f} -> {after:.4f}")
                    people.append(replace(person, body=fixed[0].numpy()))
                repaired.append(replace(frame, people=tuple(people)))
        return io.NodeOutput(to_pose_keypoint(repaired), ui=ui.PreviewText("\n".join(lines) or "no people"))


class AlignPose(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="PT_AlignPose",
            display_name="Recurrent Pose Alignment",
            category=CATEGORY,
            description=(
                "Warps the source person onto the target pose part by part (torso, head, upper/lower arms, "
                "thighs, shins), stepping through intermediate poses. Outputs the warped image, a coverage "
                "mask (where source texture landed) and a colour-coded part map: use them as img2img init "
                "with an OpenPose ControlNet, as an HPFA source, or as an inpainting source."
            ),
            inputs=[
                io.Image.Input("image", tooltip="Source photo(s): one, or one per target pose."),
                PoseKeypoint.Input("source_pose", tooltip="The source person's pose (e.g. from Estimate Body "
                                                          "Pose or an OpenPose/DWPose detector)."),
                PoseKeypoint.Input("target_pose", tooltip="Target pose(s); one output image per target."),
                io.Int.Input("steps", default=4, min=1, max=64,
                             tooltip="Intermediate poses from source to target (1 = direct warp)."),
                io.Float.Input("background", default=0.5, min=0.0, max=1.0, step=0.01,
                               tooltip="Grey level where no part landed."),
                io.Int.Input("person", default=0, min=0, max=63, tooltip="Which person of each pose to use."),
                io.Mask.Input("person_mask", optional=True,
                              tooltip="Optional source person mask (e.g. a parser's person group): parts "
                                      "are cut from it instead of from keypoint shapes alone."),
            ],
            outputs=[io.Image.Output(display_name="image"), io.Mask.Output(display_name="coverage"),
                     io.Image.Output(display_name="parts")],
        )

    @classmethod
    def execute(cls, image: torch.Tensor, source_pose: Any, target_pose: Any, steps: int, background: float,
                person: int, person_mask: torch.Tensor | None = None) -> io.NodeOutput:
        sources = read_pose_input(source_pose, "source_pose")
        targets = read_pose_input(target_pose, "target_pose")
        parsing = None if person_mask is None else {"person": person_mask}
        result = align_pose(image, sources if len(sources) > 1 else sources[0], targets, steps=steps,
                            parsing=parsing, person=person, background=background)
        return io.NodeOutput(result.image, result.coverage, _part_preview(result.part_masks))


PART_COLOURS = torch.tensor([  # one RGB row per pose_align.PART_NAMES entry, same order
    [0.90, 0.60, 0.10], [0.20, 0.50, 0.90], [0.10, 0.70, 0.90], [0.30, 0.80, 0.30], [0.10, 0.60, 0.20],
    [0.80, 0.20, 0.60], [0.60, 0.10, 0.50], [0.90, 0.30, 0.30], [0.70, 0.20, 0.20], [0.95, 0.85, 0.30],
])


def _part_preview(part_masks: torch.Tensor) -> torch.Tensor:
    """``[B, P, H, W]`` masks -> ``[B, H, W, 3]`` colour-coded parts (one colour per part name)."""
    colours = PART_COLOURS.to(part_masks)
    return torch.einsum("bphw,pc->bhwc", part_masks, colours).clamp(0.0, 1.0)


class PoseGuidance(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="PT_PoseGuidance",
            display_name="Pose Guidance (RePoseDM)",
            category=CATEGORY,
            description=(
                "Patches the MODEL so that, inside a window of sampling steps, the predicted image is "
                "decoded, its body pose estimated, and the image pushed toward the target pose and toward "
                "valid human poses (FreeDoM-style gradient guidance). Works with any sampler; the input "
                "MODEL is not changed."
            ),
            inputs=[
                io.Model.Input("model", tooltip="SD1.5 or SDXL model (LoRAs and other patches are kept)."),
                io.Vae.Input("vae", tooltip="The checkpoint's VAE: decodes the predicted image for the "
                                            "estimator."),
                PoseKeypoint.Input("target_pose", tooltip="One pose for the whole batch, or one per latent."),
                PoseEstimator.Input("estimator", tooltip="From Load OpenPose Body Estimator."),
                strength_input(0.08, " (0.08 in FreeDoM's pose setting)"),
                io.Float.Input("heatmap_weight", default=1.0, min=0.0, max=100.0, step=0.1,
                               tooltip="Weight of the heatmap error against the target skeleton."),
                io.Float.Input("field_weight", default=0.5, min=0.0, max=100.0, step=0.1,
                               tooltip="Weight of the pose field distance (needs a field input)."),
                io.Float.Input("keypoint_weight", default=0.0, min=0.0, max=100.0, step=0.1,
                               tooltip="Weight of the keypoint distance to the target joints."),
                *schedule_inputs(0.2, 0.7),
                io.Int.Input("person", default=0, min=0, max=63,
                             tooltip="Which person of the target pose to follow."),
                PoseFieldType.Input("field", optional=True, tooltip="From Load Pose Field; needed when "
                                                                    "field_weight > 0."),
            ],
            outputs=[io.Model.Output(display_name="model")],
        )

    @classmethod
    def execute(cls, model: Any, vae: Any, target_pose: Any, estimator: OpenPoseBodyEstimator,
                strength: float, heatmap_weight: float, field_weight: float, keypoint_weight: float,
                start_percent: float, end_percent: float, every_n_steps: int, mode: str,
                decode_downscale: str, person: int, field: PoseField | None = None) -> io.NodeOutput:
        node = "Pose Guidance"
        frames = read_pose_input(target_pose, "target_pose")
        _check_people(frames, person)
        if field_weight > 0 and field is None:
            raise ValueError(f"{node}: field_weight is {field_weight} but no field is connected. Connect "
                             "Load Pose Field to the field input, or set field_weight to 0.")
        weights = EnergyWeights(heatmap=heatmap_weight, field=field_weight if field is not None else 0.0,
                                keypoint=keypoint_weight)
        settings = GuidanceSettings.from_inputs(strength, start_percent, end_percent, every_n_steps, mode,
                                                decode_downscale)
        decoder = gradient_decoder(vae, node)
        with torch.inference_mode(False):
            energy_module = PoseEnergy(estimator, weights, field)
        energy_patcher = module_patcher(energy_module)
        targets = _TargetCache(frames, person)

        def energy(images: torch.Tensor) -> torch.Tensor:
            target = targets.keypoints(len(images), images.shape[2], images.shape[3])
            return energy_module(images, target).total

        patched = model.clone()
        if mode == "xt":
            enable_unet_gradients(patched)
        patched.set_model_sampler_post_cfg_function(
            guidance_post_cfg(settings, decoder, energy, node, [energy_patcher]))
        patched.set_additional_models(WRAPPER_KEY, [decoder, energy_patcher])
        check_before_sampling(patched, WRAPPER_KEY, _latent_check(frames, node))
        return io.NodeOutput(patched)


def _check_people(frames: Sequence[PoseFrame], person: int) -> None:
    for i, frame in enumerate(frames):
        if len(frame.people) <= person:
            found = "no people" if not frame.people else f"only {len(frame.people)} people"
            raise PoseFormatError(
                f"Pose Guidance: target_pose frame {i} has {found}, so person {person} cannot be followed. "
                "Connect a pose with a person in every frame (check the detector output or Load Pose File), "
                "or lower the person index."
            )


class _TargetCache:
    """Target keypoints ``[B, 18, 3]`` in pixels of ``H x W`` decoded images, built once per size."""

    def __init__(self, frames: Sequence[PoseFrame], person: int) -> None:
        self.frames = list(frames)
        self.person = person
        self.cache: dict[tuple[int, int], torch.Tensor] = {}

    def keypoints(self, batch: int, height: int, width: int) -> torch.Tensor:
        if (height, width) not in self.cache:
            self.cache[height, width] = frames_to_keypoints(self.frames, height, width, self.person)
        rows = self.cache[height, width]
        if len(rows) == 1:
            return rows.expand(batch, -1, -1)
        if len(rows) != batch:
            raise ValueError(f"Pose Guidance: {len(rows)} target poses for a batch of {batch} latents; give "
                             "one pose, or one per latent.")
        return rows


def _latent_check(frames: Sequence[PoseFrame], node: str) -> Callable[[torch.Size], None]:
    """Refuses a pose batch or canvas that does not fit the latent ``[B, C, h, w]``."""
    def check(shape: torch.Size) -> None:
        batch, height, width = shape[0], shape[-2], shape[-1]
        if len(frames) not in (1, batch):
            raise ValueError(f"{node}: target_pose has {len(frames)} frames but the latent batch is {batch}. "
                             "Give one pose for all latents or exactly one per latent.")
        for i, frame in enumerate(frames):
            pose_aspect = frame.canvas_width / frame.canvas_height
            latent_aspect = width / height
            if abs(pose_aspect / latent_aspect - 1.0) > CANVAS_ASPECT_TOLERANCE:
                raise ValueError(
                    f"{node}: target_pose frame {i} is drawn on a {frame.canvas_width}x{frame.canvas_height} "
                    f"canvas but the latent is {width * 8}x{height * 8} pixels (aspect {pose_aspect:.3f} vs "
                    f"{latent_aspect:.3f}). Move the pose onto the image size with Normalize Pose Keypoints "
                    "(canvas_width/height) or use an Empty Latent Image of the pose's aspect."
                )

    return check


REPOSEDM_NODES: tuple[type[io.ComfyNode], ...] = (
    LoadPoseEstimator, LoadPoseField, EstimatePose, RepairPose, AlignPose, PoseGuidance,
)
