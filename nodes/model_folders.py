"""The pack's model folders under ComfyUI's ``models/`` directory, registered with ``folder_paths``.

A folder another pack or ``extra_model_paths.yaml`` already registered keeps its paths; ours is added to
them, so files placed in either location are listed.
"""

from __future__ import annotations

import os
from pathlib import Path

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


INSIGHTFACE_PACKS = ("antelopev2", "buffalo_l")
"""The insightface packs the pack's face nodes name (InstantID: antelopev2, FaceID: buffalo_l), always
offered, installed or not (the node's error then says where to put them)."""


def insightface_pack_dir(pack: str) -> Path:
    """``models/insightface/models/<pack>``: where insightface packs go (shared with InstantID and
    IPAdapter_plus)."""
    return Path(folder_paths.models_dir) / "insightface" / "models" / pack


def insightface_packs() -> list[str]:
    """antelopev2 and buffalo_l, then the other folders of ``models/insightface/models/``."""
    root = Path(folder_paths.models_dir) / "insightface" / "models"
    names = sorted(p.name for p in root.iterdir() if p.is_dir()) if root.is_dir() else []
    return [*INSIGHTFACE_PACKS, *(n for n in names if n not in INSIGHTFACE_PACKS)]
