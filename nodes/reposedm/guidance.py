"""The Pose Guidance node: gradient pose guidance during sampling (RePoseDM, ``docs/methods.md``,
"RePoseDM"); energies in ``pose_models.pose_guidance``, host plumbing in ``nodes.host.sampling``."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
from comfy_api.latest import io

from ...pose_models.errors import PoseTransferError
from ...pose_models.openpose_body import OpenPoseBodyEstimator, frames_to_keypoints
from ...pose_models.pose import PoseFormatError, PoseFrame, require_person
from ...pose_models.pose_field import PoseField
from ...pose_models.pose_guidance import EnergyWeights, PoseEnergy
from ..common.categories import REPOSEDM as CATEGORY
from ..common.guidance_inputs import guidance_settings, schedule_inputs, strength_input
from ..common.pose_input import read_pose_input
from ..common.types import PoseKeypoint
from ..host.autograd import enable_unet_gradients, gradient_decoder, normal_module
from ..host.models import module_patcher
from ..host.sampling import add_gradient_guidance, add_models, check_before_sampling, wrapper_key
from .types import PoseEstimator, PoseFieldType

WRAPPER_KEY = wrapper_key("pose_guidance")
CANVAS_ASPECT_TOLERANCE = 0.02
"""Largest relative difference between the target pose canvas aspect and the latent's aspect."""


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
            raise PoseTransferError(f"{node}: field_weight is {field_weight} but no field is connected. "
                                    "Connect Load Pose Field to the field input, or set field_weight to 0.")
        weights = EnergyWeights(heatmap=heatmap_weight, field=field_weight if field is not None else 0.0,
                                keypoint=keypoint_weight)
        settings = guidance_settings(strength, start_percent, end_percent, every_n_steps, mode,
                                     decode_downscale)
        decoder = gradient_decoder(vae, node)
        energy_module = normal_module(lambda: PoseEnergy(estimator, weights, field))
        energy_patcher = module_patcher(energy_module)
        targets = _TargetCache(frames, person)

        def energy(images: torch.Tensor) -> torch.Tensor:
            target = targets.keypoints(len(images), images.shape[2], images.shape[3])
            return energy_module(images, target).total

        patched = model.clone()
        if mode == "xt":
            enable_unet_gradients(patched)
        add_gradient_guidance(patched, settings, decoder, energy, node, [energy_patcher])
        add_models(patched, WRAPPER_KEY, [decoder, energy_patcher])
        check_before_sampling(patched, WRAPPER_KEY, _latent_check(frames, node))
        return io.NodeOutput(patched)


def _check_people(frames: Sequence[PoseFrame], person: int) -> None:
    for i, frame in enumerate(frames):
        if len(frame.people) > person:
            require_person(frame, person, what="Pose Guidance (it has nothing to follow)",
                           label=f"Pose Guidance: target_pose frame {i}", min_joints=2)
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
            raise PoseTransferError(f"Pose Guidance: {len(rows)} target poses for a batch of {batch} "
                                    "latents; give one pose, or one per latent.")
        return rows


def _latent_check(frames: Sequence[PoseFrame], node: str) -> Callable[[torch.Size], None]:
    """Refuses a pose batch or canvas that does not fit the latent ``[B, C, h, w]``."""
    def check(shape: torch.Size) -> None:
        batch, height, width = shape[0], shape[-2], shape[-1]
        if len(frames) not in (1, batch):
            raise PoseTransferError(f"{node}: target_pose has {len(frames)} frames but the latent batch is "
                                    f"{batch}. Give one pose for all latents or exactly one per latent.")
        for i, frame in enumerate(frames):
            pose_aspect = frame.canvas_width / frame.canvas_height
            latent_aspect = width / height
            if abs(pose_aspect / latent_aspect - 1.0) > CANVAS_ASPECT_TOLERANCE:
                raise PoseTransferError(
                    f"{node}: target_pose frame {i} is drawn on a {frame.canvas_width}x{frame.canvas_height} "
                    f"canvas but the latent is {width * 8}x{height * 8} pixels (aspect {pose_aspect:.3f} vs "
                    f"{latent_aspect:.3f}). Move the pose onto the image size with Normalize Pose Keypoints "
                    "(canvas_width/height) or use an Empty Latent Image of the pose's aspect."
                )

    return check
