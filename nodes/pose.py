"""Pose keypoint nodes: load/save pose files, normalise POSE_KEYPOINT, render, retarget, interpolate.

Every node reads ``POSE_KEYPOINT`` from any producer (controlnet_aux OpenPose/DWPose, core SDPose, our own
nodes) and writes the SDPose-like pixel form. A ``POSE_KEYPOINT`` value is a batch: one frame dict per
image. Bad pose data raises ``PoseFormatError`` (a ``ValueError``) whose message names the input, frame,
person and the fix; it is raised before any other work.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import folder_paths
from comfy_api.latest import io, ui

from ..pose_models.pose.deepfashion import DEEPFASHION_HEIGHT, DEEPFASHION_WIDTH
from ..pose_models.pose import (
    NamedFrame,
    PoseFormatError,
    PoseFrame,
    fit_to_canvas,
    from_pose_keypoint,
    interpolate_poses,
    limb_masks,
    load_poses,
    mirror_frame,
    render_heatmaps,
    render_openpose,
    retarget_frame,
    save_poses,
    scale_to_canvas,
    threshold_confidence,
    to_pose_keypoint,
)
from .types import LimbMasks, PoseHeatmaps, PoseKeypoint, images_to_tensor, maps_to_tensor

LOG = logging.getLogger(__name__)

CATEGORY = "pose transfer/pose"
DEEPFASHION_CANVAS = (DEEPFASHION_WIDTH, DEEPFASHION_HEIGHT)
POSE_FILE_SUFFIXES = (".json", ".csv")
EXAMPLE_POSES_DIR = Path(__file__).resolve().parents[1] / "workflows" / "poses"
"""Example poses shipped with the pack (listed by Load Pose File, used by the example workflows)."""
EXAMPLE_PREFIX = "[example] "
COORDINATE_MODES = ["auto", "pixel", "normalized"]


def read_pose_input(value: Any, input_name: str, coordinates: str = "auto") -> list[PoseFrame]:
    """``POSE_KEYPOINT`` input -> canonical frames; an empty batch is an error naming ``input_name``."""
    frames = from_pose_keypoint(value, coordinates=coordinates, source=f"input '{input_name}'")
    if not frames:
        raise PoseFormatError(
            f"input '{input_name}' holds no frames. Connect a pose producer that detected at least one image."
        )
    return frames


def frame_summary(frames: Sequence[PoseFrame]) -> str:
    """One line per frame: canvas size and people count (shown on nodes as UI text)."""
    return "\n".join(
        f"frame {i}: {f.canvas_width}x{f.canvas_height}, {len(f.people)} "
        f"{'person' if len(f.people) == 1 else 'people'}"
        for i, f in enumerate(frames)
    )


def list_pose_files() -> list[str]:
    """What Load Pose File offers: pose files (``.json``, ``.csv``) and folders of OpenPose ``.json`` files
    (listed with a trailing ``/``) in the host's input folder, as sorted relative paths, then the pack's
    example poses as ``"[example] <name>"``."""
    root = Path(folder_paths.get_input_directory())
    files = {p.relative_to(root).as_posix() for p in root.rglob("*")
             if p.is_file() and p.suffix.lower() in POSE_FILE_SUFFIXES}
    folders = {Path(f).parent.as_posix() + "/" for f in files if f.endswith(".json") and "/" in f}
    examples = sorted(EXAMPLE_PREFIX + p.name for p in EXAMPLE_POSES_DIR.glob("*.json"))
    return sorted(files | folders) + examples


def resolve_pose_file(name: str) -> Path:
    """Absolute path of an input-folder entry (or ``"[example] <name>"``); errors say where files go."""
    if name.startswith(EXAMPLE_PREFIX):
        root, name = EXAMPLE_POSES_DIR.resolve(), name[len(EXAMPLE_PREFIX):]
    else:
        root = Path(folder_paths.get_input_directory()).resolve()
    path = (root / name).resolve()
    if root not in path.parents:
        raise PoseFormatError(f"pose file {name!r} is outside the folder {root}.")
    if not (path.is_file() or (name.endswith("/") and path.is_dir())):
        raise PoseFormatError(
            f"pose file {name!r} not found. Put .json (OpenPose / POSE_KEYPOINT) or .csv (DeepFashion) "
            f"files, or folders of OpenPose .json files, into "
            f"{Path(folder_paths.get_input_directory()).resolve()} and refresh the node."
        )
    return path


def fingerprint_path(path: Path) -> str:
    """sha256 of a pose file, or of every ``.json`` file (name and bytes) of a folder."""
    digest = hashlib.sha256()
    for file in sorted(path.glob("*.json")) if path.is_dir() else [path]:
        digest.update(file.name.encode())
        digest.update(file.read_bytes())
    return digest.hexdigest()


class LoadPoseFile(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="PT_LoadPoseFile",
            display_name="Load Pose File",
            category=CATEGORY,
            description=(
                "Loads poses from ComfyUI's input folder: an OpenPose JSON file (pose_keypoints_2d) or a "
                "folder of them, a saved POSE_KEYPOINT JSON list, or a DeepFashion keypoint CSV "
                "(name:keypoints_y:keypoints_x). Every frame/row becomes one image of the batch."
            ),
            inputs=[
                io.Combo.Input("file", options=list_pose_files(),
                               tooltip="A .json or .csv file, or a folder of OpenPose .json files "
                                       "(one per frame, name order), in ComfyUI/input; or one of the "
                                       "pack's [example] poses."),
                io.Int.Input("canvas_width", default=0, min=0, max=16384,
                             tooltip="Canvas width in px for files that do not store it (plain OpenPose "
                                     "JSON). 0 = the file must store it."),
                io.Int.Input("canvas_height", default=0, min=0, max=16384,
                             tooltip="Canvas height in px for files that do not store it. 0 = the file "
                                     "must store it."),
                io.Int.Input("first_frame", default=0, min=0, max=1_000_000,
                             tooltip="Index of the first frame (CSV row) to load."),
                io.Int.Input("max_frames", default=0, min=0, max=1_000_000,
                             tooltip="How many frames to load from first_frame on; 0 = all."),
                io.Combo.Input("coordinates", options=COORDINATE_MODES, default="auto",
                               tooltip="auto detects normalised (0-1) vs pixel coordinates per frame; "
                                       "force one if detection guesses wrong."),
            ],
            outputs=[
                PoseKeypoint.Output(display_name="pose"),
                io.String.Output(display_name="names"),
                io.Int.Output(display_name="count"),
            ],
        )

    @classmethod
    def fingerprint_inputs(cls, file: str, **kwargs: Any) -> str:
        try:
            return fingerprint_path(resolve_pose_file(file))
        except (PoseFormatError, OSError):
            return f"missing:{file}"

    @classmethod
    def validate_inputs(cls, file: str) -> bool | str:
        try:
            resolve_pose_file(file)
        except PoseFormatError as exc:
            return str(exc)
        return True

    @classmethod
    def execute(cls, file: str, canvas_width: int, canvas_height: int, first_frame: int, max_frames: int,
                coordinates: str) -> io.NodeOutput:
        if (canvas_width == 0) != (canvas_height == 0):
            raise PoseFormatError("Load Pose File: set both canvas_width and canvas_height, or neither (0).")
        canvas = (canvas_width, canvas_height) if canvas_width else None
        path = resolve_pose_file(file)
        named = load_poses(path, canvas_size=canvas, coordinates=coordinates)
        stop = None if max_frames == 0 else first_frame + max_frames
        named = named[first_frame:stop]
        if not named:
            raise PoseFormatError(f"{file}: no frames from index {first_frame} on (the file has fewer).")
        frames = [nf.frame for nf in named]
        names = "\n".join(nf.name for nf in named)
        return io.NodeOutput(to_pose_keypoint(frames), names, len(frames),
                             ui=ui.PreviewText(frame_summary(frames)))


class SavePoseFile(io.ComfyNode):
    FORMATS = {"POSE_KEYPOINT json": ("pose_keypoint", ".json"), "OpenPose json folder": ("openpose", ""),
               "DeepFashion csv": ("csv", ".csv")}

    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="PT_SavePoseFile",
            display_name="Save Pose File",
            category=CATEGORY,
            description=(
                "Saves a POSE_KEYPOINT batch into ComfyUI's output folder as a POSE_KEYPOINT JSON list, a "
                "folder of OpenPose JSON files (one per frame), or a DeepFashion keypoint CSV. Load Pose "
                "File reads all three back once moved into ComfyUI/input."
            ),
            inputs=[
                PoseKeypoint.Input("pose", tooltip="The poses to save (one frame per image)."),
                io.String.Input("filename_prefix", default="poses/pose",
                                tooltip="Path under ComfyUI/output; a counter is appended."),
                io.Combo.Input("format", options=list(cls.FORMATS), default="POSE_KEYPOINT json",
                               tooltip="DeepFashion CSV stores body joints only, as integers on its "
                                       "176x256 canvas (one person per row)."),
                io.Boolean.Input("binarize_confidence", default=False,
                                 tooltip="Write confidence 1.0 for every visible point (controlnet_aux "
                                         "readers drop points with confidence < 1)."),
            ],
            outputs=[io.String.Output(display_name="path")],
            is_output_node=True,
        )

    @classmethod
    def execute(cls, pose: Any, filename_prefix: str, format: str, binarize_confidence: bool) -> io.NodeOutput:
        frames = read_pose_input(pose, "pose")
        fmt, suffix = cls.FORMATS[format]
        if fmt == "csv" and any((f.canvas_width, f.canvas_height) != DEEPFASHION_CANVAS for f in frames):
            raise PoseFormatError(
                "Save Pose File: DeepFashion CSV rows live on a 176x256 (WxH) canvas. Put a Normalize Pose "
                "Keypoints node with canvas_width 176, canvas_height 256 before this node.")
        out_dir, stem, counter, subfolder, _ = folder_paths.get_save_image_path(
            filename_prefix, folder_paths.get_output_directory())
        target = Path(out_dir) / f"{stem}_{counter:05}_{suffix}"  # the host's counter naming
        named = [NamedFrame(f"{stem}_{i:05}", f) for i, f in enumerate(frames)]
        save_poses(named, target, fmt, binarize=binarize_confidence)
        LOG.info("saved %d pose frames to %s", len(frames), target)
        return io.NodeOutput(str(target), ui=ui.PreviewText(f"{target}\n{frame_summary(frames)}"))


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
        images, heatmaps, limbs = [], [], []
        for frame in frames:
            images.append(render_openpose(frame, h, w, draw_body=draw_body, draw_hands=draw_hands,
                                          draw_face=draw_face, xinsir_stick_scaling=stick_width == "xinsir"))
            heatmaps.append(render_heatmaps(frame, heatmap_sigma, h, w))
            limbs.append(limb_masks(frame, limb_width, h, w))
        skeleton = images_to_tensor(images)
        limb_tensor = maps_to_tensor(limbs)
        body_mask = limb_tensor.amax(dim=1)
        return io.NodeOutput(skeleton, maps_to_tensor(heatmaps), limb_tensor, body_mask,
                             ui=ui.PreviewImage(skeleton, cls=cls))


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


POSE_NODES: tuple[type[io.ComfyNode], ...] = (
    LoadPoseFile,
    SavePoseFile,
    NormalizePoseKeypoint,
    RenderPose,
    RetargetPose,
    InterpolatePoses,
)
