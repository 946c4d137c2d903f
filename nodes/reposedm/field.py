"""Pose interaction field nodes: Load Pose Field and Repair Pose (``pose_models.pose_field``)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import torch
from comfy_api.latest import io, ui

from ...pose_models.errors import PoseTransferError
from ...pose_models.pose import to_pose_keypoint
from ...pose_models.pose_field import (
    FIELD_MODELS_FOLDER,
    KinematicPriorField,
    PoseField,
    load_learned_field,
    project,
)
from ..common.categories import REPOSEDM as CATEGORY
from ..common.pose_input import read_pose_input
from ..common.types import PoseKeypoint
from ..host.autograd import normal_module
from ..host.models import accept_file_name, ensure_model_folder, model_files, model_path
from .types import PoseFieldType

ANALYTIC_FIELD = "analytic (kinematic prior, no file)"
NODE = "Load Pose Field"
ensure_model_folder(FIELD_MODELS_FOLDER, {".safetensors", ".sft"})


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
                "python cli.py pose-field train, in the pack folder) go in models/pose_fields/."
            ),
            inputs=[
                io.Combo.Input("field_name", options=[ANALYTIC_FIELD, *model_files(FIELD_MODELS_FOLDER)],
                               default=ANALYTIC_FIELD,
                               tooltip="analytic, or a learned field file from models/pose_fields/."),
            ],
            outputs=[PoseFieldType.Output(display_name="field")],
        )

    @classmethod
    def validate_inputs(cls, field_name: str) -> bool | str:
        return accept_file_name(field_name)

    @classmethod
    def execute(cls, field_name: str) -> io.NodeOutput:
        if field_name == ANALYTIC_FIELD:
            return io.NodeOutput(normal_module(KinematicPriorField))
        path = model_path(FIELD_MODELS_FOLDER, field_name, NODE)
        try:
            field = normal_module(lambda: load_learned_field(path))
        except (ValueError, KeyError, OSError) as exc:
            raise PoseTransferError(
                f"{NODE}: {path} is not a usable pose field file ({exc}). Pick another file in "
                f"models/{FIELD_MODELS_FOLDER}/, retrain it with 'python cli.py pose-field train', "
                "or use the analytic field."
            ) from None
        field.requires_grad_(False)
        return io.NodeOutput(field)


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
