"""Human parsing nodes: the SCHP parser (model managed by the host) and label maps from plain masks.

The SCHP checkpoints live in ``models/human_parsing/`` (registered with the host at import). A loaded
parser is a ``ModelPatcher`` so the host loads it to the GPU for a run and offloads it when memory is
needed; it is cached across runs per file path and modification time.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from comfy_api.latest import io, ui

from ...pose_models.parsing import (
    GROUPS,
    LABEL_SETS,
    MODELS_FOLDER,
    PART_GROUPS,
    HumanParser,
    LabelSet,
    ParsingResult,
)
from ...pose_models.parsing.checkpoint import download_hint, load_network
from ...pose_models.truepose import REGION_LABEL_SET, TruePoseError, labels_from_masks
from ..common.categories import TRUEPOSE as CATEGORY
from ..common.errors import node_errors
from ..common.images import rgb_images
from ..host.memory import chunk_that_fits, require_memory
from ..host.models import (
    FileCache,
    accept_file_name,
    ensure_model_folder,
    load_models,
    model_files,
    model_path,
    module_patcher,
    offload_device,
)
from ..host.progress import ProgressBar, check_interrupted
from .types import HumanParsing

PARSER_EXTENSIONS = {".pth", ".pt", ".safetensors", ".sft"}
NODE = "Human Parsing"
ensure_model_folder(MODELS_FOLDER, PARSER_EXTENSIONS)


@dataclass
class LoadedParser:
    """A host-managed SCHP network and its label set."""

    patcher: Any
    label_set: LabelSet


PARSERS: FileCache[LoadedParser] = FileCache()
"""Loaded parsers by absolute file path; an entry is replaced when the file's mtime changes."""


def parser_choices() -> list[str]:
    """Files in ``models/human_parsing`` plus the official file names (listed even before download, so
    example workflows load with the right name; a missing file stops the run with the download link)."""
    return sorted(set(model_files(MODELS_FOLDER)) | {s.checkpoint for s in LABEL_SETS})


def _load(path: str) -> LoadedParser:
    network, label_set = load_network(path, device=offload_device(), dtype=torch.float32)
    return LoadedParser(module_patcher(network), label_set)


def load_parser(name: str) -> tuple[Any, LabelSet]:
    """The host-managed SCHP network for ``models/human_parsing/<name>`` (cached by path and mtime)."""
    loaded = PARSERS.get(model_path(MODELS_FOLDER, name, NODE, download_hint()), _load)
    return loaded.patcher, loaded.label_set


class HumanParsingNode(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="PT_HumanParsing",
            display_name="Human Parsing (SCHP)",
            category=CATEGORY,
            description=(
                "Parses people into face, hair, clothes, limbs and accessories with an SCHP checkpoint "
                "(LIP, ATR or Pascal-Person-Part; label set read from the weights). Outputs a coloured "
                "parsing map, its legend, the label map for TruePose, and masks of region groups that are "
                "the same whichever checkpoint you use."
            ),
            inputs=[
                io.Image.Input("image", tooltip="Images to parse; every image of the batch is parsed."),
                io.Combo.Input("model_name", options=parser_choices(), default=LABEL_SETS[0].checkpoint,
                               tooltip=f"SCHP checkpoint in models/{MODELS_FOLDER}/ (official .pth or "
                                       "converted .safetensors); official names are listed before download."),
                io.Boolean.Input("flip", default=False,
                                 tooltip="Also parse the mirrored image and average (slower, cleaner)."),
                io.Int.Input("input_size", default=0, min=0, max=2048, step=8,
                             tooltip="Network input side in px; 0 = the checkpoint's official size (473 for "
                                     "LIP, 512 for ATR and Pascal)."),
            ],
            outputs=[
                io.Image.Output(display_name="parsing_map"),
                io.Image.Output(display_name="legend"),
                HumanParsing.Output(display_name="parsing"),
                *(io.Mask.Output(display_name=group) for group in GROUPS),
            ],
        )

    @classmethod
    def validate_inputs(cls, model_name: str) -> bool | str:
        return accept_file_name(model_name)

    @classmethod
    def execute(cls, image: torch.Tensor, model_name: str, flip: bool, input_size: int) -> io.NodeOutput:
        if input_size and input_size < 16:
            raise TruePoseError(f"{NODE}: input_size must be 0 (official) or at least 16 px.")
        image = rgb_images(image, NODE, "image", 2)
        count, height, width = image.shape[:3]
        # outputs on the CPU: colour map (3 floats), labels (int64), one float mask per group
        require_memory(count * height * width * (12 + 8 + 4 * len(GROUPS)), NODE,
                       f"parsing {count} image(s) of {width}x{height}",
                       "Parse fewer images at once (split the batch) or scale the images down first.")
        patcher, label_set = load_parser(model_name)
        load_models([patcher])
        parser = HumanParser(patcher.model, label_set)
        size = (input_size, input_size) if input_size else None
        per_image = height * width * label_set.num_classes * 4 * (3 if flip else 2)  # logits + warp
        batch = chunk_that_fits(per_image, parser.device, count, NODE, f"one {width}x{height} image",
                                "Scale the images down first (or use input_size for a smaller network pass).")
        bar = ProgressBar(count)
        result = parser.parse(image, flip=flip, input_size=size, batch_size=batch,
                              progress=bar.update_absolute, interrupt=check_interrupted)
        color = result.color_map()
        masks = [result.mask(group) for group in GROUPS]
        return io.NodeOutput(color, result.legend_image(), result, *masks, ui=ui.PreviewImage(color, cls=cls))


class ParsingFromMasks(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="PT_ParsingFromMasks",
            display_name="Human Parsing from Masks",
            category=CATEGORY,
            description=(
                "Builds a TruePose label map from plain masks (any segmenter, hand-painted masks): a person "
                "mask plus optional masks per region group. Overlaps go to the smaller region (face, hair, "
                "accessories, shoes, arms before clothes and legs); person pixels no mask claims are "
                "'Other person'."
            ),
            inputs=[
                io.Mask.Input("person", optional=True,
                              tooltip="The whole person; default: the union of the region masks."),
                *(io.Mask.Input(group, optional=True, tooltip=f"Pixels of the {group.replace('_', ' ')}.")
                  for group in PART_GROUPS),
            ],
            outputs=[HumanParsing.Output(display_name="parsing"),
                     io.Image.Output(display_name="parsing_map")],
        )

    @classmethod
    def execute(cls, person: torch.Tensor | None = None, **groups: torch.Tensor | None) -> io.NodeOutput:
        with node_errors("Human Parsing from Masks"):
            labels = labels_from_masks(groups, person)
        result = ParsingResult(labels, REGION_LABEL_SET)
        return io.NodeOutput(result, result.color_map())

