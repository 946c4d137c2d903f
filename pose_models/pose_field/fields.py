"""Choosing a field by name: ``"analytic"`` or the path of a learned ``.safetensors`` file."""

from __future__ import annotations

from pathlib import Path

from .analytic import KinematicPriorField
from .base import PoseField
from .learned import load_learned_field

FIELD_MODELS_FOLDER = "pose_fields"
"""Sub-folder of the user's ComfyUI ``models/`` directory that holds learned field files."""


def load_field(spec: str | Path) -> PoseField:
    """``"analytic"`` -> :class:`KinematicPriorField`; anything else is a learned field file path."""
    if str(spec) == "analytic":
        return KinematicPriorField()
    path = Path(spec)
    if not path.is_file():
        raise FileNotFoundError(f"pose field {str(spec)!r}: no such file (give 'analytic' or a .safetensors "
                                "file written by 'python cli.py pose-field train').")
    return load_learned_field(path)


def field_label(spec: str | Path) -> str:
    """Short table label: ``analytic`` or the file stem."""
    return "analytic" if str(spec) == "analytic" else Path(spec).stem
