"""Label sets, palette, region groups, colour maps, masks and legend of ``pose_models.parsing``."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from pose_models.parsing import (
    ATR,
    GROUPS,
    LABEL_SETS,
    LIP,
    PART_GROUPS,
    PASCAL,
    color_map,
    group_masks,
    legend,
    legend_image,
)
from pose_models.parsing.labels import voc_palette

# The region groups (docs/methods.md, TruePose; the registry in pose_models/parsing/groups.py), by label name.
GROUP_TABLE = {
    "lip": {
        "face": {"Face"}, "hair": {"Hair"}, "upper_clothes": {"Upper-clothes"},
        "dress_coat": {"Dress", "Coat", "Jumpsuits"}, "lower_clothes": {"Pants", "Skirt"},
        "arms": {"Left-arm", "Right-arm"}, "legs": {"Left-leg", "Right-leg"},
        "shoes": {"Left-shoe", "Right-shoe", "Socks"}, "accessories": {"Hat", "Glove", "Sunglasses", "Scarf"},
    },
    "atr": {
        "face": {"Face"}, "hair": {"Hair"}, "upper_clothes": {"Upper-clothes"}, "dress_coat": {"Dress"},
        "lower_clothes": {"Pants", "Skirt"}, "arms": {"Left-arm", "Right-arm"},
        "legs": {"Left-leg", "Right-leg"}, "shoes": {"Left-shoe", "Right-shoe"},
        "accessories": {"Hat", "Sunglasses", "Belt", "Bag", "Scarf"},
    },
    "pascal": {
        "face": {"Head"}, "hair": set(), "upper_clothes": {"Torso"}, "dress_coat": set(),
        "lower_clothes": set(), "arms": {"Upper Arms", "Lower Arms"}, "legs": {"Upper Legs", "Lower Legs"},
        "shoes": set(), "accessories": set(),
    },
}

ids = [s.name for s in LABEL_SETS]


def test_official_label_sets():
    assert [s.num_classes for s in LABEL_SETS] == [20, 18, 7]
    assert [s.input_size for s in LABEL_SETS] == [(473, 473), (512, 512), (512, 512)]
    assert LIP.labels[13] == "Face" and LIP.labels[19] == "Right-shoe"
    assert ATR.labels[11] == "Face" and ATR.labels[17] == "Scarf"
    assert PASCAL.labels == ("Background", "Head", "Torso", "Upper Arms", "Lower Arms", "Upper Legs",
                             "Lower Legs")
    assert LIP.checkpoint == "exp-schp-201908261155-lip.pth"
    assert ATR.checkpoint == "exp-schp-201908301523-atr.pth"
    assert PASCAL.checkpoint == "exp-schp-201908270938-pascal-person-part.pth"
    assert len({LIP, ATR, PASCAL}) == 3  # hashable: usable as cache keys
    for label_set in LABEL_SETS:
        assert label_set.labels[0] == "Background"
        assert len(set(label_set.labels)) == label_set.num_classes


@pytest.mark.parametrize("label_set", LABEL_SETS, ids=ids)
def test_groups_follow_the_methods_table(label_set):
    for group in PART_GROUPS:
        names = {label_set.labels[i] for i in label_set.group_labels(group)}
        assert names == GROUP_TABLE[label_set.name][group], group
    assert label_set.group_labels("person") == tuple(range(1, label_set.num_classes))
    assert label_set.group_labels("background") == (0,)
    with pytest.raises(ValueError, match="unknown region group"):
        label_set.group_labels("tail")


@pytest.mark.parametrize("label_set", LABEL_SETS, ids=ids)
def test_every_person_label_is_in_exactly_one_part_group(label_set):
    membership = {label: [g for g in PART_GROUPS if label in label_set.group_labels(g)]
                  for label in range(label_set.num_classes)}
    assert membership[0] == []
    assert all(len(groups) == 1 for label, groups in membership.items() if label), membership


@pytest.mark.parametrize("label_set", LABEL_SETS, ids=ids)
def test_flip_pairs_swap_left_and_right(label_set):
    order = label_set.flip_permutation()
    assert sorted(order) == list(range(label_set.num_classes))
    assert [order[i] for i in order] == list(range(label_set.num_classes))  # an involution
    for label, partner in enumerate(order):
        name = label_set.labels[label]
        if name.startswith(("Left-", "Right-")):
            side, part = name.split("-", 1)
            assert label_set.labels[partner] == f"{'Right' if side == 'Left' else 'Left'}-{part}"
        else:
            assert partner == label
    assert LIP.flip_permutation()[14:20] == [15, 14, 17, 16, 19, 18]  # SCHP evaluate.py's flipped_idx


def test_palette_is_the_voc_colour_map():
    palette = voc_palette(20)
    assert palette[:4].tolist() == [[0, 0, 0], [128, 0, 0], [0, 128, 0], [128, 128, 0]]
    assert palette[13].tolist() == [192, 0, 128]
    assert palette[19].tolist() == [128, 192, 0]
    for label_set in LABEL_SETS:
        assert np.array_equal(label_set.palette, palette[: label_set.num_classes])
        assert len({tuple(c) for c in label_set.palette}) == label_set.num_classes


@pytest.mark.parametrize("label_set", LABEL_SETS, ids=ids)
def test_legend_is_complete(label_set):
    entries = legend(label_set)
    assert list(entries) == list(label_set.labels)
    assert list(entries.values()) == [tuple(int(v) for v in c) for c in label_set.palette]
    image = legend_image(label_set, row_height=20, width=200)
    assert image.shape == (1, 20 * label_set.num_classes, 200, 3) and image.dtype == torch.float32
    for index, rgb in enumerate(label_set.palette):
        swatch = image[0, index * 20 + 10, 10]  # the swatch's centre
        assert torch.allclose(swatch, torch.tensor(rgb, dtype=torch.float32) / 255)
    assert (image[0, :, 40:] < 0.5).any()  # the names are drawn


@pytest.mark.parametrize("label_set", LABEL_SETS, ids=ids)
def test_color_map_and_group_masks_of_a_label_map(label_set):
    labels = torch.arange(label_set.num_classes).repeat(2, 3, 1)  # [2, 3, C]: every label in every row
    colors = color_map(labels, label_set)
    assert colors.shape == (2, 3, label_set.num_classes, 3) and colors.dtype == torch.float32
    assert torch.equal((colors[0, 0] * 255).round().to(torch.uint8), torch.from_numpy(label_set.palette))
    masks = group_masks(labels, label_set)
    assert list(masks) == list(GROUPS)
    for group, mask in masks.items():
        assert mask.shape == labels.shape and mask.dtype == torch.float32
        members = set(label_set.group_labels(group))
        assert mask[0, 0].tolist() == [1.0 if i in members else 0.0 for i in range(label_set.num_classes)]
    parts = sum(masks[g] for g in PART_GROUPS)
    assert torch.equal(parts, masks["person"])
    assert torch.equal(masks["person"] + masks["background"], torch.ones_like(masks["person"]))


def test_groups_missing_from_pascal_give_zero_masks():
    labels = torch.arange(7).view(1, 1, 7)
    for group in ("hair", "dress_coat", "lower_clothes", "shoes", "accessories"):
        assert group_masks(labels, PASCAL, [group])[group].sum() == 0
