"""Tiny, seeded model files in the original single-file layouts, written at test time.

``write_tiny_models(models_dir, seed)`` writes every file below into ComfyUI's model folder layout and
returns their paths by key. Nothing here imports the host, so it can run before ComfyUI is importable;
the host's stock loaders accept the files once the test-only ``pt_test_models`` pack
(``tests/host_plugins/pt_test_models``) is loaded.

* ``sd15``: ``checkpoints/tiny_sd15.safetensors`` (CheckpointLoaderSimple)
* ``sdxl``: ``checkpoints/tiny_sdxl.safetensors`` (CheckpointLoaderSimple)
* ``flux``: ``checkpoints/tiny_flux.safetensors`` (CheckpointLoaderSimple; Flux.1-dev layout)
* ``controlnet_openpose_sd15``: ``controlnet/tiny_openpose_sd15.safetensors`` (ControlNetLoader)
* ``clip_vision``: ``clip_vision/tiny_clip_vision.safetensors`` (CLIPVisionLoader)
* ``unet_sd15``: ``diffusion_models/tiny_sd15_unet.safetensors`` (UNETLoader)
* ``vae``: ``vae/tiny_vae.safetensors`` (VAELoader)
* ``insightface_antelopev2``: the pack directory ``insightface_models.write_tiny_insightface`` writes

The same ``seed`` always gives byte-identical files. ``unet_sd15`` and ``vae`` hold the ``sd15``
checkpoint's UNet and VAE weights.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

from .clip_vision_models import write_clip_vision
from .controlnet_models import write_openpose_controlnet
from .flux_checkpoints import write_flux_checkpoint
from .sd_checkpoints import write_sd15_checkpoint, write_sd15_unet, write_sdxl_checkpoint, write_vae

__all__ = ["MODEL_FILES", "write_tiny_models"]

LOG = logging.getLogger(__name__)

MODEL_FILES: dict[str, str] = {
    "sd15": "checkpoints/tiny_sd15.safetensors",
    "sdxl": "checkpoints/tiny_sdxl.safetensors",
    "flux": "checkpoints/tiny_flux.safetensors",
    "controlnet_openpose_sd15": "controlnet/tiny_openpose_sd15.safetensors",
    "clip_vision": "clip_vision/tiny_clip_vision.safetensors",
    "unet_sd15": "diffusion_models/tiny_sd15_unet.safetensors",
    "vae": "vae/tiny_vae.safetensors",
}
"""Relative path (ComfyUI model folder / file name) of each safetensors fixture."""

_WRITERS = {
    "sd15": write_sd15_checkpoint,
    "sdxl": write_sdxl_checkpoint,
    "flux": write_flux_checkpoint,
    "controlnet_openpose_sd15": write_openpose_controlnet,
    "clip_vision": write_clip_vision,
    "unet_sd15": write_sd15_unet,
    "vae": write_vae,
}


def write_tiny_models(models_dir: Path, seed: int = 0) -> dict[str, Path]:
    """Write all tiny models into ``models_dir/<folder>/`` and return ``{key: path}``.

    Keys: ``sd15``, ``sdxl``, ``flux``, ``controlnet_openpose_sd15``, ``clip_vision``, ``unet_sd15``, ``vae``
    (see ``MODEL_FILES``) and ``insightface_antelopev2`` (the directory
    ``insightface_models.write_tiny_insightface`` returns).
    """
    from .insightface_models import write_tiny_insightface

    models_dir = Path(models_dir)
    started = time.perf_counter()
    paths = {key: writer(models_dir / MODEL_FILES[key], seed) for key, writer in _WRITERS.items()}
    paths["insightface_antelopev2"] = write_tiny_insightface(models_dir, "antelopev2", seed)
    LOG.info("wrote %d tiny models to %s in %.2f s", len(paths), models_dir, time.perf_counter() - started)
    return paths
