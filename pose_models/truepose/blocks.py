"""Layer keys of a denoiser's attention layers and the block selection language of the HPFA node.

A layer key is ``(stage, number, index)``: a stage name, a block number in that stage and a layer index
inside the block. Which stages exist and which words select them are the backbone's business (the host
layer's backbone seam passes ``stages``, e.g. ``{"up": ("output",), "all": (...)}``); this module never
names a network's blocks.

Selection text: comma- or space-separated terms, each a stage word, optionally with block numbers
``up:3-5`` or ``down:4,7`` written as ``down:4 down:7``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from .errors import TruePoseError

LayerKey = tuple[str, int, int]
"""``(stage, block number, layer index)``, e.g. ``("output", 3, 0)``."""
Stages = Mapping[str, tuple[str, ...]]
"""Selection word -> the stage names it selects."""


def format_layer_key(key: LayerKey) -> str:
    """``"output 3.0"`` for ``("output", 3, 0)``."""
    return f"{key[0]} {key[1]}.{key[2]}"


def _parse_term(term: str, stages: Stages) -> tuple[tuple[str, ...], set[int] | None]:
    name, _, numbers = term.partition(":")
    if name not in stages:
        raise TruePoseError(f"block selection: unknown block {name!r}; use {', '.join(stages)}, optionally "
                            "with numbers like output:3-5")
    if not numbers:
        return stages[name], None
    match = re.fullmatch(r"(\d+)(?:-(\d+))?", numbers)
    if match is None:
        raise TruePoseError(f"block selection: {term!r} needs a number or a range after ':', e.g. output:3-5")
    first = int(match.group(1))
    last = int(match.group(2) or first)
    if last < first:
        raise TruePoseError(f"block selection: range {numbers!r} runs backwards; write {last}-{first}")
    return stages[name], set(range(first, last + 1))


def parse_block_selection(text: str, available: Sequence[LayerKey], stages: Stages) -> tuple[LayerKey, ...]:
    """The keys of ``available`` (in its order) that ``text`` selects with the words of ``stages``; an
    empty result is an error."""
    terms = [t for t in re.split(r"[\s,;]+", text.strip().lower()) if t]
    if not terms:
        raise TruePoseError("block selection is empty; write e.g. 'middle, output' (the default)")
    chosen: set[LayerKey] = set()
    for term in terms:
        names, numbers = _parse_term(term, stages)
        chosen.update(k for k in available if k[0] in names and (numbers is None or k[1] in numbers))
    selected = tuple(k for k in available if k in chosen)
    if not selected:
        have = ", ".join(sorted({f"{k[0]}:{k[1]}" for k in available}, key=lambda s: (s[0], len(s), s)))
        raise TruePoseError(f"block selection {text!r} matches no self-attention layer of this model; "
                            f"it has {have}")
    return selected
