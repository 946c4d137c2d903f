"""The denoiser as a training target (the OnePoseTrans one-shot tuner): prediction type, the adapted
linears, latents and text conditioning of the training data, the denoiser call inside the loss, and
gradient checkpointing. The weight-adapter tricks that make the UNet trainable inside the executor are
in :mod:`.autograd`; the optimisation itself is ``pose_models.oneposetrans.train_lora``."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from typing import Any

import comfy.model_management
import comfy.model_sampling
import torch
import torch.utils.checkpoint

from ...pose_models.oneposetrans import denoising_loss
from .models import model_family

VAE_ENCODE_CHUNK = 8


def prediction_type(model: Any) -> tuple[str, float] | None:
    """``("eps" | "v", sigma_data)`` of the MODEL's sampling; ``None`` for other parameterisations."""
    sampling = model.get_model_object("model_sampling")
    if isinstance(sampling, comfy.model_sampling.V_PREDICTION):
        return "v", float(sampling.sigma_data)
    if isinstance(sampling, comfy.model_sampling.EPS) and not isinstance(sampling, comfy.model_sampling.EDM):
        return "eps", float(sampling.sigma_data)
    return None


def sampling_name(model: Any) -> str:
    """The class name of the MODEL's sampling (for messages)."""
    return type(model.get_model_object("model_sampling")).__name__


def adapted_linears(model: Any, attentions: tuple[str, ...],
                    targets: tuple[str, ...]) -> dict[str, torch.nn.Module]:
    """``{name in the MODEL: module}`` of the host linears ``diffusion_model.….<attention>.<target>`` (2-D
    weights that take weight wrappers)."""
    pattern = re.compile(r"^diffusion_model\..*\.({})\.({})$".format(
        "|".join(attentions), "|".join(re.escape(t) for t in targets)))
    return {name: module for name, module in model.model.named_modules()
            if pattern.match(name) and hasattr(module, "weight_function") and module.weight.ndim == 2}


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


def size_conditioning(model: Any, pooled: torch.Tensor | None, width: int,
                      height: int) -> torch.Tensor | None:
    """SDXL's ADM vector (pooled text + original/target size ``width x height``, crop 0,0); ``None`` for
    models without one."""
    if model_family(model) != "sdxl":
        return None
    with torch.no_grad():
        return model.model.encode_adm(pooled_output=pooled, width=width, height=height, crop_w=0, crop_h=0,
                                      target_width=width, target_height=height).clone()


def autocast_dtype(precision: str, device: torch.device) -> torch.dtype | None:
    """The UNet forward's autocast dtype for the tuner's ``precision`` widget (``None``: none)."""
    if precision == "fp32" or (precision == "auto" and device.type == "cpu"):
        return None
    if precision == "auto":
        return torch.bfloat16 if comfy.model_management.should_use_bf16(device) else torch.float16
    return torch.bfloat16 if precision == "bf16" else torch.float16


class DenoisingLoss:
    """``loss(x0, timesteps, noise)`` of the loaded training clone ``patcher``: noise ``x0`` to
    ``sigma(t)``, one denoiser call with the caption (and ADM) under ``autocast``, then
    :func:`pose_models.oneposetrans.denoising_loss`."""

    def __init__(self, patcher: Any, cond: torch.Tensor, adm: torch.Tensor | None,
                 prediction: tuple[str, float], autocast: torch.dtype | None) -> None:
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
        context = (torch.autocast(self.device.type, dtype=self.autocast) if self.autocast is not None
                   else nullcontext())
        with context:
            x0_pred = self.base.apply_model(x_t, sigma, c_crossattn=self.cond.repeat(batch, 1, 1),
                                            transformer_options={}, **extra)
        return denoising_loss(x0_pred, x0, sigma, self.prediction, self.sigma_data)


@contextmanager
def gradient_checkpointing(patcher: Any, enabled: bool) -> Iterator[None]:
    """Recompute every UNet block part (the ResBlocks, SpatialTransformers and resamplers inside each
    ``TimestepEmbedSequential``, which the host calls one by one) in the backward pass: instance
    ``forward`` overrides, removed on exit, also after an error or interrupt."""
    unet = patcher.model.diffusion_model
    patched: list[torch.nn.Module] = []
    try:
        if enabled:
            for container in (unet.input_blocks, [unet.middle_block], unet.output_blocks):
                for block in (layer for sequence in container for layer in sequence):
                    original = block.forward

                    def checkpointed(*args, _original=original, **kwargs):
                        return torch.utils.checkpoint.checkpoint(_original, *args, use_reentrant=False,
                                                                 **kwargs)

                    block.forward = checkpointed
                    patched.append(block)
        yield
    finally:
        for block in patched:
            del block.forward
