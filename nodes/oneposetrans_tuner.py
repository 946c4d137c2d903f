"""Host glue of the OnePoseTrans one-shot tuner: a LoRA on the UNet's attention projections trained on the
source image inside the graph (methods.md 1.5), on the host's weight-adapter mechanism.

Pattern of the host's LoRA trainer (comfyui-host.md 4), not its node: a clone of the MODEL gets a
``comfy.weight_adapter`` LoRA module as weight wrapper on every target linear, and every other UNet tensor a
value-keeping weight patch, so that loading the clone under ``torch.inference_mode(False)`` gives it one
normal-tensor copy of the executor's inference-mode weights (comfyui-host.md 3), restored by the host when
the clone unloads; training runs under ``torch.inference_mode(False)``. The MODEL given is never patched:
the result is a fresh clone carrying only the trained (frozen) LoRA wrappers.
"""

from __future__ import annotations

import logging
import re
import time
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from typing import Any

import comfy.model_base
import comfy.model_management
import comfy.model_sampling
import comfy.supported_models
import comfy.utils
import torch
import torch.utils.checkpoint
from comfy.weight_adapter.base import WeightAdapterBase
from comfy.weight_adapter.lora import LoraDiff

from ..pose_models.oneposetrans import (
    LoraFactors,
    OnePoseTransError,
    TunerSettings,
    center_square_crop,
    init_lora_factors,
    lora_state_dict,
    prediction_loss_weight,
    random_square_crops,
    uniform_timesteps,
)

LOG = logging.getLogger(__name__)

PRECISIONS = ("auto", "fp32", "bf16", "fp16")
SIZE_CONDITIONING = ("source size (official)", "crop size")
EVAL_SEED_OFFSET = 7919
"""The fixed evaluation noise/crop uses ``seed + EVAL_SEED_OFFSET`` so it differs from the training draws."""
VAE_ENCODE_CHUNK = 8


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
    """``"sdxl"`` or ``"sd15"`` for the host MODEL (by the host's detected model config);
    :class:`OnePoseTransError` for anything else."""
    config = model.model.model_config
    if isinstance(model.model, comfy.model_base.SDXL):
        return "sdxl"
    if isinstance(config, comfy.supported_models.SD15):
        return "sd15"
    raise OnePoseTransError(
        f"OnePoseTrans supports SD1.5 and SDXL UNet checkpoints; this MODEL is {type(config).__name__}. "
        "Load an SD1.5 or SDXL checkpoint."
    )


def prediction_type(model: Any) -> tuple[str, float]:
    """``("eps" | "v", sigma_data)`` of the MODEL's sampling; other parameterisations are refused."""
    sampling = model.get_model_object("model_sampling")
    if isinstance(sampling, comfy.model_sampling.V_PREDICTION):
        return "v", float(sampling.sigma_data)
    if isinstance(sampling, comfy.model_sampling.EPS) and not isinstance(sampling, comfy.model_sampling.EDM):
        return "eps", float(sampling.sigma_data)
    raise OnePoseTransError(
        f"OnePoseTrans tuner: the MODEL's sampling {type(sampling).__name__} is not eps or v prediction; "
        "remove the ModelSampling node in front of the tuner."
    )


def target_modules(model: Any, settings: TunerSettings) -> dict[str, torch.nn.Module]:
    """``{name in model.model: module}`` of the adapted linears (``diffusion_model.….attnN.to_x``)."""
    pattern = re.compile(
        r"^diffusion_model\..*\.({})\.({})$".format(
            "|".join(settings.attentions), "|".join(re.escape(t) for t in settings.targets)
        )
    )
    found = {
        name: module
        for name, module in model.model.named_modules()
        if pattern.match(name) and hasattr(module, "weight_function") and module.weight.ndim == 2
    }
    if not found:
        raise OnePoseTransError(
            "OnePoseTrans tuner: the MODEL has no attention projections to adapt "
            f"({', '.join(settings.targets)}); is it a UNet checkpoint?"
        )
    return found


def encode_caption(clip: Any, caption: str) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Text context ``[1, 77·k, C]`` and pooled output (normal tensors) of the caption."""
    with torch.no_grad():
        cond, pooled = clip.encode_from_tokens(clip.tokenize(caption), return_pooled=True)
    return cond.clone(), None if pooled is None else pooled.clone()


def encode_images(vae: Any, model: Any, pixels: torch.Tensor) -> torch.Tensor:
    """Model-space latents (``process_latent_in`` of the VAE posterior mean) of ``pixels [N, S, S, 3]``."""
    chunks = []
    with torch.no_grad():
        for start in range(0, pixels.shape[0], VAE_ENCODE_CHUNK):
            raw = vae.encode(pixels[start : start + VAE_ENCODE_CHUNK])
            chunks.append(model.model.process_latent_in(raw.float()).clone().cpu())
    return torch.cat(chunks)


class _LossFunction:
    """Denoising loss of the (patched) UNet: MSE of the raw prediction (ε or v) written through the host's
    denoised output, ``mean((w(σ)·(x0_pred − x0))²)``
    (``pose_models.oneposetrans.prediction_loss_weight``)."""

    def __init__(
        self,
        patcher: Any,
        cond: torch.Tensor,
        adm: torch.Tensor | None,
        prediction: tuple[str, float],
        autocast: torch.dtype | None,
    ) -> None:
        self.patcher = patcher
        self.base = patcher.model
        self.sampling = patcher.get_model_object("model_sampling")
        self.device = patcher.load_device
        self.cond = cond.to(self.device)
        self.adm = None if adm is None else adm.to(self.device)
        self.prediction, self.sigma_data = prediction
        self.autocast = autocast

    def __call__(self, x0: torch.Tensor, timesteps: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        x0, noise = x0.to(self.device), noise.to(self.device)
        sigma = self.sampling.sigma(timesteps.to(self.device)).float()
        x_t = self.sampling.noise_scaling(sigma, noise, x0)
        batch = x0.shape[0]
        extra = {} if self.adm is None else {"y": self.adm.repeat(batch, 1)}
        context = (
            torch.autocast(self.device.type, dtype=self.autocast)
            if self.autocast is not None
            else nullcontext()
        )
        with context:
            x0_pred = self.base.apply_model(
                x_t, sigma, c_crossattn=self.cond.repeat(batch, 1, 1), transformer_options={}, **extra
            )
        weight = prediction_loss_weight(sigma, self.prediction, self.sigma_data).view(-1, 1, 1, 1)
        return ((weight * (x0_pred.float() - x0)) ** 2).mean()


def _autocast_dtype(precision: str, device: torch.device) -> torch.dtype | None:
    if precision == "fp32" or (precision == "auto" and device.type == "cpu"):
        return None
    if precision == "auto":
        return torch.bfloat16 if comfy.model_management.should_use_bf16(device) else torch.float16
    return torch.bfloat16 if precision == "bf16" else torch.float16


@contextmanager
def _gradient_checkpointing(unet: torch.nn.Module, enabled: bool):
    """Recompute every UNet block part (the ResBlocks, SpatialTransformers and resamplers inside each
    ``TimestepEmbedSequential``, which the host calls one by one) in the backward pass: instance
    ``forward`` overrides, removed on exit, also after an error or interrupt."""
    patched: list[torch.nn.Module] = []
    try:
        if enabled:
            for container in (unet.input_blocks, [unet.middle_block], unet.output_blocks):
                for block in (layer for sequence in container for layer in sequence):
                    original = block.forward

                    def checkpointed(*args, _original=original, **kwargs):
                        return torch.utils.checkpoint.checkpoint(
                            _original, *args, use_reentrant=False, **kwargs
                        )

                    block.forward = checkpointed
                    patched.append(block)
        yield
    finally:
        for block in patched:
            del block.forward


def _show_loss(step: int, total: int, loss: float) -> None:
    """Loss as the node's progress text (host UI), and in the log."""
    LOG.info("OnePoseTrans tuner step %d/%d loss %.5f", step, total, loss)
    try:
        from comfy_execution.utils import get_executing_context
        from server import PromptServer

        context = get_executing_context()
        if PromptServer.instance is not None and context is not None:
            PromptServer.instance.send_progress_text(f"step {step}/{total}  loss {loss:.4f}", context.node_id)
    except (ImportError, AttributeError):
        LOG.debug("no progress text channel in this host")


def evaluation_loss(loss_fn: _LossFunction, x0: torch.Tensor, samples: int, seed: int, chunk: int) -> float:
    """Mean loss of ``x0 [1, C, h, w]`` over ``samples`` fixed timesteps (evenly spaced over 0..999) and
    fixed noise drawn from ``seed``."""
    generator = torch.Generator().manual_seed(seed)
    timesteps = torch.linspace(0, 999, samples).round()
    noise = torch.randn((samples, *x0.shape[1:]), generator=generator)
    total = 0.0
    with torch.no_grad():
        for start in range(0, samples, chunk):
            t = timesteps[start : start + chunk]
            total += float(loss_fn(x0.repeat(len(t), 1, 1, 1), t, noise[start : start + chunk])) * len(t)
    return total / samples


class FusedLoraDiff(LoraDiff):
    """The host's trainable LoRA weight adapter with its weight in one ``addmm``: ``w + (alpha / rank) ·
    up @ down`` (``up [out, rank]``, ``down [rank, in]`` cast to ``w``'s dtype), the same value as
    :class:`LoraDiff` with fewer full-size temporaries in the forward and backward of every adapted
    linear. Parameters, keys and ``isinstance`` checks are LoraDiff's."""

    def __init__(self, weights: tuple) -> None:
        super().__init__(weights)
        self.scale = float(self.alpha) / self.rank

    def factors(self) -> list[torch.nn.Parameter]:
        """The trained parameters (``alpha`` stays fixed, as in the official recipe)."""
        return [self.lora_up.weight, self.lora_down.weight]

    def __call__(self, w: torch.Tensor) -> torch.Tensor:
        up, down = self.lora_up.weight, self.lora_down.weight
        return torch.addmm(w, up.to(w.dtype), down.to(w.dtype), alpha=self.scale)


class _NormalCopy(WeightAdapterBase):
    """Weight patch that keeps the value. The host writes every patched weight as a fresh tensor when the
    patcher loads (``ModelPatcher.patch_weight_to_device``) and puts the original back when it unloads; loaded
    under ``inference_mode(False)`` that fresh tensor is a normal one, which autograd may save for backward.
    One copy of each frozen UNet tensor per tuning run, instead of one per forward (identity weight wrappers,
    comfyui-host.md 3); the given MODEL's own weights are never written."""

    name = "pose_transfer_normal_copy"

    def calculate_weight(self, weight: torch.Tensor, *args: Any, **kwargs: Any) -> torch.Tensor:
        return weight


_NORMAL_COPY = _NormalCopy()


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
    size_conditioning: str,
    eval_samples: int,
    save_dtype: torch.dtype,
) -> TuneResult:
    """Train the one-shot LoRA (checks are done by the caller). ``image [B, H, W, 3]`` in [0, 1]."""
    prediction = prediction_type(model)
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
        adm = None
        if isinstance(model.model, comfy.model_base.SDXL):
            size = (width, height) if size_conditioning == SIZE_CONDITIONING[0] else (settings.crop_size,) * 2
            with torch.no_grad():
                adm = model.model.encode_adm(
                    pooled_output=pooled,
                    width=size[0],
                    height=size[1],
                    crop_w=0,
                    crop_h=0,
                    target_width=size[0],
                    target_height=size[1],
                ).clone()

        patcher = model.clone()
        targets = target_modules(patcher, settings)
        adapters: dict[str, FusedLoraDiff] = {}
        for name, module in targets.items():
            factors = init_lora_factors(
                module.weight.shape[0], module.weight.shape[1], settings.rank, settings.alpha, generator
            )
            adapters[name] = FusedLoraDiff((factors.up, factors.down, factors.alpha, None, None, None))
            patcher.add_weight_wrapper(f"{name}.weight", adapters[name])
        patcher.weight_inplace_update = False  # fresh tensors: never write into the given weights
        frozen = [
            key
            for key, _ in patcher.model.named_parameters()
            if key.startswith("diffusion_model.") and key.removesuffix(".weight") not in adapters
        ]
        patcher.add_patches(dict.fromkeys(frozen, _NORMAL_COPY))

        started = time.perf_counter()
        comfy.model_management.load_models_gpu([patcher], force_full_load=True)
        device = patcher.load_device
        LOG.info("OnePoseTrans tuner: UNet with %d LoRA adapters loaded in %.1f s", len(adapters),
                 time.perf_counter() - started)
        for adapter in adapters.values():
            adapter.to(device)
            for factor in adapter.factors():
                factor.requires_grad_(True)
        loss_fn = _LossFunction(patcher, cond, adm, prediction, _autocast_dtype(precision, device))
        chunk = max(1, settings.batch_size)
        eval_before = (
            evaluation_loss(loss_fn, eval_latent, eval_samples, settings.seed + EVAL_SEED_OFFSET, chunk)
            if eval_samples
            else None
        )

        parameters = [p for adapter in adapters.values() for p in adapter.factors()]
        optimizer = torch.optim.AdamW(
            parameters,
            lr=settings.learning_rate,
            betas=(0.9, 0.999),
            eps=1e-8,
            weight_decay=settings.weight_decay,
        )
        scaler = torch.amp.GradScaler(device.type, enabled=loss_fn.autocast == torch.float16)
        progress = comfy.utils.ProgressBar(settings.steps)
        losses: list[float] = []
        started = time.perf_counter()
        with _gradient_checkpointing(patcher.model.diffusion_model, gradient_checkpointing):
            for step in range(settings.steps):
                comfy.model_management.throw_exception_if_processing_interrupted()
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
                progress.update_absolute(step + 1, settings.steps)
                _show_loss(step + 1, settings.steps, losses[-1])

        LOG.info("OnePoseTrans tuner: %d steps in %.1f s (%s autocast)", settings.steps,
                 time.perf_counter() - started, loss_fn.autocast or "no")
        for adapter in adapters.values():
            adapter.requires_grad_(False)
        eval_after = (
            evaluation_loss(loss_fn, eval_latent, eval_samples, settings.seed + EVAL_SEED_OFFSET, chunk)
            if eval_samples
            else None
        )

        tuned = model.clone()
        for name, adapter in adapters.items():
            tuned.add_weight_wrapper(f"{name}.weight", adapter)
        factors = {
            name: LoraFactors(
                a.lora_up.weight.detach().cpu(), a.lora_down.weight.detach().cpu(), float(a.alpha)
            )
            for name, a in adapters.items()
        }
        lora = lora_state_dict(factors, save_dtype)
    return TuneResult(tuned, lora, losses, eval_before, eval_after)
