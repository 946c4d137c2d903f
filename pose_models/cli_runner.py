"""What every command line of the pack shares: the run loop, the program name and output paths.

The command lines are started through ``cli.py`` in the pack folder (``python <pack>/cli.py <tool> ...``,
from any folder) or as ``python -m pose_models.<tool>`` from the pack folder. Input and output paths are
relative to the folder the command is run in; a relative output path that lands inside the pack folder is
refused (a pack update or reinstall deletes it): an absolute path there is taken as meant.

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
    """``argparse`` type of output paths: made absolute, relative ones from the current folder. A relative
    path that lands inside the pack folder is refused (the usual slip: a command meant for the ComfyUI folder
    run from the pack folder); an absolute one there is taken as meant."""
    given = Path(text).expanduser()
    path = (Path.cwd() / given).resolve()
    inside = path == PACK_ROOT or PACK_ROOT in path.parents
    if inside and not given.is_absolute():
        raise argparse.ArgumentTypeError(
            f"{text!r} is {path}, inside the Pose Transfer pack folder ({PACK_ROOT}): relative paths start "
            f"from the folder you run the command in ({Path.cwd()}), and files in the pack folder are lost "
            "when the pack is updated or reinstalled. Give a path outside it, e.g. run the command from the "
            "ComfyUI folder with models/..., or an absolute path if you do mean the pack folder.")
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
