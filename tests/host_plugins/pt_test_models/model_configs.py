"""Host model configs for tiny SD1.5- and SDXL-shaped UNets, ControlNets and checkpoints, and tiny
Flux.1-dev checkpoints (``TinyFlux``, see its docstring).

``TinySD15`` and ``TinySDXL`` subclass the stock ``comfy.supported_models.SD15`` / ``SDXL`` and only
change two things:

* ``matches`` requires a tiny UNet width (``shapes.is_tiny_unet``), so they can sit at the front of
  ``comfy.supported_models.models`` without ever catching a real model. Of the stock family keys they
  keep the linear-projection, temporal-attention and ADM checks (SD1.5: no ADM; SDXL: an ADM input of
  any size) and drop the width-dependent ``model_channels``, ``context_dim`` and ``transformer_depth``;
* ``clip_target`` hands the stock text-encoder class the sizes read from the checkpoint through the
  host's per-model override keys ``clip_l_model_config`` / ``clip_g_model_config`` (the stock classes
  otherwise build from fixed JSON configs, and a wrong-sized encoder loads half-empty and encodes NaN).

Everything else (heads, latent format, sampling, ADM) is the stock family behaviour. The same configs
serve ``CheckpointLoaderSimple``, ``UNETLoader`` and ``ControlNetLoader`` (which detects ControlNet
sizes through the same model list).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from comfy import supported_models, supported_models_base
from comfy.supported_models_base import ClipTarget

from .shapes import (
    TINY_FLUX_AXES,
    TINY_HEAD_DIM,
    StateDict,
    hf_text_encoder_config,
    is_tiny_flux,
    is_tiny_unet,
    open_clip_text_encoder_config,
    t5_encoder_config,
)

TINY_MARKER = "pt_test_models_tiny"
"""Class attribute set on every config this pack registers (used to find and replace them)."""


def with_text_encoder_configs(clip_class: type[torch.nn.Module], configs: dict[str, dict[str, int]]) -> type:
    """A subclass of ``clip_class`` whose constructor adds ``configs`` (``{"clip_l_model_config": {...}}``)
    to its ``model_options``; explicit entries in the caller's options still win."""

    class ShapeConfiguredTextEncoder(clip_class):  # type: ignore[misc, valid-type]
        def __init__(self, *args: Any, model_options: Mapping[str, Any] | None = None, **kwargs: Any) -> None:
            options = dict(model_options or {})
            for key, config in configs.items():
                options[key] = {**config, **options.get(key, {})}
            super().__init__(*args, model_options=options, **kwargs)

    ShapeConfiguredTextEncoder.__name__ = ShapeConfiguredTextEncoder.__qualname__ = (
        f"ShapeConfigured{clip_class.__name__}")
    return ShapeConfiguredTextEncoder


def _configured_target(target: ClipTarget, configs: dict[str, dict[str, int] | None]) -> ClipTarget:
    found = {key: config for key, config in configs.items() if config is not None}
    if not found:
        return target
    return ClipTarget(target.tokenizer, with_text_encoder_configs(target.clip, found))


class TinySD15(supported_models.SD15):
    """SD1.5 family at a tiny width; CLIP-L sizes from ``cond_stage_model.transformer.text_model.*``."""

    pt_test_models_tiny = True
    unet_config = {
        "use_linear_in_transformer": False,
        "adm_in_channels": None,
        "use_temporal_attention": False,
    }

    @classmethod
    def matches(cls, unet_config: dict[str, Any], state_dict: StateDict | None = None, **kwargs: Any) -> bool:
        """``kwargs``: what newer hosts add (``unet_key_prefix``), passed on to the stock check."""
        return is_tiny_unet(unet_config) and super().matches(unet_config, state_dict, **kwargs)

    def clip_target(self, state_dict: StateDict | None = None) -> ClipTarget:
        state_dict = state_dict or {}
        clip_l = (hf_text_encoder_config(state_dict, "cond_stage_model.transformer.text_model.")
                  or hf_text_encoder_config(state_dict, "cond_stage_model.transformer."))
        return _configured_target(super().clip_target(state_dict), {"clip_l_model_config": clip_l})


class TinySDXL(supported_models.SDXL):
    """SDXL family at a tiny width (ADM ``label_emb`` required); CLIP-L sizes from
    ``conditioner.embedders.0.transformer.text_model.*``, CLIP-G from ``conditioner.embedders.1.model.*``."""

    pt_test_models_tiny = True
    unet_config = {
        "use_linear_in_transformer": True,
        "use_temporal_attention": False,
    }

    @classmethod
    def matches(cls, unet_config: dict[str, Any], state_dict: StateDict | None = None, **kwargs: Any) -> bool:
        return (is_tiny_unet(unet_config) and unet_config.get("adm_in_channels") is not None
                and super().matches(unet_config, state_dict, **kwargs))

    def clip_target(self, state_dict: StateDict | None = None) -> ClipTarget:
        state_dict = state_dict or {}
        return _configured_target(super().clip_target(state_dict), {
            "clip_l_model_config": hf_text_encoder_config(
                state_dict, "conditioner.embedders.0.transformer.text_model."),
            "clip_g_model_config": open_clip_text_encoder_config(
                state_dict, "conditioner.embedders.1.model."),
        })


class TinyFlux(supported_models.Flux):
    """Flux.1-dev at a tiny width: ``TINY_HEAD_DIM``-wide heads with ``TINY_FLUX_AXES`` rotary axes (the
    stock detection fixes 24 heads and axes 16/56/56, i.e. width 3072); CLIP-L and T5 sizes from
    ``text_encoders.clip_l.transformer.text_model.*`` / ``text_encoders.t5xxl.transformer.*``."""

    pt_test_models_tiny = True

    @classmethod
    def matches(cls, unet_config: dict[str, Any], state_dict: StateDict | None = None, **kwargs: Any) -> bool:
        return is_tiny_flux(unet_config) and super().matches(unet_config, state_dict, **kwargs)

    def __init__(self, unet_config: dict[str, Any]) -> None:
        super().__init__({**unet_config, "num_heads": unet_config["hidden_size"] // TINY_HEAD_DIM,
                          "axes_dim": list(TINY_FLUX_AXES)})

    def clip_target(self, state_dict: StateDict | None = None) -> ClipTarget:
        state_dict = state_dict or {}
        return _configured_target(super().clip_target(state_dict), {
            "clip_l_model_config": hf_text_encoder_config(
                state_dict, "text_encoders.clip_l.transformer.text_model."),
            "t5xxl_model_config": t5_encoder_config(state_dict, "text_encoders.t5xxl.transformer."),
        })


TINY_MODEL_CONFIGS: tuple[type[supported_models_base.BASE], ...] = (TinySD15, TinySDXL, TinyFlux)


def register_model_configs() -> None:
    """Put ``TINY_MODEL_CONFIGS`` at the front of ``comfy.supported_models.models``, replacing any
    copies an earlier import registered (so importing twice leaves one copy of each)."""
    models = supported_models.models
    models[:] = [config for config in models if not getattr(config, TINY_MARKER, False)]
    models[:0] = TINY_MODEL_CONFIGS
