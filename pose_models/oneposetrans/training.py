"""The one-shot tuner without the host: settings, the random training crops of the source, the
noise-prediction loss and its weight, the AdamW loop and the fixed-noise evaluation (``docs/methods.md``,
"OnePoseTrans").

Images are ``float [B, H, W, 3]`` in ``[0, 1]`` (the host's IMAGE); crops keep that layout.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from .errors import OnePoseTransError

ATTENTION_PROJECTIONS = ("to_q", "to_k", "to_v", "to_out.0")


@dataclass(frozen=True)
class TunerSettings:
    """Official defaults: rank 32, alpha 32, AdamW lr 1e-3 wd 1e-2, 60 steps, batch 2 of 512 crops,
    t ~ U{0..999}, seed 0, attention projections of every attention (self and cross) of the UNet."""

    rank: int = 32
    alpha: float = 32.0
    learning_rate: float = 1e-3
    weight_decay: float = 1e-2
    steps: int = 60
    batch_size: int = 2
    crop_size: int = 512
    seed: int = 0
    targets: tuple[str, ...] = ATTENTION_PROJECTIONS
    attentions: tuple[str, ...] = ("attn1", "attn2")


def parse_targets(text: str) -> tuple[str, ...]:
    """``"to_q, to_k"`` -> ``("to_q", "to_k")``; only the four attention projections are allowed."""
    targets = tuple(t.strip() for t in text.split(",") if t.strip())
    bad = [t for t in targets if t not in ATTENTION_PROJECTIONS]
    if not targets or bad:
        raise OnePoseTransError(
            f"Tuner targets: {', '.join(bad) or 'none given'}; use a comma list of "
            f"{', '.join(ATTENTION_PROJECTIONS)} (official: all four)."
        )
    return targets


def _resize_short_side(image: torch.Tensor, size: int) -> torch.Tensor:
    """``image [1, H, W, 3]`` with its short side bilinearly resized to ``size`` (antialiased, torchvision
    ``Resize``): ``[1, H', W', 3]`` with ``min(H', W') == size``."""
    _, height, width, _ = image.shape
    scale = size / min(height, width)
    new_h, new_w = max(size, round(height * scale)), max(size, round(width * scale))
    return torch.nn.functional.interpolate(image.movedim(-1, 1), size=(new_h, new_w), mode="bilinear",
                                           align_corners=False, antialias=True).movedim(1, -1)


def random_square_crops(images: torch.Tensor, size: int, count: int,
                        generator: torch.Generator) -> torch.Tensor:
    """``count`` independent augmentations of ``images [B, H, W, 3]``: each picks a uniformly random image
    of the batch (drawn also when ``B`` is 1), resizes its short side to ``size`` (bilinear) and takes a
    uniformly random ``size x size`` crop (torchvision ``Resize`` + ``RandomCrop``). Every image is resized
    once. Returns ``[count, size, size, 3]``."""
    resized = [_resize_short_side(images[i : i + 1], size) for i in range(images.shape[0])]
    crops = []
    for _ in range(count):
        image = resized[int(torch.randint(0, images.shape[0], (1,), generator=generator))]
        top = int(torch.randint(0, image.shape[1] - size + 1, (1,), generator=generator))
        left = int(torch.randint(0, image.shape[2] - size + 1, (1,), generator=generator))
        crops.append(image[0, top:top + size, left:left + size])
    return torch.stack(crops).clamp(0.0, 1.0)


def center_square_crop(image: torch.Tensor, size: int) -> torch.Tensor:
    """Short side of ``image [1, H, W, 3]`` resized to ``size``, then its centre ``size x size`` crop
    ``[1, size, size, 3]``."""
    resized = _resize_short_side(image, size)
    top, left = (resized.shape[1] - size) // 2, (resized.shape[2] - size) // 2
    return resized[:, top : top + size, left : left + size].clamp(0.0, 1.0)


def prediction_loss_weight(sigma: torch.Tensor, prediction: str, sigma_data: float = 1.0) -> torch.Tensor:
    """Per-sample factor ``w`` with ``||raw_pred - raw_target||^2 = w^2 * ||x0_pred - x0||^2``, where the
    host's denoised output is ``x0_pred`` and ``x_t = x0 + sigma * eps`` (k-diffusion frame).

    * ``"eps"``: ``eps_pred - eps = (x0 - x0_pred) / sigma`` -> ``w = 1 / sigma``.
    * ``"v"``: ``v = alpha_t eps - sigma_t x0`` (diffusers), ``v_pred - v = (x0 - x0_pred) *
      sqrt(sigma^2 + sd^2) / (sigma * sd)``.
    """
    if prediction == "eps":
        return 1.0 / sigma
    if prediction == "v":
        return torch.sqrt(sigma**2 + sigma_data**2) / (sigma * sigma_data)
    raise OnePoseTransError(
        f"Unsupported prediction type {prediction!r}; OnePoseTrans tunes eps or v models.")


def check_crop_size(size: int) -> None:
    """The crop must map to whole latent cells (multiple of 8 px, at least 64)."""
    if size < 64 or size % 8:
        raise OnePoseTransError(
            f"Tuner crop_size {size} must be a multiple of 8 and at least 64 (official 512).")


def uniform_timesteps(count: int, generator: torch.Generator, num_timesteps: int = 1000) -> torch.Tensor:
    """Integer timesteps ``t ~ U{0..num_timesteps-1}`` as float ``[count]``."""
    return torch.randint(0, num_timesteps, (count,), generator=generator).float()



def denoising_loss(x0_pred: torch.Tensor, x0: torch.Tensor, sigma: torch.Tensor, prediction: str,
                   sigma_data: float) -> torch.Tensor:
    """The recipe's MSE of the raw prediction (eps or v) written through the denoised output:
    ``mean((w(sigma) * (x0_pred - x0))^2)`` with :func:`prediction_loss_weight` (``x0 [B, C, h, w]``,
    ``sigma [B]``); ``x0_pred`` is computed in float32."""
    weight = prediction_loss_weight(sigma, prediction, sigma_data).view(-1, 1, 1, 1)
    return ((weight * (x0_pred.float() - x0)) ** 2).mean()


LossFunction = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]
"""``loss(x0 [B, C, h, w], timesteps [B], noise [B, C, h, w]) -> scalar``."""


def train_lora(loss_fn: LossFunction, parameters: list[torch.nn.Parameter], latents: torch.Tensor,
               settings: TunerSettings, generator: torch.Generator, *, fp16_scaling: bool, device_type: str,
               before_step: Callable[[], None], after_step: Callable[[int, float], None]) -> list[float]:
    """The recipe's optimisation: AdamW (betas 0.9/0.999, eps 1e-8, the settings' lr and weight decay) over
    ``parameters`` for ``settings.steps`` steps; step ``i`` trains on ``latents[i*b:(i+1)*b]`` (``b`` =
    ``settings.batch_size``) at timesteps ``U{0..999}`` with fresh noise, both from ``generator``.
    ``fp16_scaling``: loss scaling for an fp16 autocast. ``before_step()`` runs first in every step (the
    interruption point), ``after_step(step, loss)`` last. Returns the loss of every step."""
    optimizer = torch.optim.AdamW(parameters, lr=settings.learning_rate, betas=(0.9, 0.999), eps=1e-8,
                                  weight_decay=settings.weight_decay)
    scaler = torch.amp.GradScaler(device_type, enabled=fp16_scaling)
    losses: list[float] = []
    for step in range(settings.steps):
        before_step()
        batch = latents[step * settings.batch_size : (step + 1) * settings.batch_size]
        timesteps = uniform_timesteps(batch.shape[0], generator)
        noise = torch.randn(batch.shape, generator=generator)
        with torch.enable_grad():
            loss = loss_fn(batch, timesteps, noise)
            scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
        optimizer.zero_grad(set_to_none=True)
        losses.append(float(loss.detach()))
        after_step(step + 1, losses[-1])
    return losses


def evaluation_loss(loss_fn: LossFunction, x0: torch.Tensor, samples: int, seed: int, chunk: int) -> float:
    """Mean loss of ``x0 [1, C, h, w]`` over ``samples`` fixed timesteps (evenly spaced over 0..999) and
    fixed noise drawn from ``seed``, in chunks of ``chunk`` samples."""
    generator = torch.Generator().manual_seed(seed)
    timesteps = torch.linspace(0, 999, samples).round()
    noise = torch.randn((samples, *x0.shape[1:]), generator=generator)
    total = 0.0
    with torch.no_grad():
        for start in range(0, samples, chunk):
            t = timesteps[start : start + chunk]
            total += float(loss_fn(x0.repeat(len(t), 1, 1, 1), t, noise[start : start + chunk])) * len(t)
    return total / samples
