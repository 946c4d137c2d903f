"""TruePose socket types and shared node settings.

* ``PT_HUMAN_PARSING``: a :class:`pose_models.parsing.ParsingResult`: label maps ``int64 [B, H, W]`` (CPU)
  and their label set (SCHP LIP/ATR/Pascal, or :data:`pose_models.truepose.REGION_LABEL_SET` for maps built
  from plain masks or from a pose).
* ``PT_TRUEPOSE_BANK``: a :class:`nodes.truepose_bank.SourceBank` (the SourceNet output).
"""

from __future__ import annotations

from comfy_api.latest import io

CATEGORY = "pose transfer/truepose"

HumanParsing = io.Custom("PT_HUMAN_PARSING")
SourceBankType = io.Custom("PT_TRUEPOSE_BANK")
