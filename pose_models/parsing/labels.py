"""The three SCHP label sets (LIP, ATR, Pascal-Person-Part), their palette and the shared region groups.

Label names, input sizes and left/right pairs are the official ones of SCHP's ``simple_extractor.py`` and
``evaluate.py``. The palette is the official one (the PASCAL VOC bit-interleaved colour map that SCHP
attaches to its output PNGs): label ``j`` spreads its bits 0, 1, 2 into R, G, B, filling each channel from
bit 7 downwards, three label bits per step. Label 0 (background) is black.

Region groups (:mod:`.groups`, the one registry) are shared across label sets so that downstream code
can ask for "upper_clothes" whatever checkpoint the user installed. Each non-background label of a set
lies in exactly one part group (checked at import); ``person`` is every non-background label and
``background`` is label 0. A group a label set cannot express (hair, clothes and shoes for
Pascal-Person-Part, whose head label includes the hair) has no labels and so gives an all-zero mask.
"""

from __future__ import annotations

import types
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from .errors import ParsingCheckpointError
from .groups import MASK_OUTPUTS, PART_GROUPS

GROUPS: tuple[str, ...] = MASK_OUTPUTS
"""Every group name, in the order nodes list them (:data:`.groups.MASK_OUTPUTS`)."""

MODELS_FOLDER = "human_parsing"
"""The host's model folder (``models/human_parsing/``) the checkpoints belong in."""

SCHP_DOWNLOAD_URL = "https://drive.google.com/drive/folders/1uOaQCpNtosIjEL2phQKEdiYd0Td18jNo"
"""The SCHP authors' folder with the three released checkpoints (linked from their README)."""


def voc_palette(num_labels: int) -> np.ndarray:
    """``uint8 [num_labels, 3]`` RGB: the PASCAL VOC colour map that SCHP uses for its parsing PNGs."""
    palette = np.zeros((num_labels, 3), dtype=np.uint8)
    for label in range(num_labels):
        value, bit = label, 7
        while value:
            for channel in range(3):
                palette[label, channel] |= ((value >> channel) & 1) << bit
            value >>= 3
            bit -= 1
    return palette


@dataclass(frozen=True)
class LabelSet:
    """One SCHP label system.

    ``input_size`` is the official network input ``(height, width)``; ``flip_pairs`` are the label pairs
    that swap under a horizontal flip; ``parts`` maps each name of :data:`PART_GROUPS` to its labels
    (empty where the set has no such labels); ``checkpoint`` is the official file name.
    """

    name: str
    title: str
    labels: tuple[str, ...]
    input_size: tuple[int, int]
    flip_pairs: tuple[tuple[int, int], ...]
    parts: Mapping[str, tuple[int, ...]] = field(compare=False)  # a read-only mapping: keeps the set hashable
    checkpoint: str

    @property
    def num_classes(self) -> int:
        """Number of labels, background included (the classifier's output channels)."""
        return len(self.labels)

    @property
    def palette(self) -> np.ndarray:
        """``uint8 [num_classes, 3]`` RGB colour of each label (the official palette)."""
        return voc_palette(self.num_classes)

    def flip_permutation(self) -> list[int]:
        """Channel order that turns logits of a mirrored image into logits of the original labels."""
        order = list(range(self.num_classes))
        for left, right in self.flip_pairs:
            order[left], order[right] = right, left
        return order

    def group_labels(self, group: str) -> tuple[int, ...]:
        """The labels of ``group`` (one of :data:`GROUPS`), ascending; empty if this set lacks the group."""
        if group == "person":
            return tuple(range(1, self.num_classes))
        if group == "background":
            return (0,)
        if group not in self.parts:
            raise ValueError(f"unknown region group {group!r}; known groups: {', '.join(GROUPS)}")
        return tuple(sorted(self.parts[group]))


def _parts(**groups: tuple[int, ...]) -> Mapping[str, tuple[int, ...]]:
    return types.MappingProxyType({g: groups.get(g, ()) for g in PART_GROUPS})


LIP = LabelSet(
    name="lip",
    title="LIP",
    labels=("Background", "Hat", "Hair", "Glove", "Sunglasses", "Upper-clothes", "Dress", "Coat", "Socks",
            "Pants", "Jumpsuits", "Scarf", "Skirt", "Face", "Left-arm", "Right-arm", "Left-leg", "Right-leg",
            "Left-shoe", "Right-shoe"),
    input_size=(473, 473),
    flip_pairs=((14, 15), (16, 17), (18, 19)),
    parts=_parts(face=(13,), hair=(2,), upper_clothes=(5,), lower_clothes=(9, 12), dress_coat=(6, 7, 10),
                 arms=(14, 15), legs=(16, 17), shoes=(8, 18, 19), accessories=(1, 3, 4, 11)),
    checkpoint="exp-schp-201908261155-lip.pth",
)

ATR = LabelSet(
    name="atr",
    title="ATR",
    labels=("Background", "Hat", "Hair", "Sunglasses", "Upper-clothes", "Skirt", "Pants", "Dress", "Belt",
            "Left-shoe", "Right-shoe", "Face", "Left-leg", "Right-leg", "Left-arm", "Right-arm", "Bag",
            "Scarf"),
    input_size=(512, 512),
    flip_pairs=((9, 10), (12, 13), (14, 15)),
    parts=_parts(face=(11,), hair=(2,), upper_clothes=(4,), lower_clothes=(5, 6), dress_coat=(7,),
                 arms=(14, 15), legs=(12, 13), shoes=(9, 10), accessories=(1, 3, 8, 16, 17)),
    checkpoint="exp-schp-201908301523-atr.pth",
)

PASCAL = LabelSet(
    name="pascal",
    title="Pascal-Person-Part",
    labels=("Background", "Head", "Torso", "Upper Arms", "Lower Arms", "Upper Legs", "Lower Legs"),
    input_size=(512, 512),
    flip_pairs=(),
    # The head label includes the hair; the torso stands in for the upper clothes.
    parts=_parts(face=(1,), upper_clothes=(2,), arms=(3, 4), legs=(5, 6)),
    checkpoint="exp-schp-201908270938-pascal-person-part.pth",
)

LABEL_SETS: tuple[LabelSet, ...] = (LIP, ATR, PASCAL)


def _check_label_sets() -> None:
    for label_set in LABEL_SETS:
        if tuple(label_set.parts) != PART_GROUPS:
            raise RuntimeError(f"{label_set.name}: parts must name every region group, in registry order")
        grouped = sorted(label for labels in label_set.parts.values() for label in labels)
        if grouped != list(range(1, label_set.num_classes)):
            raise RuntimeError(f"{label_set.name}: every non-background label must be in exactly one group")


_check_label_sets()


def label_set_for_classes(num_classes: int, source: str) -> LabelSet:
    """The label set whose classifier has ``num_classes`` outputs; ``source`` names the file for errors."""
    for label_set in LABEL_SETS:
        if label_set.num_classes == num_classes:
            return label_set
    known = ", ".join(f"{s.num_classes} ({s.title})" for s in LABEL_SETS)
    raise ParsingCheckpointError(
        f"{source}: the classifier has {num_classes} output labels, but SCHP checkpoints have {known}. "
        f"Use one of {', '.join(s.checkpoint for s in LABEL_SETS)} in models/{MODELS_FOLDER}/."
    )
