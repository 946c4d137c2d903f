"""Self-attention layer keys of a UNet and the block selection language of the HPFA node.

A layer key is ``(block, number, index)``: the host's ``transformer_options["block"]`` (``"input"``,
``"middle"`` or ``"output"`` and the block's position in its list) plus ``block_index``, the transformer
block inside that block's ``SpatialTransformer``. SD1.5 has input 1, 2, 4, 5, 7, 8, middle 0, output
3-11 (one transformer block each); SDXL has input 4, 5, 7, 8, middle 0, output 0-5 with up to 10 each.

Selection text: comma- or space-separated terms, each ``input``/``down``, ``middle``/``mid``,
``output``/``up`` or ``all``, optionally with block numbers ``output:3-5`` or ``input:4,7`` written as
``input:4 input:7``. ``midup`` is ``middle, output``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from .errors import TruePoseError

LayerKey = tuple[str, int, int]
"""``(block name, block number, transformer index)``, e.g. ``("output", 3, 0)``."""

_ALIASES = {"input": ("input",), "down": ("input",), "in": ("input",), "middle": ("middle",),
            "mid": ("middle",), "output": ("output",), "up": ("output",), "out": ("output",),
            "all": ("input", "middle", "output"), "midup": ("middle", "output")}


def format_layer_key(key: LayerKey) -> str:
    """``"output 3.0"`` for ``("output", 3, 0)``."""
    return f"{key[0]} {key[1]}.{key[2]}"


def _parse_term(term: str) -> tuple[tuple[str, ...], set[int] | None]:
    name, _, numbers = term.partition(":")
    if name not in _ALIASES:
        raise TruePoseError(f"block selection: unknown block {name!r}; use input/down, middle/mid, "
                            f"output/up, "
                            "all or midup, optionally with numbers like output:3-5")
    if not numbers:
        return _ALIASES[name], None
    match = re.fullmatch(r"(\d+)(?:-(\d+))?", numbers)
    if match is None:
        raise TruePoseError(f"block selection: {term!r} needs a number or a range after ':', e.g. output:3-5")
    first = int(match.group(1))
    last = int(match.group(2) or first)
    if last < first:
        raise TruePoseError(f"block selection: range {numbers!r} runs backwards; write {last}-{first}")
    return _ALIASES[name], set(range(first, last + 1))


def parse_block_selection(text: str, available: Sequence[LayerKey]) -> tuple[LayerKey, ...]:
    """The keys of ``available`` (in its order) that ``text`` selects; an empty result is an error."""
    terms = [t for t in re.split(r"[\s,;]+", text.strip().lower()) if t]
    if not terms:
        raise TruePoseError("block selection is empty; write e.g. 'middle, output' (the default)")
    chosen: set[LayerKey] = set()
    for term in terms:
        names, numbers = _parse_term(term)
        chosen.update(k for k in available if k[0] in names and (numbers is None or k[1] in numbers))
    selected = tuple(k for k in available if k in chosen)
    if not selected:
        have = ", ".join(sorted({f"{k[0]}:{k[1]}" for k in available}, key=lambda s: (s[0], len(s), s)))
        raise TruePoseError(f"block selection {text!r} matches no self-attention layer of this model; "
                            f"it has {have}")
    return selected
