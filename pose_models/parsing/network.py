"""The SCHP human-parsing network (``AugmentCE2P`` ResNet-101 variant) in plain PyTorch.

:class:`SCHPNet` takes a normalised BGR batch ``[B, 3, H, W]`` (see :mod:`pose_models.parsing.transforms`)
and returns the three official outputs at ``layer1`` resolution ``h, w`` = ``ceil(ceil(H/2)/2)`` (about
``H/4``): the decoder's parsing logits, the fusion logits (the final prediction) and the edge logits.
Its ``state_dict`` keys are those of the official checkpoints without the ``module.`` prefix.
"""

from __future__ import annotations

from typing import NamedTuple

import torch

from .heads import EdgeBranch, ParsingDecoder, PyramidPooling, fusion_head
from .resnet import ResNet101Backbone


class SCHPOutput(NamedTuple):
    """Raw logits ``[B, *, h, w]``: ``parsing`` and ``fusion`` one channel per label, ``edge`` two."""

    parsing: torch.Tensor
    fusion: torch.Tensor
    edge: torch.Tensor


class SCHPNet(ResNet101Backbone):
    """Backbone + ``context_encoding`` + ``decoder`` + ``edge`` + ``fushion`` (sic, the checkpoint's name)."""

    def __init__(self, num_classes: int) -> None:
        super().__init__()
        self.num_classes = num_classes
        self.context_encoding = PyramidPooling(2048, 512)
        self.edge = EdgeBranch()
        self.decoder = ParsingDecoder(num_classes)
        self.fushion = fusion_head(num_classes)

    def forward(self, x: torch.Tensor) -> SCHPOutput:
        x1, x2, x3, x4 = self.features(x)
        parsing, parsing_features = self.decoder(self.context_encoding(x4), x1)
        edge, edge_features = self.edge(x1, x2, x3)
        fusion = self.fushion(torch.cat([parsing_features, edge_features], dim=1))
        return SCHPOutput(parsing, fusion, edge)
