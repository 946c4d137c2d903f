"""Pose file nodes: Load Pose File and Save Pose File, over the registry of pose file formats
(``pose_models.pose.POSE_FILE_FORMATS``: POSE_KEYPOINT JSON, OpenPose JSON folders, DeepFashion CSV).

Load Pose File lists files from the host's input folder and the pack's example poses; Save Pose File
writes into the host's output folder with the host's counter naming.
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path
from typing import Any

from comfy_api.latest import io, ui

from ...pose_models.pose import (
    POSE_FILE_FORMATS,
    NamedFrame,
    PoseFormatError,
    file_format,
    load_poses,
    save_poses,
    to_pose_keypoint,
)
from ...pose_models.pose.files import FILE_SUFFIXES
from ..common.categories import POSE as CATEGORY
from ..common.pose_input import COORDINATE_MODES, frame_summary, read_pose_input
from ..common.types import PoseKeypoint
from ..host.models import accept_prefix, counter_path, input_directory, output_directory
from ..host.paths import UnsafePathError, inside_folder

LOG = logging.getLogger(__name__)

EXAMPLE_POSES_DIR = Path(__file__).resolve().parents[2] / "workflows" / "poses"
"""Example poses shipped with the pack (listed by Load Pose File, used by the example workflows)."""
EXAMPLE_PREFIX = "[example] "


def list_pose_files() -> list[str]:
    """What Load Pose File offers: pose files (``.json``, ``.csv``) and folders of OpenPose ``.json`` files
    (listed with a trailing ``/``) in the host's input folder, as sorted relative paths, then the pack's
    example poses as ``"[example] <name>"``."""
    root = input_directory()
    files = {p.relative_to(root).as_posix() for p in root.rglob("*")
             if p.is_file() and p.suffix.lower() in FILE_SUFFIXES}
    folders = {Path(f).parent.as_posix() + "/" for f in files if f.endswith(".json") and "/" in f}
    examples = sorted(EXAMPLE_PREFIX + p.name for p in EXAMPLE_POSES_DIR.glob("*.json"))
    return sorted(files | folders) + examples


def resolve_pose_file(name: str) -> Path:
    """Absolute path of an input-folder entry (or ``"[example] <name>"``); errors say where files go."""
    if name.startswith(EXAMPLE_PREFIX):
        root, name, folder = EXAMPLE_POSES_DIR, name[len(EXAMPLE_PREFIX):], "the pack's example poses"
    else:
        root, folder = input_directory(), "the input folder"
    path = inside_folder(root, name, "Load Pose File", "file", folder)
    if not (path.is_file() or (name.endswith("/") and path.is_dir())):
        raise PoseFormatError(
            f"pose file {name!r} not found. Put .json (OpenPose / POSE_KEYPOINT) or .csv (DeepFashion) "
            f"files, or folders of OpenPose .json files, into "
            f"{input_directory().resolve()} and refresh the node."
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
        except (PoseFormatError, UnsafePathError, OSError):
            return f"missing:{file}"

    @classmethod
    def validate_inputs(cls, file: str) -> bool | str:
        try:
            resolve_pose_file(file)
        except (PoseFormatError, UnsafePathError) as exc:
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
                io.Combo.Input("format", options=[f.label for f in POSE_FILE_FORMATS],
                               default=POSE_FILE_FORMATS[0].label,
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
    def validate_inputs(cls, filename_prefix: str) -> bool | str:
        return accept_prefix(filename_prefix, "Save Pose File", "the output folder")

    @classmethod
    def execute(cls, pose: Any, filename_prefix: str, format: str,
                binarize_confidence: bool) -> io.NodeOutput:
        frames = read_pose_input(pose, "pose")
        fmt = file_format(format)
        if fmt.canvas and any((f.canvas_width, f.canvas_height) != fmt.canvas for f in frames):
            width, height = fmt.canvas
            raise PoseFormatError(
                f"Save Pose File: {fmt.label} rows live on a {width}x{height} (WxH) canvas. Put a Normalize "
                f"Pose Keypoints node with canvas_width {width}, canvas_height {height} before this node.")
        out_dir, stem, counter, _ = counter_path(filename_prefix, output_directory(), "Save Pose File",
                                                "the output folder")
        target = out_dir / f"{stem}_{counter:05}_{fmt.suffix}"  # the host's counter naming
        named = [NamedFrame(f"{stem}_{i:05}", f) for i, f in enumerate(frames)]
        save_poses(named, target, fmt.name, binarize=binarize_confidence)
        LOG.info("saved %d pose frames to %s", len(frames), target)
        return io.NodeOutput(str(target), ui=ui.PreviewText(f"{target}\n{frame_summary(frames)}"))

