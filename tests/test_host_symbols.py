"""The host symbols the pack uses, in one place: a breaking host change shows up here first.

Only ``nodes/host/`` may import ComfyUI internals; every other module of the pack uses the public node
API (``comfy_api.latest``) and the host layer. The module-level symbols the host layer reads are listed
below and must all exist in the host under test (``PT_COMFYUI_TREE`` runs this against another ComfyUI);
the ``ModelPatcher`` methods it calls are listed too. Symbols looked up by feature detection (``getattr``
with a fallback) are listed apart: a host may lack them.
"""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
HOST_LAYER = REPO / "nodes" / "host"
HOST_ROOTS = {"comfy", "comfy_execution", "comfy_extras", "execution", "folder_paths", "latent_preview",
              "nodes", "server"}
"""Top-level modules of a ComfyUI tree (``comfy_api`` is the public node API, allowed everywhere)."""

HOST_SYMBOLS = {
    "comfy.latent_formats.SD15",
    "comfy.ldm.flux.model.Flux",
    "comfy.ldm.modules.attention.SpatialTransformer",
    "comfy.ldm.modules.attention.attention_pytorch",
    "comfy.ldm.modules.attention.optimized_attention",
    "comfy.ldm.modules.attention.optimized_attention_for_device",
    "comfy.ldm.modules.diffusionmodules.openaimodel.UNetModel",
    "comfy.lora.load_lora",
    "comfy.lora.model_lora_keys_unet",
    "comfy.model_management.get_free_memory",
    "comfy.model_management.get_torch_device",
    "comfy.model_management.intermediate_device",
    "comfy.model_management.load_models_gpu",
    "comfy.model_management.should_use_bf16",
    "comfy.model_management.text_encoder_offload_device",
    "comfy.model_management.throw_exception_if_processing_interrupted",
    "comfy.model_management.unet_offload_device",
    "comfy.model_management.vae_device",
    "comfy.model_management.vae_offload_device",
    "comfy.model_patcher.ModelPatcher",
    "comfy.model_sampling.EDM",
    "comfy.model_sampling.EPS",
    "comfy.model_sampling.V_PREDICTION",
    "comfy.patcher_extension.WrappersMP.APPLY_MODEL",
    "comfy.patcher_extension.WrappersMP.OUTER_SAMPLE",
    "comfy.sampler_helpers.convert_cond",
    "comfy.samplers.CFGGuider",
    "comfy.samplers.calc_cond_batch",
    "comfy.samplers.calculate_sigmas",
    "comfy.samplers.process_conds",
    "comfy.samplers.sampler_object",
    "comfy.sd.load_diffusion_model_state_dict",
    "comfy.supported_models.SD15",
    "comfy.supported_models.SDXL",
    "comfy.utils.ProgressBar",
    "comfy.utils.unet_to_diffusers",
    "comfy.weight_adapter.base.WeightAdapterBase",
    "comfy.weight_adapter.lora.LoraDiff",
    "comfy_execution.utils.get_executing_context",
    "folder_paths.add_model_folder_path",
    "folder_paths.folder_names_and_paths",
    "folder_paths.get_filename_list",
    "folder_paths.get_folder_paths",
    "folder_paths.get_full_path",
    "folder_paths.get_input_directory",
    "folder_paths.get_output_directory",
    "folder_paths.get_save_image_path",
    "folder_paths.models_dir",
    "server.PromptServer",
}
"""Every module-level host symbol ``nodes/host/`` reads (checked both ways: used and present)."""

FEATURE_DETECTED = {
    "comfy.model_patcher.ModelPatcher.is_dynamic": "dynamic VRAM loading (ComfyUI 0.12+ on NVIDIA)",
    "comfy.model_patcher.ModelPatcher.get_non_dynamic_delegate": "its classic-loading fallback",
}
"""Symbols read with ``getattr(module, name, None)``: used when the host has them."""

MODEL_PATCHER_METHODS = (
    "add_patches", "add_weight_wrapper", "add_wrapper_with_key", "cleanup", "clone", "get_model_object",
    "pre_run", "set_additional_models", "set_model_attn1_replace", "set_model_attn2_replace",
    "set_model_input_block_patch", "set_model_patch_replace", "set_model_sampler_post_cfg_function",
)
"""``ModelPatcher`` methods the host layer calls on MODEL clones."""


def _imports_and_chains(path: Path) -> set[str]:
    """Dotted host symbols a module reads: ``from x import y`` and attribute chains on imported modules."""
    tree = ast.parse(path.read_text())
    aliases: dict[str, str] = {}
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] in HOST_ROOTS:
                    root = alias.name.split(".")[0]
                    aliases[alias.asname or root] = alias.name if alias.asname else root
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module.split(".")[0] in HOST_ROOTS:
                found.update(f"{node.module}.{alias.name}" for alias in node.names)
    for node in ast.walk(tree):
        parts = []
        while isinstance(node, ast.Attribute):
            parts.append(node.attr)
            node = node.value
        if isinstance(node, ast.Name) and node.id in aliases and parts:
            found.add(".".join([aliases[node.id], *reversed(parts)]))
    return found


def used_symbols() -> set[str]:
    """The most specific symbols the host layer reads (a module path that prefixes another is dropped)."""
    found = set().union(*(_imports_and_chains(path) for path in HOST_LAYER.glob("*.py")))
    return {s for s in found if not any(other.startswith(s + ".") for other in found)}


def resolve(symbol: str) -> object:
    """Import the longest importable module prefix of ``symbol``, then read the rest as attributes."""
    parts = symbol.split(".")
    for split in range(len(parts), 0, -1):
        try:
            value: object = importlib.import_module(".".join(parts[:split]))
        except ImportError:
            continue
        for name in parts[split:]:
            value = getattr(value, name)
        return value
    raise ImportError(symbol)


def test_the_list_is_what_the_host_layer_uses() -> None:
    assert used_symbols() == HOST_SYMBOLS
    source = "".join(path.read_text() for path in HOST_LAYER.glob("*.py"))
    for symbol in FEATURE_DETECTED:
        assert f'"{symbol.rsplit(".", 1)[1]}"' in source, symbol
    for method in MODEL_PATCHER_METHODS:
        assert f".{method}" in source, method


def test_only_the_host_layer_imports_host_internals() -> None:
    offenders = []
    for path in (REPO / "nodes").rglob("*.py"):
        if HOST_LAYER in path.parents:
            continue
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                names = []
            offenders += [f"{path.relative_to(REPO)}: {n}" for n in names if n.split(".")[0] in HOST_ROOTS]
    assert offenders == []


@pytest.mark.usefixtures("comfy_host")
def test_every_listed_symbol_exists_in_the_host() -> None:
    missing = []
    for symbol in sorted(HOST_SYMBOLS):
        try:
            resolve(symbol)
        except (ImportError, AttributeError) as err:
            missing.append(f"{symbol} ({type(err).__name__}: {err})")
    import comfy.model_patcher

    patcher = comfy.model_patcher.ModelPatcher
    missing += [f"ModelPatcher.{m}" for m in MODEL_PATCHER_METHODS if not hasattr(patcher, m)]
    assert missing == [], "the host under test lacks: " + "; ".join(missing)
