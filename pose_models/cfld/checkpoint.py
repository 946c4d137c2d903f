"""Read, check and convert CFLD's release files; build the modules they describe.

The release (Google Drive, see :data:`RELEASE_URL`) holds two files that accelerate's ``save_state``
wrote with ``torch.save``:

* ``pytorch_model.bin``: the conditioning model, keys ``backbone.`` (Swin), ``appearance_encoder.``
  (HGA), ``pose_encoder.``, ``decoder.``, ``learnable_vector`` (1,301 tensors, ~968 MB fp32);
* ``pytorch_model_1.bin``: the whole SD1.5 UNet, diffusers keys under ``model.`` (686 tensors, ~3.4 GB).

They are read by the pack's one weight-file reader (:func:`pose_models.state_dicts.read_weight_file`:
``torch.load(..., weights_only=True)``, tensors and plain containers only, no code runs) or, after
:func:`convert_to_safetensors`, as safetensors. An optional ``module.`` prefix is
stripped; Swin's ``relative_position_index`` / ``attn_mask`` buffers are recomputed and ignored. Missing,
swapped, foreign (e.g. a Stable Diffusion checkpoint) or mismatched files raise :class:`CFLDCheckpointError`
naming the file and the fix, before any model is built.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from enum import Enum
from pathlib import Path

import safetensors.torch
import torch

from ..state_dicts import listing, model_family, read_weight_file, state_dict_mismatch
from .conditioner import CFLDConditioner
from .config import ConditionerConfig, StateDict, conditioner_config, unet_config
from .errors import CFLDCheckpointError
from .unet import SD15UNet, UNetConfig

logger = logging.getLogger(__name__)

RELEASE_URL = "https://drive.google.com/drive/folders/1s0DcLzBEugRFf20OEmFKiW3tsKoaOOAZ"
MODELS_FOLDER = "cfld"
CONDITIONING_FILE = "pytorch_model.bin"
UNET_FILE = "pytorch_model_1.bin"
UNET_PREFIX = "model."
RECOMPUTED_BUFFERS = ("relative_position_index", "attn_mask")


class FileKind(Enum):
    CONDITIONING = "conditioning model (pytorch_model.bin)"
    UNET = "UNet (pytorch_model_1.bin)"


def download_hint() -> str:
    return (f"Download {CONDITIONING_FILE} and {UNET_FILE} from the CFLD release ({RELEASE_URL}) into "
            f"ComfyUI/models/{MODELS_FOLDER}/.")


def read_tensors(path: str | Path) -> dict[str, torch.Tensor]:
    """The CPU tensors of a release file (``.bin`` via ``weights_only`` torch.load, or safetensors),
    with an optional ``module.`` prefix removed."""
    state = read_weight_file(path, download_hint(), CFLDCheckpointError)
    if not isinstance(state, Mapping) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise CFLDCheckpointError(
            f"{path}: not a flat dict of tensors, so not a CFLD release file. {download_hint()}")
    return {k.removeprefix("module."): v for k, v in state.items()}


def file_kind(state: StateDict) -> FileKind | None:
    """Which release file ``state`` is (``None``: neither)."""
    if "learnable_vector" in state and "decoder.query_feat" in state:
        return FileKind.CONDITIONING
    if f"{UNET_PREFIX}conv_in.weight" in state or "conv_in.weight" in state:
        return FileKind.UNET
    return None


def _foreign_reason(state: StateDict) -> str:
    family = model_family(state)
    if family is not None:
        return f"it is {family}"
    return f"none of its {len(state)} keys (e.g. {listing(sorted(state))}) are CFLD's"


def unet_state(state: StateDict) -> dict[str, torch.Tensor]:
    """UNet tensors with diffusers key names (the release's ``model.`` prefix removed)."""
    return {k.removeprefix(UNET_PREFIX): v for k, v in state.items()}


def _check_keys(module: torch.nn.Module, state: StateDict, path: Path, what: str) -> None:
    problems = state_dict_mismatch(state, {k: v.shape for k, v in module.state_dict().items()})
    if problems:
        raise CFLDCheckpointError(f"{path}: does not fit the CFLD {what} ({'; '.join(problems)}). "
                              f"Is it a complete, unmodified release file? {download_hint()}")


def build_conditioner(state: StateDict, path: Path) -> CFLDConditioner:
    """The conditioning model for a ``pytorch_model.bin`` state dict (weights loaded, eval mode)."""
    state = {k: v for k, v in state.items() if k.rsplit(".", 1)[-1] not in RECOMPUTED_BUFFERS}
    try:
        config = conditioner_config(state)
    except (KeyError, ValueError) as err:
        raise CFLDCheckpointError(f"{path}: cannot read the CFLD conditioning model's sizes ({err}). "
                              f"{download_hint()}") from None
    model = CFLDConditioner(config)
    _check_keys(model, state, path, "conditioning model")
    model.load_state_dict(state)
    return model.eval().requires_grad_(False)


def read_unet_config(state: StateDict, path: Path) -> UNetConfig:
    """Sizes of the UNet in a ``pytorch_model_1.bin`` state dict (with or without ``model.``)."""
    try:
        return unet_config(unet_state(state))
    except (KeyError, ValueError) as err:
        raise CFLDCheckpointError(f"{path}: cannot read the UNet's sizes ({err}). "
                                  f"{download_hint()}") from None


def build_unet(state: StateDict, path: Path) -> SD15UNet:
    """The SD1.5-layout UNet for a ``pytorch_model_1.bin`` state dict (weights loaded, eval mode)."""
    config = read_unet_config(state, path)
    state = unet_state(state)
    model = SD15UNet(config)
    _check_keys(model, state, path, "UNet")
    model.load_state_dict(state)
    return model.eval().requires_grad_(False)


def read_release(conditioning_path: str | Path, unet_path: str | Path
                 ) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """Both files' tensors, after checking that each is the file it should be (not swapped, not foreign)."""
    conditioning_path, unet_path = Path(conditioning_path), Path(unet_path)
    missing = [p for p in (conditioning_path, unet_path) if not p.is_file()]
    if missing:
        raise CFLDCheckpointError(f"CFLD needs both release files; not found: "
                                  f"{', '.join(map(str, missing))}. {download_hint()}")
    cond, unet = read_tensors(conditioning_path), read_tensors(unet_path)
    kinds = file_kind(cond), file_kind(unet)
    if kinds == (FileKind.UNET, FileKind.CONDITIONING):
        raise CFLDCheckpointError(
            f"The two CFLD files are swapped: {conditioning_path} is the UNet and {unet_path} the "
            f"conditioning model. Pass {unet_path.name} as the conditioning model ({CONDITIONING_FILE}) and "
            f"{conditioning_path.name} as the UNet ({UNET_FILE}).")
    for path, state, kind, want in ((conditioning_path, cond, kinds[0], FileKind.CONDITIONING),
                                    (unet_path, unet, kinds[1], FileKind.UNET)):
        if kind == want:
            continue
        found = f"it is CFLD's {kind.value}" if kind else _foreign_reason(state)
        raise CFLDCheckpointError(f"{path}: expected CFLD's {want.value}, but {found}. {download_hint()}")
    return cond, unet


def check_pair(c: ConditionerConfig, u: UNetConfig, conditioning_path: Path, unet_path: Path) -> None:
    """Raise :class:`CFLDCheckpointError` when the two files' sizes do not describe one model."""
    problems = []
    if c.decoder.ctx_dim != u.cross_attention_dim:
        problems.append(f"prompt width {c.decoder.ctx_dim} vs UNet cross-attention width "
                        f"{u.cross_attention_dim}")
    levels = len(c.pose.channels)
    if tuple(c.pose.channels) != tuple(u.block_out_channels[:levels]) or not all(u.attention_levels[:levels]):
        problems.append(f"pose residual widths {c.pose.channels} vs UNet widths {u.block_out_channels}")
    rev = u.block_out_channels[::-1]
    for block, width in zip((11, 10, 9, 8, 7, 6, 5, 4, 3), c.appearance.ctx_dims, strict=True):
        up_level = block // (u.layers_per_block + 1)
        if up_level >= len(rev) or rev[up_level] != width or not u.attention_levels[::-1][up_level]:
            problems.append(f"HGA bias width {width} does not fit UNet block {block}")
            break
    if problems:
        raise CFLDCheckpointError(
            f"{conditioning_path} and {unet_path} do not belong to one CFLD model: {'; '.join(problems)}. "
            f"Use the two files of the same release. {download_hint()}")


def convert_to_safetensors(source: str | Path, target: str | Path) -> FileKind:
    """Write a release file (either one) as safetensors with the same keys; returns which file it was.

    The file is checked first (it must be one of CFLD's two files and fit the network).
    """
    source, target = Path(source), Path(target)
    state = read_tensors(source)
    kind = file_kind(state)
    if kind is None:
        raise CFLDCheckpointError(
            f"{source}: not a CFLD release file ({_foreign_reason(state)}). {download_hint()}")
    if kind is FileKind.CONDITIONING:
        build_conditioner(state, source)
    else:
        build_unet(state, source)
    kept = {k: v.contiguous().clone() for k, v in state.items()
            if k.rsplit(".", 1)[-1] not in RECOMPUTED_BUFFERS}
    if target.resolve() == source.resolve():
        raise CFLDCheckpointError(f"{target}: the output would overwrite the input; choose another name.")
    target.parent.mkdir(parents=True, exist_ok=True)
    safetensors.torch.save_file(kept, str(target), metadata={"format": "pt", "cfld_file": kind.name.lower()})
    logger.info("%s -> %s (%s, %d tensors)", source, target, kind.value, len(kept))
    return kind
