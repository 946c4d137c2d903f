"""UNet block names of the host (``input_blocks.4.1``) and of diffusers (``down_blocks.1.attentions.0``),
and per-block LoRA strengths ("block weights").

A *host block* is the host UNet module path of one block part, e.g. ``output_blocks.1.1`` (the second
part of output block 1: its SpatialTransformer) or ``middle_block.1``. LoRA weight keys of the host
(``diffusion_model.output_blocks.1.1.transformer_blocks.0.attn1.to_q.weight``) belong to the block given
by :func:`block_of_weight_key`.

Block-weight string grammar (commas, semicolons or new lines between entries)::

    default=0.2, output_blocks.1.1=1.0, up_blocks.0.attentions.0=0.5

``default`` (or ``*``) sets every block not named; names are host blocks or diffusers attention names.
Every number must be finite and within ``±BLOCK_WEIGHT_LIMIT`` (NaN or inf would make every image NaN).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

from .errors import OnePoseTransError

ARCHITECTURES = ("sd15", "sdxl")

STYLE_BLOCK = {"sdxl": "output_blocks.1.1", "sd15": "output_blocks.4.1"}
"""The block the official recipe singles out: SDXL ``up_blocks.0.attentions.1``; for SD1.5 the pack's
analogue ``up_blocks.1.attentions.1`` (``docs/methods.md``, OnePoseTrans, SD1.5 variant)."""

BLOCK_PRESETS = {
    "repose": (0.2, 1.0),
    "refine": (0.0, 1.0),
    "full": (1.0, 1.0),
}
"""Preset name -> (strength of every block, strength of the style block). ``repose``: re-posing pass
(``docs/methods.md``, OnePoseTrans); ``refine``: the optional refine pass; ``full``: the plain LoRA."""

BLOCK_WEIGHT_LIMIT = 10.0
"""Largest block weight magnitude accepted (10x a LoRA or IP-Adapter is already far past useful)."""

_DIFFUSERS = re.compile(r"^(down|up)_blocks\.(\d+)\.attentions\.(\d+)$")


def diffusers_to_host_block(name: str) -> str:
    """``down_blocks.i.attentions.j`` -> ``input_blocks.{3i+j+1}.1``; ``up_blocks.i.attentions.j`` ->
    ``output_blocks.{3i+j}.1``; ``mid_block.attentions.0`` -> ``middle_block.1`` (same for SD1.5 and SDXL).
    Host names are returned unchanged."""
    if name in ("mid_block.attentions.0", "mid_block"):
        return "middle_block.1"
    match = _DIFFUSERS.match(name)
    if match is None:
        return name
    kind, i, j = match.group(1), int(match.group(2)), int(match.group(3))
    if kind == "down":
        return f"input_blocks.{3 * i + j + 1}.1"
    return f"output_blocks.{3 * i + j}.1"


def block_of_weight_key(key: str) -> str:
    """The host block of a weight key (``diffusion_model.`` prefix optional): ``output_blocks.1.1`` for
    ``diffusion_model.output_blocks.1.1.transformer_blocks.0.attn1.to_q.weight``, ``middle_block.1`` for a
    middle-block key, else the top-level module name (``time_embed``, ``out``)."""
    parts = key.split(".")
    if parts[0] == "diffusion_model":
        parts = parts[1:]
    if parts[0] in ("input_blocks", "output_blocks") and len(parts) >= 3:
        return ".".join(parts[:3])
    if parts[0] == "middle_block" and len(parts) >= 2:
        return ".".join(parts[:2])
    return parts[0]


@dataclass(frozen=True)
class BlockWeights:
    """Strength per host block; ``default`` for every block not in ``blocks``."""

    default: float
    blocks: dict[str, float] = field(default_factory=dict)

    def strength(self, block: str) -> float:
        return self.blocks.get(block, self.default)


def preset_block_weights(preset: str, architecture: str) -> BlockWeights:
    """The block weights of a preset (:data:`BLOCK_PRESETS`) for ``"sd15"`` or ``"sdxl"``."""
    if preset not in BLOCK_PRESETS:
        raise OnePoseTransError(
            f"Unknown block-weight preset {preset!r}; use one of {sorted(BLOCK_PRESETS)}.")
    everywhere, style = BLOCK_PRESETS[preset]
    return BlockWeights(everywhere, {STYLE_BLOCK[architecture]: style})


def parse_block_weights(text: str, known_blocks: set[str] | None = None) -> BlockWeights:
    """Parse a block-weight string (module docstring). With ``known_blocks`` every named block must be one
    of them (else :class:`OnePoseTransError` listing the valid names). Empty text = strength 1 everywhere."""
    default = 1.0
    blocks: dict[str, float] = {}
    for entry in re.split(r"[,;\n]", text):
        entry = entry.strip()
        if not entry:
            continue
        name, sep, value = entry.partition("=")
        name = name.strip()
        try:
            strength = float(value)
        except ValueError:
            strength = None
        if not sep or strength is None or not name:
            raise OnePoseTransError(
                f"Block weights: cannot read {entry!r}; write entries as name=number, e.g. "
                "'default=0.2, output_blocks.1.1=1.0'."
            )
        if not math.isfinite(strength) or abs(strength) > BLOCK_WEIGHT_LIMIT:
            raise OnePoseTransError(
                f"Block weights: {entry!r} is not a usable strength; each must be a finite number between "
                f"-{BLOCK_WEIGHT_LIMIT:g} and {BLOCK_WEIGHT_LIMIT:g} (e.g. 0.2 or 1.0)."
            )
        if name in ("default", "*"):
            default = strength
            continue
        block = diffusers_to_host_block(name)
        if known_blocks is not None and block not in known_blocks:
            raise OnePoseTransError(
                f"Block weights: {name!r} is not a block of this model's LoRA; valid names: "
                f"{', '.join(sorted(known_blocks))} (or diffusers names such as up_blocks.0.attentions.1)."
            )
        blocks[block] = strength
    return BlockWeights(default, blocks)
