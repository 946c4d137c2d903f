"""TruePose nodes (arXiv 2502.03426; our training-free design, ``docs/methods.md``, "TruePose").

Human parsing -> SourceNet Encoder (feature bank) -> HPFA (patched MODEL) -> any sampler; CAA adds
CLIP-guided alignment. Modules: :mod:`.parsing` (parser and mask nodes), :mod:`.bank` (bank and source
pass), :mod:`.sourcenet` (encoder node), :mod:`.fusion` (HPFA at sampling time), :mod:`.hpfa` (HPFA and
target-region nodes), :mod:`.caa` (CLIP-guided alignment), :mod:`.types` (sockets, backbone look-up).
"""

from __future__ import annotations

from comfy_api.latest import io

from .caa import TruePoseCAA
from .hpfa import TruePoseHPFA, TruePoseTargetRegions
from .parsing import HumanParsingNode, ParsingFromMasks
from .sourcenet import TruePoseSourceNet

TRUEPOSE_NODES: tuple[type[io.ComfyNode], ...] = (
    HumanParsingNode, ParsingFromMasks, TruePoseSourceNet, TruePoseTargetRegions, TruePoseHPFA, TruePoseCAA,
)
