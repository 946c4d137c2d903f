"""What one gradient guidance does: strength, window, stride, gradient mode and decode size."""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import PoseTransferError

GUIDANCE_MODES = ["x0", "xt"]
"""``x0``: gradient of the energy w.r.t. the predicted clean latent (no backprop through the denoiser);
``xt``: through the denoiser w.r.t. the noisy input (FreeDoM's original form, about 3x the memory)."""


@dataclass(frozen=True)
class GuidanceSettings:
    """``strength`` is FreeDoM's lambda; percents are of the denoising process (0 = first step); every
    ``every``-th step inside the window is guided; the predicted image is decoded at
    ``1 / decode_downscale`` of its size for the energy."""

    strength: float
    start_percent: float
    end_percent: float
    every: int = 1
    mode: str = "x0"
    decode_downscale: int = 1

    def __post_init__(self) -> None:
        if self.mode not in GUIDANCE_MODES:
            raise PoseTransferError(f"guidance mode must be one of {GUIDANCE_MODES}, got {self.mode!r}.")
        if not 0.0 <= self.start_percent <= self.end_percent <= 1.0:
            raise PoseTransferError(f"guidance window: need 0 <= start_percent ({self.start_percent}) <= "
                                    f"end_percent ({self.end_percent}) <= 1.")
        if self.decode_downscale not in (1, 2, 4):
            raise PoseTransferError(f"decode_downscale must be 1, 2 or 4, got {self.decode_downscale}.")
