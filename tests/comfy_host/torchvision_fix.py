"""Let a torchvision whose compiled operators cannot load import anyway (the test host imports it).

On Linux x86-64 the package index only has CUDA-linked torchvision builds. With a CPU build of torch their
compiled library (``torchvision/_C``) cannot load (it needs ``libc10_cuda.so``), and torchvision's
fake-kernel registration then fails with ``RuntimeError: operator torchvision::nms does not exist``.
Declaring the two operator schemas it looks up before the first ``import torchvision`` lets it import;
only its compiled ops stay unusable (the host needs none of them).

Where the compiled library does load (a CUDA torch with the matching torchvision; CPU builds of both, as on
macOS or Linux aarch64, or from PyTorch's own index), torchvision registers its operators itself, and
declaring them first would break its import: the library is loaded here to find out, and nothing is
declared then.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import torch

_SCHEMAS = {
    "nms": "nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
    "qnms": "qnms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
}
_LIBRARY: torch.library.Library | None = None
_CHECKED = False


def _compiled_ops_load() -> bool:
    """Whether torchvision's compiled library loads into this torch (loading it registers its operators, as
    ``import torchvision`` would). ``True`` when torchvision is not installed: nothing to fix then."""
    spec = importlib.util.find_spec("torchvision")
    if spec is None or not spec.submodule_search_locations:
        return True
    folder = Path(next(iter(spec.submodule_search_locations)))
    libraries = [p for p in sorted(folder.glob("_C.*")) if p.suffix in (".so", ".pyd", ".dylib")]
    if not libraries:
        return False
    try:
        torch.ops.load_library(str(libraries[0]))
    except (OSError, RuntimeError):
        return False
    return True


def declare_torchvision_ops() -> None:
    """Declare ``torchvision::nms`` and ``torchvision::qnms`` once per process (idempotent), only when
    torchvision's own compiled library cannot load."""
    global _LIBRARY, _CHECKED
    if _CHECKED:
        return
    _CHECKED = True
    if _compiled_ops_load():
        return
    library = torch.library.Library("torchvision", "DEF")
    for schema in _SCHEMAS.values():
        library.define(schema)
    _LIBRARY = library
