"""SCHP human parsing (Self-Correction for Human Parsing, ResNet-101) in plain PyTorch, for TruePose.

Reads the official checkpoints (LIP 20 labels, ATR 18, Pascal-Person-Part 7; label set detected from the
weights) from ``.pth`` (``weights_only``) or ``.safetensors``, and parses image batches into label maps,
coloured maps, a legend and region-group masks shared across the label sets. No C++ extension, no
torchvision, no ComfyUI.

Usage::

    parser = HumanParser.from_file("models/human_parsing/exp-schp-201908261155-lip.pth", device=device)
    result = parser.parse(images, flip=True)  # images: float [B, H, W, 3] RGB in [0, 1]
    result.labels, result.color_map(), result.mask("upper_clothes"), result.legend_image()

``python cli.py parsing convert IN.pth OUT.safetensors`` (``cli.py`` in the pack folder) converts one.
"""

from .checkpoint import convert_to_safetensors, load_network, read_state_dict
from .errors import ParsingCheckpointError, ParsingError
from .groups import REGION_GROUPS, RegionGroup
from .labels import ATR, GROUPS, LABEL_SETS, LIP, MODELS_FOLDER, PART_GROUPS, PASCAL, LabelSet
from .network import SCHPNet, SCHPOutput
from .parser import HumanParser, ParsingResult, ProgressCallback
from .render import color_map, group_mask, group_masks, legend, legend_image
from .transforms import CropTransform, crop_transform

__all__ = [
    "ATR", "GROUPS", "LABEL_SETS", "LIP", "MODELS_FOLDER", "PART_GROUPS", "PASCAL", "REGION_GROUPS",
    "RegionGroup",
    "ParsingCheckpointError", "CropTransform", "HumanParser", "LabelSet", "ParsingError", "ParsingResult",
    "ProgressCallback", "SCHPNet", "SCHPOutput",
    "color_map", "convert_to_safetensors", "crop_transform", "group_mask", "group_masks", "legend",
    "legend_image", "load_network", "read_state_dict",
]
