"""Sampling through the host: keyed wrappers, post-CFG guidance plumbing, conditioning conversion, extra
denoiser passes, the multi-branch guider and the stock schedules.

Wrappers are keyed (``pose_transfer.<node>``), so the pack's wrappers and other packs' coexist on one
MODEL clone; ``OUTER_SAMPLE`` runs once per sampling run (checks before the first step, per-run state
opened and closed in ``finally``), ``APPLY_MODEL`` once per denoiser call.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import comfy.model_management
import comfy.patcher_extension
import comfy.sampler_helpers
import comfy.samplers
import torch

from ...pose_models.pose_guidance import GuidanceSettings, GuidanceWindow, normalised_step, rms
from .autograd import EnergyFunction, energy_gradient, normal_tensors
from .progress import check_interrupted

LOG = logging.getLogger(__name__)

WRAPPER_PREFIX = "pose_transfer."
STRIPPED_COND_KEYS = ("control", "gligen", "hooks", "reference_latents")
"""Conditioning entries an extra source pass ignores (they steer the target, not the source; reference
latents are Kontext / Qwen-Image-Edit reference images)."""


def wrapper_key(name: str) -> str:
    """The key of the pack's wrappers and additional models for ``name`` (``pose_transfer.<name>``)."""
    return WRAPPER_PREFIX + name


def add_outer_sample_wrapper(model: Any, key: str, wrapper: Callable[..., Any]) -> None:
    """``wrapper(executor, noise, *args, **kwargs)`` around every sampling run of ``model`` (a clone the
    caller owns); it must call ``executor(noise, *args, **kwargs)``. ``executor.class_obj.model_patcher``
    is the MODEL being sampled."""
    model.add_wrapper_with_key(comfy.patcher_extension.WrappersMP.OUTER_SAMPLE, key, wrapper)


def add_apply_model_wrapper(model: Any, key: str, wrapper: Callable[..., Any]) -> None:
    """``wrapper(executor, x, t, *args, **kwargs)`` around every denoiser call; ``executor.class_obj`` is
    the loaded base model."""
    model.add_wrapper_with_key(comfy.patcher_extension.WrappersMP.APPLY_MODEL, key, wrapper)


def add_sampling_scope(model: Any, key: str, scope: Callable[[Any, torch.Size], Any]) -> None:
    """Run every sampling run of ``model`` inside ``scope(sampled MODEL, noise shape)`` (a context manager:
    checks before the first step, per-run state opened on enter and closed on exit, also on errors)."""
    def wrapper(executor: Any, noise: torch.Tensor, *args: Any, **kwargs: Any) -> Any:
        with scope(executor.class_obj.model_patcher, noise.shape):
            return executor(noise, *args, **kwargs)

    add_outer_sample_wrapper(model, key, wrapper)


def add_denoiser_hook(model: Any, key: str, before: Callable[[Any, float, torch.device], None]) -> None:
    """Call ``before(loaded base model, sigma, device)`` ahead of every denoiser call of ``model``."""
    def wrapper(executor: Any, x: torch.Tensor, t: torch.Tensor, *args: Any, **kwargs: Any) -> Any:
        before(executor.class_obj, float(t.max()), x.device)
        return executor(x, t, *args, **kwargs)

    add_apply_model_wrapper(model, key, wrapper)


def check_before_sampling(model: Any, key: str, check: Callable[[torch.Size], None]) -> None:
    """Register on ``model`` (a clone the caller owns) a keyed OUTER_SAMPLE wrapper that calls
    ``check(noise.shape)`` (``[B, C, h, w]`` latent) before the first sampling step; ``check`` raises on
    inputs that do not fit the latent."""
    def wrapper(executor: Any, *args: Any, **kwargs: Any) -> Any:
        check((args[0] if args else kwargs["noise"]).shape)
        return executor(*args, **kwargs)

    add_outer_sample_wrapper(model, key, wrapper)


def add_models(model: Any, key: str, patchers: Sequence[Any]) -> None:
    """Networks the host loads and offloads together with ``model`` (decoders, estimators, CLIP copies)."""
    model.set_additional_models(key, list(patchers))


def add_input_block_patch(model: Any, patch: Callable[[torch.Tensor, Any, list[int]], torch.Tensor]) -> None:
    """``h = patch(h, block, chunks)`` after every UNet input block of ``model`` (a clone the caller owns):
    ``block`` is the host's ``("input", index)``, ``chunks`` the branch tag of each batch chunk
    (``cond_or_uncond``)."""
    def host_patch(h: torch.Tensor, transformer_options: dict[str, Any]) -> torch.Tensor:
        return patch(h, transformer_options.get("block"), transformer_options.get("cond_or_uncond", []))

    model.set_model_input_block_patch(host_patch)


# ----- conditioning and extra passes ------------------------------------------------------------------------
@contextmanager
def loaded_for_sampling(model: Any) -> Iterator[tuple[Any, torch.device]]:
    """Load a MODEL as a sampler would (its patches and wrappers set up) for passes outside sampling;
    yields ``(base model, device)`` and cleans up on exit, also on errors."""
    comfy.model_management.load_models_gpu([model])
    model.pre_run()
    try:
        yield model.model, model.load_device
    finally:
        model.cleanup()


def first_cond(conditioning: list) -> list[dict[str, Any]]:
    """The first entry of a CONDITIONING in the sampler's form, without target-only entries (ControlNet,
    GLIGEN, hooks, reference images)."""
    (entry,) = comfy.sampler_helpers.convert_cond(conditioning[:1])
    return [{k: v for k, v in entry.items() if k not in STRIPPED_COND_KEYS}]


def process_conds(base_model: Any, conds: list[dict[str, Any]], noise: torch.Tensor, latent: torch.Tensor,
                  seed: int, device: torch.device) -> list[dict[str, Any]]:
    """``conds`` encoded for ``base_model`` on ``device`` as the sampler would (SDXL size and pooled
    conditioning included)."""
    processed = comfy.samplers.process_conds(base_model, noise.to(device),
                                             {"positive": [dict(c) for c in conds]}, device,
                                             latent_image=latent.to(device), seed=seed)
    return processed["positive"]


def denoise_once(base_model: Any, conds: list[dict[str, Any]], latent: torch.Tensor, noise: torch.Tensor,
                 sigma: float, transformer_options: dict[str, Any], device: torch.device) -> torch.Tensor:
    """One denoiser call on ``latent`` (VAE space) noised to ``sigma`` with ``noise``, with its own
    ``transformer_options`` (the MODEL's other patches do not run); returns the denoised latent."""
    latent = base_model.process_latent_in(latent.to(device))
    sigmas = torch.full((1,), float(sigma), device=device)
    x = base_model.model_sampling.noise_scaling(sigmas, noise.to(device), latent)
    return comfy.samplers.calc_cond_batch(base_model, [conds], x, sigmas,
                                          {"transformer_options": transformer_options})[0]


def sigma_at(model: Any, percent: float) -> float:
    """The sigma at ``percent`` of the denoising (0 = first step) of a MODEL's schedule."""
    return float(model.get_model_object("model_sampling").percent_to_sigma(percent))


# ----- post-CFG gradient guidance ---------------------------------------------------------------------------
def add_gradient_guidance(model: Any, settings: GuidanceSettings, decoder: Any, energy: EnergyFunction,
                          node: str, helpers: Sequence[Any] = ()) -> None:
    """Register on ``model`` (a clone the caller owns) a post-CFG function that guides ``denoised`` with
    ``energy`` inside the settings' window.

    ``decoder`` and ``helpers`` are the patchers of the networks on the gradient path (decoder, estimator,
    CLIP); they get normal tensors before each gradient (:func:`.autograd.normal_tensors`). Outside the
    window the host's ``denoised`` is returned as it is (bit-identical to unguided sampling). Inside:
    ``g = dE/dx`` (``x`` = the predicted clean latent, or the noisy input in ``xt`` mode), then
    ``denoised - rho * g`` with FreeDoM's ``rho`` (:func:`pose_models.pose_guidance.normalised_step`); the
    reference size is ``cond_scale * rms(cond_denoised - uncond_denoised)``, or ``rms(denoised)`` when the
    host skipped the unconditional pass (CFG 1).
    """
    def post_cfg(args: dict[str, Any]) -> torch.Tensor:
        denoised: torch.Tensor = args["denoised"]
        sigma = args["sigma"]
        sampling = args["model"].model_sampling
        window = GuidanceWindow(sampling.percent_to_sigma(settings.start_percent),
                                sampling.percent_to_sigma(settings.end_percent), settings.every)
        schedule = args["model_options"].get("transformer_options", {}).get("sample_sigmas")
        if not window.is_active(float(sigma.flatten()[0]), schedule):
            return denoised
        check_interrupted()
        for patcher in (decoder, *helpers):
            normal_tensors(patcher.model)
        grad = energy_gradient(args, settings, decoder.model, energy, node, _clean_prediction)
        uncond = args.get("uncond_denoised")
        if uncond is None:
            reference = rms(denoised)
        else:
            reference = float(args["cond_scale"]) * rms(args["cond_denoised"] - uncond)
        stepped, rho = normalised_step(denoised, grad.to(denoised.device), reference.to(denoised.device),
                                       settings.strength)
        LOG.debug("%s: guided step at sigma %.4g, rho %s", node, float(sigma.flatten()[0]), rho.tolist())
        return stepped

    model.set_model_sampler_post_cfg_function(post_cfg)


def _clean_prediction(args: dict[str, Any], noisy: torch.Tensor) -> torch.Tensor:
    """The positive branch's denoised prediction for ``noisy`` (``xt`` mode: differentiable)."""
    sigma = args["sigma"].detach().clone()
    options = args["model_options"]
    return comfy.samplers.calc_cond_batch(args["model"], [args["cond"]], noisy, sigma, options)[0]


# ----- guiders and schedules --------------------------------------------------------------------------------
class BranchGuider(comfy.samplers.CFGGuider):
    """A guider that evaluates named condition branches in one batched denoiser call and combines them.

    ``set_branches({"negative": cond, ...}, order, combine)``: every branch is a ``[[tensor, {}]]``
    conditioning; ``order`` fixes the batch order (the host tags chunk ``i`` with ``cond_or_uncond = i``);
    ``combine(outputs)`` gets the denoised outputs in that order. ``check(latent_image)`` runs before
    sampling.
    """

    def set_branches(self, branches: dict[str, list], order: Sequence[str],
                     combine: Callable[[list[torch.Tensor]], torch.Tensor],
                     check: Callable[[torch.Tensor], None]) -> None:
        self.branch_order = tuple(order)
        self.combine = combine
        self.check = check
        self.inner_set_conds(branches)

    def sample(self, noise: torch.Tensor, latent_image: torch.Tensor, sampler: Any, sigmas: torch.Tensor,
               *args: Any, **kwargs: Any) -> torch.Tensor:
        self.check(latent_image)
        return super().sample(noise, latent_image, sampler, sigmas, *args, **kwargs)

    def predict_noise(self, x: torch.Tensor, timestep: torch.Tensor,
                      model_options: dict[str, Any] | None = None, seed: int | None = None) -> torch.Tensor:
        conds = [self.conds[name] for name in self.branch_order]
        outputs = comfy.samplers.calc_cond_batch(self.inner_model, conds, x, timestep, model_options or {})
        return self.combine(outputs)


def stock_schedule(model: Any, scheduler: str, steps: int) -> torch.Tensor:
    """The host scheduler ``scheduler``'s sigmas for a MODEL (CPU)."""
    return comfy.samplers.calculate_sigmas(model.get_model_object("model_sampling"), scheduler, steps).cpu()


def stock_sampler(name: str) -> Any:
    """The host's SAMPLER object of ``name`` (``"ddpm"``, ``"euler"``, ...)."""
    return comfy.samplers.sampler_object(name)
