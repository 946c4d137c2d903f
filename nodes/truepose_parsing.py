"""Human parsing nodes: the SCHP parser (model managed by the host) and label maps from plain masks.

The SCHP checkpoints live in ``models/human_parsing/`` (registered with ``folder_paths`` at import). A
loaded parser is a ``ModelPatcher`` so ``comfy.model_management`` loads it to the GPU for a run and
offloads it when memory is needed; it is cached across runs per file path and modification time.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import comfy.model_management
import comfy.model_patcher
import comfy.utils
import folder_paths
import torch
from comfy_api.latest import io, ui

from ..pose_models.parsing import (
    GROUPS,
    LABEL_SETS,
    MODELS_FOLDER,
    PART_GROUPS,
    HumanParser,
    LabelSet,
    ParsingResult,
)
from ..pose_models.parsing.checkpoint import download_hint, load_network
from ..pose_models.truepose import REGION_LABEL_SET, TruePoseError, labels_from_masks
from .truepose_types import CATEGORY, HumanParsing

PARSER_EXTENSIONS = {".pth", ".pt", ".safetensors", ".sft"}


def register_parsing_folder() -> None:
    """Register ``models/human_parsing`` (idempotent; paths another pack registered are kept)."""
    folder_paths.add_model_folder_path(MODELS_FOLDER, os.path.join(folder_paths.models_dir, MODELS_FOLDER))
    folder_paths.folder_names_and_paths[MODELS_FOLDER][1].update(PARSER_EXTENSIONS)


register_parsing_folder()


@dataclass
class _LoadedParser:
    mtime: float
    patcher: comfy.model_patcher.ModelPatcher
    label_set: LabelSet


_LOADED: dict[str, _LoadedParser] = {}
"""Loaded parsers by absolute file path; an entry is replaced when the file's mtime changes."""


def parser_choices() -> list[str]:
    """Files in ``models/human_parsing`` plus the official file names (listed even before download, so
    example workflows load with the right name; a missing file stops the run with the download link)."""
    return sorted(set(folder_paths.get_filename_list(MODELS_FOLDER)) | {s.checkpoint for s in LABEL_SETS})


def load_parser(name: str) -> tuple[comfy.model_patcher.ModelPatcher, LabelSet]:
    """The host-managed SCHP network for ``models/human_parsing/<name>`` (cached by path and mtime)."""
    path = folder_paths.get_full_path(MODELS_FOLDER, name)
    if path is None:
        raise TruePoseError(f"Human Parsing: {name!r} is not in models/{MODELS_FOLDER}/. {download_hint()} "
                            "Then refresh the node list (press R).")
    mtime = os.path.getmtime(path)
    cached = _LOADED.get(path)
    if cached is not None and cached.mtime == mtime:
        return cached.patcher, cached.label_set
    offload = comfy.model_management.unet_offload_device()
    network, label_set = load_network(path, device=offload, dtype=torch.float32)
    patcher = comfy.model_patcher.ModelPatcher(network, load_device=comfy.model_management.get_torch_device(),
                                               offload_device=offload)
    _LOADED[path] = _LoadedParser(mtime, patcher, label_set)
    return patcher, label_set


def _progress(bar: comfy.utils.ProgressBar):
    def update(done: int, total: int) -> None:
        bar.update_absolute(done, total)
        comfy.model_management.throw_exception_if_processing_interrupted()
    return update


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
    def execute(cls, image: torch.Tensor, model_name: str, flip: bool, input_size: int) -> io.NodeOutput:
        if input_size and input_size < 16:
            raise TruePoseError("Human Parsing: input_size must be 0 (official) or at least 16 px.")
        patcher, label_set = load_parser(model_name)
        comfy.model_management.load_models_gpu([patcher])
        parser = HumanParser(patcher.model, label_set)
        size = (input_size, input_size) if input_size else None
        bar = comfy.utils.ProgressBar(image.shape[0])
        result = parser.parse(image[..., :3], flip=flip, input_size=size, progress=_progress(bar))
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
        try:
            labels = labels_from_masks(groups, person)
        except TruePoseError as err:
            raise TruePoseError(f"Human Parsing from Masks: {err}") from None
        result = ParsingResult(labels, REGION_LABEL_SET)
        return io.NodeOutput(result, result.color_map())


PARSING_NODES: tuple[type[io.ComfyNode], ...] = (HumanParsingNode, ParsingFromMasks)
