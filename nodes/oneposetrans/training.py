"""The OnePoseTrans one-shot tuner: a LoRA on the UNet's attention projections trained on the source
image inside the graph (``docs/methods.md``, "OnePoseTrans"), on the host's weight-adapter mechanism.

The pattern of the host's LoRA trainer, not its node (``docs/host.md``): a clone of the MODEL gets a
trainable LoRA weight adapter as weight wrapper on every target linear, and every other UNet tensor a
value-keeping weight patch, so that loading the clone under ``torch.inference_mode(False)`` gives it one
normal-tensor copy of the executor's inference-mode weights, restored by the host when the clone unloads
(``nodes.host.autograd``); training runs under ``torch.inference_mode(False)``. The MODEL given is never
patched: the result is a fresh clone carrying only the trained (frozen) LoRA wrappers. The optimisation
is ``pose_models.oneposetrans.train_lora``.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

import torch

from ...pose_models.oneposetrans import (
    LoraFactors,
    OnePoseTransError,
    TunerSettings,
    center_square_crop,
    evaluation_loss,
    init_lora_factors,
    lora_state_dict,
    random_square_crops,
    train_lora,
)
from ..host.autograd import FusedLoraDiff, training_clone, with_weight_wrappers
from ..host.models import load_models, model_family
from ..host.progress import ProgressBar, check_interrupted, show_progress_text
from ..host.training import (
    DenoisingLoss,
    adapted_linears,
    autocast_dtype,
    encode_caption,
    encode_images,
    prediction_type,
    sampling_name,
    size_conditioning,
)
from ..host.training import (
    gradient_checkpointing as checkpointed_blocks,
)

LOG = logging.getLogger(__name__)

PRECISIONS = ("auto", "fp32", "bf16", "fp16")
SIZE_CONDITIONING = ("source size (official)", "crop size")
EVAL_SEED_OFFSET = 7919
"""The fixed evaluation noise/crop uses ``seed + EVAL_SEED_OFFSET`` so it differs from the training draws."""


@dataclass
class TuneResult:
    """The tuned MODEL (a clone with the LoRA wrappers), the LoRA in host key format, per-step losses and
    the mean denoising loss on fixed noise/timesteps before and after tuning (``None`` when not measured)."""

    model: Any
    lora: dict[str, torch.Tensor]
    losses: list[float]
    eval_before: float | None
    eval_after: float | None

    def report(self) -> str:
        lines = [f"steps: {len(self.losses)}"]
        if self.eval_before is not None:
            lines.append(
                f"denoising loss on the source (fixed noise/timesteps): before {self.eval_before:.6f}, "
                f"after {self.eval_after:.6f}"
            )
        if self.losses:
            lines.append("training loss per step: " + ", ".join(f"{v:.5f}" for v in self.losses))
        return "\n".join(lines)


def architecture(model: Any) -> str:
    """``"sdxl"`` or ``"sd15"`` for the host MODEL; :class:`OnePoseTransError` for anything else."""
    family = model_family(model)
    if family is None:
        raise OnePoseTransError(
            f"OnePoseTrans supports SD1.5 and SDXL UNet checkpoints; this MODEL is "
            f"{type(model.model.model_config).__name__}. Load an SD1.5 or SDXL checkpoint."
        )
    return family


def checked_prediction(model: Any) -> tuple[str, float]:
    """``("eps" | "v", sigma_data)``; other parameterisations are refused."""
    prediction = prediction_type(model)
    if prediction is None:
        raise OnePoseTransError(
            f"OnePoseTrans tuner: the MODEL's sampling {sampling_name(model)} is not eps or v prediction; "
            "remove the ModelSampling node in front of the tuner."
        )
    return prediction


def target_modules(model: Any, settings: TunerSettings) -> dict[str, torch.nn.Module]:
    """``{name in model.model: module}`` of the adapted linears (``diffusion_model.….attnN.to_x``)."""
    found = adapted_linears(model, settings.attentions, settings.targets)
    if not found:
        raise OnePoseTransError(
            "OnePoseTrans tuner: the MODEL has no attention projections to adapt "
            f"({', '.join(settings.targets)}); is it a UNet checkpoint?"
        )
    return found


def _show_loss(step: int, total: int, loss: float) -> None:
    """Loss as the node's progress text (host UI), and in the log."""
    LOG.info("OnePoseTrans tuner step %d/%d loss %.5f", step, total, loss)
    show_progress_text(f"step {step}/{total}  loss {loss:.4f}")


def tune(
    model: Any,
    clip: Any,
    vae: Any,
    image: torch.Tensor,
    caption: str,
    settings: TunerSettings,
    *,
    precision: str,
    gradient_checkpointing: bool,
    size_conditioning_mode: str,
    eval_samples: int,
    save_dtype: torch.dtype,
) -> TuneResult:
    """Train the one-shot LoRA (checks are done by the caller). ``image [B, H, W, 3]`` in [0, 1]."""
    prediction = checked_prediction(model)
    height, width = image.shape[1:3]
    started = time.perf_counter()
    with torch.inference_mode(False):
        generator = torch.Generator().manual_seed(settings.seed)
        count = settings.steps * settings.batch_size
        pixels = random_square_crops(image[..., :3].float().cpu(), settings.crop_size, count, generator)
        eval_pixels = center_square_crop(image[:1, ..., :3].float().cpu(), settings.crop_size)
        latents = encode_images(vae, model, torch.cat([eval_pixels, pixels]))
        LOG.info("OnePoseTrans tuner: %d crops of %d px encoded in %.1f s", count + 1, settings.crop_size,
                 time.perf_counter() - started)
        eval_latent, latents = latents[:1], latents[1:]
        cond, pooled = encode_caption(clip, caption)
        official = size_conditioning_mode == SIZE_CONDITIONING[0]
        size = (width, height) if official else (settings.crop_size,) * 2
        adm = size_conditioning(model, pooled, *size)

        adapters: dict[str, FusedLoraDiff] = {}
        for name, module in target_modules(model, settings).items():
            factors = init_lora_factors(
                module.weight.shape[0], module.weight.shape[1], settings.rank, settings.alpha, generator
            )
            adapters[name] = FusedLoraDiff((factors.up, factors.down, factors.alpha, None, None, None))
        patcher = training_clone(model, adapters)

        started = time.perf_counter()
        load_models([patcher], full=True)
        device = patcher.load_device
        LOG.info("OnePoseTrans tuner: UNet with %d LoRA adapters loaded in %.1f s", len(adapters),
                 time.perf_counter() - started)
        for adapter in adapters.values():
            adapter.to(device)
            for factor in adapter.factors():
                factor.requires_grad_(True)
        loss_fn = DenoisingLoss(patcher, cond, adm, prediction, autocast_dtype(precision, device))
        chunk = max(1, settings.batch_size)
        eval_seed = settings.seed + EVAL_SEED_OFFSET
        eval_before = (evaluation_loss(loss_fn, eval_latent, eval_samples, eval_seed, chunk)
                       if eval_samples else None)

        progress = ProgressBar(settings.steps)

        def after_step(step: int, loss: float) -> None:
            progress.update_absolute(step, settings.steps)
            _show_loss(step, settings.steps, loss)

        started = time.perf_counter()
        with checkpointed_blocks(patcher, gradient_checkpointing):
            parameters = [p for a in adapters.values() for p in a.factors()]
            losses = train_lora(loss_fn, parameters, latents, settings,
                                generator, fp16_scaling=loss_fn.autocast == torch.float16,
                                device_type=device.type, before_step=check_interrupted, after_step=after_step)
        LOG.info("OnePoseTrans tuner: %d steps in %.1f s (%s autocast)", settings.steps,
                 time.perf_counter() - started, loss_fn.autocast or "no")
        for adapter in adapters.values():
            adapter.requires_grad_(False)
        eval_after = (evaluation_loss(loss_fn, eval_latent, eval_samples, eval_seed, chunk)
                      if eval_samples else None)

        tuned = with_weight_wrappers(model, adapters)
        factors = {
            name: LoraFactors(a.lora_up.weight.detach().cpu(), a.lora_down.weight.detach().cpu(),
                              float(a.alpha))
            for name, a in adapters.items()
        }
        lora = lora_state_dict(factors, save_dtype)
    return TuneResult(tuned, lora, losses, eval_before, eval_after)
