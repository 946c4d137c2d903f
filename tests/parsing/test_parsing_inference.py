"""End-to-end SCHP inference with random-weight checkpoints in the official layout.

The networks are full size (ResNet-101, official keys and shapes); the forwards run at small input sizes
(``input_size`` override; the network is fully convolutional) except one at the official 473 x 473.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from parsing.schp_fakes import write_official

from pose_models.parsing import GROUPS, LABEL_SETS, HumanParser, ParsingError, crop_transform
from pose_models.parsing.checkpoint import read_state_dict
from pose_models.parsing.cli import main

SMALL = (65, 65)
ids = [s.name for s in LABEL_SETS]


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("schp")
    return {s.name: write_official(folder, s.checkpoint, s.num_classes, seed=10 + i)
            for i, s in enumerate(LABEL_SETS)}


@pytest.fixture(scope="module")
def parsers(checkpoints) -> dict[str, HumanParser]:
    return {name: HumanParser.from_file(path) for name, path in checkpoints.items()}


def images_u8(count: int, height: int, width: int, seed: int = 0) -> np.ndarray:
    """``uint8 [count, H, W, 3]``: coloured blocks plus noise, so the parse varies across the image."""
    rng = np.random.default_rng(seed)
    blocks = rng.integers(0, 256, (count, 4, 3, 3)).repeat(-(-height // 4), 1).repeat(-(-width // 3), 2)
    noise = rng.integers(-20, 21, (count, height, width, 3))
    return np.clip(blocks[:, :height, :width] + noise, 0, 255).astype(np.uint8)


def assert_nearly_same_labels(labels: torch.Tensor, expected: torch.Tensor) -> None:
    """Equal but for rare near-ties: different batch sizes or memory layouts may pick other CPU kernels."""
    assert labels.shape == expected.shape
    assert (labels != expected).float().mean() < 1e-3


@pytest.mark.parametrize("label_set", LABEL_SETS, ids=ids)
def test_outputs_of_every_label_set(parsers, label_set):
    parser = parsers[label_set.name]
    assert parser.label_set is label_set
    images = torch.from_numpy(images_u8(2, 37, 53)).float() / 255
    result = parser.parse(images, input_size=SMALL)
    labels = result.labels
    assert labels.shape == (2, 37, 53) and labels.dtype == torch.int64 and labels.device.type == "cpu"
    assert not labels.is_inference()  # callers may write to it
    assert 0 <= labels.min() and labels.max() < label_set.num_classes
    colors = result.color_map()
    assert colors.shape == (2, 37, 53, 3) and colors.dtype == torch.float32
    assert 0 <= colors.min() and colors.max() <= 1
    masks = result.masks()
    assert list(masks) == list(GROUPS)
    assert all(m.shape == (2, 37, 53) and m.dtype == torch.float32 for m in masks.values())
    assert torch.equal(masks["person"], (labels > 0).float())
    assert torch.equal(result.mask("face"), masks["face"])
    assert list(result.legend()) == list(label_set.labels)
    assert result.legend_image().shape[-1] == 3


def test_official_input_size_by_default(parsers):
    parser = parsers["lip"]
    with torch.inference_mode():
        out = parser.network(torch.zeros(1, 3, 473, 473))
    assert out.fusion.shape == out.parsing.shape == (1, 20, 119, 119) and out.edge.shape == (1, 2, 119, 119)
    assert all(torch.isfinite(o).all() for o in out)
    seen = []
    hook = parser.network.register_forward_pre_hook(lambda module, args: seen.append(tuple(args[0].shape)))
    try:
        labels = parser.parse(images_u8(1, 48, 64)).labels
    finally:
        hook.remove()
    assert seen == [(1, 3, 473, 473)]
    assert labels.shape == (1, 48, 64) and 0 <= labels.min() and labels.max() < 20


def test_uint8_numpy_float_tensor_and_single_image_agree(parsers):
    parser = parsers["atr"]
    u8 = images_u8(2, 30, 20, seed=1)
    from_u8 = parser.parse(u8, input_size=SMALL).labels
    from_float = parser.parse(torch.from_numpy(u8).float() / 255, input_size=SMALL).labels
    from_single = parser.parse(u8[1], input_size=SMALL).labels
    negative_strides = u8[:, :, ::-1].copy()[:, :, ::-1]  # same pixels, a view with a negative stride
    from_reversed = parser.parse(negative_strides, input_size=SMALL).labels
    assert torch.equal(from_u8, from_float) and torch.equal(from_u8, from_reversed)
    assert_nearly_same_labels(from_single[0], from_u8[1])


def test_batch_equals_per_image_and_reports_progress(parsers):
    parser = parsers["lip"]
    images = images_u8(3, 33, 41, seed=2)
    calls = []
    batched = parser.parse(images, batch_size=2, input_size=SMALL, progress=lambda d, t: calls.append((d, t)))
    assert calls == [(2, 3), (3, 3)]
    transform = crop_transform((33, 41), SMALL)
    rgb = torch.from_numpy(images).permute(0, 3, 1, 2) / 255
    with torch.inference_mode():
        together = parser.logits(rgb, transform)
        alone = torch.cat([parser.logits(rgb[i:i + 1], transform) for i in range(3)])
    torch.testing.assert_close(together, alone, rtol=1e-4, atol=1e-4)
    single = torch.cat([parser.parse(image, input_size=SMALL).labels for image in images])
    assert_nearly_same_labels(batched.labels, single)


def test_progress_exceptions_stop_the_run(parsers):
    def interrupt(done: int, total: int) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        parsers["pascal"].parse(images_u8(3, 20, 20), batch_size=1, input_size=SMALL, progress=interrupt)


def test_interrupt_stops_inside_the_first_image_and_removes_its_hooks(parsers):
    """The interrupt check runs between the network's layers: a cancel stops the first forward pass
    (one image of several seconds on a CPU at the official size) instead of waiting for the chunk."""
    parser = parsers["lip"]
    calls = []

    def interrupt() -> None:
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt

    progress = []
    with pytest.raises(KeyboardInterrupt):
        parser.parse(images_u8(4, 20, 20), batch_size=4, input_size=SMALL, interrupt=interrupt,
                     progress=lambda d, t: progress.append(d))
    assert len(calls) == 3 and progress == []
    assert all(not m._forward_pre_hooks for m in parser.network.modules())
    calls.clear()
    parser.parse(images_u8(1, 20, 20), input_size=SMALL, interrupt=lambda: calls.append(1))
    assert len(calls) > 5  # checked many times per image


@pytest.mark.parametrize("label_set", LABEL_SETS, ids=ids)
def test_flip_averaging_swaps_left_and_right_channels(parsers, label_set):
    parser = parsers[label_set.name]
    rgb = torch.from_numpy(images_u8(2, 40, 31, seed=3)).permute(0, 3, 1, 2) / 255
    transform = crop_transform((40, 31), SMALL)
    with torch.inference_mode():
        fused = parser.logits(rgb, transform, flip=True)
        plain = parser.logits(rgb, transform)
        mirrored = parser.logits(rgb.flip(-1), transform).flip(-1)
        flipped_labels = parser.parse(rgb.permute(0, 2, 3, 1), flip=True, input_size=SMALL).labels
    swapped = mirrored[:, label_set.flip_permutation()]
    torch.testing.assert_close(fused, (plain + swapped) / 2, rtol=1e-4, atol=1e-3)
    assert torch.equal(flipped_labels, fused.argmax(1))
    if label_set.flip_pairs:  # the swap matters: without it the average is different
        assert not torch.allclose(fused, (plain + mirrored) / 2, rtol=1e-4, atol=1e-3)
        left, right = label_set.flip_pairs[0]
        torch.testing.assert_close(2 * fused[:, left] - plain[:, left], mirrored[:, right],
                                   rtol=1e-4, atol=2e-3)


def test_safetensors_conversion_gives_identical_outputs(checkpoints, parsers, tmp_path):
    converted = tmp_path / "atr.safetensors"
    assert main(["convert", str(checkpoints["atr"]), str(converted)]) == 0
    parser = HumanParser.from_file(converted)
    assert parser.label_set.name == "atr"
    sft = converted.rename(tmp_path / "atr.sft")  # ComfyUI's other safetensors suffix
    original, copied = read_state_dict(checkpoints["atr"]), read_state_dict(sft)
    assert copied.keys() == original.keys() and all(torch.equal(copied[k], original[k]) for k in original)
    rgb = torch.from_numpy(images_u8(2, 25, 35, seed=4)).permute(0, 3, 1, 2) / 255
    transform = crop_transform((25, 35), SMALL)
    with torch.inference_mode():
        converted_logits = parser.logits(rgb, transform, flip=True)
        original_logits = parsers["atr"].logits(rgb, transform, flip=True)
    # Same weights bit for bit; CPU kernels may still differ in the last bits with the memory layout.
    torch.testing.assert_close(converted_logits, original_logits, rtol=1e-5, atol=1e-5)
    assert_nearly_same_labels(converted_logits.argmax(1), original_logits.argmax(1))


def test_dtype_argument(checkpoints):
    parser = HumanParser.from_file(checkpoints["pascal"], device="cpu", dtype=torch.bfloat16)
    assert parser.dtype == torch.bfloat16 and parser.device == torch.device("cpu")
    labels = parser.parse(images_u8(1, 24, 24), input_size=SMALL).labels
    assert labels.shape == (1, 24, 24) and 0 <= labels.min() and labels.max() < 7
    assert parser.to(dtype=torch.float32) is parser and parser.dtype == torch.float32


@pytest.mark.parametrize(("images", "message"), [
    (torch.zeros(1, 3, 8, 8), r"RGB \[batch, height, width, 3\], got shape \(1, 3, 8, 8\)"),
    (np.zeros((8, 8, 4), np.uint8), "got shape"),
    (np.zeros((1, 8, 8, 3), np.int32), "float in \\[0, 1\\] or uint8, got dtype int32"),
    ([[0.0, 0.0, 0.0]], "torch tensor or numpy array, not list"),
    (np.zeros((1, 1, 1, 3), np.uint8), "empty or a single pixel"),
    (np.zeros((0, 8, 8, 3), np.uint8), "empty or a single pixel"),
])
def test_bad_images_are_refused(parsers, images, message):
    with pytest.raises(ParsingError, match=message):
        parsers["pascal"].parse(images, input_size=SMALL)


def test_bad_settings_are_refused(parsers):
    images = images_u8(1, 8, 8)
    with pytest.raises(ParsingError, match="batch_size must be >= 1"):
        parsers["pascal"].parse(images, batch_size=0)
    with pytest.raises(ParsingError, match="input_size must be"):
        parsers["pascal"].parse(images, input_size=(8, 8))
