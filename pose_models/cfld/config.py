"""Architecture sizes of a CFLD checkpoint pair, read from tensor shapes (so tiny and larger variants load).

Head counts are not stored in weights: the decoder and HGA use :data:`HEAD_WIDTH`-channel heads (the
release: 768 / 24, 64 / 2, 128 / 4, 256 / 8), the UNet SD1.5's fixed 8 heads, Swin the count in its
relative-position tables. Functions take state dicts with the release's key names (conditioning keys
``backbone.``, ``appearance_encoder.``, ``pose_encoder.``, ``decoder.``, ``learnable_vector``; UNet keys
without the ``model.`` prefix) and raise :class:`KeyError` / :class:`ValueError` on layouts they cannot
read (:mod:`.checkpoint` turns those into user-facing errors).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass

import torch

from .appearance import BLOCK_ORDER, AppearanceConfig
from .decoder import DecoderConfig
from .pose_encoder import POSE_CHANNELS, PoseEncoderConfig
from .swin import SwinConfig
from .unet import UNetConfig

HEAD_WIDTH = 32
"""Channels per attention head in the decoder and the HGA blocks (not recorded in the weights)."""

SD15_HEADS = 8

StateDict = Mapping[str, torch.Tensor]


@dataclass(frozen=True)
class ConditionerConfig:
    swin: SwinConfig
    appearance: AppearanceConfig
    pose: PoseEncoderConfig
    decoder: DecoderConfig


def _count(state: StateDict, pattern: str) -> int:
    """Number of distinct integers ``{n}`` in keys matching ``pattern`` (a regex with one group)."""
    regex = re.compile(pattern)
    return len({m.group(1) for k in state if (m := regex.match(k))})


def _heads(width: int, what: str) -> int:
    if width % HEAD_WIDTH:
        raise ValueError(f"{what} width {width} is not a multiple of the {HEAD_WIDTH}-channel heads")
    return width // HEAD_WIDTH


def _swin_config(state: StateDict, kv_tokens: int) -> SwinConfig:
    proj = state["backbone.patch_embed.proj.weight"]
    stages = _count(state, r"backbone\.layers\.(\d+)\.")
    depths = tuple(_count(state, rf"backbone\.layers\.{i}\.blocks\.(\d+)\.") for i in range(stages))
    tables = [state[f"backbone.layers.{i}.blocks.0.attn.relative_position_bias_table"] for i in range(stages)]
    windows = tuple((math.isqrt(t.shape[0]) + 1) // 2 for t in tables)
    last_side = math.isqrt(kv_tokens)
    if last_side * last_side != kv_tokens:
        raise ValueError(f"decoder.kv_pos_embed has {kv_tokens} tokens, not a square grid")
    embed = proj.shape[0]
    hidden = state["backbone.layers.0.blocks.0.mlp.fc1.weight"].shape[0]
    return SwinConfig(image_size=last_side * proj.shape[-1] * 2 ** (stages - 1), patch_size=proj.shape[-1],
                      embed_dim=embed, depths=depths, heads=tuple(t.shape[1] for t in tables),
                      windows=windows, mlp_ratio=hidden / embed)


def _appearance_config(state: StateDict) -> AppearanceConfig:
    n = _count(state, r"appearance_encoder\.zero_conv_ins\.(\d+)\.")
    if n != len(BLOCK_ORDER):
        raise ValueError(f"the appearance encoder has {n} branches, CFLD has {len(BLOCK_ORDER)}")
    ins = [state[f"appearance_encoder.zero_conv_ins.{i}.weight"] for i in range(n)]
    outs = [state[f"appearance_encoder.zero_conv_outs.{i}.weight"] for i in range(n)]
    if any(w.shape[-2:] != (1, 1) for w in ins):
        raise ValueError("the appearance encoder's input convolutions are not 1x1")
    embed = tuple(w.shape[0] for w in ins)
    return AppearanceConfig(inner_dims=tuple(w.shape[1] for w in ins), embed_dims=embed,
                            heads=tuple(_heads(e, "HGA") for e in embed),
                            ctx_dims=tuple(w.shape[0] for w in outs),
                            depth=_count(state, r"appearance_encoder\.blocks\.0\.(\d+)\."))


def _pose_config(state: StateDict) -> PoseEncoderConfig:
    conv_in = state["pose_encoder.conv_in.weight"]
    factor = math.isqrt(conv_in.shape[1] // POSE_CHANNELS)
    if factor * factor * POSE_CHANNELS != conv_in.shape[1]:
        raise ValueError(f"pose_encoder.conv_in takes {conv_in.shape[1]} channels, not 21 x factor^2")
    levels = _count(state, r"pose_encoder\.resnets\.(\d+)\.")
    return PoseEncoderConfig(factor=factor, in_channels=conv_in.shape[0], channels=tuple(
        state[f"pose_encoder.resnets.{i}.conv1.weight"].shape[0] for i in range(levels)))


def conditioner_config(state: StateDict) -> ConditionerConfig:
    """Sizes of the conditioning model (``pytorch_model.bin``) from its tensors."""
    query = state["decoder.query_feat"]
    kv = state["decoder.kv_pos_embed"]
    decoder = DecoderConfig(n_ctx=query.shape[0], ctx_dim=query.shape[1],
                            heads=_heads(query.shape[1], "decoder"),
                            depth=_count(state, r"decoder\.blocks\.(\d+)\."), kv_dim=kv.shape[2],
                            kv_tokens=kv.shape[1])
    return ConditionerConfig(swin=_swin_config(state, kv.shape[1]), appearance=_appearance_config(state),
                             pose=_pose_config(state), decoder=decoder)


def unet_config(state: StateDict) -> UNetConfig:
    """Sizes of the SD1.5-layout UNet (``pytorch_model_1.bin`` without ``model.``) from its tensors."""
    levels = _count(state, r"down_blocks\.(\d+)\.")
    return UNetConfig(
        in_channels=state["conv_in.weight"].shape[1], out_channels=state["conv_out.weight"].shape[0],
        block_out_channels=tuple(state[f"down_blocks.{i}.resnets.0.conv1.weight"].shape[0]
                                 for i in range(levels)),
        attention_levels=tuple(f"down_blocks.{i}.attentions.0.proj_in.weight" in state
                               for i in range(levels)),
        layers_per_block=_count(state, r"down_blocks\.0\.resnets\.(\d+)\."),
        cross_attention_dim=state["down_blocks.0.attentions.0.transformer_blocks.0.attn2.to_k.weight"].shape[1],
        heads=SD15_HEADS)
