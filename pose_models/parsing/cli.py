"""Command line for SCHP checkpoints: ``python cli.py parsing <command> ...`` (``cli.py`` is in the pack
folder; or ``python -m pose_models.parsing`` from the pack folder). Paths are relative to the current folder.

Commands
--------
* ``convert INPUT.pth OUTPUT.safetensors`` -- check an SCHP checkpoint and write it as safetensors.
* ``info FILE`` -- logs the label set, tensor and parameter counts of a ``.pth`` or ``.safetensors`` file.
* ``parse FILE IMAGE... --out DIR`` -- writes ``<image>_labels.png`` (8-bit label values),
  ``<image>_color.png`` (official palette) and ``legend.png``; ``--flip``, ``--device``,
  ``--input-size HxW`` (default: the label set's official size).

Bad input ends with one ``ERROR`` line and exit status 2; an unwritable output gives status 1.
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from ..cli_runner import output_path, program, run_command
from ..image_files import read_rgb, write_png
from .checkpoint import convert_to_safetensors, detect_label_set, read_state_dict
from .errors import ParsingError
from .parser import HumanParser
from .render import legend_image

logger = logging.getLogger("pose_models.parsing.cli")


def _size(text: str) -> tuple[int, int]:
    """Parse ``"HxW"`` into ``(H, W)``."""
    try:
        height, width = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a size like 473x473 (height x width)") from None
    return height, width


def build_parser() -> argparse.ArgumentParser:
    """The ``argparse`` parser of all commands."""
    parser = argparse.ArgumentParser(prog=program("parsing"),
                                     description=__doc__.splitlines()[0])
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True)
    convert = sub.add_parser("convert", help="SCHP .pth -> .safetensors")
    convert.add_argument("input", type=Path)
    convert.add_argument("output", type=output_path)
    info = sub.add_parser("info", help="label set and size of a checkpoint")
    info.add_argument("input", type=Path)
    parse = sub.add_parser("parse", help="parse images into label and colour PNGs")
    parse.add_argument("model", type=Path)
    parse.add_argument("images", type=Path, nargs="+")
    parse.add_argument("--out", type=output_path, required=True, help="output directory")
    parse.add_argument("--flip", action="store_true", help="average with the mirrored image")
    parse.add_argument("--device", default="cpu", help="torch device, e.g. cuda:0 (default cpu)")
    parse.add_argument("--input-size", type=_size, help="network input HxW (default: the official size)")
    return parser


def _convert(args: argparse.Namespace) -> None:
    label_set = convert_to_safetensors(args.input, args.output)
    logger.info("%s -> %s (%s, %d labels)", args.input, args.output, label_set.title, label_set.num_classes)


def _info(args: argparse.Namespace) -> None:
    state = read_state_dict(args.input)
    label_set = detect_label_set(state, args.input)
    parameters = sum(t.numel() for t in state.values())
    logger.info("%s: SCHP %s, %d labels (%s), %d tensors, %d values", args.input, label_set.title,
                label_set.num_classes, ", ".join(label_set.labels), len(state), parameters)


def _to_uint8(image: torch.Tensor) -> np.ndarray:
    """``float [H, W, 3]`` in ``[0, 1]`` -> ``uint8 [H, W, 3]``."""
    return (image.numpy() * 255).round().astype(np.uint8)


def _parse(args: argparse.Namespace) -> None:
    parser = HumanParser.from_file(args.model, device=torch.device(args.device))
    args.out.mkdir(parents=True, exist_ok=True)
    for path in args.images:
        rgb = read_rgb(path, ParsingError)
        result = parser.parse(rgb, flip=args.flip, input_size=args.input_size)
        write_png(args.out / f"{path.stem}_labels.png", result.labels[0].numpy().astype(np.uint8))
        write_png(args.out / f"{path.stem}_color.png", _to_uint8(result.color_map()[0]))
        logger.info("%s -> %s", path, args.out)
    write_png(args.out / "legend.png", _to_uint8(legend_image(parser.label_set)[0]))


_COMMANDS = {"convert": _convert, "info": _info, "parse": _parse}


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit status (0 ok, 1 output error, 2 bad input)."""
    return run_command(build_parser().parse_args(argv), _COMMANDS, (ParsingError,), logger)
