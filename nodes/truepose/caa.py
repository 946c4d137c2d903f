"""TruePose CAA node: CLIP-guided alignment of target regions to the source's, as gradient guidance.

Source side (at node execution): each chosen region group of the source (its parsing mask's bounding
square, other pixels grey) is embedded with the host's CLIP vision model. Sampling side (post-CFG, inside
a sigma window): the predicted clean image is decoded, the same groups are cropped by the **target**
region masks, and ``E = sum_g w_g * (1 - cos(CLIP(crop_g), e_g))`` takes one FreeDoM-normalised step
(``nodes.host.sampling.add_gradient_guidance``). The CLIP model on the gradient path is a private copy with
normal weights (``nodes.host.autograd.clip_vision_copy``), loaded and offloaded with the UNet.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import torch
from comfy_api.latest import io
from torch.nn import functional as F

from ...pose_models.parsing import ParsingResult
from ...pose_models.parsing.labels import PART_GROUPS
from ...pose_models.truepose import TruePoseError, parse_group_weights
from ...pose_models.truepose.alignment import RegionClipEnergy, region_embeddings
from ..common.categories import TRUEPOSE as CATEGORY
from ..common.guidance_inputs import guidance_settings, schedule_inputs, strength_input
from ..common.images import rgb_images
from ..host.autograd import clip_vision_copy, enable_unet_gradients, gradient_decoder, normal_module
from ..host.models import load_models
from ..host.sampling import add_gradient_guidance, add_models, check_before_sampling, wrapper_key
from .types import HumanParsing

LOG = logging.getLogger(__name__)

NODE = "TruePose CAA"
WRAPPER_KEY = wrapper_key("truepose_caa")
DEFAULT_WEIGHTS = "face=1.0, upper_clothes=1.0, lower_clothes=1.0"


def _clip_copy(clip_vision: Any) -> Any:
    clip = clip_vision_copy(clip_vision)
    if clip is None:
        raise TruePoseError(f"{NODE}: clip_vision is not a CLIP vision model; connect Load CLIP Vision "
                            "(e.g. CLIP-ViT-H-14 from models/clip_vision/).")
    return clip


def _chosen_weights(text: str) -> dict[str, float]:
    """Region groups with a weight > 0 (``person`` / ``all`` name every part group; the non-region groups
    ``other`` and ``background`` are never compared)."""
    weights = {g: w for g, w in parse_group_weights(text, default=0.0).items() if w > 0 and g in PART_GROUPS}
    if not weights:
        raise TruePoseError(f"{NODE}: group_weights selects no region; CAA compares the groups "
                            f"{', '.join(PART_GROUPS)}; write e.g. '{DEFAULT_WEIGHTS}'.")
    return weights


def _masks_at(parsing: ParsingResult, group: str, height: int, width: int) -> torch.Tensor:
    """``[B, height, width]`` float mask of ``group`` (nearest resize of the label map's mask)."""
    mask = parsing.mask(group)
    if mask.shape[1:] != (height, width):
        mask = F.interpolate(mask[:, None], size=(height, width), mode="nearest")[:, 0]
    return mask


class TruePoseCAA(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="PT_TruePoseCAA",
            display_name="TruePose CLIP Alignment (CAA)",
            category=CATEGORY,
            description=(
                "CLIP-guided alignment: during sampling, each target region (face, upper clothes, lower "
                "clothes, ...) of the predicted image is pulled toward the CLIP image embedding of the same "
                "region of the source photo (gradient guidance on the predicted clean image). Chain it with "
                "TruePose HPFA; works with any SD1.5/SDXL MODEL and sampler."
            ),
            inputs=[
                io.Model.Input("model", tooltip="SD1.5 or SDXL model, e.g. the output of TruePose HPFA."),
                io.Vae.Input("vae", tooltip="The checkpoint's VAE: decodes the predicted image."),
                io.ClipVision.Input("clip_vision", tooltip="From Load CLIP Vision (e.g. CLIP-ViT-H-14)."),
                io.Image.Input("source_image", tooltip="The source photo (one, or one per target)."),
                HumanParsing.Input("source_parsing", tooltip="Human Parsing of the source photo."),
                HumanParsing.Input("target_regions", tooltip="Where the regions will be in the target: "
                                                             "TruePose Target Regions (from the pose)."),
                io.String.Input("group_weights", default=DEFAULT_WEIGHTS,
                                tooltip="Groups to align and their weights ('group=w', comma separated; "
                                        "unnamed groups are off)."),
                strength_input(0.1),
                *schedule_inputs(0.2, 0.8),
            ],
            outputs=[io.Model.Output(display_name="model")],
        )

    @classmethod
    def execute(cls, model: Any, vae: Any, clip_vision: Any, source_image: torch.Tensor,
                source_parsing: ParsingResult, target_regions: ParsingResult, group_weights: str,
                strength: float, start_percent: float, end_percent: float, every_n_steps: int, mode: str,
                decode_downscale: str) -> io.NodeOutput:
        source_image = rgb_images(source_image, NODE, "source_image", 8)
        weights = _chosen_weights(group_weights)
        settings = guidance_settings(strength, start_percent, end_percent, every_n_steps, mode,
                                     decode_downscale)
        if len(source_parsing.labels) not in (1, len(source_image)):
            raise TruePoseError(f"{NODE}: {len(source_parsing.labels)} parsing maps for {len(source_image)} "
                                "source images; parse the same source batch.")
        decoder = gradient_decoder(vae, NODE)
        clip = _clip_copy(clip_vision)
        sources = _source_embeddings(clip, clip_vision, source_image, source_parsing, weights)
        energy_module = normal_module(lambda: RegionClipEnergy(
            clip.model, clip_vision.image_size, clip_vision.image_mean, clip_vision.image_std, sources,
            weights))
        masks: dict[tuple[int, int], dict[str, torch.Tensor]] = {}

        def energy(images: torch.Tensor) -> torch.Tensor:
            size = (images.shape[2], images.shape[3])
            if size not in masks:
                masks[size] = {g: _masks_at(target_regions, g, *size) for g in weights}
            target = {g: m.to(images.device) for g, m in masks[size].items()}
            return energy_module(images, target)

        patched = model.clone()
        if mode == "xt":
            enable_unet_gradients(patched)
        add_gradient_guidance(patched, settings, decoder, energy, NODE, [clip])
        add_models(patched, WRAPPER_KEY, [decoder, clip])
        batches = _batch_check(len(target_regions.labels), len(source_image))
        check_before_sampling(patched, WRAPPER_KEY, batches)
        return io.NodeOutput(patched)


def _source_embeddings(clip: Any, clip_vision: Any, image: torch.Tensor,
                       parsing: ParsingResult, weights: dict[str, float]) -> dict[str, torch.Tensor]:
    """``{group: [B_s, D]}`` CLIP embeddings of each source region; an absent region is an error."""
    height, width = image.shape[1:3]
    pixels = image[..., :3].permute(0, 3, 1, 2)
    load_models([clip])
    embedder = clip.model
    mean = torch.tensor(clip_vision.image_mean).view(1, 3, 1, 1)
    std = torch.tensor(clip_vision.image_std).view(1, 3, 1, 1)
    out = {}
    for group in weights:
        masks = _masks_at(parsing, group, height, width)
        masks = masks.expand(len(pixels), -1, -1) if len(masks) == 1 else masks
        with torch.no_grad():
            embeddings, present = region_embeddings(embedder, pixels, masks, clip_vision.image_size, mean,
                                                    std)
        if not bool(present.all()):
            missing = [i for i, p in enumerate(present.tolist()) if not p]
            raise TruePoseError(
                f"{NODE}: the source parsing has no '{group}' region in image(s) {missing}. Remove {group} "
                "from group_weights, or check the source photo and its Human Parsing output."
            )
        out[group] = embeddings.cpu()
    return out


def _batch_check(targets: int, sources: int) -> Callable[[torch.Size], None]:
    """Target region maps and sources must fit the latent batch of ``shape [B, C, h, w]``."""
    def check(shape: torch.Size) -> None:
        for count, what in ((targets, "target_regions maps"), (sources, "source images")):
            if count not in (1, shape[0]):
                raise TruePoseError(f"{NODE}: {count} {what} for a latent batch of {shape[0]}; give one, or "
                                    "one per latent.")

    return check

