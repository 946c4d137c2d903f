"""CFLD nodes (arXiv 2402.18078; a port of the official code with its released checkpoints,
``docs/methods.md``, "CFLD"): load the release pair (:mod:`.loader`), rasterise target poses and encode
source + pose into CFLD's conditions (:mod:`.conditions`), the three-branch guider for any host sampler
(:mod:`.guider`), the official 50-step DDPM preset and output resizing (:mod:`.schedule`).

Library: ``pose_models.cfld``. Typical graph: Load CFLD -> (MODEL, CFLD model); Load Image + pose -> CFLD
Pose -> CFLD Conditions -> CFLD Guider; CFLD Official Schedule (or any sampler and sigmas) ->
SamplerCustomAdvanced on an Empty Latent Image of 512x512 -> VAE Decode (SD1.5 VAE) -> CFLD Resize Output.
"""

from __future__ import annotations

from comfy_api.latest import io

from .conditions import CFLDConditionsNode, CFLDPose
from .guider import CFLDGuiderNode
from .loader import LoadCFLD
from .schedule import CFLDOfficialSchedule, CFLDResizeOutput

CFLD_NODES: tuple[type[io.ComfyNode], ...] = (
    LoadCFLD, CFLDPose, CFLDConditionsNode, CFLDGuiderNode, CFLDOfficialSchedule, CFLDResizeOutput,
)
