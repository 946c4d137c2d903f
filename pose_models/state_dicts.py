"""Reading weight files safely, and comparing their tensors with what a network expects.

Every loader of the pack reads its files through :func:`read_weight_file`: safetensors, or a PyTorch file
through ``torch.load(..., weights_only=True)``, which rebuilds tensors and plain containers only and never
runs code stored in the file. Whatever else the path holds (a photo, a web page a failed download saved, a
truncated transfer, a pickle with Python objects) is refused before any reader complains, with a message
that names what the file actually is (:mod:`pose_models.file_kinds`) and never suggests loading it unsafely.

:func:`model_family` names the model a readable state dict belongs to (a Stable Diffusion checkpoint, a
LoRA, ...) for messages about a file of the wrong model; :func:`state_dict_mismatch` says exactly which
keys and shapes do not fit.
"""

from __future__ import annotations

import pickle
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import safetensors.torch
import torch
from safetensors import SafetensorError, safe_open

from .errors import PoseTransferError
from .file_kinds import FileKind, file_kind

LISTED = 5
"""Names shown per kind of mismatch; the rest are counted."""


def listing(items: Sequence[str], limit: int = LISTED) -> str:
    """``"a, b, c and 4 more"``: the first ``limit`` items, then how many were left out."""
    shown = ", ".join(items[:limit])
    return shown + (f" and {len(items) - limit} more" if len(items) > limit else "")


def state_dict_mismatch(
    state: Mapping[str, torch.Tensor], expected: Mapping[str, Sequence[int]]
) -> list[str]:
    """What keeps ``state`` from loading strictly into a network whose ``{key: shape}`` is ``expected``:
    one phrase per kind (missing keys in ``expected``'s order, unexpected keys in ``state``'s, tensors of the
    wrong shape), e.g. ``"2 missing key(s): conv1_1.weight, conv1_1.bias"``. Empty when everything fits."""
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    wrong = [f"{k} {list(state[k].shape)} (expected {list(shape)})" for k, shape in expected.items()
             if k in state and tuple(state[k].shape) != tuple(shape)]
    problems = []
    if missing:
        problems.append(f"{len(missing)} missing key(s): {listing(missing)}")
    if unexpected:
        problems.append(f"{len(unexpected)} unexpected key(s): {listing(unexpected)}")
    if wrong:
        problems.append(f"{len(wrong)} tensor(s) of the wrong shape: {listing(wrong)}")
    return problems


WEIGHT_FILES = "a .safetensors file, or a PyTorch .pth/.pt/.bin/.ckpt file of tensors"
"""What :func:`read_weight_file` reads, for messages."""


class WeightFileError(PoseTransferError):
    """A path that is not a readable weight file; the message names the file, what it is, and the fix."""


_GLOBAL = re.compile(r"GLOBAL ([\w.]+)")


def _refused_pickle_reason(error: pickle.UnpicklingError) -> str:
    """What torch's safe unpickler refused (a Python object type, or its own reason), without the advice to
    load the file unsafely that torch's message carries."""
    text = str(error)
    match = _GLOBAL.search(text)
    if match:
        return f"holds the Python object type {match.group(1)}, not only tensors"
    reason = text.split("WeightsUnpickler error:", 1)[-1].strip().splitlines()[0] if text else ""
    return f"holds content the safe reader refuses ({reason[:120]})" if reason else "holds Python objects"


def _existing_file_kind(path: Path, tail: str, error: type[Exception]) -> FileKind:
    """The kind of the file at ``path``; raises ``error`` (message + ``tail``) when there is no file."""
    kind = file_kind(path)
    if kind.family == "missing":
        raise error(f"{path}: no such file.{tail}")
    if kind.family == "folder":
        raise error(f"{path}: is a folder, not a file.{tail}")
    return kind


def read_weight_file(path: str | Path, hint: str = "",
                     error: type[Exception] = WeightFileError) -> Mapping[str, Any]:
    """The top-level mapping of a weight file, tensors on the CPU.

    Safetensors files (recognised by content, whatever their name) give ``{name: tensor}``; PyTorch files
    give what ``torch.load(..., weights_only=True)`` rebuilds (tensors in dicts and lists; e.g. a bare
    state dict, or ``{"state_dict": {...}}``). Raises ``error`` (default :class:`WeightFileError`) with
    ``hint`` (where to get the right file) appended, for: a missing path, anything that is not a weight
    file (naming its kind), a damaged or truncated file, a pickle holding Python objects other than
    tensors, and a file whose top level is not a mapping.
    """
    path = Path(path)
    tail = f" {hint}" if hint else ""
    kind = _existing_file_kind(path, tail, error)
    if kind.damaged:
        raise error(f"{path}: this is {kind.description}; it cannot be read. Download it again.{tail}")
    if kind.family == "safetensors":
        try:
            loaded: object = safetensors.torch.load_file(str(path), device="cpu")
        except (SafetensorError, OSError) as exc:
            raise error(f"{path}: a damaged safetensors file ({exc}). Download it again.{tail}") from None
    elif kind.family in ("torch", "pickle"):
        try:
            loaded = torch.load(path, map_location="cpu", weights_only=True)
        except pickle.UnpicklingError as exc:
            raise error(
                f"{path}: {kind.description} that {_refused_pickle_reason(exc)}. "
                f"Such files can run code when loaded, so this pack never loads them; only plain weight "
                f"files are read.{tail}") from None
        except (RuntimeError, EOFError, ValueError, OSError) as exc:
            first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise error(f"{path}: {kind.description} that cannot be read ({first[:160]}); it is damaged or "
                        f"incomplete. Download it again.{tail}") from None
    else:
        raise error(f"{path}: this is {kind.description}, not a weight file ({WEIGHT_FILES}).{tail}")
    if not isinstance(loaded, Mapping):
        raise error(f"{path}: holds a {type(loaded).__name__}, not weights by name.{tail}")
    return loaded


def read_safetensors_metadata(path: str | Path, hint: str = "",
                              error: type[Exception] = WeightFileError) -> dict[str, str]:
    """The string metadata of a safetensors file (``{}`` when it has none). Raises ``error`` like
    :func:`read_weight_file` for anything that is not a readable safetensors file, naming what it is."""
    path = Path(path)
    tail = f" {hint}" if hint else ""
    kind = _existing_file_kind(path, tail, error)
    if kind.family != "safetensors" or kind.damaged:
        raise error(f"{path}: this is {kind.description}, not a readable safetensors file.{tail}")
    try:
        with safe_open(str(path), framework="pt") as handle:
            return dict(handle.metadata() or {})
    except (SafetensorError, OSError) as exc:
        raise error(f"{path}: a damaged safetensors file ({exc}). Download it again.{tail}") from None


_FAMILIES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("a Stable Diffusion checkpoint (UNet, text encoder and VAE in one file)", ("model.diffusion_model.",)),
    ("a LoRA", ("lora_unet_", "lora_te", ".lora_down.", ".lora_up.", ".lora_A.", ".lora_B.")),
    ("a ControlNet", ("control_model.", "input_hint_block.", "controlnet_cond_embedding.")),
    ("an IP-Adapter, InstantID or FaceID file", ("image_proj.", "ip_adapter.")),
    ("CFLD's conditioning model (pytorch_model.bin)", ("learnable_vector", "appearance_encoder.")),
    ("an SCHP human-parsing checkpoint", ("fushion.", "module.fushion.")),
    ("an OpenPose body model", ("Mconv7_stage6_L1.",)),
    ("an OpenPose hand model", ("Mconv7_stage6.",)),
    ("a VAE", ("first_stage_model.", "encoder.down.0.", "decoder.up.0.", "encoder.down_blocks.0.resnets")),
    ("a CLIP vision model", ("vision_model.", "visual.transformer.")),
    ("a CLIP text encoder", ("text_model.", "cond_stage_model.", "conditioner.embedders.")),
    ("a UNet in the original (LDM) layout", ("input_blocks.", "diffusion_model.")),
    ("a UNet in the diffusers layout", ("down_blocks.0.attentions.", "model.down_blocks.0.")),
    ("a learned pose field", ("nets.0.0.", "net.0.")),
)


def model_family(keys: Sequence[str] | Mapping[str, Any]) -> str | None:
    """Which kind of model a state dict with these key names belongs to (``"a LoRA"``, ``"a Stable
    Diffusion checkpoint (...)"``, ...), or ``None`` when the keys match no family the pack knows."""
    names = [str(k) for k in keys]
    for description, markers in _FAMILIES:
        if any(name.startswith(m) or (m.startswith(".") and m in name) for name in names for m in markers):
            return description
    return None
