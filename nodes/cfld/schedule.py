"""CFLD Official Schedule (the release's DDPM settings as SAMPLER and SIGMAS) and CFLD Resize Output."""

from __future__ import annotations

from typing import Any

import torch
from comfy_api.latest import io

from ...pose_models.cfld import DEFAULT_STEPS, OUTPUT_SIZES, resize_output
from ..common.categories import CFLD as CATEGORY
from ..common.images import rgb_images
from ..host.sampling import stock_sampler, stock_schedule


class CFLDOfficialSchedule(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="PT_CFLDOfficialSchedule",
            display_name="CFLD Official Schedule",
            category=CATEGORY,
            description=(
                "The official CFLD sampling settings as a SAMPLER and SIGMAS for SamplerCustomAdvanced: "
                "DDPM (fixed-small variance) on 50 'leading' timesteps 981, 961, ..., 1 (host: sampler ddpm "
                "+ scheduler ddim_uniform). Only the random noise stream differs from the official script."
            ),
            inputs=[
                io.Model.Input("model", tooltip="The model output of Load CFLD (its noise schedule)."),
                io.Int.Input("steps", default=DEFAULT_STEPS, min=1, max=1000,
                             tooltip="Number of DDPM steps (official: 50)."),
            ],
            outputs=[io.Sampler.Output(display_name="sampler"), io.Sigmas.Output(display_name="sigmas")],
        )

    @classmethod
    def execute(cls, model: Any, steps: int) -> io.NodeOutput:
        return io.NodeOutput(stock_sampler("ddpm"), stock_schedule(model, "ddim_uniform", steps))


class CFLDResizeOutput(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="PT_CFLDResizeOutput",
            display_name="CFLD Resize Output",
            category=CATEGORY,
            description=(
                "Brings CFLD's square 512x512 output back to the DeepFashion aspect the official evaluation "
                "uses (bicubic, antialiased): 256x176 or 512x352, or keeps 512x512."
            ),
            inputs=[
                io.Image.Input("image", tooltip="Decoded CFLD output (512x512)."),
                io.Combo.Input("size", options=list(OUTPUT_SIZES), default="512x352",
                               tooltip="Output size H x W: the square canvas or an official evaluation "
                                       "size."),
            ],
            outputs=[io.Image.Output(display_name="image")],
        )

    @classmethod
    def execute(cls, image: torch.Tensor, size: str) -> io.NodeOutput:
        return io.NodeOutput(resize_output(rgb_images(image, "CFLD Resize Output", "image"), size))
