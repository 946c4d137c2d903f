"""Layer keys of a denoiser's attention layers and the block selection language of the HPFA node.

A layer key is ``(stage, number, index)``: a stage name, a block number in that stage and a layer index
inside the block. Which stages exist and which words select them are the backbone's business (the host
layer's backbone seam passes ``stages``: each selection word with the layer keys it selects, e.g.
``{"up": (("output", 3, 0), ...), "all": (...)}``); this module never names a network's blocks.

Selection text: comma- or space-separated terms, each a selection word, optionally with block numbers
``up:3-5`` or ``down:4,7`` written as ``down:4 down:7`` (the numbers filter the word's layers by their
block number). The words ``auto`` (the backbone's recommended layers) and ``all`` are by convention
never offered as the example in error messages.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from .errors import TruePoseError

LayerKey = tuple[str, int, int]
"""``(stage, block number, layer index)``, e.g. ``("output", 3, 0)``."""
Stages = Mapping[str, tuple[LayerKey, ...]]
"""Selection word -> the layer keys it selects."""


def stage_words(names: Mapping[str, tuple[str, ...]],
                layers: Sequence[LayerKey]) -> dict[str, tuple[LayerKey, ...]]:
    """Selection words that each select whole stages: ``names`` maps a word to stage names (``{"up":
    ("output",)}``), the result maps it to the keys of ``layers`` in those stages (in ``layers``' order)."""
    return {word: tuple(k for k in layers if k[0] in stages) for word, stages in names.items()}


def format_layer_key(key: LayerKey) -> str:
    """``"output 3.0"`` for ``("output", 3, 0)``."""
    return f"{key[0]} {key[1]}.{key[2]}"


def _parse_term(term: str, stages: Stages) -> tuple[tuple[LayerKey, ...], set[int] | None]:
    name, _, numbers = term.partition(":")
    plain_words = [word for word in stages if word not in ("auto", "all")] or list(stages)
    example = f"{name if name in stages else plain_words[0]}:3-5"
    if name not in stages:
        raise TruePoseError(f"block selection: unknown block {name!r}; use {', '.join(stages)}, optionally "
                            f"with numbers like {example}")
    if not numbers:
        return stages[name], None
    match = re.fullmatch(r"(\d+)(?:-(\d+))?", numbers)
    if match is None:
        raise TruePoseError(f"block selection: {term!r} needs a number or a range after ':', e.g. {example}")
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
        keys, numbers = _parse_term(term, stages)
        chosen.update(k for k in keys if numbers is None or k[1] in numbers)
    selected = tuple(k for k in available if k in chosen)
    if not selected:
        have = ", ".join(sorted({f"{k[0]}:{k[1]}" for k in available}, key=lambda s: (s[0], len(s), s)))
        raise TruePoseError(f"block selection {text!r} matches no self-attention layer of this model; "
                            f"it has {have}")
    return selected
