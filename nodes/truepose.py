"""TruePose nodes (arXiv 2502.03426, training-free pack design of ``shared/docs/methods.md`` 3.3).

Human parsing -> SourceNet Encoder (feature bank) -> HPFA (patched MODEL) -> any sampler. Modules:
``truepose_parsing`` (parser and mask nodes), ``truepose_bank`` (layout, bank, source pass),
``truepose_sourcenet`` (encoder node), ``truepose_attention`` (sampling-time HPFA), ``truepose_hpfa``
(HPFA and target-region nodes), ``truepose_caa`` (CLIP-guided alignment).
"""

from __future__ import annotations

from comfy_api.latest import io

from .truepose_caa import CAA_NODES
from .truepose_hpfa import TruePoseHPFA, TruePoseTargetRegions
from .truepose_parsing import PARSING_NODES
from .truepose_sourcenet import TruePoseSourceNet

TRUEPOSE_NODES: tuple[type[io.ComfyNode], ...] = (
    *PARSING_NODES, TruePoseSourceNet, TruePoseTargetRegions, TruePoseHPFA, *CAA_NODES,
)
