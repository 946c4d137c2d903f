"""Command line for the pose toolkit: ``python cli.py pose <command> ...`` (``cli.py`` is in the pack folder;
or ``python -m pose_models.pose`` from the pack folder). Paths are relative to the folder you run it in.

Commands
--------
* ``convert INPUT OUTPUT`` -- any supported input (DeepFashion ``.csv``, OpenPose or ``POSE_KEYPOINT``
  ``.json``, a directory of OpenPose files) to ``.csv``, ``.json`` (``POSE_KEYPOINT``) or a directory of
  OpenPose files (``--to`` overrides the choice by extension). Options: ``--canvas WxH`` for inputs
  without a canvas size, ``--coordinates``, ``--threshold``, ``--binarize``, ``--fit WxH``.
* ``render INPUT --out DIR`` -- one PNG per frame: ``--style openpose`` (default; ``--hands``, ``--face``,
  ``--xinsir``), ``cfld``, ``heatmaps`` or ``limbs`` (max over channels, grey); ``--size WxH``.
* ``retarget SOURCE TARGET OUTPUT`` -- frame ``--source-frame`` of SOURCE gives the proportions, every
  frame of TARGET the pose; ``--scale source|target|fit``.
* ``info INPUT`` -- logs frames, canvases and people counts.

Bad input ends with one ``ERROR`` line that says what is wrong and exit status 2 (no traceback); an
unwritable output gives status 1. Progress goes to the ``logging`` stream (stderr); ``-v`` for debug.
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ..cli_runner import output_path, program, run_command
from ..image_files import write_png
from .errors import PoseFormatError
from .files import FILE_FORMATS, load_poses, safe_name, save_poses
from .keypoints import NamedFrame, visible
from .ops import fit_to_canvas, threshold_confidence
from .render import limb_masks, render_cfld_skeleton, render_heatmaps, render_openpose
from .retarget import retarget_frame

logger = logging.getLogger("pose_models.pose.cli")


def _size(text: str) -> tuple[int, int]:
    """Parse ``"WxH"`` into ``(W, H)``."""
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a size like 512x768 (width x height)") from None
    if w < 1 or h < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: width and height must be >= 1")
    return w, h


def build_parser() -> argparse.ArgumentParser:
    """The ``argparse`` parser of all commands."""
    parser = argparse.ArgumentParser(prog=program("pose"), description=__doc__.splitlines()[0])
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True)

    def add_input(p: argparse.ArgumentParser, name: str = "input") -> None:
        p.add_argument(name, type=Path, help=".csv, .json or a directory of OpenPose .json files")

    def add_reading(p: argparse.ArgumentParser) -> None:
        p.add_argument("--canvas", type=_size, help="canvas WxH for inputs that lack one (OpenPose files)")
        p.add_argument("--coordinates", choices=("auto", "pixel", "normalized"), default="auto",
                       help="how to read JSON coordinates (default: detect per frame)")

    p = sub.add_parser("convert", help="convert between pose file formats")
    add_input(p)
    p.add_argument("output", type=output_path,
                   help=".csv, .json (POSE_KEYPOINT) or a directory (OpenPose files)")
    p.add_argument("--to", choices=FILE_FORMATS, help="output format (default: from the output path)")
    add_reading(p)
    p.add_argument("--threshold", type=float, default=0.0, help="drop points with confidence below this")
    p.add_argument("--binarize", action="store_true", help="write confidence 1.0 for every visible point")
    p.add_argument("--normalized-output", action="store_true", help="write 0-1 coordinates (.json only)")
    p.add_argument("--fit", type=_size, help="move poses to a WxH canvas keeping the aspect (centred)")

    p = sub.add_parser("render", help="render poses to PNG images")
    add_input(p)
    p.add_argument("--out", type=output_path, required=True, help="output directory")
    add_reading(p)
    p.add_argument("--style", choices=("openpose", "cfld", "heatmaps", "limbs"), default="openpose")
    p.add_argument("--size", type=_size, help="output WxH (default: each frame's canvas; cfld: 256x256)")
    p.add_argument("--hands", action="store_true", help="openpose style: draw hands")
    p.add_argument("--face", action="store_true", help="openpose style: draw the face")
    p.add_argument("--xinsir", action="store_true", help="openpose style: xinsir stick-width scaling")
    p.add_argument("--sigma", type=float, default=6.0, help="heatmaps style: Gaussian sigma in px")
    p.add_argument("--limb-width", type=float, default=8.0, help="limbs style: limb width in px")
    p.add_argument("--limit", type=int, help="render only the first N frames")

    p = sub.add_parser("retarget", help="retarget poses onto a source person's proportions")
    add_input(p, "source")
    add_input(p, "target")
    p.add_argument("output", type=output_path, help="output path, as for convert")
    add_reading(p)
    p.add_argument("--source-frame", type=int, default=0, help="frame of SOURCE to take proportions from")
    p.add_argument("--scale", choices=("source", "target", "fit"), default="source")

    p = sub.add_parser("info", help="summarise a pose file")
    add_input(p)
    add_reading(p)
    return parser


def _load(path: Path, args: argparse.Namespace) -> list[NamedFrame]:
    frames = load_poses(path, canvas_size=args.canvas, coordinates=args.coordinates)
    logger.info("read %d frames from %s", len(frames), path)
    return frames


def _convert(args: argparse.Namespace) -> None:
    frames = _load(args.input, args)
    if args.threshold > 0:
        frames = [NamedFrame(n, threshold_confidence(f, args.threshold)) for n, f in frames]
    if args.fit:
        frames = [NamedFrame(n, fit_to_canvas(f, *args.fit)) for n, f in frames]
    written = save_poses(frames, args.output, args.to, binarize=args.binarize,
                         coordinates="normalized" if args.normalized_output else "pixel")
    logger.info("wrote %d frames to %d file(s) under %s", len(frames), len(written), args.output)


def _render_one(frame: NamedFrame, args: argparse.Namespace) -> np.ndarray:
    w, h = args.size or (None, None)
    f = frame.frame
    if args.style == "openpose":
        return render_openpose(f, h, w, draw_hands=args.hands, draw_face=args.face,
                               xinsir_stick_scaling=args.xinsir)
    if args.style == "cfld":
        return render_cfld_skeleton(f, h or 256, w or 256)
    maps = render_heatmaps(f, args.sigma, h, w) if args.style == "heatmaps" else limb_masks(
        f, args.limb_width, h, w)
    grey = np.round(maps.max(axis=0) * 255).astype(np.uint8)
    return np.repeat(grey[:, :, None], 3, axis=2)


def _render(args: argparse.Namespace) -> None:
    frames = _load(args.input, args)[: args.limit]
    args.out.mkdir(parents=True, exist_ok=True)
    for i, frame in enumerate(frames):
        image = _render_one(frame, args)
        path = args.out / f"{i:06d}_{safe_name(frame.name)}.png"
        write_png(path, image)
    logger.info("rendered %d frames to %s", len(frames), args.out)


def _retarget(args: argparse.Namespace) -> None:
    sources = _load(args.source, args)
    if not -len(sources) <= args.source_frame < len(sources):
        raise PoseFormatError(f"{args.source}: has {len(sources)} frames; --source-frame {args.source_frame} "
                              "does not exist.")
    source = sources[args.source_frame].frame
    targets = _load(args.target, args)
    out = [t._replace(frame=retarget_frame(source, t.frame, scale=args.scale)) for t in targets]
    save_poses(out, args.output)
    logger.info("retargeted %d frames to %s", len(out), args.output)


def _info(args: argparse.Namespace) -> None:
    frames = _load(args.input, args)
    canvases = sorted({(f.frame.canvas_width, f.frame.canvas_height) for f in frames})
    counts = np.bincount([len(f.frame.people) for f in frames]) if frames else np.zeros(1, int)
    joints = [int(visible(p.body).sum()) for f in frames for p in f.frame.people]
    logger.info("%d frames; canvases (WxH): %s", len(frames), ", ".join(f"{w}x{h}" for w, h in canvases))
    logger.info("frames by people count: %s", {n: int(c) for n, c in enumerate(counts) if c})
    if joints:
        logger.info("people: %d, visible body joints per person: min %d, median %d, max %d",
                    len(joints), min(joints), int(np.median(joints)), max(joints))


_COMMANDS = {"convert": _convert, "render": _render, "retarget": _retarget, "info": _info}


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit status (0 ok, 1 output error, 2 bad input)."""
    return run_command(build_parser().parse_args(argv), _COMMANDS, (PoseFormatError,), logger)
