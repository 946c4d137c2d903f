"""Load CFLD: the official release pair as a host MODEL (the UNet) and the conditioning model."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from comfy_api.latest import io

from ...pose_models.cfld import (
    MODELS_FOLDER,
    CFLDCheckpointError,
    UNetConfig,
    build_conditioner,
    check_pair,
    read_release,
    read_unet_config,
    unet_state,
)
from ...pose_models.cfld.checkpoint import CONDITIONING_FILE, UNET_FILE, download_hint
from ..common.categories import CFLD as CATEGORY
from ..host.models import (
    accept_file_name,
    ensure_model_folder,
    load_sd15_unet,
    model_files,
    model_path,
    module_patcher,
)
from .types import CFLDConditioning, CFLDModelType

NODE = "Load CFLD"
ensure_model_folder(MODELS_FOLDER)


def host_unet_config(config: UNetConfig) -> dict[str, Any]:
    """The LDM ``unet_config`` fields the host's diffusers-to-LDM key map needs for this UNet."""
    base = config.block_out_channels[0]
    layers = config.layers_per_block
    return {
        "num_res_blocks": [layers] * len(config.block_out_channels),
        "channel_mult": [c // base for c in config.block_out_channels],
        "transformer_depth": [int(a) for a in config.attention_levels for _ in range(layers)],
        "transformer_depth_output": [int(a) for a in config.attention_levels for _ in range(layers + 1)],
        "transformer_depth_middle": 1,
    }


def load_cfld(conditioning_path: Path, unet_path: Path) -> tuple[Any, CFLDConditioning]:
    """Both release files -> (host MODEL, conditioning model); every check runs before the UNet is built."""
    cond_state, unet_raw = read_release(conditioning_path, unet_path)
    conditioner = build_conditioner(cond_state, conditioning_path)
    del cond_state
    u_config = read_unet_config(unet_raw, unet_path)
    check_pair(conditioner.config, u_config, conditioning_path, unet_path)
    model, unknown = load_sd15_unet(unet_state(unet_raw), host_unet_config(u_config))
    if unknown:
        raise CFLDCheckpointError(f"{unet_path}: UNet tensors without an SD1.5 counterpart "
                                  f"({', '.join(unknown[:5])}). {download_hint()}")
    if model is None:
        raise CFLDCheckpointError(f"{unet_path}: ComfyUI does not recognise this UNet as Stable Diffusion "
                                  f"1.5, which CFLD needs. {download_hint()}")
    c = conditioner.config
    return model, CFLDConditioning(module_patcher(conditioner), c.swin.image_size, c.swin.stage_side(0),
                                   c.decoder.ctx_dim, u_config.layers_per_block)


def _release_file_input(name: str, release_name: str, tooltip: str) -> io.Combo.Input:
    """Combo of the files in models/cfld/, preselecting the release file or its safetensors conversion.

    The release name is always listed, so a workflow that names it validates before the download; running
    it without the file raises the error that says where to get it.
    """
    files = model_files(MODELS_FOLDER)
    stem = release_name.removesuffix(".bin")
    default = next((f for f in files if f.rsplit("/", 1)[-1].rsplit(".", 1)[0] == stem), release_name)
    return io.Combo.Input(name, options=sorted({*files, release_name}), default=default, tooltip=tooltip)


class LoadCFLD(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="PT_CFLDLoader",
            display_name="Load CFLD",
            category=CATEGORY,
            description=(
                "Loads the official CFLD DeepFashion release: pytorch_model.bin (conditioning model: Swin-B, "
                "appearance encoder, pose adapter, prompt decoder) and pytorch_model_1.bin (its SD1.5 UNet), "
                "from models/cfld/. The UNet becomes a normal MODEL (host memory management, any sampler); "
                "use your usual SD1.5 VAE to decode. Weights are read without unpickling code; the "
                "safetensors conversions (python cli.py cfld convert, in the pack folder) load too."
            ),
            inputs=[
                _release_file_input("conditioning_file", CONDITIONING_FILE,
                                    "pytorch_model.bin of the CFLD release (or its .safetensors conversion) "
                                    "in models/cfld/."),
                _release_file_input("unet_file", UNET_FILE,
                                    "pytorch_model_1.bin of the same release (the SD1.5 UNet CFLD "
                                    "fine-tuned) in models/cfld/."),
            ],
            outputs=[io.Model.Output(display_name="model"), CFLDModelType.Output(display_name="cfld")],
        )

    @classmethod
    def validate_inputs(cls, conditioning_file: str, unet_file: str) -> bool | str:
        for value in (conditioning_file, unet_file):
            accepted = accept_file_name(value)
            if accepted is not True:
                return accepted
        return True

    @classmethod
    def execute(cls, conditioning_file: str, unet_file: str) -> io.NodeOutput:
        paths = [model_path(MODELS_FOLDER, name, NODE, download_hint())
                 for name in (conditioning_file, unet_file)]
        model, cfld = load_cfld(Path(paths[0]), Path(paths[1]))
        return io.NodeOutput(model, cfld)
