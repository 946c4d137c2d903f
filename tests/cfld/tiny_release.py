"""The tiny CFLD release pair of the parity references, written in the official file layout.

``cfld_tiny_keys.json`` lists the official state-dict keys and shapes of the tiny configuration (as the
official modules named them); the values come from ``reference/deterministic.py``, exactly what the
reference generator loaded into the official modules. The Swin buffers are written as zeros (the real
files hold them; loaders must ignore them).
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from cfld.reference import deterministic
from safetensors import safe_open
from safetensors.torch import load_file

REFERENCE_DIR = Path(__file__).resolve().parent / "reference"


def official_shapes() -> dict[str, dict[str, list[int]]]:
    """``{"conditioning": {key: shape}, "unet": {key: shape}}`` of the tiny official modules."""
    return json.loads((REFERENCE_DIR / "cfld_tiny_keys.json").read_text())


def release_state_dicts() -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """(``pytorch_model.bin`` state, ``pytorch_model_1.bin`` state) with official key names."""
    shapes = official_shapes()
    out = []
    for part in ("conditioning", "unet"):
        state = deterministic.fill_state_dict(shapes[part])
        for key, shape in shapes[part].items():
            if key not in state:  # recomputed Swin buffers
                dtype = torch.int64 if key.endswith("relative_position_index") else torch.float32
                state[key] = torch.zeros(shape, dtype=dtype)
        out.append(state)
    return out[0], out[1]


def write_release(folder: Path) -> tuple[Path, Path]:
    """Write ``pytorch_model.bin`` and ``pytorch_model_1.bin`` (``torch.save``) into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    cond, unet = release_state_dicts()
    paths = folder / "pytorch_model.bin", folder / "pytorch_model_1.bin"
    torch.save(cond, paths[0])
    torch.save(unet, paths[1])
    return paths


def reference() -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """The official outputs and the generator's settings (metadata)."""
    path = REFERENCE_DIR / "cfld_tiny_reference.safetensors"
    with safe_open(str(path), "pt") as f:
        metadata = f.metadata()
    return load_file(str(path)), metadata
