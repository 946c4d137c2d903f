"""OnePoseTrans nodes (arXiv 2409.09593; a port of the official recipe, ``docs/methods.md``,
"OnePoseTrans"): the one-shot tuner (:mod:`.tuner`, training in :mod:`.training`), Save LoRA and LoRA
Block Weights (:mod:`.lora`), the caption (:mod:`.caption`), and the style and face injections
(:mod:`.style`, :mod:`.face`; patches in :mod:`.injection`, files in :mod:`.adapters`)."""

from __future__ import annotations

from comfy_api.latest import io

from .caption import OnePoseTransCaption
from .face import OnePoseTransFace
from .lora import OnePoseTransLoRABlocks, SaveOnePoseTransLoRA
from .style import OnePoseTransStyle
from .tuner import OnePoseTransTuner

ONEPOSETRANS_NODES: tuple[type[io.ComfyNode], ...] = (
    OnePoseTransTuner, SaveOnePoseTransLoRA, OnePoseTransLoRABlocks, OnePoseTransCaption, OnePoseTransStyle,
    OnePoseTransFace,
)
