"""IP-Adapter FaceID's face projection, and which face file a weight file is (``docs/methods.md``,
OnePoseTrans, SD1.5 variant), without ComfyUI.

The SD1.5 variant of the OnePoseTrans face part has no InstantID: the face value comes from IP-Adapter
FaceID (``ip-adapter-faceid_sd15.bin``, also ``ip-adapter-faceid_sdxl.bin``; Hugging Face
``h94/IP-Adapter-FaceID``), read with ``weights_only=True`` as ``{"image_proj": ..., "ip_adapter": ...}``::

    image_proj.proj.0.{weight,bias}      (hidden, 512), (hidden,)           hidden = 1024
    image_proj.proj.2.{weight,bias}      (tokens * context_dim, hidden)     tokens = 4; 768 (SD1.5) / 2048
    image_proj.norm.{weight,bias}        (context_dim,)
    ip_adapter.{N}.to_k_ip.weight        (inner_dim, context_dim)   odd N only: the attn2 processors
    ip_adapter.{N}.to_v_ip.weight        (inner_dim, context_dim)
    ip_adapter.{N}.to_{q,k,v,out}_lora.{down,up}.weight   FaceID's own LoRA, every N (attn1 and attn2)

``N`` numbers every attention processor of the UNet as :mod:`.ip_adapter` describes (SD1.5: 0..31, the
16 cross-attention layers are the odd ones). The projection is ``Linear -> GELU -> Linear -> reshape
(B, tokens, context_dim) -> LayerNorm``; its input is insightface's **L2-normalised** ArcFace embedding
(``normed_embedding``, from the ``buffalo_l`` pack), where InstantID takes the raw ``embedding`` of
``antelopev2``. The OnePoseTrans face part uses only the projection and ``to_v_ip``; FaceID's own
decoupled attention and its LoRA are not applied (as InstantID's own face attention is off on SDXL).

Not supported (clear error): FaceID Plus / PlusV2 (``perceiver_resampler.*``: ArcFace + CLIP image
features), FaceID Portrait (the same MLP without LoRA keys, 16 tokens, trained on several faces; the
``*_unnorm`` one has a Resampler and is known only by its file name), IP-Adapter full-face
(``proj.3.*``) and plain IP-Adapters (``proj.weight``, CLIP image embeddings).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import torch
import torch.nn.functional as F

from .errors import OnePoseTransError
from .instantid import FaceResampler

ARCFACE_DIM = 512
"""Width of insightface's ArcFace embedding, the input of both face projections."""
FACEID_FILE = "ip-adapter-faceid_sd15.bin"
INSTANTID_FILE = "ip-adapter.bin"
SUPPORTED_FILES = (
    f"InstantID's {INSTANTID_FILE} (SDXL, models/instantid/) or IP-Adapter FaceID {FACEID_FILE} "
    "(SD1.5; ip-adapter-faceid_sdxl.bin for SDXL; models/ipadapter/)"
)
"""The face files the OnePoseTrans Face node takes, for error messages."""


class FaceProjection(Protocol):
    """An ArcFace embedding ``(B, 512)`` -> face tokens ``(B, tokens, context_dim)``."""

    @property
    def embed_dim(self) -> int: ...

    @property
    def context_dim(self) -> int: ...

    def __call__(self, embedding: torch.Tensor) -> torch.Tensor: ...


@dataclass(frozen=True)
class FaceIDProjection:
    """FaceID's MLP projection (the ``image_proj.*`` part, prefix removed, float32)."""

    fc1_weight: torch.Tensor
    fc1_bias: torch.Tensor
    fc2_weight: torch.Tensor
    fc2_bias: torch.Tensor
    norm_weight: torch.Tensor
    norm_bias: torch.Tensor

    @classmethod
    def from_state(cls, state: dict[str, torch.Tensor], file_name: str) -> FaceIDProjection:
        needed = ("proj.0.weight", "proj.0.bias", "proj.2.weight", "proj.2.bias", "norm.weight", "norm.bias")
        missing = [k for k in needed if k not in state]
        if missing:
            raise OnePoseTransError(
                f"{file_name!r} lacks image_proj.{missing[0]}; the file is incomplete. Download "
                f"{FACEID_FILE} again into models/ipadapter/."
            )
        fc1, fc2, norm = state["proj.0.weight"], state["proj.2.weight"], state["norm.weight"]
        if fc2.shape[1] != fc1.shape[0] or fc2.shape[0] % norm.shape[0]:
            raise OnePoseTransError(
                f"{file_name!r}: image_proj shapes {tuple(fc1.shape)}, {tuple(fc2.shape)}, "
                f"{tuple(norm.shape)} do not chain; it is not an IP-Adapter FaceID file. Use {FACEID_FILE}."
            )
        return cls(*(state[k].float() for k in needed))

    @property
    def embed_dim(self) -> int:
        return self.fc1_weight.shape[1]

    @property
    def context_dim(self) -> int:
        return self.norm_weight.shape[0]

    @property
    def tokens(self) -> int:
        return self.fc2_weight.shape[0] // self.context_dim

    @torch.no_grad()
    def __call__(self, embedding: torch.Tensor) -> torch.Tensor:
        """``embedding``: ``(B, 512)`` L2-normalised ArcFace vectors -> ``(B, tokens, context_dim)``."""
        hidden = F.gelu(F.linear(embedding.float(), self.fc1_weight, self.fc1_bias))
        x = F.linear(hidden, self.fc2_weight, self.fc2_bias)
        x = x.reshape(embedding.shape[0], self.tokens, self.context_dim)
        return F.layer_norm(x, (self.context_dim,), self.norm_weight, self.norm_bias)


@dataclass(frozen=True)
class FaceFile:
    """A face weight file as the OnePoseTrans Face node uses it.

    ``kind``: ``"instantid"`` or ``"faceid"``; ``projection``: embedding -> face tokens;
    ``normed_embedding``: whether the projection takes insightface's ``normed_embedding`` (FaceID) or the
    raw ``embedding`` (InstantID); ``face_pack``: the insightface pack it was trained with.
    """

    kind: str
    projection: FaceProjection
    normed_embedding: bool
    face_pack: str


def _unsupported(file_name: str, what: str) -> OnePoseTransError:
    return OnePoseTransError(
        f"{file_name!r} is {what}, which the OnePoseTrans Face node does not support. Use {SUPPORTED_FILES}."
    )


def face_file(parts: dict[str, dict[str, torch.Tensor]], file_name: str) -> FaceFile:
    """Which face file ``parts`` (:func:`.ip_adapter.load_adapter_file`) is, by its ``image_proj`` keys, with
    its projection; errors name unsupported kinds and the supported files."""
    proj, adapter = parts["image_proj"], parts["ip_adapter"]
    lower = file_name.lower()
    if any(k.startswith("perceiver_resampler.") for k in proj):
        raise _unsupported(file_name, "an IP-Adapter FaceID Plus / PlusV2 file (ArcFace + CLIP)")
    if "portrait" in lower or "unnorm" in lower:
        raise _unsupported(file_name, "an IP-Adapter FaceID Portrait file")
    if "proj.3.weight" in proj:
        raise _unsupported(file_name, "an IP-Adapter full-face file (CLIP image features)")
    if "proj.0.weight" in proj and "proj.2.weight" in proj:
        if not any(k.endswith("_lora.down.weight") for k in adapter):
            raise _unsupported(file_name, "an IP-Adapter FaceID Portrait-layout file (no FaceID LoRA)")
        projection: FaceProjection = FaceIDProjection.from_state(proj, file_name)
        kind, normed, pack = "faceid", True, "buffalo_l"
    elif "latents" in proj or "proj_in.weight" in proj:
        projection = FaceResampler.from_state(proj, file_name)
        kind, normed, pack = "instantid", False, "antelopev2"
    elif "proj.weight" in proj:
        raise _unsupported(
            file_name, "a plain IP-Adapter (CLIP image embeddings; it belongs in the OnePoseTrans Style node)"
        )
    else:
        keys = ", ".join(sorted(proj)[:4])
        raise _unsupported(file_name, f"no known face file (image_proj keys: {keys})")
    if projection.embed_dim != ARCFACE_DIM:
        raise _unsupported(
            file_name,
            f"a projection of {projection.embed_dim}-wide embeddings (an IP-Adapter Plus for CLIP image "
            f"features), not of {ARCFACE_DIM}-d ArcFace embeddings",
        )
    return FaceFile(kind, projection, normed, pack)
