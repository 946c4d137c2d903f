"""Host glue for gradient guidance during sampling (RePoseDM pose guidance; TruePose CAA).

The energies and the FreeDoM step live in ``pose_models.pose_guidance``; this module connects them to the
host:

* :func:`gradient_decoder` -- a private copy of a VAE's decoder with normal (non-inference) weights,
  wrapped in a ``ModelPatcher`` so the host loads and offloads it together with the UNet.
* :func:`enable_unet_gradients` -- identity weight wrappers on a MODEL clone (``comfyui-host.md`` section 3)
  so autograd can run through the UNet inside the executor's ``inference_mode``.
* :func:`guidance_post_cfg` -- the post-CFG function that decodes ``x0``, evaluates an energy, and steps.

Autograd under the host: every node runs inside ``torch.inference_mode()``; weights created there are
inference tensors that autograd cannot save. Every module on the gradient path is therefore either built
under ``torch.inference_mode(False)`` (decoder copy, estimator) or read through weight wrappers (UNet).
Building them so is not enough on a GPU: the host moves a model to its device inside the executor's
inference mode, and every moved parameter and buffer becomes an inference tensor again. The guidance
therefore gives the helper networks normal tensors (:func:`normal_tensors`) right before each gradient.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import comfy.model_management
import comfy.model_patcher
import comfy.patcher_extension
import comfy.samplers
import torch
from comfy_api.latest import io
from torch import nn

from ..pose_models.pose_guidance import GuidanceWindow, normalised_step, rms

LOG = logging.getLogger(__name__)

GUIDANCE_MODES = ["x0", "xt"]
"""``x0``: gradient of the energy w.r.t. the predicted clean latent (no backprop through the UNet);
``xt``: through the UNet w.r.t. the noisy input (FreeDoM's original form, about 3x the memory)."""

EnergyFunction = Callable[[torch.Tensor], torch.Tensor]
"""``images [B, 3, H, W]`` RGB in ``[0, 1]`` -> per-image energy ``[B]`` (differentiable)."""


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


def gradient_decoder(vae: Any, node: str) -> comfy.model_patcher.ModelPatcher:
    """A decoder copy of ``vae`` with normal weights (:class:`LatentDecoder`, or :class:`TinyLatentDecoder`
    for TAESD/TAESDXL) in a ``ModelPatcher`` with the VAE's device placement.

    Raises ``ValueError`` naming ``node`` for VAEs that are neither SD1.5/SDXL-style 2D KL autoencoders nor
    TAESD.
    """
    autoencoder = getattr(vae, "first_stage_model", None)
    is_kl = (autoencoder is not None and hasattr(autoencoder, "decoder")
             and hasattr(autoencoder, "post_quant_conv") and getattr(autoencoder, "bn", None) is None)
    is_taesd = autoencoder is not None and hasattr(autoencoder, "taesd_decoder")
    if not (is_kl or is_taesd) or getattr(vae, "latent_dim", 2) != 2:
        raise ValueError(
            f"{node}: the VAE is not an SD1.5/SDXL-style image autoencoder (got "
            f"{type(autoencoder).__name__}). Connect the VAE of your SD1.5 or SDXL checkpoint (or sdxl_vae / "
            "vae-ft-mse, or taesd / taesdxl from VAELoader) to the node's vae input."
        )
    with torch.inference_mode(False):
        if is_taesd:
            module: nn.Module = TinyLatentDecoder(copy.deepcopy(autoencoder))
        else:
            module = LatentDecoder(copy.deepcopy(autoencoder.post_quant_conv),
                                   copy.deepcopy(autoencoder.decoder))
        module.requires_grad_(False).eval()
    return comfy.model_patcher.ModelPatcher(
        module, load_device=comfy.model_management.vae_device(),
        offload_device=comfy.model_management.vae_offload_device(),
    )


def module_patcher(module: nn.Module) -> comfy.model_patcher.ModelPatcher:
    """A frozen helper network (estimator, field) in a ``ModelPatcher`` on the UNet's devices."""
    return comfy.model_patcher.ModelPatcher(
        module, load_device=comfy.model_management.get_torch_device(),
        offload_device=comfy.model_management.unet_offload_device(),
    )


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


@dataclass(frozen=True)
class GuidanceSettings:
    """What :func:`guidance_post_cfg` does; percents are of the denoising process (0 = first step)."""

    strength: float
    start_percent: float
    end_percent: float
    every: int = 1
    mode: str = "x0"
    decode_downscale: int = 1

    @classmethod
    def from_inputs(cls, strength: float, start_percent: float, end_percent: float, every_n_steps: int,
                    mode: str, decode_downscale: str) -> GuidanceSettings:
        """Settings from the widgets of :func:`strength_input` and :func:`schedule_inputs`."""
        return cls(strength=strength, start_percent=start_percent, end_percent=end_percent,
                   every=every_n_steps, mode=mode, decode_downscale=int(decode_downscale))

    def __post_init__(self) -> None:
        if self.mode not in GUIDANCE_MODES:
            raise ValueError(f"guidance mode must be one of {GUIDANCE_MODES}, got {self.mode!r}.")
        if not 0.0 <= self.start_percent <= self.end_percent <= 1.0:
            raise ValueError(f"guidance window: need 0 <= start_percent ({self.start_percent}) <= "
                             f"end_percent ({self.end_percent}) <= 1.")
        if self.decode_downscale not in (1, 2, 4):
            raise ValueError(f"decode_downscale must be 1, 2 or 4, got {self.decode_downscale}.")


def check_before_sampling(model: comfy.model_patcher.ModelPatcher, key: str,
                          check: Callable[[torch.Size], None]) -> None:
    """Register on ``model`` (a clone the caller owns) a keyed OUTER_SAMPLE wrapper that calls
    ``check(noise.shape)`` (``[B, C, h, w]`` latent) before the first sampling step; ``check`` raises on
    inputs that do not fit the latent."""
    def wrapper(executor: Any, *args: Any, **kwargs: Any) -> Any:
        check((args[0] if args else kwargs["noise"]).shape)
        return executor(*args, **kwargs)

    model.add_wrapper_with_key(comfy.patcher_extension.WrappersMP.OUTER_SAMPLE, key, wrapper)


def strength_input(default: float, note: str = "") -> io.Float.Input:
    """The ``strength`` widget (FreeDoM's lambda) of a guidance node."""
    return io.Float.Input("strength", default=default, min=0.0, max=2.0, step=0.01,
                          tooltip=f"FreeDoM's lambda: step size relative to the CFG update{note}.")


def schedule_inputs(start: float, end: float) -> list[io.Input]:
    """The ``start_percent``, ``end_percent``, ``every_n_steps``, ``mode`` and ``decode_downscale`` widgets
    of a guidance node (the rest of :class:`GuidanceSettings`)."""
    return [
        io.Float.Input("start_percent", default=start, min=0.0, max=1.0, step=0.01,
                       tooltip="Guidance starts after this share of the denoising."),
        io.Float.Input("end_percent", default=end, min=0.0, max=1.0, step=0.01,
                       tooltip="Guidance ends after this share (1.0 = until the last step)."),
        io.Int.Input("every_n_steps", default=1, min=1, max=100,
                     tooltip="Guide every n-th step inside the window."),
        io.Combo.Input("mode", options=GUIDANCE_MODES, default="x0",
                       tooltip="x0: gradient on the predicted clean latent (fast). xt: through the UNet on "
                               "the noisy latent (FreeDoM's form, ~3x memory, no ControlNet)."),
        io.Combo.Input("decode_downscale", options=["1", "2", "4"], default="1",
                       tooltip="Decode the predicted image at 1/n size for the energy (saves memory and "
                               "time at SDXL sizes)."),
    ]


def guidance_post_cfg(settings: GuidanceSettings, decoder: comfy.model_patcher.ModelPatcher,
                      energy: EnergyFunction, node: str,
                      helpers: Sequence[comfy.model_patcher.ModelPatcher] = ()
                      ) -> Callable[[dict[str, Any]], torch.Tensor]:
    """A ``set_model_sampler_post_cfg_function`` callable that guides ``denoised`` with ``energy``.

    ``helpers``: the patchers of the networks ``energy`` runs (estimator, CLIP), which, like the decoder,
    get normal tensors before each gradient (:func:`normal_tensors`).

    Outside the window the host's ``denoised`` is returned as it is (bit-identical to unguided sampling).
    Inside: ``g = dE/dx`` (``x`` = the predicted clean latent, or the noisy input in ``xt`` mode), then
    ``denoised - rho * g`` with FreeDoM's ``rho`` (:func:`pose_models.pose_guidance.normalised_step`); the
    reference size is ``cond_scale * rms(cond_denoised - uncond_denoised)``, or ``rms(denoised)`` when the
    host skipped the unconditional pass (CFG 1).
    """
    def post_cfg(args: dict[str, Any]) -> torch.Tensor:
        denoised: torch.Tensor = args["denoised"]
        sigma = args["sigma"]
        model = args["model"]
        sampling = model.model_sampling
        window = GuidanceWindow(sampling.percent_to_sigma(settings.start_percent),
                                sampling.percent_to_sigma(settings.end_percent), settings.every)
        schedule = args["model_options"].get("transformer_options", {}).get("sample_sigmas")
        if not window.is_active(float(sigma.flatten()[0]), schedule):
            return denoised
        comfy.model_management.throw_exception_if_processing_interrupted()
        for patcher in (decoder, *helpers):
            normal_tensors(patcher.model)
        grad = _energy_gradient(args, settings, decoder, energy, node)
        uncond = args.get("uncond_denoised")
        if uncond is None:
            reference = rms(denoised)
        else:
            reference = float(args["cond_scale"]) * rms(args["cond_denoised"] - uncond)
        stepped, rho = normalised_step(denoised, grad.to(denoised.device), reference.to(denoised.device),
                                       settings.strength)
        LOG.debug("%s: guided step at sigma %.4g, rho %s", node, float(sigma.flatten()[0]), rho.tolist())
        return stepped

    return post_cfg


def _energy_gradient(args: dict[str, Any], settings: GuidanceSettings,
                     decoder: comfy.model_patcher.ModelPatcher, energy: EnergyFunction,
                     node: str) -> torch.Tensor:
    model = args["model"]
    with torch.inference_mode(False), torch.enable_grad():
        if settings.mode == "x0":
            leaf = args["denoised"].detach().clone().requires_grad_(True)
            clean = leaf
        else:
            leaf = args["input"].detach().clone().requires_grad_(True)
            try:
                sigma = args["sigma"].detach().clone()
                options = args["model_options"]
                clean = comfy.samplers.calc_cond_batch(model, [args["cond"]], leaf, sigma, options)[0]
            except RuntimeError as exc:
                if "Inference tensors" not in str(exc):
                    raise
                raise RuntimeError(
                    f"{node}: xt mode backpropagates through every network of the UNet call, and one of them "
                    "(a ControlNet, T2I-Adapter or another pack's model) was loaded with inference-only "
                    "weights. Use mode x0 (no backprop through the UNet) with ControlNets."
                ) from exc
        latent = model.latent_format.process_out(clean)
        if settings.decode_downscale > 1:
            latent = nn.functional.avg_pool2d(latent, settings.decode_downscale)
        with half_precision(latent.device):
            images = decoder.model(latent)
            total = energy(images).sum()
        (grad,) = torch.autograd.grad(total, leaf)
    return grad.detach()


def half_precision(device: torch.device) -> torch.autocast:
    """Autocast for the guidance networks (decoder, estimator, CLIP): bf16 on a CUDA device that has it,
    which makes their forward and backward several times faster; off elsewhere (fp16 is never used: the
    energy gradients have no loss scaling and would underflow). The gradient itself stays float32."""
    enabled = device.type == "cuda" and torch.cuda.is_bf16_supported()
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=enabled)
