"""The TruePose SourceNet Encoder node: masks and encodes the source, records its self-attention bank."""

from __future__ import annotations

from typing import Any

import torch
from comfy_api.latest import io, ui

from ...pose_models.parsing import ParsingResult
from ...pose_models.truepose import TruePoseError, bank_group_masks, masked_source, parse_groups
from ..common.categories import TRUEPOSE as CATEGORY
from ..common.errors import node_errors
from ..common.images import rgb_images
from ..host.backbone import Backbone
from ..host.models import intermediate_device
from ..host.progress import ProgressBar
from ..host.sampling import loaded_for_sampling
from . import bank
from .types import HumanParsing, SourceBankType, model_backbone

NODE = "TruePose SourceNet Encoder"
MODES = ["cached", "per_step"]


def source_group_masks(image: torch.Tensor, parsing: ParsingResult) -> torch.Tensor:
    """``float32 [1, G, H, W]`` bank-group masks of the single source image; checks batch and size."""
    if image.shape[0] != 1:
        raise TruePoseError(f"{NODE}: the source is a batch of {image.shape[0]} images; the "
                            f"SourceNet encodes "
                            "one source person for all targets. Pick one with an Image From Batch node.")
    if not isinstance(parsing, ParsingResult):
        raise TruePoseError(f"{NODE}: 'source_parsing' must come from Human Parsing (SCHP) or Human Parsing "
                            "from Masks.")
    labels = parsing.labels
    if labels.shape[0] != 1:
        raise TruePoseError(f"{NODE}: the source parsing holds {labels.shape[0]} maps; parse only the source "
                            "image.")
    if tuple(labels.shape[-2:]) != tuple(image.shape[1:3]):
        raise TruePoseError(
            f"{NODE}: the source parsing is {labels.shape[-1]}x{labels.shape[-2]} px but the source image is "
            f"{image.shape[2]}x{image.shape[1]}; parse (or mask) the same image you encode.")
    return bank_group_masks(labels, parsing.label_set)


def cached_features(model: Any, source: bank.SourceInput, sigma: float,
                    backbone: Backbone) -> bank.SourceFeatures:
    """Load the MODEL as a sampler would, run one source pass, keep the bank on the intermediate device."""
    with loaded_for_sampling(model) as (base_model, device):
        processed = bank.process_source_conds(base_model, source, device)
        recorded = bank.run_source_pass(base_model, source, processed, sigma, backbone,
                                        tuple(backbone.self_attention), device)
    return recorded.to(intermediate_device())


class TruePoseSourceNet(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="PT_TruePoseSourceNet",
            display_name=NODE,
            category=CATEGORY,
            description=(
                "Runs your MODEL's own denoiser (SD1.5/SDXL UNet or Flux.1 transformer) on the source person "
                "(pixels outside the chosen region groups replaced by a flat colour first) and records every "
                "self-attention key/value into a feature bank for TruePose HPFA. 'cached' records once now "
                "at a small sigma; 'per_step' re-runs the source at every sampling step (reference-only "
                "style, slower)."
            ),
            inputs=[
                io.Model.Input("model", tooltip="The same MODEL (same LoRAs) you give TruePose HPFA."),
                io.Vae.Input("vae", tooltip="The checkpoint's VAE, to encode the source image."),
                io.Image.Input("source_image", tooltip="The person to preserve (one image), at the "
                                                       "target size."),
                HumanParsing.Input("source_parsing",
                                   tooltip="Label map of the source image (Human Parsing or Human Parsing "
                                           "from Masks)."),
                io.Conditioning.Input("conditioning",
                                      tooltip="The positive prompt; the source pass uses its first entry "
                                              "(ControlNets on it are ignored)."),
                io.String.Input("groups", default="person",
                                tooltip="Region groups the bank covers: 'person' (all but background), "
                                        "'all', or names like 'face, hair, upper_clothes'. Every other "
                                        "pixel is replaced by the fill colour before encoding."),
                io.Combo.Input("mode", options=MODES, default="cached",
                               tooltip="cached: one source pass now, reused at every step (fast). per_step: "
                                       "one source pass per sampling step at that step's sigma."),
                io.Float.Input("sigma", default=0.1, min=0.0, max=100.0, step=0.01,
                               tooltip="Noise level of the cached source pass (small = nearly clean)."),
                io.Float.Input("fill", default=0.5, min=0.0, max=1.0, step=0.01,
                               tooltip="Grey level that replaces the pixels outside the chosen groups."),
                io.Int.Input("seed", default=0, min=0, max=0xFFFFFFFFFFFFFFFF,
                             tooltip="Seed of the noise added to the source latent."),
            ],
            outputs=[SourceBankType.Output(display_name="bank"),
                     io.Image.Output(display_name="masked_source")],
        )

    @classmethod
    def execute(cls, model: Any, vae: Any, source_image: torch.Tensor, source_parsing: ParsingResult,
                conditioning: list, groups: str, mode: str, sigma: float, fill: float,
                seed: int) -> io.NodeOutput:
        backbone = model_backbone(model, NODE)
        source_image = rgb_images(source_image, NODE, "source_image", backbone.latent_factor)
        with node_errors(NODE):
            chosen = parse_groups(groups)
        masks = source_group_masks(source_image, source_parsing)
        with node_errors(NODE):
            image, masks = masked_source(source_image, masks, chosen, fill, backbone.token_factor)
        conds = bank.source_conds(conditioning)
        progress = ProgressBar(2 if mode == "cached" else 1)
        latent = vae.encode(image).float().cpu()
        progress.update(1)
        generator = torch.Generator().manual_seed(seed)
        noise = torch.randn(latent.shape, generator=generator, dtype=torch.float32)
        source = bank.SourceInput(latent, noise, conds, seed)
        features = None
        if mode == "cached":
            features = cached_features(model, source, sigma, backbone)
            progress.update(1)
        result = bank.SourceBank(mode=mode, sigma=float(sigma), groups=chosen, group_masks=masks.cpu(),
                                 backbone=backbone, source=source, features=features)
        return io.NodeOutput(result, image, ui=ui.PreviewImage(image, cls=cls))
