"""InstantID's face Resampler and the OnePoseTrans face value (``docs/methods.md``), without ComfyUI.

InstantID ``ip-adapter.bin`` (``{"image_proj": ..., "ip_adapter": ...}``, read with ``weights_only=True``)::

    image_proj.latents                         (1, queries, dim)         learnt queries (16, 1280)
    image_proj.proj_in.{weight,bias}           (dim, embed_dim)          ArcFace 512 -> dim
    image_proj.layers.{i}.0.norm1/norm2        LayerNorm(dim)            perceiver attention i
    image_proj.layers.{i}.0.to_q.weight        (inner, dim)              inner = heads * 64
    image_proj.layers.{i}.0.to_kv.weight       (2 * inner, dim)
    image_proj.layers.{i}.0.to_out.weight      (dim, inner)
    image_proj.layers.{i}.1.0                  LayerNorm(dim)            feed-forward i
    image_proj.layers.{i}.1.1.weight           (mult * dim, dim)         then GELU
    image_proj.layers.{i}.1.3.weight           (dim, mult * dim)
    image_proj.proj_out.{weight,bias}          (context_dim, dim)        2048 for SDXL
    image_proj.norm_out.{weight,bias}          (context_dim,)
    ip_adapter.{N}.to_k_ip.weight / to_v_ip.weight   (inner_dim, context_dim)   N as in :mod:`.ip_adapter`

The Resampler maps a ``(B, 1, 512)`` ArcFace embedding to ``(B, queries, context_dim)`` face tokens; heads
are ``inner / 64`` (InstantID: 20 heads of 64).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from .errors import OnePoseTransError

DIM_HEAD = 64
FACE_GAIN = 4.0
"""The official gain of the face value (the code writes ``64 * mean`` over 16 tokens)."""


def _layer_norm(x: torch.Tensor, state: dict[str, torch.Tensor], prefix: str) -> torch.Tensor:
    return F.layer_norm(x, (x.shape[-1],), state[f"{prefix}.weight"], state[f"{prefix}.bias"])


def _heads(x: torch.Tensor, heads: int) -> torch.Tensor:
    batch, length, width = x.shape
    return x.reshape(batch, length, heads, width // heads).transpose(1, 2)


@dataclass(frozen=True)
class FaceResampler:
    """The perceiver Resampler of InstantID with the file's weights (``state``: the ``image_proj.*`` part,
    prefix removed, float32)."""

    state: dict[str, torch.Tensor]
    depth: int

    @classmethod
    def from_state(cls, state: dict[str, torch.Tensor], file_name: str) -> FaceResampler:
        needed = (
            "latents",
            "proj_in.weight",
            "proj_in.bias",
            "proj_out.weight",
            "proj_out.bias",
            "norm_out.weight",
            "norm_out.bias",
        )
        missing = [k for k in needed if k not in state]
        if missing:
            raise OnePoseTransError(
                f"{file_name!r} lacks image_proj.{missing[0]}: it is not InstantID's ip-adapter.bin "
                "(a plain IP-Adapter file belongs in the OnePoseTrans Style node). Put InstantID's "
                "ip-adapter.bin into models/instantid/."
            )
        depth = len({k.split(".")[1] for k in state if k.startswith("layers.")})
        for i in range(depth):
            for part in (
                "0.norm1.weight",
                "0.norm2.weight",
                "0.to_q.weight",
                "0.to_kv.weight",
                "0.to_out.weight",
                "1.0.weight",
                "1.1.weight",
                "1.3.weight",
            ):
                if f"layers.{i}.{part}" not in state:
                    raise OnePoseTransError(
                        f"{file_name!r} lacks image_proj.layers.{i}.{part}; the file is "
                        "incomplete. Download InstantID's ip-adapter.bin again."
                    )
        return cls({k: v.float() for k, v in state.items()}, depth)

    @property
    def embed_dim(self) -> int:
        return self.state["proj_in.weight"].shape[1]

    @property
    def context_dim(self) -> int:
        return self.state["proj_out.weight"].shape[0]

    def _attention(self, x: torch.Tensor, latents: torch.Tensor, i: int) -> torch.Tensor:
        s = self.state
        p = f"layers.{i}.0"
        x = _layer_norm(x, s, f"{p}.norm1")
        latents = _layer_norm(latents, s, f"{p}.norm2")
        heads = s[f"{p}.to_q.weight"].shape[0] // DIM_HEAD
        q = F.linear(latents, s[f"{p}.to_q.weight"])
        k, v = F.linear(torch.cat((x, latents), dim=1), s[f"{p}.to_kv.weight"]).chunk(2, dim=-1)
        out = F.scaled_dot_product_attention(_heads(q, heads), _heads(k, heads), _heads(v, heads))
        out = out.transpose(1, 2).reshape(latents.shape[0], latents.shape[1], -1)
        return F.linear(out, s[f"{p}.to_out.weight"])

    def _feed_forward(self, latents: torch.Tensor, i: int) -> torch.Tensor:
        s = self.state
        p = f"layers.{i}.1"
        h = _layer_norm(latents, s, f"{p}.0")
        return F.linear(F.gelu(F.linear(h, s[f"{p}.1.weight"])), s[f"{p}.3.weight"])

    @torch.no_grad()
    def __call__(self, embedding: torch.Tensor) -> torch.Tensor:
        """``embedding``: ``(B, embed_dim)`` raw ArcFace vectors -> ``(B, queries, context_dim)``."""
        s = self.state
        x = F.linear(
            embedding.float().reshape(embedding.shape[0], 1, -1), s["proj_in.weight"], s["proj_in.bias"]
        )
        latents = s["latents"].expand(embedding.shape[0], -1, -1)
        for i in range(self.depth):
            latents = self._attention(x, latents, i) + latents
            latents = self._feed_forward(latents, i) + latents
        latents = F.linear(latents, s["proj_out.weight"], s["proj_out.bias"])
        return _layer_norm(latents, s, "norm_out")


def face_value(face_tokens: torch.Tensor, to_v_ip: torch.Tensor, gain: float = FACE_GAIN) -> torch.Tensor:
    """The value written at the face token of one cross-attention layer.

    ``face_tokens``: ``(queries, context_dim)`` Resampler output; ``to_v_ip``: ``(inner_dim, context_dim)``.
    ``u = face_tokens @ to_v_ip.T`` (``queries x inner_dim``); per channel ``c``:
    ``gain * sum_j softmax_j(u[:, c]) * u[j, c]``. Returns ``(inner_dim,)``.
    """
    u = face_tokens.float() @ to_v_ip.float().T
    return gain * (torch.softmax(u, dim=0) * u).sum(dim=0)
