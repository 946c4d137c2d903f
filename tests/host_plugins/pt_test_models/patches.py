"""The two host functions this pack wraps, and the idempotent wrapping helper.

* ``comfy.sd.VAE.__init__``: the stock constructor hard-codes the SD KL-VAE sizes (``ch`` 128,
  ``ch_mult`` [1, 2, 4, 4], 2 res blocks). When no explicit ``config`` is given and the state dict is a
  tiny LDM KL VAE (``shapes.kl_vae_config``), the wrapper passes the shape-derived ``AutoencoderKL``
  arguments as ``config`` (a parameter the stock constructor already has) and afterwards sets the
  latent channel count and scale factors that the stock config path leaves at the SD defaults. For the
  Flux autoencoder's layout (no quant convolutions) the config path builds, for that call only, the
  ``AutoencodingEngine`` the stock no-quant-convolution path builds.
* ``comfy.clip_vision.load_clipvision_from_sd``: the stock function recognises only 24/32/48-layer
  vision towers and returns ``None`` otherwise. Only when it returns ``None`` and the (possibly
  key-converted) state dict is a tiny HF CLIP vision tower, the wrapper builds the stock
  ``ClipVisionModel`` from a shape-derived JSON config and loads the weights, as the stock path does.

Any other input goes to the untouched stock code with the same arguments.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import json
import logging
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import comfy.clip_vision
import comfy.sd

from .shapes import StateDict, clip_vision_config, kl_vae_config

LOG = logging.getLogger(__name__)

ORIGINAL_ATTR = "__pt_test_models_original__"
"""Attribute on each wrapper holding the stock function it wraps."""


Wrapper = Callable[..., Any]


def install_wrapper(owner: Any, name: str, make_wrapper: Callable[[Wrapper], Wrapper]) -> None:
    """Replace ``owner.name`` by ``make_wrapper(stock function)``.

    Wrapping again starts from the stock function saved on the current wrapper, so repeated imports
    never stack wrappers.
    """
    current = getattr(owner, name)
    original = getattr(current, ORIGINAL_ATTR, current)
    wrapper = make_wrapper(original)
    setattr(wrapper, ORIGINAL_ATTR, original)
    setattr(owner, name, wrapper)


@contextlib.contextmanager
def _flux_autoencoder_class() -> Iterator[None]:
    """While the stock constructor's ``config`` path runs, it builds what its own no-quant-convolution
    path builds (``AutoencodingEngine`` with the LDM encoder and decoder: the Flux autoencoder) instead of
    an ``AutoencoderKL``."""
    from comfy.ldm.models.autoencoder import AutoencodingEngine

    def flux_autoencoder(ddconfig: dict[str, Any], embed_dim: None) -> AutoencodingEngine:
        module = "comfy.ldm.modules.diffusionmodules.model"
        return AutoencodingEngine(
            regularizer_config={"target": "comfy.ldm.models.autoencoder.DiagonalGaussianRegularizer"},
            encoder_config={"target": f"{module}.Encoder", "params": ddconfig},
            decoder_config={"target": f"{module}.Decoder", "params": ddconfig})

    stock = comfy.sd.AutoencoderKL
    comfy.sd.AutoencoderKL = flux_autoencoder
    try:
        yield
    finally:
        comfy.sd.AutoencoderKL = stock


def wrap_vae_init(original: Callable[..., None]) -> Callable[..., None]:
    """``comfy.sd.VAE.__init__`` that builds tiny KL VAEs from their shapes (see the module docstring)."""
    signature = inspect.signature(original)

    @functools.wraps(original)
    def __init__(*args: Any, **kwargs: Any) -> None:
        bound = signature.bind(*args, **kwargs)
        sd = bound.arguments.get("sd")
        params = kl_vae_config(sd) if sd and bound.arguments.get("config") is None else None
        if params is None:
            original(*args, **kwargs)
            return
        bound.arguments["config"] = {"params": params}
        if params["embed_dim"] is None:
            with _flux_autoencoder_class():
                original(*bound.args, **bound.kwargs)
        else:
            original(*bound.args, **bound.kwargs)
        vae = bound.arguments["self"]
        ddconfig = params["ddconfig"]
        vae.latent_channels = ddconfig["z_channels"]
        vae.downscale_ratio = vae.upscale_ratio = 2 ** (len(ddconfig["ch_mult"]) - 1)
        LOG.debug("pt_test_models: tiny VAE built from shapes: %s", params)

    return __init__


def _tiny_clip_vision(sd: dict[str, Any]) -> comfy.clip_vision.ClipVisionModel | None:
    config = clip_vision_config(sd)
    if config is None:
        return None
    with tempfile.TemporaryDirectory(prefix="pt_test_models_") as tmp:
        config_path = Path(tmp) / "clip_vision_config.json"
        config_path.write_text(json.dumps(config), encoding="utf-8")
        clip = comfy.clip_vision.ClipVisionModel(str(config_path))
    missing, unexpected = clip.load_sd(sd)
    if missing:
        LOG.warning("missing clip vision: %s", missing)
    unused = set(unexpected)
    for key in [key for key in sd if key not in unused]:
        sd.pop(key)
    LOG.debug("pt_test_models: tiny CLIP vision built from shapes: %s", config)
    return clip


def wrap_load_clipvision_from_sd(original: Callable[..., Any]) -> Callable[..., Any]:
    """``load_clipvision_from_sd`` that falls back to tiny CLIP vision towers (see the module docstring)."""

    @functools.wraps(original)
    def load_clipvision_from_sd(sd: StateDict, *args: Any, **kwargs: Any) -> Any:
        clip = original(sd, *args, **kwargs)
        if clip is None and isinstance(sd, dict):
            clip = _tiny_clip_vision(sd)
        return clip

    return load_clipvision_from_sd


def install_patches() -> None:
    """Wrap ``comfy.sd.VAE.__init__`` and ``comfy.clip_vision.load_clipvision_from_sd`` (idempotent)."""
    install_wrapper(comfy.sd.VAE, "__init__", wrap_vae_init)
    install_wrapper(comfy.clip_vision, "load_clipvision_from_sd", wrap_load_clipvision_from_sd)
