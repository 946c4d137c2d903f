"""Gradients inside the host: the executor runs every node under ``torch.inference_mode()``.

Weights created or moved there are inference tensors, which autograd cannot save for backward. Every
module on a gradient path is therefore built under ``torch.inference_mode(False)`` (decoder copies, the
CLIP copy, estimators) or read through weight wrappers (the UNet). Building them so is not enough on a
GPU: the host moves a model to its device inside the executor's inference mode, and every moved
parameter and buffer becomes an inference tensor again; :func:`normal_tensors` gives them normal
tensors right before each gradient (``docs/host.md`` has the host's side of this).

The OnePoseTrans tuner trains a LoRA through the host's weight-adapter mechanism: :class:`FusedLoraDiff`
(the trainable adapter) and :class:`ExactCopy` (a value-keeping patch that makes the host write one
normal-tensor copy of each frozen weight when the training clone loads).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import comfy.ldm.modules.attention as host_attention_module
import comfy.model_patcher
import torch
from comfy.weight_adapter.base import WeightAdapterBase
from comfy.weight_adapter.lora import LoraDiff
from torch import nn

from ...pose_models.errors import PoseTransferError
from ...pose_models.pose_guidance import GuidanceSettings
from .models import module_patcher

EnergyFunction = Callable[[torch.Tensor], torch.Tensor]
"""``images [B, 3, H, W]`` RGB in ``[0, 1]`` -> per-image energy ``[B]`` (differentiable)."""


def normal_tensors(module: nn.Module) -> None:
    """Replace every inference tensor among ``module``'s parameters and buffers by a normal copy, in place.

    The host loads models to the GPU inside the executor's ``inference_mode``, which turns the parameters
    of a module built with normal tensors into inference tensors; autograd cannot save those. Called before
    each gradient computation: after a (re)load it copies the weights once, otherwise it only checks them.
    """
    with torch.inference_mode(False):
        for sub in module.modules():
            for name, parameter in sub._parameters.items():
                if parameter is not None and parameter.is_inference():
                    sub._parameters[name] = nn.Parameter(parameter.clone(), parameter.requires_grad)
            for name, buffer in sub._buffers.items():
                if buffer is not None and buffer.is_inference():
                    sub._buffers[name] = buffer.clone()


def half_precision(device: torch.device) -> torch.autocast:
    """Autocast for the guidance networks (decoder, estimator, CLIP): bf16 on a CUDA device that has it,
    which makes their forward and backward several times faster; off elsewhere (fp16 is never used: the
    energy gradients have no loss scaling and would underflow). The gradient itself stays float32."""
    enabled = device.type == "cuda" and torch.cuda.is_bf16_supported()
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=enabled)


def normal_module(build: Callable[[], nn.Module]) -> nn.Module:
    """``build()`` under ``torch.inference_mode(False)``: a module with normal tensors."""
    with torch.inference_mode(False):
        return build()


# ----- the VAE decoder on the gradient path -----------------------------------------------------------------
class LatentDecoder(nn.Module):
    """``forward(latent [B, C, h, w], raw VAE space) -> images [B, 3, 8h, 8w]`` RGB in ``[0, 1]``.

    A copy of an SD-style VAE's ``post_quant_conv`` and ``decoder`` whose weights are normal tensors
    (``requires_grad=False``): gradients flow to the latent. Output clamped like the host's decode.
    """

    def __init__(self, post_quant_conv: nn.Module, decoder: nn.Module) -> None:
        super().__init__()
        self.post_quant_conv = post_quant_conv
        self.decoder = decoder

    def forward(self, latent: torch.Tensor) -> torch.Tensor:
        weight = next(self.decoder.parameters())
        image = self.decoder(self.post_quant_conv(latent.to(device=weight.device, dtype=weight.dtype)))
        return torch.clamp((image.float() + 1.0) / 2.0, 0.0, 1.0)


class TinyLatentDecoder(nn.Module):
    """The same contract for a TAESD/TAESDXL "VAE" (the host's ``VAELoader`` with ``taesd``/``taesdxl``):
    a copy of its ``taesd_decoder`` and latent scale/shift, about 1 % of the full decoder's cost."""

    def __init__(self, taesd: nn.Module) -> None:
        super().__init__()
        self.taesd_decoder = taesd.taesd_decoder
        self.vae_scale = taesd.vae_scale
        self.vae_shift = taesd.vae_shift

    def forward(self, latent: torch.Tensor) -> torch.Tensor:
        weight = next(self.taesd_decoder.parameters())
        latent = latent.to(device=weight.device, dtype=weight.dtype)
        image = self.taesd_decoder((latent - self.vae_shift) * self.vae_scale)
        return torch.clamp(image.float(), 0.0, 1.0)


class UnsupportedVAE(PoseTransferError):
    """A VAE the gradient decoder cannot copy."""


def gradient_decoder(vae: Any, node: str) -> comfy.model_patcher.ModelPatcher:
    """A decoder copy of ``vae`` with normal weights (:class:`LatentDecoder`, or :class:`TinyLatentDecoder`
    for TAESD/TAESDXL) in a ``ModelPatcher`` with the VAE's device placement.

    Raises :class:`UnsupportedVAE` naming ``node`` for VAEs that are neither SD1.5/SDXL-style 2D KL
    autoencoders nor TAESD.
    """
    autoencoder = getattr(vae, "first_stage_model", None)
    is_kl = (autoencoder is not None and hasattr(autoencoder, "decoder")
             and hasattr(autoencoder, "post_quant_conv") and getattr(autoencoder, "bn", None) is None)
    is_taesd = autoencoder is not None and hasattr(autoencoder, "taesd_decoder")
    if not (is_kl or is_taesd) or getattr(vae, "latent_dim", 2) != 2:
        raise UnsupportedVAE(
            f"{node}: the VAE is not an SD1.5/SDXL-style image autoencoder (got "
            f"{type(autoencoder).__name__}). Connect the VAE of your SD1.5 or SDXL checkpoint (or sdxl_vae / "
            "vae-ft-mse, or taesd / taesdxl from VAELoader) to the node's vae input."
        )

    def build() -> nn.Module:
        if is_taesd:
            module: nn.Module = TinyLatentDecoder(copy.deepcopy(autoencoder))
        else:
            module = LatentDecoder(copy.deepcopy(autoencoder.post_quant_conv),
                                   copy.deepcopy(autoencoder.decoder))
        return module.requires_grad_(False).eval()

    return module_patcher(normal_module(build), placement="vae")


def energy_gradient(args: dict[str, Any], settings: GuidanceSettings, decoder: nn.Module,
                    energy: EnergyFunction, node: str,
                    clean_prediction: Callable[[dict[str, Any], torch.Tensor], torch.Tensor]) -> torch.Tensor:
    """``dE/dx`` for the post-CFG ``args``: ``x`` is the predicted clean latent (``x0`` mode) or the noisy
    input (``xt`` mode, through ``clean_prediction``, i.e. the UNet); the clean latent is decoded (at
    ``1/decode_downscale`` size) and ``energy`` of the images summed."""
    model = args["model"]
    with torch.inference_mode(False), torch.enable_grad():
        if settings.mode == "x0":
            leaf = args["denoised"].detach().clone().requires_grad_(True)
            clean = leaf
        else:
            leaf = args["input"].detach().clone().requires_grad_(True)
            try:
                clean = clean_prediction(args, leaf)
            except RuntimeError as exc:
                if "Inference tensors" not in str(exc):
                    raise
                raise PoseTransferError(
                    f"{node}: xt mode backpropagates through every network of the UNet call, and one of them "
                    "(a ControlNet, T2I-Adapter or another pack's model) was loaded with inference-only "
                    "weights. Use mode x0 (no backprop through the UNet) with ControlNets."
                ) from exc
        latent = model.latent_format.process_out(clean)
        if settings.decode_downscale > 1:
            latent = nn.functional.avg_pool2d(latent, settings.decode_downscale)
        with half_precision(latent.device):
            images = decoder(latent)
            total = energy(images).sum()
        (grad,) = torch.autograd.grad(total, leaf)
    return grad.detach()


def enable_unet_gradients(model: comfy.model_patcher.ModelPatcher) -> None:
    """Identity weight wrappers on every host-op weight/bias of ``model`` (a clone the caller owns): the
    host then copies each weight at forward time, so autograd can save them (``xt`` mode only)."""
    def identity(weight: torch.Tensor) -> torch.Tensor:
        return weight

    for name, module in model.model.named_modules():
        if hasattr(module, "weight_function"):
            for attr in ("weight", "bias"):
                if getattr(module, attr, None) is not None:
                    model.add_weight_wrapper(f"{name}.{attr}", identity)


# ----- the CLIP vision model on the gradient path -----------------------------------------------------------
class ClipImageEmbedder(nn.Module):
    """``forward(pixels [N, 3, S, S] normalised) -> [N, D]`` projected CLIP image embeddings, on a private
    copy of a host CLIP vision model whose weights are normal tensors (gradients reach the pixels).

    The host's own forward adds the residuals in place (``x += ...``), which autograd cannot
    differentiate; this forward runs the same submodules with out-of-place residuals (same maths).
    """

    def __init__(self, clip_model: nn.Module) -> None:
        super().__init__()
        self.clip = clip_model

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        vision = self.clip.vision_model
        weight = next(self.clip.parameters())
        x = vision.pre_layrnorm(vision.embeddings(pixels.to(device=weight.device, dtype=weight.dtype)))
        attention = host_attention_module.optimized_attention_for_device(x.device, mask=False,
                                                                         small_input=True)
        for layer in vision.encoder.layers:
            x = x + layer.self_attn(layer.layer_norm1(x), None, attention)
            x = x + layer.mlp(layer.layer_norm2(x))
        pooled = vision.post_layernorm(x)[:, 0] if vision.output_layernorm else vision.post_layernorm(x[:, 0])
        return self.clip.visual_projection(pooled)


def clip_vision_copy(clip_vision: Any) -> comfy.model_patcher.ModelPatcher | None:
    """A :class:`ClipImageEmbedder` on a copy of a host CLIP_VISION's model, on its devices; ``None`` when
    ``clip_vision`` is not a CLIP vision model."""
    model = getattr(clip_vision, "model", None)
    if model is None or not hasattr(clip_vision, "image_size"):
        return None
    embedder = normal_module(lambda: ClipImageEmbedder(copy.deepcopy(model)).requires_grad_(False).eval())
    return module_patcher(embedder, placement="text_encoder", load_device=clip_vision.load_device)


# ----- weight-adapter tricks of the one-shot tuner ----------------------------------------------------------
class FusedLoraDiff(LoraDiff):
    """The host's trainable LoRA weight adapter with its weight in one ``addmm``: ``w + (alpha / rank) ·
    up @ down`` (``up [out, rank]``, ``down [rank, in]`` cast to ``w``'s dtype), the same value as
    :class:`LoraDiff` with fewer full-size temporaries in the forward and backward of every adapted
    linear. Parameters, keys, ``isinstance`` checks and the bypass path (``h``, where the host has it)
    are LoraDiff's, which compute the same LoRA."""

    def __init__(self, weights: tuple) -> None:
        super().__init__(weights)
        self.scale = float(self.alpha) / self.rank

    def factors(self) -> list[torch.nn.Parameter]:
        """The trained parameters (``alpha`` stays fixed, as in the official recipe)."""
        return [self.lora_up.weight, self.lora_down.weight]

    def __call__(self, w: torch.Tensor) -> torch.Tensor:
        up, down = self.lora_up.weight, self.lora_down.weight
        return torch.addmm(w, up.to(w.dtype), down.to(w.dtype), alpha=self.scale)


class ExactCopy(WeightAdapterBase):
    """Weight patch that keeps the value exactly. The host writes every patched weight as a fresh tensor
    when the patcher loads (``ModelPatcher.patch_weight_to_device``) and puts the original back when it
    unloads; loaded under ``inference_mode(False)`` that fresh tensor is a normal one, which autograd may
    save for backward: one copy of each frozen UNet tensor per tuning run, instead of one per forward
    (identity weight wrappers). The given MODEL's own weights are never written.

    Hosts compute patches in a working dtype that may be lower than the weight's (fp16 on fp16-capable
    GPUs since ComfyUI 0.4), so for a weight without other patches the patch returns the original weight
    (``originals[key]``, in its own dtype, on the working tensor's device) instead of the working copy:
    the result is the original value for fp16, bf16 and fp32 UNets whatever the host's working dtype. A
    weight another patch changes (a LoRA loaded before the tuner) keeps the host's computed value.
    """

    name = "pose_transfer_exact_copy"

    def __init__(self, originals: dict[str, torch.Tensor]) -> None:
        self.originals = originals

    def calculate_weight(self, weight: torch.Tensor, key: str, *args: Any, **kwargs: Any) -> torch.Tensor:
        original = self.originals.get(key)
        return weight if original is None else original.to(weight.device, copy=True)


def _writes_patched_weights(model: Any) -> Any:
    """A patcher whose load writes patched weights as module tensors (what :class:`ExactCopy` relies on).
    Hosts with dynamic VRAM (ComfyUI 0.12+ on NVIDIA) stream weights instead; their patchers offer a
    non-dynamic delegate, which the host's own sampler also falls back to for features dynamic loading
    lacks. Elsewhere the MODEL itself."""
    is_dynamic = getattr(model, "is_dynamic", None)
    delegate = getattr(model, "get_non_dynamic_delegate", None)
    if is_dynamic is not None and delegate is not None and is_dynamic():
        return delegate()
    return model


def training_clone(model: Any, adapters: dict[str, FusedLoraDiff]) -> Any:
    """A clone of ``model`` for training: ``adapters`` (``{module name: adapter}``) as weight wrappers, an
    :class:`ExactCopy` patch on every other UNet parameter, fresh tensors on load (never in place)."""
    patcher = _writes_patched_weights(model).clone()
    for name, adapter in adapters.items():
        patcher.add_weight_wrapper(f"{name}.weight", adapter)
    patcher.weight_inplace_update = False  # fresh tensors: never write into the given weights
    frozen = {key: value for key, value in patcher.model.named_parameters()
              if key.startswith("diffusion_model.") and key.removesuffix(".weight") not in adapters}
    originals = {key: value for key, value in frozen.items() if key not in patcher.patches}
    patcher.add_patches(dict.fromkeys(frozen, ExactCopy(originals)))
    return patcher


def with_weight_wrappers(model: Any, adapters: dict[str, nn.Module]) -> Any:
    """A clone of ``model`` with ``adapters`` as weight wrappers (the tuned MODEL)."""
    tuned = model.clone()
    for name, adapter in adapters.items():
        tuned.add_weight_wrapper(f"{name}.weight", adapter)
    return tuned
