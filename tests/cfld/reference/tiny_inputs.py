"""Inputs of the tiny CFLD parity configuration, shared by the reference generator, tests and benchmark.

Everything is computed from names by :mod:`deterministic` (torch + numpy only), so the official code's
venv and ours see identical tensors.
"""

from __future__ import annotations

import numpy as np
import torch

try:
    from . import deterministic
except ImportError:  # imported as a top-level module by the generator (its folder on sys.path)
    import deterministic  # type: ignore[no-redef]

BATCH = 2
SOURCE_SIDE = 64
LATENT_SIDE = SOURCE_SIDE // 4
TIMESTEPS = (981, 501)
POSE_SCALE = 1.5  # DOWN_BLOCK_GUIDANCE_SCALE; deliberately != the appearance scale so a swap shows
APPEARANCE_SCALE = 2.5  # FULL_GUIDANCE_SCALE
STEPS = 10  # official loop length of the reference (the 50-step schedule is checked on its own)

# (y, x) in the 256x176 DeepFashion frame, -1 = missing. Rows of tests/data/deepfashion-keypoints-dev.csv
# plus one pose with fractional coordinates (our canonical poses are float pixels).
KEYPOINTS_YX = np.array([
    [[26, 51, 51, 90, 124, 50, 87, 132, 121, 173, 227, 119, 175, 227, 21, 21, 24, 23],
     [85, 84, 64, 64, 76, 104, 108, 112, 72, 54, 70, 99, 95, 87, 80, 89, 74, 96]],
    [[36, 82, 81, 141, 202, 83, 148, 207, 195, -1, -1, 195, -1, -1, 27, 27, 30, 32],
     [87, 88, 51, 41, 43, 122, 128, 144, 68, -1, -1, 114, -1, -1, 79, 96, 70, 107]],
    [[24.6, 53.2, 57.9, 91.5, 115.1, 49.99, 85.0, 120.3, 121.7, 173.2, 219.8, 121.1, 177.4, 209.6, 20.5,
      20.2, 25.1, -1],
     [82.3, 86.7, 66.1, 60.5, 63.9, 107.2, 110.0, 109.4, 75.5, 81.81, 84.2, 99.9, 106.3, 80.1, 78.4, 87.6,
      71.2, -1]],
], dtype=np.float64).transpose(0, 2, 1)  # [poses, 18, (y, x)]
PIPELINE_POSES = (0, 1)  # the poses of the two batch items



def source_images() -> torch.Tensor:
    """``[B, 3, S, S]`` in [-1, 1]: the official preprocessing's range."""
    return deterministic.uniform("cfld/source", (BATCH, 3, SOURCE_SIDE, SOURCE_SIDE))


def initial_latents() -> torch.Tensor:
    return deterministic.normal("cfld/initial_latents", (BATCH, 4, LATENT_SIDE, LATENT_SIDE))


def step_noise(step: int) -> torch.Tensor:
    return deterministic.normal(f"cfld/step_noise/{step}", (BATCH, 4, LATENT_SIDE, LATENT_SIDE))


def noisy_latents(t: int) -> torch.Tensor:
    return deterministic.normal(f"cfld/x_t/{t}", (BATCH, 4, LATENT_SIDE, LATENT_SIDE))
