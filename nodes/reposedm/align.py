"""The Recurrent Pose Alignment node (``pose_models.pose_align``)."""

from __future__ import annotations

from typing import Any

import torch
from comfy_api.latest import io

from ...pose_models.pose_align import align_pose
from ..common.categories import REPOSEDM as CATEGORY
from ..common.images import rgb_images
from ..common.pose_input import read_pose_input
from ..common.types import PoseKeypoint
from ..host.memory import require_memory


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
        image = rgb_images(image, "Recurrent Pose Alignment", "image", 2)
        sources = read_pose_input(source_pose, "source_pose")
        targets = read_pose_input(target_pose, "target_pose")
        count = max(len(image), len(targets))
        height, width = image.shape[1:3]
        # output image, coverage, part maps and the warp's working maps: about 40 floats per pixel
        require_memory(count * height * width * 40 * 4, "Recurrent Pose Alignment",
                       f"aligning {count} image(s) of {width}x{height}",
                       "Align fewer poses at once or scale the source image down first.")
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
