"""The official sampler: DDPM with SD1.5's scaled-linear betas, "leading" spacing, offset 1.

``DDPMSchedule(steps=50).timesteps`` = 981, 961, ..., 1. :meth:`DDPMSchedule.step` is diffusers 0.19's
``DDPMScheduler.step`` for epsilon prediction with the fixed-small variance and no clipping; the noise
is an argument (the official code draws it from the global RNG; pass a seeded draw, or injected noise
for parity). All maths in float32 like the official scheduler.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

TRAIN_STEPS = 1000
BETA_START, BETA_END = 0.00085, 0.012
STEPS_OFFSET = 1


def alphas_cumprod() -> torch.Tensor:
    """``float32 [1000]``: cumulative products of ``1 - beta`` (scaled-linear betas)."""
    betas = torch.linspace(BETA_START**0.5, BETA_END**0.5, TRAIN_STEPS, dtype=torch.float32) ** 2
    return torch.cumprod(1.0 - betas, dim=0)


@dataclass
class DDPMSchedule:
    """A ``steps``-step schedule; ``timesteps`` is a Python list of ints, largest first."""

    steps: int = 50
    alphas: torch.Tensor = field(default_factory=alphas_cumprod)

    def __post_init__(self) -> None:
        if not 1 <= self.steps <= TRAIN_STEPS:
            raise ValueError(f"DDPM steps must be in 1..{TRAIN_STEPS}, got {self.steps}")
        ratio = TRAIN_STEPS // self.steps
        self.timesteps = [i * ratio + STEPS_OFFSET for i in reversed(range(self.steps))]
        self.ratio = ratio

    def _alpha(self, t: int) -> torch.Tensor:
        return self.alphas[t] if t >= 0 else torch.tensor(1.0)

    def step(self, eps: torch.Tensor, t: int, sample: torch.Tensor,
             noise: torch.Tensor | None) -> torch.Tensor:
        """``x_{t-1}`` from ``x_t = sample`` and predicted ``eps``; ``noise`` ~ N(0, I), used if t > 0."""
        a_t, a_prev = self._alpha(t), self._alpha(t - self.ratio)
        b_t, b_prev = 1 - a_t, 1 - a_prev
        alpha_t = a_t / a_prev
        beta_t = 1 - alpha_t
        x0 = (sample - b_t**0.5 * eps) / a_t**0.5
        mean = (a_prev**0.5 * beta_t) / b_t * x0 + alpha_t**0.5 * b_prev / b_t * sample
        if t <= 0:
            return mean
        if noise is None:
            raise ValueError("DDPM steps with t > 0 need noise")
        variance = torch.clamp(b_prev / b_t * beta_t, min=1e-20)
        return mean + variance**0.5 * noise.to(eps.dtype)
