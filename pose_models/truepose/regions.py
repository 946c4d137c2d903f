"""Region groups of the source bank, group masks, label maps from plain masks, group settings, affinity.

Group masks are ``float32 [B, G, H, W]`` in ``{0, 1}`` over :data:`BANK_GROUPS` (in that order) at image
resolution; at every pixel exactly one group is 1. ``other`` holds person pixels that no part group
claims (only label maps built from plain masks have them; SCHP label sets put every person label in a
part group).
"""

from __future__ import annotations

import math
import re
import types
from collections.abc import Mapping

import torch

from ..parsing import PART_GROUPS, LabelSet, group_mask
from ..parsing.groups import AFFINITY_OF_GROUP, MASK_PRECEDENCE, REGION_TITLES
from .errors import TruePoseError

BANK_GROUPS: tuple[str, ...] = (*PART_GROUPS, "other", "background")
"""Every group a source bank can cover, in mask-channel order."""

PERSON_GROUPS: tuple[str, ...] = (*PART_GROUPS, "other")
"""The groups that together make up the person (everything but ``background``)."""

REGION_LABEL_SET = LabelSet(
    name="regions",
    title="Region masks",
    labels=("Background", *REGION_TITLES, "Other person"),
    input_size=(512, 512),  # never parsed by a network; the field is required by LabelSet
    flip_pairs=(),
    parts=types.MappingProxyType({g: (i + 1,) for i, g in enumerate(PART_GROUPS)}),
    checkpoint="",
)
"""One label per part group plus ``Other person`` (the last label, in no part group): the label set of
label maps built from plain masks (:func:`labels_from_masks`) and from poses (:mod:`.pose_prior`)."""

OTHER_LABEL = len(PART_GROUPS) + 1

AFFINITY: Mapping[str, frozenset[str]] = types.MappingProxyType({
    **AFFINITY_OF_GROUP,
    "other": frozenset(BANK_GROUPS),
    "background": frozenset({"background"}),
})
"""Target region -> the source groups its queries prefer (region-to-region gating). ``other`` gates
nothing; target background prefers source background (so it does not copy the person's texture)."""


def bank_group_masks(labels: torch.Tensor, label_set: LabelSet) -> torch.Tensor:
    """``float32 [B, G, H, W]`` over :data:`BANK_GROUPS` for label maps ``int64 [B, H, W]``."""
    parts = [group_mask(labels, label_set, g) for g in PART_GROUPS]
    person = group_mask(labels, label_set, "person")
    other = (person - torch.stack(parts).amax(0)).clamp(min=0)
    return torch.stack([*parts, other, group_mask(labels, label_set, "background")], dim=1)


def labels_from_masks(groups: Mapping[str, torch.Tensor], person: torch.Tensor | None = None,
                      threshold: float = 0.5) -> torch.Tensor:
    """Label map ``int64 [B, H, W]`` of :data:`REGION_LABEL_SET` from masks ``float [B, H, W]``.

    ``groups`` maps part-group names to masks (any subset of :data:`PART_GROUPS`); a pixel takes the first
    group of :data:`MASK_PRECEDENCE` whose mask is ``>= threshold`` there. ``person`` (default: the union
    of ``groups``) marks the person; person pixels no group claims get ``Other person``; the rest is
    background. Masks of batch 1 are shared by every image; all masks must have one ``H x W``.
    """
    unknown = sorted(set(groups) - set(PART_GROUPS))
    if unknown:
        raise TruePoseError(f"unknown region group(s) {unknown}; known: {', '.join(PART_GROUPS)}")
    masks = {g: m for g, m in groups.items() if m is not None}
    if person is not None:
        masks["person"] = person
    if not masks:
        raise TruePoseError("no mask given: connect at least the person mask or one region mask")
    shapes = {tuple(m.shape[-2:]) for m in masks.values()}
    if len(shapes) > 1:
        raise TruePoseError(f"the masks have different sizes {sorted(shapes)} (height, width); resize them "
                            "to the image size first")
    batch = max(m.shape[0] if m.dim() == 3 else 1 for m in masks.values())
    height, width = shapes.pop()
    on = {g: _as_batch(m, batch, g) >= threshold for g, m in masks.items()}
    covered = torch.zeros((batch, height, width), dtype=torch.bool)
    for g in on.values():
        covered |= g
    labels = torch.zeros((batch, height, width), dtype=torch.int64)
    inside = on.get("person", covered)
    labels[inside] = OTHER_LABEL
    for group in reversed(MASK_PRECEDENCE):  # later writes win: paint in reverse precedence
        if group in on:
            labels[on[group]] = REGION_LABEL_SET.parts[group][0]
    return labels


def _as_batch(mask: torch.Tensor, batch: int, name: str) -> torch.Tensor:
    mask = mask.detach().float().cpu()
    if mask.dim() == 2:
        mask = mask.unsqueeze(0)
    if mask.dim() != 3 or mask.shape[0] not in (1, batch):
        raise TruePoseError(f"mask {name!r} has shape {list(mask.shape)}; masks must be [B, H, W] "
                            f"with B = 1 or "
                            f"the largest batch ({batch})")
    return mask.expand(batch, -1, -1)


def _tokens(text: str) -> list[str]:
    return [t for t in re.split(r"[\s,;+]+", text.strip().lower()) if t]


def _expand_group(name: str) -> tuple[str, ...]:
    if name == "person":
        return PERSON_GROUPS
    if name == "all":
        return BANK_GROUPS
    if name in BANK_GROUPS:
        return (name,)
    raise TruePoseError(f"unknown region group {name!r}; use 'person', 'all' or any of: "
                        f"{', '.join(BANK_GROUPS)}")


def parse_groups(text: str) -> tuple[str, ...]:
    """Group names in :data:`BANK_GROUPS` order from e.g. ``"face, hair"``, ``"person"`` or ``"all"``."""
    chosen: set[str] = set()
    for token in _tokens(text):
        chosen.update(_expand_group(token))
    if not chosen:
        raise TruePoseError("no region group selected; write e.g. 'person' or 'face, hair, upper_clothes'")
    return tuple(g for g in BANK_GROUPS if g in chosen)


def parse_group_weights(text: str, default: float = 1.0) -> dict[str, float]:
    """``{group: weight}`` for every name in :data:`BANK_GROUPS` from e.g. ``"face=1.5, upper_clothes=0.8"``.

    Unnamed groups get ``default``; ``person=w`` or ``all=w`` set several at once, later entries win.
    Weights are finite and ``>= 0``; 0 excludes a group exactly (its bias is ``-inf``).
    """
    weights = dict.fromkeys(BANK_GROUPS, float(default))
    for item in (t for t in re.split(r"[,;\n]+", text) if t.strip()):
        name, sep, value = item.partition("=")
        if not sep:
            raise TruePoseError(f"group weight {item.strip()!r} is not 'group=number', e.g. 'face=1.5'")
        try:
            number = float(value)
        except ValueError:
            raise TruePoseError(f"group weight {item.strip()!r}: {value.strip()!r} is not a number") from None
        if not math.isfinite(number) or number < 0:
            raise TruePoseError(f"group weight {item.strip()!r} must be a finite number >= 0 (0 excludes)")
        for group in _expand_group(name.strip().lower()):
            weights[group] = number
    return weights


def affinity_matrix(target_groups: tuple[str, ...], source_groups: tuple[str, ...]) -> torch.Tensor:
    """``bool [len(target_groups), len(source_groups)]``: whether a target region prefers a source group."""
    return torch.tensor([[s in AFFINITY[t] for s in source_groups] for t in target_groups], dtype=torch.bool)
