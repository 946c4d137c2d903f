"""Which sampling steps a guidance runs on: a sigma window and an every-n-steps stride.

The host gives each model call its ``sigma`` and, through ``transformer_options["sample_sigmas"]``, the
whole schedule (``[steps + 1]``, decreasing, last entry usually 0). A step is guided when its sigma lies in
``[sigma_low, sigma_high]`` and its index, counted from the first step inside the window, is a multiple
of ``every``. Samplers that evaluate the model at sigmas outside the schedule (second-order stages) are
guided when the sigma is inside the window and the stride cannot be applied (no index).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

RELATIVE_TOLERANCE = 1e-4
"""Sigmas closer than this (relative) are the same schedule entry (as the host's own lookups do)."""


@dataclass(frozen=True)
class GuidanceWindow:
    """Guided steps: ``sigma_low <= sigma <= sigma_high``, every ``every``-th schedule step inside.

    Build it from start/end percents of the denoising with the model's ``percent_to_sigma`` (start 0.2
    -> the sigma after 20 % of the process, i.e. the window opens once the coarse layout exists).
    """

    sigma_high: float
    sigma_low: float
    every: int = 1

    def __post_init__(self) -> None:
        if self.every < 1:
            raise ValueError(f"GuidanceWindow: every must be >= 1, got {self.every}.")
        if self.sigma_low > self.sigma_high:
            raise ValueError(f"GuidanceWindow: sigma_low {self.sigma_low} is above sigma_high "
                             f"{self.sigma_high} (the start percent must come before the end percent).")

    def contains(self, sigma: float) -> bool:
        """``sigma`` inside the window (edges included, with the schedule tolerance)."""
        slack = RELATIVE_TOLERANCE * max(abs(sigma), 1e-12)
        return self.sigma_low - slack <= sigma <= self.sigma_high + slack

    def is_active(self, sigma: float, sample_sigmas: torch.Tensor | None = None) -> bool:
        """Whether the model call at ``sigma`` is guided (``sample_sigmas``: the run's schedule, if known)."""
        if not self.contains(sigma):
            return False
        if self.every == 1 or sample_sigmas is None:
            return True
        schedule = [float(s) for s in sample_sigmas.flatten()]
        index = _schedule_index(schedule, sigma)
        if index is None:
            return True
        first = next(i for i, s in enumerate(schedule) if self.contains(s))
        return (index - first) % self.every == 0


def _schedule_index(schedule: list[float], sigma: float) -> int | None:
    for i, s in enumerate(schedule):
        if abs(s - sigma) <= RELATIVE_TOLERANCE * max(abs(sigma), abs(s), 1e-12):
            return i
    return None
