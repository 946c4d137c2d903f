"""Stand-ins for a broken node of another pack: outputs no stock node can produce, for the bad-input tests.

``PTTest_NaNImage`` passes an IMAGE through with its first pixel set to NaN (what a division by zero in
someone else's node hands on).
"""

from __future__ import annotations

import math

import torch


class NaNImage:
    RETURN_TYPES = ("IMAGE",)
    FUNCTION = "run"
    CATEGORY = "testing"

    @classmethod
    def INPUT_TYPES(cls) -> dict:  # noqa: N802 (the host's name)
        return {"required": {"image": ("IMAGE",)}}

    def run(self, image: torch.Tensor) -> tuple[torch.Tensor]:
        out = image.clone()
        out[0, 0, 0, 0] = math.nan
        return (out,)


NODES = {"PTTest_NaNImage": NaNImage}
