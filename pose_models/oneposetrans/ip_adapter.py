"""IP-Adapter ("style" part of OnePoseTrans, ``docs/methods.md``) without ComfyUI: the weight file, the
cross-attention layer order its keys use, the image projection and the decoupled attention.

Weight file (``ip-adapter_sdxl_vit-h``, ``ip-adapter_sd15``, ``ip-adapter_sd15_vit-h``; ``.safetensors`` with
flat keys or a ``.bin`` torch archive ``{"image_proj": {...}, "ip_adapter": {...}}`` read with
``weights_only=True``)::

    image_proj.proj.weight   (tokens * context_dim, embed_dim)   CLIP image_embeds -> tokens
    image_proj.proj.bias     (tokens * context_dim,)
    image_proj.norm.weight   (context_dim,)   (and .bias)
    ip_adapter.{N}.to_k_ip.weight   (inner_dim, context_dim)    N = 2 * layer + 1
    ip_adapter.{N}.to_v_ip.weight   (inner_dim, context_dim)

``layer`` counts the UNet's cross-attention layers (``attn2``) in the order diffusers registers them:
every input block, then every output block, then the middle block, each by transformer depth (the odd
``N`` are the attn2 processors of diffusers' ``attn1, attn2, attn1, ...`` processor list). InstantID's
``ip-adapter.bin`` and IP-Adapter FaceID number their layers the same way (FaceID also has LoRA keys on every
``N``, even ones included; :mod:`.faceid`).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ..state_dicts import model_family, read_weight_file
from .blocks import BlockWeights
from .errors import OnePoseTransError

_ATTN2_KEY = re.compile(
    r"^(input_blocks|middle_block|output_blocks)\.(\d+)\.?(\d*)\.transformer_blocks\.(\d+)\.attn2\.to_k\.weight$"
)
_KIND = {"input_blocks": "input", "middle_block": "middle", "output_blocks": "output"}
_ORDER = {"input": 0, "output": 1, "middle": 2}


@dataclass(frozen=True)
class CrossAttentionLayer:
    """One ``attn2`` of the host UNet.

    ``patch_key`` is the host's attn2-replace key ``(kind, block id, depth index)`` (kind ``"input"``,
    ``"middle"`` (id 0) or ``"output"``); ``host_block`` the block name of :mod:`.blocks`
    (``output_blocks.1.1``); ``adapter_key`` the ``N`` of ``ip_adapter.{N}.*``; ``inner_dim`` the width of
    the projected q/k/v (heads * dim_head); ``context_dim`` the text-token width.
    """

    patch_key: tuple[str, int, int]
    host_block: str
    adapter_key: str
    inner_dim: int
    context_dim: int


def cross_attention_layers(to_k_shapes: dict[str, tuple[int, ...]]) -> list[CrossAttentionLayer]:
    """The cross-attention layers in adapter order, from ``{UNet key: to_k weight shape}`` for every key
    ``<block path>.transformer_blocks.<d>.attn2.to_k.weight`` (UNet-relative, e.g.
    ``input_blocks.4.1.transformer_blocks.0.attn2.to_k.weight``; other keys are ignored)."""
    found = []
    for key, shape in to_k_shapes.items():
        match = _ATTN2_KEY.match(key)
        if match is None:
            continue
        kind = _KIND[match.group(1)]
        block_id = 0 if kind == "middle" else int(match.group(2))
        host_block = ".".join(g for g in match.group(1, 2, 3) if g)
        found.append(((kind, block_id, int(match.group(4))), host_block, tuple(shape)))
    found.sort(key=lambda item: (_ORDER[item[0][0]], item[0][1], item[0][2]))
    return [
        CrossAttentionLayer(patch_key, block, str(2 * n + 1), shape[0], shape[1])
        for n, (patch_key, block, shape) in enumerate(found)
    ]


def load_adapter_file(path: str) -> dict[str, dict[str, torch.Tensor]]:
    """``{"image_proj": {...}, "ip_adapter": {...}}`` from an IP-Adapter or InstantID file (safetensors
    or a torch archive read with ``weights_only=True``). Errors name the file and the fix."""
    name = os.path.basename(path)
    flat = read_weight_file(path, "IP-Adapter files go into models/ipadapter/, InstantID's ip-adapter.bin "
                            "into models/instantid/.", OnePoseTransError)
    parts: dict[str, dict[str, torch.Tensor]] = {"image_proj": {}, "ip_adapter": {}}
    for key, value in flat.items():
        if isinstance(value, dict) and key in parts:
            parts[key].update({k: v for k, v in value.items() if isinstance(v, torch.Tensor)})
            continue
        prefix, _, rest = str(key).partition(".")
        if prefix in parts and isinstance(value, torch.Tensor):
            parts[prefix][rest] = value
    if not parts["image_proj"] or not parts["ip_adapter"]:
        family = model_family(flat)
        found = f"it is {family}, " if family else ""
        raise OnePoseTransError(
            f"{name!r} has no image_proj.* / ip_adapter.* weights: {found}not an IP-Adapter or InstantID "
            "or FaceID file (keys found: " + ", ".join(list(map(str, flat))[:5]) + "). A FaceID *_lora "
            "file is a LoRA; the OnePoseTrans nodes do not need it."
        )
    return parts


def layer_projections(
    adapter: dict[str, torch.Tensor],
    layers: list[CrossAttentionLayer],
    file_name: str,
    projections: tuple[str, ...] = ("to_k_ip", "to_v_ip"),
) -> dict[str, dict[str, torch.Tensor]]:
    """``{adapter_key: {"to_k_ip": W, "to_v_ip": W}}`` (``W``: ``(inner_dim, context_dim)``) checked against
    the model's layers: the file must have exactly one ``to_k_ip``/``to_v_ip`` entry per cross-attention
    layer with the layer's shapes, else the error says which model family the file is for. Other keys
    (IP-Adapter FaceID's LoRA ``{N}.to_q_lora.down.weight`` ... on every processor) are ignored."""
    keys = {key.split(".")[0] for key in adapter if key.split(".")[1:2] in (["to_k_ip"], ["to_v_ip"])}
    expected = [layer.adapter_key for layer in layers]
    family = {16: "SD1.5", 70: "SDXL"}
    if len(keys) != len(expected):
        raise OnePoseTransError(
            f"{file_name!r} has weights for {len(keys)} cross-attention layers "
            f"({family.get(len(keys), 'another model')}), the MODEL has {len(expected)} "
            f"({family.get(len(expected), 'this model')}). Pick the file made for this checkpoint's family "
            "(SDXL: ip-adapter_sdxl_vit-h / InstantID / ip-adapter-faceid_sdxl; SD1.5: ip-adapter_sd15 / "
            "ip-adapter_sd15_vit-h / ip-adapter-faceid_sd15)."
        )
    out: dict[str, dict[str, torch.Tensor]] = {}
    for layer in layers:
        entry = {}
        for projection in projections:
            weight = adapter.get(f"{layer.adapter_key}.{projection}.weight")
            if weight is None:
                raise OnePoseTransError(
                    f"{file_name!r} lacks ip_adapter.{layer.adapter_key}.{projection}.weight; the file is "
                    "incomplete or not an IP-Adapter/InstantID/FaceID file."
                )
            if tuple(weight.shape) != (layer.inner_dim, layer.context_dim):
                raise OnePoseTransError(
                    f"{file_name!r}: ip_adapter.{layer.adapter_key}.{projection} is {tuple(weight.shape)}, "
                    f"the MODEL's layer {layer.host_block} needs ({layer.inner_dim}, {layer.context_dim}). "
                    "The file is for another model family (SDXL vs SD1.5); pick the one made for this "
                    "checkpoint."
                )
            entry[projection] = weight.float()
        out[layer.adapter_key] = entry
    return out


@dataclass(frozen=True)
class ImageProjection:
    """IP-Adapter's image projection: CLIP ``image_embeds`` ``(B, embed_dim)`` -> ``(B, tokens,
    context_dim)`` tokens (linear, reshape, LayerNorm)."""

    proj_weight: torch.Tensor
    proj_bias: torch.Tensor
    norm_weight: torch.Tensor
    norm_bias: torch.Tensor

    @classmethod
    def from_state(cls, state: dict[str, torch.Tensor], file_name: str) -> ImageProjection:
        needed = ("proj.weight", "proj.bias", "norm.weight", "norm.bias")
        missing = [k for k in needed if k not in state]
        if missing:
            hint = ""
            if any(k.startswith(("latents", "proj_in", "layers")) for k in state):
                hint = (
                    " (an IP-Adapter Plus/InstantID file: use the plain ip-adapter_sdxl_vit-h / "
                    "ip-adapter_sd15)"
                )
            elif "proj.0.weight" in state:
                hint = " (an IP-Adapter FaceID file: it belongs in the OnePoseTrans Face node)"
            raise OnePoseTransError(f"{file_name!r} lacks image_proj.{', image_proj.'.join(missing)}{hint}.")
        return cls(*(state[k].float() for k in needed))

    @property
    def context_dim(self) -> int:
        return self.norm_weight.shape[0]

    @property
    def embed_dim(self) -> int:
        return self.proj_weight.shape[1]

    @property
    def tokens(self) -> int:
        return self.proj_weight.shape[0] // self.context_dim

    def __call__(self, image_embeds: torch.Tensor) -> torch.Tensor:
        x = F.linear(image_embeds.float(), self.proj_weight, self.proj_bias)
        x = x.reshape(image_embeds.shape[0], self.tokens, self.context_dim)
        return F.layer_norm(x, (self.context_dim,), self.norm_weight, self.norm_bias)


@dataclass(frozen=True)
class StyleKeysValues:
    """The IP-Adapter image keys/values of one cross-attention layer: ``scale`` and ``(k_ip, v_ip)``
    ``[tokens, inner_dim]`` for the positive rows (the source image) and for the negative rows (the
    zero-image embedding)."""

    scale: float
    cond: tuple[torch.Tensor, torch.Tensor]
    uncond: tuple[torch.Tensor, torch.Tensor]


def style_keys_values(projection: ImageProjection, embeds: torch.Tensor,
                      weights: dict[str, dict[str, torch.Tensor]], layers: list[CrossAttentionLayer],
                      scales: dict[tuple[str, int, int], float]
                      ) -> dict[tuple[str, int, int], StyleKeysValues]:
    """Per layer ``patch_key`` with a non-zero scale: the image tokens of ``embeds [N, embed_dim]`` (every
    image's tokens concatenated) projected by the layer's ``to_k_ip``/``to_v_ip`` (:func:`layer_projections`),
    and the same for the zero embedding."""
    tokens = projection(embeds).reshape(-1, projection.context_dim)
    zero_tokens = projection(torch.zeros_like(embeds)).reshape(-1, projection.context_dim)
    out = {}
    for layer in layers:
        scale = scales.get(layer.patch_key, 0.0)
        if scale == 0.0:
            continue
        w = weights[layer.adapter_key]
        out[layer.patch_key] = StyleKeysValues(
            scale, (tokens @ w["to_k_ip"].T, tokens @ w["to_v_ip"].T),
            (zero_tokens @ w["to_k_ip"].T, zero_tokens @ w["to_v_ip"].T))
    return out


def rows_by_branch(
    cond_or_uncond: list[int], batch: int, cond: torch.Tensor, uncond: torch.Tensor
) -> torch.Tensor:
    """Stack ``cond`` or ``uncond`` (each ``(tokens, C)``) per batch row: the host's batch is
    ``len(cond_or_uncond)`` equal chunks, chunk ``i`` positive (0) or negative (1). Returns
    ``(batch, tokens, C)``."""
    chunks = max(len(cond_or_uncond), 1)
    if batch % chunks:
        raise OnePoseTransError(f"Attention batch {batch} does not split into {chunks} cond/uncond chunks.")
    per_chunk = batch // chunks
    picks = [uncond if branch == 1 else cond for branch in (cond_or_uncond or [0])]
    return torch.cat([p.unsqueeze(0).expand(per_chunk, -1, -1) for p in picks], dim=0)


STYLE_PRESETS = {
    "repose": {
        "sdxl": {"output_blocks.1.1": 1.0, "output_blocks.0.1": 0.4},
        "sd15": {"output_blocks.4.1": 1.0, "output_blocks.3.1": 0.4},
    },
    "refine": {"sdxl": {"output_blocks.1.1": 1.0}, "sd15": {"output_blocks.4.1": 1.0}},
}
"""IP-Adapter scale per host block, 0 elsewhere. ``repose``: 1.0 on SDXL ``up_blocks.0.attentions.1``, 0.4 on
``up_blocks.0.attentions.0`` (IPAdapter_plus ``layer_weights "5:0.4, 6:1.0"``; SD1.5: the analogue blocks
of the SD1.5 variant in ``docs/methods.md``); ``refine``: only the style block (the refine pass)."""


def style_preset_scales(preset: str, architecture: str) -> BlockWeights:
    """The per-block IP-Adapter scales of a :data:`STYLE_PRESETS` entry for ``"sd15"`` or ``"sdxl"``."""
    if preset not in STYLE_PRESETS:
        raise OnePoseTransError(f"Unknown style preset {preset!r}; use one of {sorted(STYLE_PRESETS)}.")
    return BlockWeights(0.0, dict(STYLE_PRESETS[preset][architecture]))
