"""The one registry of region groups: every table about a group is derived from :data:`REGION_GROUPS`.

A region group (face, hair, upper clothes, ...) is a body region that every label set can express with
its own labels (``labels.LabelSet.parts``), so that downstream code asks for "upper_clothes" whatever
checkpoint the user installed. Derived here and checked at import:

* :data:`PART_GROUPS` -- the group names in registry order (mask channels, node inputs);
* :data:`MASK_OUTPUTS` -- the order of the parsing node's mask outputs: the part groups of the first
  release, ``person``, ``background``, then groups added later (appending keeps saved workflows' slots);
* :data:`MASK_PRECEDENCE` -- which group wins where plain masks overlap (small regions over large ones);
* :data:`REGION_TITLES` -- the label names of maps built from masks or poses;
* :data:`AFFINITY` -- which source groups a target region prefers (region-to-region gating).

A new group is one more :class:`RegionGroup` at the end of :data:`REGION_GROUPS` (plus its labels in each
label set's ``parts``).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class RegionGroup:
    """``name`` (the key users type), ``title`` (label name), ``precedence`` (lower wins where plain masks
    overlap), ``affinity`` (the other groups a target region of this group prefers in the source)."""

    name: str
    title: str
    precedence: int
    affinity: tuple[str, ...]


REGION_GROUPS: tuple[RegionGroup, ...] = (
    RegionGroup("face", "Face", 0, ("hair", "accessories")),
    RegionGroup("hair", "Hair", 1, ("face", "accessories")),
    RegionGroup("upper_clothes", "Upper clothes", 5, ("dress_coat", "accessories")),
    RegionGroup("lower_clothes", "Lower clothes", 7, ("dress_coat", "legs")),
    RegionGroup("dress_coat", "Dress / coat", 6, ("upper_clothes", "lower_clothes")),
    RegionGroup("arms", "Arms", 4, ("upper_clothes", "dress_coat")),
    RegionGroup("legs", "Legs", 8, ("lower_clothes", "dress_coat", "shoes")),
    RegionGroup("shoes", "Shoes", 3, ("legs",)),
    RegionGroup("accessories", "Accessories", 2, ("face", "hair", "upper_clothes")),
)
"""Every region group, in channel order. Append only: node outputs and inputs follow this order."""

FIRST_RELEASE_GROUPS = 9
"""How many groups the parsing node's outputs had before ``person`` and ``background`` (kept in place)."""

PART_GROUPS: tuple[str, ...] = tuple(g.name for g in REGION_GROUPS)
"""Groups made of specific labels; together they cover every non-background label exactly once."""

MASK_OUTPUTS: tuple[str, ...] = (*PART_GROUPS[:FIRST_RELEASE_GROUPS], "person", "background",
                                 *PART_GROUPS[FIRST_RELEASE_GROUPS:])
"""Every group name, in the order nodes list them (``person``: every non-background label)."""

MASK_PRECEDENCE: tuple[str, ...] = tuple(g.name for g in sorted(REGION_GROUPS, key=lambda g: g.precedence))
"""Where plain masks overlap, the first group in this order wins (small regions over large ones)."""

REGION_TITLES: tuple[str, ...] = tuple(g.title for g in REGION_GROUPS)

AFFINITY_OF_GROUP: dict[str, frozenset[str]] = {
    g.name: frozenset({g.name, *g.affinity}) for g in REGION_GROUPS
}
"""Part group -> the source groups a target region of that group prefers (itself included)."""


def _check() -> None:
    names = [g.name for g in REGION_GROUPS]
    problems = []
    if len(set(names)) != len(names) or {"person", "background", "other"} & set(names):
        problems.append(f"names must be unique and not person/background/other: {names}")
    if sorted(g.precedence for g in REGION_GROUPS) != list(range(len(REGION_GROUPS))):
        problems.append("precedences must be 0..n-1, each once")
    unknown = sorted({a for g in REGION_GROUPS for a in g.affinity} - set(names))
    if unknown:
        problems.append(f"affinity names unknown groups {unknown}")
    if len(REGION_GROUPS) < FIRST_RELEASE_GROUPS:
        problems.append("groups of the first release cannot be removed")
    if problems:
        raise RuntimeError("region group registry: " + "; ".join(problems))


_check()
