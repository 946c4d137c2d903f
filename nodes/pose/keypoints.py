"""Pose keypoint nodes: normalise POSE_KEYPOINT, render, retarget, interpolate (file nodes: ``.files``).

Every node reads ``POSE_KEYPOINT`` from any producer (controlnet_aux OpenPose/DWPose, core SDPose, our own
nodes) and writes the SDPose-like pixel form. A ``POSE_KEYPOINT`` value is a batch: one frame dict per
image. Bad pose data raises ``PoseFormatError`` (a ``ValueError``) whose message names the input, frame,
person and the fix; it is raised before any other work.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import torch
from comfy_api.latest import io, ui

from ...pose_models.pose import (
    PoseFormatError,
    PoseFrame,
    PoseMaps,
    body_mask,
    fit_to_canvas,
    interpolate_poses,
    mirror_frame,
    render_openpose,
    retarget_frame,
    scale_to_canvas,
    threshold_confidence,
    to_pose_keypoint,
)
from ..common.categories import POSE as CATEGORY
from ..common.errors import node_errors
from ..common.pose_input import COORDINATE_MODES, frame_summary, read_pose_input
from ..common.types import LimbMasks, PoseHeatmaps, PoseKeypoint
from ..host.memory import require_memory
from ..host.progress import ProgressBar

LOG = logging.getLogger(__name__)

NODE_RENDER = "Render Pose"
PREVIEW_FRAMES = 16
"""Render Pose previews at most this many frames on the node (every frame is still in the output)."""


class NormalizePoseKeypoint(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="PT_NormalizePoseKeypoint",
            display_name="Normalize Pose Keypoints",
            category=CATEGORY,
            description=(
                "Reads POSE_KEYPOINT from any producer (controlnet_aux OpenPose with 0-1 coordinates, "
                "DWPose, core SDPose with feet, OpenPose JSON) and writes the pixel form with real "
                "confidences. Optionally drops weak points, binarises confidences for controlnet_aux "
                "render nodes, mirrors left/right, or moves the poses onto another canvas size."
            ),
            inputs=[
                PoseKeypoint.Input("pose", tooltip="Poses from any POSE_KEYPOINT producer."),
                io.Combo.Input("coordinates", options=COORDINATE_MODES, default="auto",
                               tooltip="How to read the input: auto detects normalised (0-1) vs pixel "
                                       "per frame."),
                io.Float.Input("confidence_threshold", default=0.0, min=0.0, max=1.0, step=0.01,
                               tooltip="Points with a lower confidence become missing."),
                io.Boolean.Input("binarize_confidence", default=False,
                                 tooltip="Set every remaining confidence to 1.0 (controlnet_aux render "
                                         "nodes drop points with confidence < 1)."),
                io.Boolean.Input("mirror", default=False,
                                 tooltip="Flip horizontally and swap left/right joints."),
                io.Int.Input("canvas_width", default=0, min=0, max=16384,
                             tooltip="Move the poses onto a canvas of this width (0 = keep)."),
                io.Int.Input("canvas_height", default=0, min=0, max=16384,
                             tooltip="Move the poses onto a canvas of this height (0 = keep)."),
                io.Combo.Input("canvas_fit", options=["contain", "cover", "stretch"], default="contain",
                               tooltip="contain: scale to fit, centred (like letterboxing); cover: scale "
                                       "to fill, centred (like a centre crop); stretch: x and y "
                                       "independently."),
            ],
            outputs=[PoseKeypoint.Output(display_name="pose")],
        )

    @classmethod
    def execute(cls, pose: Any, coordinates: str, confidence_threshold: float, binarize_confidence: bool,
                mirror: bool, canvas_width: int, canvas_height: int, canvas_fit: str) -> io.NodeOutput:
        if (canvas_width == 0) != (canvas_height == 0):
            raise PoseFormatError(
                "Normalize Pose Keypoints: set both canvas_width and canvas_height, or neither (0).")
        frames = read_pose_input(pose, "pose", coordinates)
        out = []
        for frame in frames:
            frame = threshold_confidence(frame, confidence_threshold, binarize=binarize_confidence)
            if mirror:
                frame = mirror_frame(frame)
            if canvas_width:
                frame = (scale_to_canvas(frame, canvas_width, canvas_height) if canvas_fit == "stretch"
                         else fit_to_canvas(frame, canvas_width, canvas_height, canvas_fit))
            out.append(frame)
        return io.NodeOutput(to_pose_keypoint(out, binarize=binarize_confidence),
                             ui=ui.PreviewText(frame_summary(out)))


def common_size(frames: Sequence[PoseFrame], width: int, height: int) -> tuple[int, int]:
    """Output ``(width, height)``: the given size, or the frames' shared canvas when both are 0."""
    if width and height:
        return width, height
    if width or height:
        raise PoseFormatError("Render Pose: set both width and height, or neither (0 = the pose canvas).")
    sizes = {(f.canvas_width, f.canvas_height) for f in frames}
    if len(sizes) > 1:
        raise PoseFormatError(
            f"Render Pose: the frames have different canvas sizes {sorted(sizes)}; an image batch needs one "
            "size. Set width and height on the node, or bring the poses to one canvas with Normalize Pose "
            "Keypoints.")
    return sizes.pop()


class RenderPose(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="PT_RenderPose",
            display_name="Render Pose",
            category=CATEGORY,
            description=(
                "Draws poses as the OpenPose skeleton image that OpenPose ControlNets expect (controlnet_aux "
                "colours and widths, optional hands and face), plus 18-channel Gaussian joint heatmaps, "
                "per-limb masks and a body mask. One image per frame."
            ),
            inputs=[
                PoseKeypoint.Input("pose", tooltip="Poses from any POSE_KEYPOINT producer."),
                io.Int.Input("width", default=0, min=0, max=16384, step=8,
                             tooltip="Output width in px; 0 = the pose canvas width. Coordinates are "
                                     "scaled from the canvas."),
                io.Int.Input("height", default=0, min=0, max=16384, step=8,
                             tooltip="Output height in px; 0 = the pose canvas height."),
                io.Boolean.Input("draw_body", default=True, tooltip="Draw the 18-joint body skeleton."),
                io.Boolean.Input("draw_hands", default=False, tooltip="Draw hand keypoints when present."),
                io.Boolean.Input("draw_face", default=False, tooltip="Draw face keypoints when present."),
                io.Combo.Input("stick_width", options=["standard", "xinsir"], default="standard",
                               tooltip="standard: 4 px limbs like controlnet_aux; xinsir: thicker limbs on "
                                       "large images, as the xinsir OpenPose ControlNets were trained."),
                io.Float.Input("heatmap_sigma", default=6.0, min=0.5, max=64.0, step=0.5,
                               tooltip="Standard deviation in output px of each joint's Gaussian heatmap."),
                io.Float.Input("limb_width", default=16.0, min=1.0, max=256.0, step=1.0,
                               tooltip="Width in output px of each limb mask."),
            ],
            outputs=[
                io.Image.Output(display_name="skeleton"),
                PoseHeatmaps.Output(display_name="heatmaps"),
                LimbMasks.Output(display_name="limb_masks"),
                io.Mask.Output(display_name="body_mask"),
            ],
            is_output_node=True,
        )

    @classmethod
    def execute(cls, pose: Any, width: int, height: int, draw_body: bool, draw_hands: bool, draw_face: bool,
                stick_width: str, heatmap_sigma: float, limb_width: float) -> io.NodeOutput:
        frames = read_pose_input(pose, "pose")
        w, h = common_size(frames, width, height)
        with node_errors(NODE_RENDER):
            heatmaps = PoseMaps("heatmaps", tuple(frames), h, w, heatmap_sigma)
            limbs = PoseMaps("limb_masks", tuple(frames), h, w, limb_width)
        # the skeleton batch and the body mask (float32), plus one frame being drawn (uint8 + float32)
        require_memory(len(frames) * h * w * 4 * 4 + h * w * 3 * 5, NODE_RENDER,
                       f"{len(frames)} frame(s) at {w}x{h}",
                       "Render fewer frames at once (Load Pose File: first_frame / max_frames) or at a "
                       "smaller width and height.")
        skeleton = torch.empty((len(frames), h, w, 3), dtype=torch.float32)
        mask = torch.empty((len(frames), h, w), dtype=torch.float32)
        progress = ProgressBar(len(frames))
        for i, frame in enumerate(frames):
            drawn = render_openpose(frame, h, w, draw_body=draw_body, draw_hands=draw_hands,
                                    draw_face=draw_face, xinsir_stick_scaling=stick_width == "xinsir")
            skeleton[i] = torch.from_numpy(drawn).float().div_(255.0)
            mask[i] = torch.from_numpy(body_mask(frame, limb_width, h, w))
            progress.update(1)  # also the host's interruption point
        preview = ui.PreviewImage(skeleton[:PREVIEW_FRAMES], cls=cls)
        return io.NodeOutput(skeleton, heatmaps, limbs, mask, ui=preview)


class RetargetPose(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="PT_RetargetPose",
            display_name="Retarget Pose",
            category=CATEGORY,
            description=(
                "Moves target poses onto the source person's body proportions: every bone keeps the "
                "source's length and the target's direction, anchored at the target neck. Use it before "
                "rendering so a tall source is not squeezed into a short target skeleton."
            ),
            inputs=[
                PoseKeypoint.Input("target_pose", tooltip="The poses to reach (one frame per output image)."),
                PoseKeypoint.Input("source_pose",
                                   tooltip="The pose of the source photo; its proportions are kept."),
                io.Int.Input("source_frame", default=0, min=0, max=1_000_000,
                             tooltip="Which frame of source_pose holds the source person."),
                io.Combo.Input("scale", options=["source", "target", "fit"], default="source",
                               tooltip="source: the person keeps the fraction of the frame height they had "
                                       "in the source; target: keeps the target's overall size; fit: as "
                                       "source, shrunk if needed to stay inside the canvas."),
                io.Float.Input("margin", default=0.0, min=0.0, max=0.45, step=0.01,
                               tooltip="For fit: free border on each side, as a fraction of the canvas."),
            ],
            outputs=[PoseKeypoint.Output(display_name="pose")],
        )

    @classmethod
    def execute(cls, target_pose: Any, source_pose: Any, source_frame: int, scale: str,
                margin: float) -> io.NodeOutput:
        targets = read_pose_input(target_pose, "target_pose")
        sources = read_pose_input(source_pose, "source_pose")
        if source_frame >= len(sources):
            raise PoseFormatError(
                f"Retarget Pose: source_frame {source_frame} does not exist; source_pose has {len(sources)} "
                "frames.")
        source = sources[source_frame]
        out = [retarget_frame(source, t, scale=scale, margin=margin) for t in targets]
        return io.NodeOutput(to_pose_keypoint(out))


class InterpolatePoses(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="PT_InterpolatePoses",
            display_name="Interpolate Poses",
            category=CATEGORY,
            description=(
                "Makes a batch of in-between poses from pose_a to pose_b (both ends included), for smooth "
                "re-posing sequences. People are matched by index. If the canvases differ, pose_b is "
                "first fitted onto pose_a's canvas (scaled to fit, centred)."
            ),
            inputs=[
                PoseKeypoint.Input("pose_a", tooltip="Start pose (its last frame is used)."),
                PoseKeypoint.Input("pose_b", tooltip="End pose (its first frame is used)."),
                io.Int.Input("frames", default=8, min=2, max=4096,
                             tooltip="Number of output frames, both ends included."),
                io.Combo.Input("mode", options=["linear", "angle"], default="angle",
                               tooltip="linear: joints move on straight lines; angle: limbs rotate about "
                                       "their joints with interpolated lengths (no shrinking mid-way)."),
            ],
            outputs=[PoseKeypoint.Output(display_name="pose")],
        )

    @classmethod
    def execute(cls, pose_a: Any, pose_b: Any, frames: int, mode: str) -> io.NodeOutput:
        a = read_pose_input(pose_a, "pose_a")[-1]
        b = read_pose_input(pose_b, "pose_b")[0]
        if (a.canvas_width, a.canvas_height) != (b.canvas_width, b.canvas_height):
            LOG.info("Interpolate Poses: fitting pose_b (%dx%d) onto pose_a's canvas (%dx%d)",
                     b.canvas_width, b.canvas_height, a.canvas_width, a.canvas_height)
            b = fit_to_canvas(b, a.canvas_width, a.canvas_height, "contain")
        return io.NodeOutput(to_pose_keypoint(interpolate_poses(a, b, frames, mode=mode)))


KEYPOINT_NODES: tuple[type[io.ComfyNode], ...] = (
    NormalizePoseKeypoint,
    RenderPose,
    RetargetPose,
    InterpolatePoses,
)
