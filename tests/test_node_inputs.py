"""Image inputs made RGB or refused (nodes/common/images.py) and the memory refusal (nodes/host/memory.py)."""

from __future__ import annotations

import sys

import pytest
import torch
from host_tree import PACK_FOLDER


@pytest.fixture(scope="module")
def pack(comfy_host):
    name = next(name for name in sys.modules if name.endswith(f"custom_nodes/{PACK_FOLDER}"))
    return lambda module: sys.modules[f"{name}.{module}"]


@pytest.mark.parametrize("channels", [1, 2, 3, 4])
def test_every_channel_count_becomes_rgb(pack, channels):
    rgb_images = pack("nodes.common.images").rgb_images
    images = torch.rand(2, 5, 7, channels)
    rgb = rgb_images(images, "Node", "image")
    assert rgb.shape == (2, 5, 7, 3) and rgb.dtype == torch.float32
    expected = images[..., :1].expand(-1, -1, -1, 3) if channels <= 2 else images[..., :3]
    torch.testing.assert_close(rgb, expected)
    assert rgb_images(torch.rand(5, 7, 3), "Node", "image").shape == (1, 5, 7, 3)


@pytest.mark.parametrize(("images", "phrase"), [
    (torch.rand(2, 5, 7, 5), "1 to 4 channels"),
    (torch.rand(0, 5, 7, 3), "empty batch"),
    (torch.rand(1, 1, 1, 3), "at least 2 px a side"),
    (torch.tensor([[[[0.5, float("inf"), 0.0]]]]).expand(1, 4, 4, 3), "NaN or infinite"),
    ("not an image", "not an image batch"),
])
def test_unusable_images_are_refused_naming_node_and_input(pack, images, phrase):
    images_mod = pack("nodes.common.images")
    with pytest.raises(images_mod.ImageInputError, match=phrase) as refused:
        images_mod.rgb_images(images, "Human Parsing", "image", 2)
    assert str(refused.value).startswith("Human Parsing: ")


def test_memory_refusal_names_the_amount_and_the_fix(pack, monkeypatch):
    memory = pack("nodes.host.memory")
    monkeypatch.setattr(memory, "free_memory", lambda device="cpu": 2_000_000_000)
    memory.require_memory(1_000_000_000, "Render Pose", "4 frames", "Render fewer frames.")
    with pytest.raises(memory.ResourceLimitError) as refused:
        memory.require_memory(6_600_000_000, "Render Pose", "4096 frame(s) at 64x96", "Render fewer frames.")
    assert str(refused.value) == ("Render Pose: 4096 frame(s) at 64x96 needs 6.6 GB of system memory but "
                                  "2.0 GB are free. Render fewer frames.")
    assert memory.chunk_that_fits(400_000_000, "cpu", 10, "Human Parsing", "one image", "fix") == 4
    assert memory.chunk_that_fits(1_000, "cpu", 3, "Human Parsing", "one image", "fix") == 3
    with pytest.raises(memory.ResourceLimitError, match="one image needs 3.0 GB"):
        memory.chunk_that_fits(3_000_000_000, "cpu", 3, "Human Parsing", "one image", "fix")
