"""The pack's command lines behind one name: ``<entry> <tool> <command> ...``.

Entries: ``python <pack>/cli.py`` (from any folder, with ComfyUI's Python), ``python -m pose_models`` (from
the pack folder) and ``pose-transfer`` (the wheel's script, see ``pyproject.toml``). Tools:

* ``pose`` -- convert, render, retarget and summarise pose files (OpenPose / POSE_KEYPOINT JSON, DeepFashion
  CSV);
* ``pose-field`` -- train, score and evaluate pose interaction fields (RePoseDM);
* ``parsing`` -- inspect or convert SCHP human-parsing checkpoints, parse images (TruePose);
* ``cfld`` -- inspect or convert the CFLD release files.

``<entry> <tool> --help`` lists a tool's commands. Relative paths are taken from the folder the command is
run in; a relative output path into the pack folder is refused (:mod:`.cli_runner`).
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Sequence

TOOLS = {"pose": "pose_models.pose.cli", "pose-field": "pose_models.pose_field.cli",
         "parsing": "pose_models.parsing.cli", "cfld": "pose_models.cfld.cli"}
USAGE = "usage: python cli.py {" + ",".join(TOOLS) + "} <command> [arguments]   (python cli.py <tool> --help)"


def main(argv: Sequence[str] | None = None) -> int:
    """Run tool ``argv[0]`` with the remaining arguments (default: ``sys.argv[1:]``); the exit status."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] in TOOLS:
        return int(importlib.import_module(TOOLS[args[0]]).main(args[1:]))
    asked = bool(args) and args[0] in ("-h", "--help")
    stream = sys.stdout if asked else sys.stderr
    stream.write(__doc__.split("\n\n", 1)[1].replace("``", "").replace(":mod:`.cli_runner`", "cli_runner")
                 + "\n" + USAGE + "\n")
    return 0 if asked else 2
