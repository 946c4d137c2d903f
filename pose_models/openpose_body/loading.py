"""Find and load ``body_pose_model.pth`` (CMU OpenPose COCO body weights) without unpickling code.

The released file (``lllyasviel/Annotators`` and ``lllyasviel/ControlNet`` on Hugging Face, used by
every OpenPose ControlNet preprocessor) is a plain state dict whose keys are the layer names of
:class:`~.network.BodyPoseNet` (``conv1_1.weight`` ... ``Mconv7_stage6_L2.bias``, 184 tensors). It is read
with the pack's weight-file reader (``torch.load(..., weights_only=True)``, see
:func:`pose_models.state_dicts.read_weight_file`); a ``.safetensors`` file with the same keys works too.
The weights are CMU's, **non-commercial use only**; the pack ships none.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Mapping
from pathlib import Path

import torch

from ..errors import PoseTransferError
from ..state_dicts import model_family, read_weight_file, state_dict_mismatch
from .network import BodyPoseNet, expected_state_dict_shapes

log = logging.getLogger(__name__)

MODEL_FILENAMES: tuple[str, ...] = ("body_pose_model.pth", "body_pose_model.safetensors")
"""File names tried in every searched folder, in this order."""

SEARCH_SUBFOLDERS: tuple[str, ...] = (
    "",
    "openpose",
    "pose_estimators",
    "ckpts/lllyasviel/Annotators",
    "lllyasviel/Annotators",
    "comfyui_controlnet_aux/ckpts/lllyasviel/Annotators",
    "ckpts/lllyasviel/ControlNet/annotator/ckpts",
    "annotator/ckpts",
)
"""Folders tried under each search root, in this order. A root may be a ComfyUI ``models`` folder
(``openpose/``, ``pose_estimators/``), the ``comfyui_controlnet_aux`` folder (``ckpts/...``), its
``ckpts`` folder (``AUX_ANNOTATOR_CKPTS_PATH``), the ``custom_nodes`` folder, or a ControlNet checkout.
After them, Hugging Face cache snapshots ``models--lllyasviel--Annotators/snapshots/*/`` directly under
the root or under ``ckpts/`` are tried (sorted by snapshot name)."""

HF_CACHE_REPO = "models--lllyasviel--Annotators"

DOWNLOAD_HINT = (
    "Download body_pose_model.pth (CMU OpenPose body model, non-commercial licence) from "
    "https://huggingface.co/lllyasviel/Annotators/blob/main/body_pose_model.pth and put it in "
    "ComfyUI/models/openpose/. If comfyui_controlnet_aux has already downloaded it, it is in "
    "custom_nodes/comfyui_controlnet_aux/ckpts/lllyasviel/Annotators/ and is found there."
)


class BodyModelError(PoseTransferError):
    """A body model file exists but cannot be used; the message names the file and what to do."""


def find_body_model(search_dirs: Iterable[str | os.PathLike[str]]) -> Path | None:
    """First existing body model file under ``search_dirs`` (roots in the given order), or ``None``.

    For each root: every folder of :data:`SEARCH_SUBFOLDERS` with every name of :data:`MODEL_FILENAMES`,
    then the Hugging Face cache snapshots. Roots that do not exist are skipped.
    """
    for root in map(Path, search_dirs):
        if not root.is_dir():
            continue
        candidates = [root / sub / name for sub in SEARCH_SUBFOLDERS for name in MODEL_FILENAMES]
        for base in (root, root / "ckpts"):
            snapshots = sorted((base / HF_CACHE_REPO / "snapshots").glob("*"))
            candidates += [snap / name for snap in snapshots for name in MODEL_FILENAMES]
        for path in candidates:
            if path.is_file():
                log.debug("OpenPose body model found: %s", path)
                return path
    return None


def read_state_dict(path: str | os.PathLike[str]) -> dict[str, torch.Tensor]:
    """Tensors of a ``.pth``/``.pt`` (``weights_only=True``) or ``.safetensors`` file, on the CPU.

    Raises ``FileNotFoundError`` (with :data:`DOWNLOAD_HINT`) for a missing file and
    :class:`BodyModelError` for one that is not a plain ``{name: tensor}`` mapping (naming what it is).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"OpenPose body model {path} does not exist. {DOWNLOAD_HINT}")
    data = read_weight_file(path, DOWNLOAD_HINT, BodyModelError)
    if not all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in data.items()):
        raise BodyModelError(
            f"OpenPose body model {path} holds a {type(data).__name__} of other things, not a state dict of "
            f"tensors by layer name (conv1_1.weight, ...). {DOWNLOAD_HINT}"
        )
    return dict(data)


def check_state_dict(state_dict: Mapping[str, torch.Tensor], source: str) -> None:
    """Raise :class:`BodyModelError` naming ``source`` unless the keys and shapes are the released ones."""
    expected = expected_state_dict_shapes()
    problems = state_dict_mismatch(state_dict, expected)
    if not problems:
        return
    family = model_family(state_dict)
    found = f"; it is {family}" if family and family != "an OpenPose body model" else ""
    raise BodyModelError(
        f"OpenPose body model {source} is not the OpenPose COCO body network{found} (body_pose_model.pth, "
        f"{len(expected)} tensors conv1_1.weight ... Mconv7_stage6_L2.bias): " + "; ".join(problems)
        + f". Hand (hand_pose_model.pth), face, BODY_25 and DWPose files do not fit. {DOWNLOAD_HINT}"
    )


def load_body_model(path: str | os.PathLike[str], device: torch.device | str | None = None,
                    dtype: torch.dtype | None = None) -> BodyPoseNet:
    """Load ``body_pose_model.pth`` (or ``.safetensors``) into a :class:`BodyPoseNet` in eval mode.

    ``device``/``dtype`` default to CPU and the file's dtype (float32 for the released file). The
    parameters have ``requires_grad=False``; gradients still flow through the network to its input. Call
    outside ``torch.inference_mode()`` when the model will be used for guidance.
    """
    state_dict = read_state_dict(path)
    check_state_dict(state_dict, str(path))
    with torch.device("meta"):
        net = BodyPoseNet()
    net.load_state_dict(state_dict, strict=True, assign=True)
    net.requires_grad_(False).eval()
    log.info("Loaded OpenPose body model %s", path)
    return net.to(device=device, dtype=dtype)
