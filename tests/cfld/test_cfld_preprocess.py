"""Aspect handling (pad / crop to 176:256, never a silent stretch), output resizing, frame keypoints."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from pose_models.cfld import CFLDError, fit_region, frame_keypoints, prepare_source, resize_output


@pytest.mark.parametrize(("size", "mode", "expected"), [
    ((176, 256), "pad", (0, 0, 176, 256)),
    ((352, 512), "crop", (0, 0, 352, 512)),
    ((512, 512), "pad", (0, -116.36363636363637, 512, 744.7272727272727)),
    ((512, 512), "crop", (80, 0, 352, 512)),
    ((100, 400), "pad", (-87.5, 0, 275, 400)),
    ((100, 400), "crop", (0, 127.27272727272728, 100, 145.45454545454547)),
])
def test_fit_region_keeps_176_by_256(size: tuple[int, int], mode: str, expected: tuple) -> None:
    region = fit_region(*size, mode)
    assert region == pytest.approx(expected)
    assert region[2] / region[3] == pytest.approx(176 / 256)


def test_prepare_source_pads_with_the_fill_colour() -> None:
    images = torch.zeros(2, 64, 64, 3)  # black square
    padded = prepare_source(images, 32, "pad", fill=1.0)
    assert padded.shape == (2, 3, 32, 32)
    assert float(padded[:, :, 0].mean()) == pytest.approx(1.0)  # top rows: white padding -> +1
    assert float(padded[:, :, 16].mean()) == pytest.approx(-1.0)  # middle: the black photo -> -1
    cropped = prepare_source(images, 32, "crop")
    assert float(cropped.max()) == pytest.approx(-1.0)
    with pytest.raises(CFLDError, match="one of"):
        prepare_source(images, 32, "stretch")
    with pytest.raises(CFLDError, match=r"\[B, H, W, 3\]"):
        prepare_source(images[..., :1], 32)


def test_resize_output_sizes() -> None:
    images = torch.rand(1, 64, 64, 3)
    assert resize_output(images, "512x512") is images
    assert resize_output(images, "256x176").shape == (1, 256, 176, 3)
    out = resize_output(images, "512x352")
    assert out.shape == (1, 512, 352, 3) and float(out.min()) >= 0 and float(out.max()) <= 1
    with pytest.raises(CFLDError, match="output size"):
        resize_output(images, "1024x1024")


def test_frame_keypoints_follow_the_region() -> None:
    xy = np.array([[256.0, 100.0]] * 18)
    visible = np.ones(18, bool)
    visible[3] = False
    region = fit_region(512, 512, "crop")  # x 80..432
    kp = frame_keypoints(xy, visible, region)
    assert kp[0] == pytest.approx([100 / 512 * 256, (256 - 80) / 352 * 176])
    assert (kp[3] == -1).all()
    outside = frame_keypoints(np.array([[10.0, 100.0]] * 18), np.ones(18, bool), region)
    assert (outside == -1).all()
