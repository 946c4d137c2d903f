"""Command line for CFLD release files: ``python cli.py cfld <command> ...`` (``cli.py`` is in the pack
folder; or ``python -m pose_models.cfld`` from the pack folder). Paths are relative to the current folder.

Commands
--------
* ``convert INPUT.bin OUTPUT.safetensors`` -- check a release file (either one) and write it as
  safetensors with the same keys (load_release and the loader node accept both forms).
* ``info FILE`` -- logs which release file it is, its sizes and tensor count.

Bad input ends with one ``ERROR`` line and exit status 2; an unwritable output gives status 1.
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Sequence
from pathlib import Path

from ..cli_runner import output_path, program, run_command
from .checkpoint import FileKind, convert_to_safetensors, file_kind, read_tensors, unet_state
from .config import conditioner_config, unet_config
from .errors import CFLDCheckpointError, CFLDError

logger = logging.getLogger("pose_models.cfld.cli")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=program("cfld"), description=__doc__.splitlines()[0])
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True)
    convert = sub.add_parser("convert", help="release .bin -> .safetensors")
    convert.add_argument("input", type=Path)
    convert.add_argument("output", type=output_path)
    info = sub.add_parser("info", help="which release file, and its sizes")
    info.add_argument("input", type=Path)
    return parser


def _convert(args: argparse.Namespace) -> None:
    convert_to_safetensors(args.input, args.output)


def _info(args: argparse.Namespace) -> None:
    state = read_tensors(args.input)
    kind = file_kind(state)
    if kind is None:
        raise CFLDCheckpointError(f"{args.input}: not a CFLD release file")
    try:
        if kind is FileKind.CONDITIONING:
            config: object = conditioner_config(state)
        else:
            config = unet_config(unet_state(state))
    except (KeyError, ValueError) as err:
        raise CFLDCheckpointError(f"{args.input}: cannot read its sizes ({err})") from None
    values = sum(t.numel() for t in state.values())
    logger.info("%s: CFLD %s, %d tensors, %d values; %s", args.input, kind.value, len(state), values, config)


_COMMANDS = {"convert": _convert, "info": _info}


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit status (0 ok, 1 output error, 2 bad input)."""
    return run_command(build_parser().parse_args(argv), _COMMANDS, (CFLDError,), logger)
