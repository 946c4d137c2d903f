"""pose_models.truepose without the host: groups, weights, block selection, bias, gating, pose prior."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from pose_models.parsing import LIP, PART_GROUPS
from pose_models.pose import Person, PoseFrame
from pose_models.truepose import (
    BANK_GROUPS,
    REGION_LABEL_SET,
    TruePoseError,
    affinity_matrix,
    area_coverage,
    bank_group_masks,
    dominant_group,
    gate_penalty,
    labels_from_masks,
    parse_block_selection,
    parse_group_weights,
    parse_groups,
    source_key_bias,
    target_region_labels,
)

LAYERS = [("input", 1, 0), ("input", 4, 0), ("middle", 0, 0), ("output", 3, 0), ("output", 4, 0),
          ("output", 5, 0), ("output", 5, 1)]


def test_group_selection_and_weights():
    assert parse_groups("person") == (*PART_GROUPS, "other")
    assert parse_groups("hair, face") == ("face", "hair")
    assert parse_groups("all") == BANK_GROUPS
    weights = parse_group_weights("person=0.5; face=2\nbackground=0")
    assert weights["face"] == 2 and weights["legs"] == 0.5 and weights["background"] == 0
    assert parse_group_weights("")["shoes"] == 1.0
    for bad, message in [("face", "group=number"), ("face=x", "not a number"), ("face=inf", "finite"),
                         ("torso=1", "unknown region group")]:
        with pytest.raises(TruePoseError, match=message):
            parse_group_weights(bad)
    with pytest.raises(TruePoseError, match="no region group"):
        parse_groups(" , ")


STAGES = {"input": ("input",), "down": ("input",), "middle": ("middle",), "output": ("output",),
          "up": ("output",), "all": ("input", "middle", "output"), "midup": ("middle", "output")}
"""Selection words as a UNet backbone offers them (the library takes them from the caller)."""


def test_block_selection():
    assert parse_block_selection("middle, output", LAYERS, STAGES) == tuple(LAYERS[2:])
    assert parse_block_selection("midup", LAYERS, STAGES) == tuple(LAYERS[2:])
    assert parse_block_selection("up:4-5 down:1", LAYERS, STAGES) == (LAYERS[0], *LAYERS[4:])
    assert parse_block_selection("all", LAYERS, STAGES) == tuple(LAYERS)
    for bad, message in [("", "empty"), ("side", "unknown block"), ("output:5-3", "backwards"),
                         ("output:x", "number or a range"), ("input:9", "matches no self-attention")]:
        with pytest.raises(TruePoseError, match=message):
            parse_block_selection(bad, LAYERS, STAGES)


def test_bank_group_masks_partition_every_pixel():
    labels = torch.randint(0, LIP.num_classes, (2, 9, 7))
    masks = bank_group_masks(labels, LIP)
    assert masks.shape == (2, len(BANK_GROUPS), 9, 7)
    assert torch.equal(masks.sum(1), torch.ones(2, 9, 7))
    assert torch.equal(masks[:, BANK_GROUPS.index("other")], torch.zeros(2, 9, 7))  # LIP labels all in parts


def test_labels_from_masks_precedence_and_other():
    person = torch.zeros(1, 4, 4)
    person[:, :, :3] = 1
    face = torch.zeros(1, 4, 4)
    face[:, 0, :] = 1
    upper = torch.ones(1, 4, 4)
    labels = labels_from_masks({"face": face, "upper_clothes": upper}, person)
    assert labels[0, 0, 0] == REGION_LABEL_SET.parts["face"][0]  # face wins over clothes
    assert labels[0, 2, 1] == REGION_LABEL_SET.parts["upper_clothes"][0]
    only_person = labels_from_masks({}, person)
    masks = bank_group_masks(only_person, REGION_LABEL_SET)
    assert torch.equal(masks[0, BANK_GROUPS.index("other")], person[0])
    with pytest.raises(TruePoseError, match="different sizes"):
        labels_from_masks({"face": torch.ones(1, 3, 3)}, person)
    with pytest.raises(TruePoseError, match="unknown region group"):
        labels_from_masks({"torso": person})


def test_source_bias_is_minus_infinity_exactly_where_no_weighted_pixel_is():
    masks = torch.zeros(1, 2, 8, 8)
    masks[0, 0, :2, :] = 1  # group 0 in the top quarter
    masks[0, 1, 2:, :] = 1
    coverage = area_coverage(masks, (4, 4))
    assert torch.equal(coverage.sum(1), torch.ones(1, 4, 4))
    bias = source_key_bias(coverage[0], torch.tensor([2.0, 0.0]), strength=0.5).view(4, 4)
    assert torch.equal(bias[0], torch.zeros(4))  # log(0.5 * 2)
    assert torch.isneginf(bias[1:]).all()
    softmax = torch.softmax(torch.cat([torch.zeros(3), bias.flatten()]), 0)
    assert (softmax[7:] == 0).all()  # excluded tokens take exactly no attention
    assert torch.isneginf(source_key_bias(coverage[0], torch.tensor([1.0, 1.0]), 0.0)).all()
    partial = source_key_bias(area_coverage(masks, (3, 3))[0], torch.tensor([1.0, 0.0]), 1.0).view(3, 3)
    assert torch.isfinite(partial[0]).all() and (partial[0] < 0).all()  # partly covered: soft, not excluded
    assert torch.isneginf(partial[1:]).all()


def test_dominant_group_and_gate_penalty():
    coverage = torch.tensor([[[[0.7, 0.0]], [[0.3, 0.0]]]])  # [1, 2 groups, 1, 2 tokens]
    assert dominant_group(coverage).tolist() == [[0, -1]]
    affinity = affinity_matrix(("face", "upper_clothes"), ("face", "hair", "upper_clothes"))
    assert affinity.tolist() == [[True, True, False], [False, False, True]]
    target = torch.tensor([[0, 1, -1]])
    source = torch.tensor([0, 2, -1])
    penalty = gate_penalty(target, source, affinity, gate=3.0)
    assert penalty.tolist() == [[[0.0, -3.0, 0.0], [-3.0, 0.0, 0.0], [0.0, 0.0, 0.0]]]


def test_pose_prior_regions():
    body = np.zeros((18, 3), np.float32)
    joints = {0: (50, 20), 1: (50, 35), 2: (38, 36), 3: (34, 52), 4: (32, 66), 5: (62, 36), 6: (66, 52),
              7: (68, 66), 8: (43, 70), 9: (42, 90), 10: (42, 110), 11: (57, 70), 12: (58, 90),
              13: (58, 110), 14: (47, 18), 15: (53, 18)}
    for index, (x, y) in joints.items():
        body[index] = (x, y, 1.0)
    frame = PoseFrame((Person(body),), 100, 125)
    labels = target_region_labels(frame, 125, 100)
    def at(x, y):
        return REGION_LABEL_SET.labels[labels[y, x]]
    assert (at(50, 18), at(50, 50), at(33, 58), at(43, 80), at(42, 100)) == (
        "Face", "Upper clothes", "Arms", "Lower clothes", "Legs")
    assert at(5, 5) == "Background"
    assert labels.shape == (125, 100)
    bigger = target_region_labels(frame, 125, 100, scale=2.0)
    assert (bigger > 0).sum() > (labels > 0).sum()
    empty = target_region_labels(PoseFrame((), 100, 125), 64, 48)
    assert empty.shape == (64, 48) and not empty.any()
