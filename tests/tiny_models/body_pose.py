"""A random-weight OpenPose body model (``body_pose_model.pth``) in the released key layout.

The layout is written out here independently of ``pose_models.openpose_body`` (layer, in, out, kernel),
so tests compare the package against it. ``write_body_pose_model`` saves the 184 tensors (52.3 M
parameters, about 210 MB) as a plain state dict, the way the released file is stored.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from pathlib import Path

import torch

FRONT_END = [
    ("conv1_1", 3, 64, 3), ("conv1_2", 64, 64, 3), ("conv2_1", 64, 128, 3), ("conv2_2", 128, 128, 3),
    ("conv3_1", 128, 256, 3), ("conv3_2", 256, 256, 3), ("conv3_3", 256, 256, 3), ("conv3_4", 256, 256, 3),
    ("conv4_1", 256, 512, 3), ("conv4_2", 512, 512, 3), ("conv4_3_CPM", 512, 256, 3),
    ("conv4_4_CPM", 256, 128, 3),
]
BRANCH_OUT = {"L1": 38, "L2": 19}
REAL_PARAMETERS = 52_311_446
REAL_KEYS = 184


def real_layout() -> OrderedDict[str, tuple[int, ...]]:
    """``{key: shape}`` of the released file, in its key order."""
    layers = list(FRONT_END)
    for stage in range(1, 7):
        for branch, out in BRANCH_OUT.items():
            if stage == 1:
                layers += [(f"conv5_{i}_CPM_{branch}", 128, 128, 3) for i in (1, 2, 3)]
                layers += [(f"conv5_4_CPM_{branch}", 128, 512, 1), (f"conv5_5_CPM_{branch}", 512, out, 1)]
            else:
                layers += [(f"Mconv1_stage{stage}_{branch}", 185, 128, 7)]
                layers += [(f"Mconv{i}_stage{stage}_{branch}", 128, 128, 7) for i in (2, 3, 4, 5)]
                layers += [(f"Mconv6_stage{stage}_{branch}", 128, 128, 1),
                           (f"Mconv7_stage{stage}_{branch}", 128, out, 1)]
    shapes: OrderedDict[str, tuple[int, ...]] = OrderedDict()
    for name, cin, cout, k in layers:
        shapes[f"{name}.weight"] = (cout, cin, k, k)
        shapes[f"{name}.bias"] = (cout,)
    return shapes


def random_state_dict(seed: int = 0) -> OrderedDict[str, torch.Tensor]:
    """He-normal weights, small biases: activations stay O(1) through the 30 layers of a stage path."""
    gen = torch.Generator().manual_seed(seed)
    sd: OrderedDict[str, torch.Tensor] = OrderedDict()
    for key, shape in real_layout().items():
        if key.endswith(".weight"):
            fan_in = shape[1] * shape[2] * shape[3]
            sd[key] = torch.randn(shape, generator=gen) * math.sqrt(2.0 / fan_in)
        else:
            sd[key] = torch.randn(shape, generator=gen) * 0.01
    return sd


def write_body_pose_model(path: Path, seed: int = 0) -> Path:
    """Save :func:`random_state_dict` to ``path`` (``torch.save``, tensors only); returns ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(random_state_dict(seed), path)
    return path
