"""Read SCHP checkpoints safely, check them against the network, build the network, convert to safetensors.

The official files (``exp-schp-201908261155-lip.pth`` and its ATR / Pascal-Person-Part siblings) are
``torch.save`` dicts ``{"state_dict": {...}, "cycle_n": int}`` whose 603 keys carry DataParallel's
``module.`` prefix. They are read by the pack's one weight-file reader
(:func:`pose_models.state_dicts.read_weight_file`: ``torch.load(..., weights_only=True)``, which refuses any
pickled object other than tensors and plain containers, so no code in a file is ever executed).
``.safetensors`` files (see :func:`convert_to_safetensors`) hold the same tensors with the prefix removed.

The label set comes from the weights (the fusion classifier's output channels), never from the file
name. Keys must match the network exactly; a mismatch raises :class:`ParsingCheckpointError` naming the file,
the missing, unexpected and wrongly shaped keys, and the files to download into ``models/human_parsing/``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path

import safetensors.torch
import torch

from ..state_dicts import model_family, read_weight_file, state_dict_mismatch
from .errors import ParsingCheckpointError
from .labels import LABEL_SETS, MODELS_FOLDER, SCHP_DOWNLOAD_URL, LabelSet, label_set_for_classes
from .network import SCHPNet

logger = logging.getLogger(__name__)

PREFIX = "module."
"""Prefix of every key in the official checkpoints (the training code's DataParallel wrapper)."""

CLASSIFIER_KEY = "fushion.3.weight"
"""The final classifier's weight ``[num_classes, 256, 1, 1]``; its first dimension picks the label set."""




def download_hint() -> str:
    """What to download and where, for error messages."""
    names = ", ".join(s.checkpoint for s in LABEL_SETS)
    return (f"Download one of the SCHP checkpoints ({names}) from {SCHP_DOWNLOAD_URL} "
            f"into models/{MODELS_FOLDER}/.")


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """The CPU tensors of an SCHP weights file, keys without the ``module.`` prefix.

    Safetensors files, or PyTorch files read with ``weights_only`` (a dict with ``state_dict``, or a bare
    state dict); anything else raises :class:`ParsingCheckpointError` naming what the file is.
    """
    path = Path(path)
    raw: object = read_weight_file(path, download_hint(), ParsingCheckpointError)
    if isinstance(raw, Mapping) and "state_dict" in raw:
        raw = raw["state_dict"]
    if not isinstance(raw, Mapping):
        raise ParsingCheckpointError(f"{path}: holds a {type(raw).__name__}, not a state dict. "
                                     f"{download_hint()}")
    state: dict[str, torch.Tensor] = {}
    for key, value in raw.items():
        if not isinstance(value, torch.Tensor):
            raise ParsingCheckpointError(f"{path}: entry {key!r} is a {type(value).__name__}, not a tensor. "
                                  f"{download_hint()}")
        state[str(key).removeprefix(PREFIX)] = value
    return state


def expected_shapes(num_classes: int) -> dict[str, tuple[int, ...]]:
    """``{key: shape}`` of the SCHP network's state dict (no prefix), built without allocating weights."""
    with torch.device("meta"):
        network = SCHPNet(num_classes)
    return {key: tuple(value.shape) for key, value in network.state_dict().items()}


def detect_label_set(state: Mapping[str, torch.Tensor], source: str | Path) -> LabelSet:
    """The label set of a state dict, from the classifier's output channels; ``source`` names the file."""
    classifier = state.get(CLASSIFIER_KEY)
    if classifier is None or classifier.dim() != 4:
        family = model_family(state)
        found = f"it is {family}, " if family else ""
        raise ParsingCheckpointError(f"{source}: {found}no SCHP classifier weight {CLASSIFIER_KEY!r} "
                              f"[labels, 256, 1, 1], so this is not an SCHP parsing checkpoint. "
                              f"{download_hint()}")
    return label_set_for_classes(classifier.shape[0], str(source))


def check_state_dict(state: Mapping[str, torch.Tensor], label_set: LabelSet, source: str | Path) -> None:
    """Raise :class:`ParsingCheckpointError` unless ``state`` has exactly the network's keys and shapes."""
    problems = state_dict_mismatch(state, expected_shapes(label_set.num_classes))
    if problems:
        raise ParsingCheckpointError(
            f"{source}: does not fit the SCHP ResNet-101 network for {label_set.title} "
            f"({label_set.num_classes} labels): {'; '.join(problems)}. {download_hint()}"
        )


def load_network(path: str | Path, device: str | torch.device = "cpu",
                 dtype: torch.dtype = torch.float32) -> tuple[SCHPNet, LabelSet]:
    """Read, check and load an SCHP checkpoint; the network is in eval mode on ``device`` in ``dtype``."""
    state = read_state_dict(path)
    label_set = detect_label_set(state, path)
    check_state_dict(state, label_set, path)
    with torch.device("meta"):
        network = SCHPNet(label_set.num_classes)
    network.load_state_dict(state, strict=True, assign=True)
    network = network.to(device=device, dtype=dtype).eval().requires_grad_(False)
    logger.info("Loaded SCHP %s (%d labels) from %s", label_set.title, label_set.num_classes, path)
    return network, label_set


def convert_to_safetensors(source: str | Path, target: str | Path) -> LabelSet:
    """Check an SCHP checkpoint and write its tensors (no ``module.`` prefix) to ``target`` as safetensors.

    The file's metadata records the label set (``schp_label_set``) and the source file name.
    """
    state = read_state_dict(source)
    label_set = detect_label_set(state, source)
    check_state_dict(state, label_set, source)
    # Own contiguous storage per tensor: safetensors refuses tensors that share memory.
    tensors = {key: value.detach().contiguous().clone() for key, value in state.items()}
    metadata = {"format": "pt", "schp_label_set": label_set.name, "source": Path(source).name}
    safetensors.torch.save_file(tensors, Path(target), metadata=metadata)
    logger.info("Wrote %s (%s, %d tensors)", target, label_set.title, len(tensors))
    return label_set
