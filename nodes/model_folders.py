"""The pack's model folders under ComfyUI's ``models/`` directory, registered with ``folder_paths``.

A folder another pack or ``extra_model_paths.yaml`` already registered keeps its paths; ours is added to
them, so files placed in either location are listed.
"""

from __future__ import annotations

import os

import folder_paths

MODEL_EXTENSIONS = {".pth", ".pt", ".bin", ".safetensors", ".sft"}


def ensure_model_folder(name: str, extensions: set[str] | None = None) -> str:
    """Register ``models/<name>`` under the key ``name`` (idempotent); returns the folder path."""
    path = os.path.join(folder_paths.models_dir, name)
    folder_paths.add_model_folder_path(name, path)
    known = folder_paths.folder_names_and_paths[name]
    known[1].update(extensions or MODEL_EXTENSIONS)
    return path


def model_files(name: str) -> list[str]:
    """File names (relative, sorted) in every registered folder of ``name``."""
    return sorted(folder_paths.get_filename_list(name))
