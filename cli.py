"""The pack's command lines, from any folder: ``python path/to/pose-transfer/cli.py <tool> <command> ...``.

Run it with ComfyUI's Python (it needs torch, numpy and safetensors, as the pack does; Windows portable
builds: ``python_embeded\\python.exe``). Tools:

* ``pose`` -- convert, render, retarget and summarise pose files (OpenPose / POSE_KEYPOINT JSON, DeepFashion
  CSV);
* ``pose-field`` -- train, score and evaluate pose interaction fields (RePoseDM);
* ``parsing`` -- inspect or convert SCHP human-parsing checkpoints, parse images (TruePose);
* ``cfld`` -- inspect or convert the CFLD release files.

``python cli.py <tool> --help`` lists a tool's commands. Relative paths are taken from the folder the command
is run in; outputs inside the pack folder are refused. This file only finds the pack and hands over to
``pose_models.<tool>.cli``; ComfyUI never imports it.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

TOOLS = {"pose": "pose_models.pose.cli", "pose-field": "pose_models.pose_field.cli",
         "parsing": "pose_models.parsing.cli", "cfld": "pose_models.cfld.cli"}
USAGE = "usage: python cli.py {" + ",".join(TOOLS) + "} <command> [arguments]   (python cli.py <tool> --help)"


def main(argv: list[str]) -> int:
    """Run tool ``argv[0]`` with the remaining arguments; returns the exit status."""
    if not argv or argv[0] in ("-h", "--help") or argv[0] not in TOOLS:
        stream = sys.stdout if argv and argv[0] in ("-h", "--help") else sys.stderr
        stream.write(__doc__.split("\n\n", 1)[1] + "\n" + USAGE + "\n")
        return 0 if stream is sys.stdout else 2
    pack = str(Path(__file__).resolve().parent)
    if pack not in sys.path:
        sys.path.insert(0, pack)
    return importlib.import_module(TOOLS[argv[0]]).main(argv[1:])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
