"""Let the host's CUDA-only torchvision wheel import on CPU torch.

The index only has CUDA-linked torchvision builds. Their compiled ops never register on CPU torch,
and torchvision's fake-kernel registration then fails with
``RuntimeError: operator torchvision::nms does not exist``. Declaring the two operator schemas it
looks up before the first ``import torchvision`` lets it import; only its compiled ops stay unusable.
With a CUDA build of torch (a GPU machine) torchvision's own ops register, and declaring the namespace
a second time would break its import, so nothing is declared there.
"""

from __future__ import annotations

import torch

_SCHEMAS = {
    "nms": "nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
    "qnms": "qnms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
}
_LIBRARY: torch.library.Library | None = None


def declare_torchvision_ops() -> None:
    """Declare ``torchvision::nms`` and ``torchvision::qnms`` once per process (idempotent); nothing
    with a CUDA build of torch."""
    global _LIBRARY
    if _LIBRARY is not None or torch.version.cuda is not None:
        return
    library = torch.library.Library("torchvision", "DEF")
    for schema in _SCHEMAS.values():
        library.define(schema)
    _LIBRARY = library
