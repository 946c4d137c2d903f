"""What every command line of the pack shares: the run loop, the program name and output paths.

The command lines are started through ``cli.py`` in the pack folder (``python <pack>/cli.py <tool> ...``,
from any folder) or as ``python -m pose_models.<tool>`` from the pack folder. Input and output paths are
relative to the folder the command is run in; an output that would land inside the pack folder is refused
(a pack update or reinstall deletes it, and the pack must not fill its own folder).

Exit status: 0 ok, 1 file/output error (``OSError``), 2 bad input (the package's own error types, and
argument errors). Errors are one ``ERROR`` log line on stderr, never a traceback.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Mapping
from pathlib import Path

Command = Callable[[argparse.Namespace], object]

PACK_ROOT = Path(__file__).resolve().parents[1]
"""The pack folder (the parent of ``pose_models``)."""


def program(tool: str) -> str:
    """The program name shown in ``--help`` and usage lines for ``tool`` (``pose``, ``pose-field``, ...)."""
    return f"python cli.py {tool}"


def output_path(text: str) -> Path:
    """``argparse`` type of output paths: absolute, relative ones taken from the current folder; refuses a
    path inside the pack folder."""
    path = (Path.cwd() / Path(text).expanduser()).resolve()
    if path == PACK_ROOT or PACK_ROOT in path.parents:
        raise argparse.ArgumentTypeError(
            f"{text!r} is {path}, inside the Pose Transfer pack folder ({PACK_ROOT}); files there are lost "
            "when the pack is updated or reinstalled. Write it somewhere else, e.g. into ComfyUI/models/... "
            f"(relative paths start from the folder you run the command in: {Path.cwd()}).")
    return path


def run_command(args: argparse.Namespace, commands: Mapping[str, Command],
                bad_input: tuple[type[Exception], ...], logger: logging.Logger) -> int:
    """Configure logging (``args.verbose`` -> DEBUG) and run ``commands[args.command](args)``."""
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO, stream=sys.stderr,
                        format="%(levelname)s %(name)s: %(message)s")
    try:
        commands[args.command](args)
    except bad_input as exc:
        logger.error("%s", exc)
        return 2
    except OSError as exc:
        logger.error("%s", exc)
        return 1
    return 0
