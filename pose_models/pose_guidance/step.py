"""FreeDoM's normalised guidance step, applied to a predicted clean latent ``x0``.

FreeDoM (Yu et al., ICCV 2023) scales the energy gradient ``g`` so that its size follows the size of
the classifier-free guidance update: ``rho = lambda * s_cfg * rms(x0_c - x0_u) / (rms(g) + eps)``, then
``x0 <- x0 - rho * g``. ``rms`` is taken per batch item, so every image gets its own step size and a
zero gradient gives a zero step.
"""

from __future__ import annotations

import torch

EPS = 1e-8
"""Added to ``rms(g)`` so that a vanishing gradient gives a vanishing step, not a division by zero."""


def rms(x: torch.Tensor) -> torch.Tensor:
    """Root mean square per batch item: ``[B, ...] -> [B]`` (float32 or wider)."""
    flat = x.flatten(1)
    if not flat.dtype.is_floating_point or flat.dtype in (torch.float16, torch.bfloat16):
        flat = flat.float()
    return flat.pow(2).mean(dim=1).sqrt()


def normalised_step(x0: torch.Tensor, grad: torch.Tensor, reference: torch.Tensor,
                    strength: float) -> tuple[torch.Tensor, torch.Tensor]:
    """One guidance step on ``x0``; returns ``(x0 - rho * grad, rho)``.

    Args:
        x0: predicted clean latent ``[B, C, h, w]`` (any float dtype; the result keeps it).
        grad: ``dE/dx0``, same shape as ``x0``.
        reference: ``[B]`` size of the step that ``strength = 1`` makes, e.g. ``s_cfg * rms(x0_c - x0_u)``
            (FreeDoM) or ``rms(x0)`` when there is no unconditional prediction.
        strength: FreeDoM's ``lambda`` (0.08 in its pose setting); 0 returns ``x0`` unchanged.

    ``rho [B] = strength * reference / (rms(grad) + EPS)``, so ``rms(rho * grad) ~= strength * reference``.
    """
    if grad.shape != x0.shape:
        raise ValueError(f"normalised_step: grad {list(grad.shape)} does not match x0 {list(x0.shape)}.")
    if reference.shape != (x0.shape[0],):
        raise ValueError(f"normalised_step: reference must be [B] = [{x0.shape[0]}], got "
                         f"{list(reference.shape)}.")
    rho = strength * reference.float() / (rms(grad) + EPS)
    shape = (-1,) + (1,) * (x0.ndim - 1)
    stepped = x0.float() - rho.view(shape).to(x0.device) * grad.float()
    return stepped.to(x0.dtype), rho
