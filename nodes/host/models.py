"""Models and their files through the host: folders, file look-up with one error wording, devices,
``ModelPatcher`` creation and loading, the loader cache, model family detection.

Model folders: the pack registers ``models/<name>`` with ``folder_paths``; a folder another pack or
``extra_model_paths.yaml`` already registered keeps its paths, ours is added to them, so files placed in
either location are listed.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, TypeVar

import comfy.latent_formats
import comfy.model_management
import comfy.model_patcher
import comfy.sd
import comfy.supported_models
import comfy.utils
import folder_paths
import torch

from ...pose_models.errors import PoseTransferError
from .paths import UnsafePathError, check_name, check_prefix, inside_folder

ModelPatcher = comfy.model_patcher.ModelPatcher
MODEL_EXTENSIONS = {".pth", ".pt", ".bin", ".safetensors", ".sft"}
REFRESH_HINT = "Put the file there and refresh the node list (press R)."

INSIGHTFACE_FOLDER = "models/insightface/models/"
INSIGHTFACE_PACKS = ("antelopev2", "buffalo_l")
"""The insightface packs the pack's face nodes name (InstantID: antelopev2, FaceID: buffalo_l), always
offered, installed or not (the node's error then says where to put them)."""

T = TypeVar("T")


class MissingModelFile(PoseTransferError):
    """A file a node names is not in its model folder (any more)."""


# ----- folders and files --------------------------------------------------------------------------------
def ensure_model_folder(name: str, extensions: Iterable[str] | None = None) -> str:
    """Register ``models/<name>`` under the key ``name`` (idempotent) with the given file extensions
    (default :data:`MODEL_EXTENSIONS`); returns the folder path."""
    path = os.path.join(folder_paths.models_dir, name)
    folder_paths.add_model_folder_path(name, path)
    folder_paths.folder_names_and_paths[name][1].update(extensions or MODEL_EXTENSIONS)
    return path


def model_files(name: str) -> list[str]:
    """File names (relative, sorted) in every registered folder of ``name``."""
    return sorted(folder_paths.get_filename_list(name))


def model_folders(name: str) -> list[str]:
    """Every registered folder of ``name`` (``models/<name>`` and extra paths)."""
    return list(folder_paths.get_folder_paths(name))


def models_dir() -> str:
    """The host's ``models/`` folder."""
    return folder_paths.models_dir


def model_path(folder: str, name: str, node: str, hint: str = "") -> str:
    """Absolute path of ``name`` in the registered folders of ``folder``; :class:`MissingModelFile`
    otherwise, in the one wording every node uses: ``"<node>: <name> is not in models/<folder>/. <hint>
    Put the file there and refresh the node list (press R)."``"""
    check_name(name, node, "the file name", f"models/{folder}/")
    path = folder_paths.get_full_path(folder, name)
    if path is None:
        hint = f"{hint} " if hint else ""
        raise MissingModelFile(f"{node}: {name} is not in models/{folder}/. {hint}{REFRESH_HINT}")
    return path


def accept_file_name(value: Any) -> bool | str:
    """``validate_inputs`` of a file-name combo: any name is accepted at queue time, so that a workflow
    naming a file that is not installed reaches the node, whose error says where to get it and where it
    goes (hosts that check combo values themselves would only answer "Value not in list")."""
    return True if isinstance(value, str) else f"expected a file name, got {type(value).__name__}"


def accept_pack_name(value: Any, node: str) -> bool | str:
    """``validate_inputs`` of an insightface pack combo: any folder name (see :func:`accept_file_name`),
    but never a path out of ``models/insightface/models/`` (:mod:`.paths`)."""
    accepted = accept_file_name(value)
    if accepted is not True:
        return accepted
    try:
        insightface_pack_dir(value, node)
    except UnsafePathError as err:
        return str(err)
    return True


def accept_prefix(value: Any, node: str, folder: str) -> bool | str:
    """``validate_inputs`` of an output ``filename_prefix`` (:func:`~.paths.check_prefix`), so a bad one
    stops the prompt before any node runs."""
    try:
        check_prefix(value, node, folder)
    except UnsafePathError as err:
        return str(err)
    return True


def input_directory() -> Path:
    """The host's input folder."""
    return Path(folder_paths.get_input_directory())


def output_directory() -> Path:
    """The host's output folder."""
    return Path(folder_paths.get_output_directory())


def counter_path(prefix: str, root: str | Path, node: str, folder: str) -> tuple[Path, str, int, str]:
    """The host's counter naming under ``root`` for ``prefix`` (``"poses/pose"``): ``(folder, stem, next
    counter, subfolder)``; the folder may not exist yet. The prefix is checked first
    (:func:`~.paths.check_prefix`; ``node`` and ``folder`` name the node and ``root`` in the message)."""
    check_prefix(prefix, node, folder)
    folder_path, stem, counter, subfolder, _ = folder_paths.get_save_image_path(prefix, str(root))
    inside_folder(root, subfolder or ".", node, "filename_prefix", folder)  # no link out of root
    return Path(folder_path), stem, counter, subfolder
    return Path(folder), stem, counter, subfolder


def insightface_pack_dir(pack: str, node: str) -> Path:
    """``models/insightface/models/<pack>``: where insightface packs go (shared with InstantID and
    IPAdapter_plus); ``pack`` is checked as a folder name (:mod:`.paths`)."""
    return inside_folder(Path(folder_paths.models_dir) / "insightface" / "models", pack, node, "insightface",
                         INSIGHTFACE_FOLDER, follow_links_out=True)


def insightface_packs() -> list[str]:
    """antelopev2 and buffalo_l, then the other folders of ``models/insightface/models/``."""
    root = Path(folder_paths.models_dir) / "insightface" / "models"
    names = sorted(p.name for p in root.iterdir() if p.is_dir()) if root.is_dir() else []
    return [*INSIGHTFACE_PACKS, *(n for n in names if n not in INSIGHTFACE_PACKS)]


# ----- devices, patchers, loading -----------------------------------------------------------------------
def torch_device() -> torch.device:
    """The device the host computes on."""
    return comfy.model_management.get_torch_device()


def uses_cuda() -> bool:
    """Whether the host computes on a CUDA device."""
    return torch_device().type == "cuda"


def offload_device() -> torch.device:
    """Where the host keeps UNet-sized models between runs."""
    return comfy.model_management.unet_offload_device()


def intermediate_device() -> torch.device:
    """Where node outputs live between nodes."""
    return comfy.model_management.intermediate_device()


def module_patcher(module: torch.nn.Module, *, placement: str = "unet",
                   load_device: torch.device | None = None) -> ModelPatcher:
    """``module`` in a ``ModelPatcher`` so the host loads it for a run and offloads it when memory is
    needed. ``placement``: ``"unet"`` (the compute device, UNet offload), ``"vae"`` (the VAE's devices) or
    ``"text_encoder"`` (``load_device``, the text-encoder offload device)."""
    if placement == "vae":
        load, offload = comfy.model_management.vae_device(), comfy.model_management.vae_offload_device()
    elif placement == "text_encoder":
        load, offload = load_device, comfy.model_management.text_encoder_offload_device()
    else:
        load = comfy.model_management.get_torch_device()
        offload = comfy.model_management.unet_offload_device()
    return ModelPatcher(module, load_device=load_device or load, offload_device=offload)


def load_models(patchers: list[Any], *, full: bool = False) -> None:
    """Load ``patchers`` to their device as a sampler would (``full``: no partial loading)."""
    comfy.model_management.load_models_gpu(patchers, force_full_load=full)


@dataclass
class FileCache(Generic[T]):
    """Loaded values by absolute file path; an entry is rebuilt when the file's modification time changes."""

    entries: dict[str, tuple[float, T]] = field(default_factory=dict)

    def get(self, path: str, build: Callable[[str], T]) -> T:
        mtime = os.path.getmtime(path)
        cached = self.entries.get(path)
        if cached is not None and cached[0] == mtime:
            return cached[1]
        value = build(path)
        self.entries[path] = (mtime, value)
        return value


# ----- model family ----------------------------------------------------------------------------------------
FAMILY_NAMES = {"sd15": "SD1.5", "sdxl": "SDXL"}


def model_family(model: Any) -> str | None:
    """``"sdxl"``, ``"sd15"`` or ``None`` for a host MODEL: the family the host's model detection found
    from the checkpoint's state dict (its ``model_config``; SDXL derivatives such as SSD-1B count as SDXL)."""
    config = getattr(getattr(model, "model", None), "model_config", None)
    if isinstance(config, comfy.supported_models.SDXL):
        return "sdxl"
    if isinstance(config, comfy.supported_models.SD15):
        return "sd15"
    return None


def config_name(model: Any) -> str:
    """The host's name for the MODEL's detected config (for messages)."""
    return type(getattr(model.model, "model_config", None)).__name__


def cross_attention_width(model: Any) -> int | None:
    """The text-token width of the MODEL's cross-attention (``context_dim``), from its config."""
    return model.model.model_config.unet_config.get("context_dim")


def latent_channels(model: Any) -> int:
    """Channels of the MODEL's latent space."""
    return int(getattr(model.model.latent_format, "latent_channels", 4))


def diffusion_model(model: Any) -> torch.nn.Module:
    """The MODEL's denoiser network (the UNet), read through object patches."""
    return model.get_model_object("diffusion_model")


# ----- a diffusers-layout SD1.5 UNet as a host MODEL (CFLD) -------------------------------------------------
def load_sd15_unet(state: dict[str, torch.Tensor], unet_config: dict[str, Any]
                   ) -> tuple[ModelPatcher | None, list[str]]:
    """A diffusers-layout UNet state dict as a host MODEL built by the host's own loader (model detection,
    dtype choice, offloading). ``unet_config`` has the LDM fields the key map needs (``num_res_blocks``,
    ``channel_mult``, ``transformer_depth``, ...). Returns ``(MODEL or None, unknown keys)``; the MODEL is
    ``None`` when keys are unknown or the host does not detect an SD1.5 UNet."""
    mapping = comfy.utils.unet_to_diffusers(unet_config)
    unknown = sorted(set(state) - set(mapping))
    if unknown:
        return None, unknown
    model = comfy.sd.load_diffusion_model_state_dict({mapping[k]: v for k, v in state.items()})
    if model is None or not isinstance(model.model.latent_format, comfy.latent_formats.SD15):
        return None, []
    return model, []
