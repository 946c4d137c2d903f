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
    mixed_with_own_output,
    parse_block_selection,
    parse_group_weights,
    parse_groups,
    reference_offset,
    rotate_keys,
    source_key_bias,
    stage_words,
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


STAGES = stage_words({"input": ("input",), "down": ("input",), "middle": ("middle",), "output": ("output",),
                      "up": ("output",), "all": ("input", "middle", "output"), "midup": ("middle", "output")},
                     LAYERS)
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


def test_block_selection_words_name_any_layer_keys():
    dit = [("double", 0, 0), ("double", 1, 0), ("single", 0, 0), ("single", 1, 0), ("single", 2, 0)]
    words = stage_words({"auto": ("double",), "single": ("single",), "all": ("double", "single")}, dit)
    assert parse_block_selection("auto", dit, words) == tuple(dit[:2])
    assert parse_block_selection("single:1-2", dit, words) == tuple(dit[3:])
    with pytest.raises(TruePoseError, match="use auto, single, all.*single:3-5"):
        parse_block_selection("middle", dit, words)


def _rope(x: torch.Tensor, positions: torch.Tensor, axes_dim: list[int], theta: float) -> torch.Tensor:
    """Axial rotary embedding written out as in Flux's reference code (pairs interleaved), float64."""
    angles = []
    for axis, dim in enumerate(axes_dim):
        omega = 1.0 / theta ** (torch.arange(0, dim, 2, dtype=torch.float64) / dim)
        angles.append(positions[..., axis:axis + 1].double() * omega)
    angle = torch.cat(angles, -1)
    pairs = x.double().unflatten(-1, (-1, 2))
    cos, sin = angle.cos(), angle.sin()
    return torch.stack([cos * pairs[..., 0] - sin * pairs[..., 1],
                        sin * pairs[..., 0] + cos * pairs[..., 1]], -1).flatten(-2)


def test_rotating_recorded_keys_equals_recording_at_the_moved_position():
    axes_dim, theta = [4, 6, 6], 10000.0
    keys = torch.randn(1, 2, 5, 16, generator=torch.Generator().manual_seed(0))
    cells = [(0, 0), (0, 1), (1, 0), (2, 3), (4, 4)]
    positions = torch.tensor([[0, r, c] for r, c in cells], dtype=torch.float64)
    offset = reference_offset(1, 3)
    assert offset == (2, 0, 0)
    recorded = _rope(keys, positions, axes_dim, theta).float()
    moved = rotate_keys(recorded, offset, axes_dim, theta)
    expected = _rope(keys, positions + torch.tensor(offset, dtype=torch.float64), axes_dim, theta).float()
    torch.testing.assert_close(moved, expected, rtol=1e-5, atol=1e-5)
    assert rotate_keys(recorded, (0, 0, 0), axes_dim, theta) is recorded


def test_fusion_with_plain_own_attention_equals_one_attention_call():
    gen = torch.Generator().manual_seed(1)
    q, k, v = (torch.randn(2, 2, n, 8, generator=gen) for n in (6, 7, 7))
    k_s, v_s = torch.randn(1, 2, 4, 8, generator=gen), torch.randn(1, 2, 4, 8, generator=gen)
    source_bias = torch.tensor([0.0, -1.0, float("-inf"), 0.5]).expand(2, 1, 1, 4)
    bias = torch.cat([torch.zeros(2, 1, 1, 7), source_bias], -1)
    own = torch.nn.functional.scaled_dot_product_attention(q, k, v).transpose(1, 2).flatten(2)
    keys = torch.cat([k, k_s.expand(2, -1, -1, -1)], 2)
    values = torch.cat([v, v_s.expand(2, -1, -1, -1)], 2)
    one_call = torch.nn.functional.scaled_dot_product_attention(q, keys, values, attn_mask=bias)
    mixed = mixed_with_own_output(q, keys, v_s, bias, own)
    torch.testing.assert_close(mixed, one_call.transpose(1, 2).flatten(2), rtol=1e-5, atol=1e-5)


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
