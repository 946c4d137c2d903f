"""TruePose socket types and the backbone look-up every TruePose node shares.

* ``PT_HUMAN_PARSING``: a :class:`pose_models.parsing.ParsingResult`: label maps ``int64 [B, H, W]`` (CPU)
  and their label set (SCHP LIP/ATR/Pascal, or :data:`pose_models.truepose.REGION_LABEL_SET` for maps built
  from plain masks or from a pose).
* ``PT_TRUEPOSE_BANK``: a :class:`nodes.truepose.bank.SourceBank` (the SourceNet output).
"""

from __future__ import annotations

from typing import Any

from comfy_api.latest import io

from ...pose_models.truepose import TruePoseError
from ..host.backbone import Backbone, UnsupportedBackbone, backbone_of

HumanParsing = io.Custom("PT_HUMAN_PARSING")
SourceBankType = io.Custom("PT_TRUEPOSE_BANK")


def model_backbone(model: Any, node: str) -> Backbone:
    """The MODEL's backbone; a clear :class:`TruePoseError` naming ``node`` for networks TruePose cannot
    patch."""
    try:
        return backbone_of(model)
    except UnsupportedBackbone as err:
        raise TruePoseError(
            f"{node}: {err}; TruePose patches the self-attention layers of SD1.5/SDXL-style UNets and the "
            "joint attention of Flux.1 models (dev, schnell, Kontext, Fill). Load one of those (or a "
            "fine-tune of one).") from None
