"""CFLD's conditioning model (``pytorch_model.bin``): Swin, HGA, pose adapter, decoder, null prompt.

``encode(source [B, 3, S, S] in [-1, 1], pose [B, 21, S, S]) -> Conditions`` (inputs are not modified).
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn

from .appearance import AppearanceEncoder
from .config import ConditionerConfig
from .decoder import PromptDecoder
from .pose_encoder import PoseEncoder
from .swin import SwinEncoder


class Conditions(NamedTuple):
    """Everything CFLD's UNet needs for a batch of ``B`` source/pose pairs (unpacks as a 3-tuple).

    * ``prompt``: ``[2B, n_ctx, ctx_dim]``, the learned null prompt for every item first, then the
      decoder's prompts (the official layout); it replaces a text encoder's output.
    * ``pose_residuals``: per UNet down level 0..2, ``[B, C_level, h_level, w_level]``.
    * ``appearance_biases``: ``{block 3..11: [B, h*w, C]}``, query biases of the up-block cross-attentions.
    """

    prompt: torch.Tensor
    pose_residuals: list[torch.Tensor]
    appearance_biases: dict[int, torch.Tensor]

    @property
    def batch(self) -> int:
        return self.prompt.shape[0] // 2

    def null_prompt(self) -> torch.Tensor:
        return self.prompt[: self.batch]

    def source_prompt(self) -> torch.Tensor:
        return self.prompt[self.batch:]

    def to(self, device: torch.device | str | None = None, dtype: torch.dtype | None = None) -> Conditions:
        return Conditions(self.prompt.to(device, dtype), [r.to(device, dtype) for r in self.pose_residuals],
                          {k: v.to(device, dtype) for k, v in self.appearance_biases.items()})


class CFLDConditioner(nn.Module):
    """Module names are the release file's key prefixes (``backbone``, ``appearance_encoder``, ...)."""

    def __init__(self, config: ConditionerConfig) -> None:
        super().__init__()
        self.config = config
        self.backbone = SwinEncoder(config.swin)
        self.appearance_encoder = AppearanceEncoder(config.appearance)
        self.pose_encoder = PoseEncoder(config.pose)
        self.decoder = PromptDecoder(config.decoder)
        self.learnable_vector = nn.Parameter(torch.zeros(1, config.decoder.n_ctx, config.decoder.ctx_dim))

    @property
    def source_size(self) -> int:
        """Side of the square source image the Swin encoder takes (256 for the release)."""
        return self.config.swin.image_size

    def forward(self, source: torch.Tensor, pose: torch.Tensor) -> Conditions:
        features = self.backbone(source)
        biases = self.appearance_encoder(features)
        residuals = self.pose_encoder(pose)
        prompt = self.decoder(features[-1])
        null = self.learnable_vector.expand(source.shape[0], -1, -1).to(prompt.dtype)
        return Conditions(torch.cat([null, prompt]), residuals, biases)
