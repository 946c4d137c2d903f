"""Host-free maths of the SD1.5 face part (IP-Adapter FaceID; docs/methods.md, OnePoseTrans, SD1.5
variant): the FaceID projection against an nn.Module written from the published architecture, the
adapter layers of a FaceID file (LoRA keys on every processor), and which face files are taken or
refused."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

from oneposetrans.inject_files import faceid_state, instantid_state, ip_adapter_state, save_release_bin
from pose_models.oneposetrans import OnePoseTransError
from pose_models.oneposetrans.faceid import FaceIDProjection, face_file
from pose_models.oneposetrans.ip_adapter import cross_attention_layers, layer_projections, load_adapter_file

ATTN2 = "transformer_blocks.0.attn2.to_k.weight"
SD15_LAYOUT = {
    **{f"input_blocks.{i}.1.{ATTN2}": (8 * (1 + i // 3), 768) for i in (1, 2, 4, 5, 7, 8)},
    f"middle_block.1.{ATTN2}": (24, 768),
    **{f"output_blocks.{i}.1.{ATTN2}": (8 * (4 - i // 3), 768) for i in range(3, 12)},
}
"""SD1.5's 16 cross-attention layers with the real context width (768) and narrow inner widths."""


def _sdxl_width(layout: dict[str, tuple[int, int]]) -> dict[str, tuple[int, int]]:
    return {key: (inner, 2048) for key, (inner, _) in layout.items()}


class ReferenceMLPProjection(nn.Module):
    """FaceID's image projection as published: Linear(512, 1024), GELU, Linear(1024, tokens * C),
    reshape (B, tokens, C), LayerNorm(C); parameter names as in the file."""

    def __init__(self, context_dim: int, tokens: int = 4) -> None:
        super().__init__()
        self.tokens, self.context_dim = tokens, context_dim
        self.proj = nn.Sequential(nn.Linear(512, 1024), nn.GELU(), nn.Linear(1024, tokens * context_dim))
        self.norm = nn.LayerNorm(context_dim)

    def forward(self, embeds: torch.Tensor) -> torch.Tensor:
        return self.norm(self.proj(embeds).reshape(-1, self.tokens, self.context_dim))


def _load(tmp_path: Path, state: dict[str, torch.Tensor], name: str) -> dict[str, dict[str, torch.Tensor]]:
    return load_adapter_file(str(save_release_bin(state, tmp_path / name)))


@pytest.mark.parametrize("context_dim", [768, 2048])
def test_faceid_projection_matches_the_published_module(tmp_path, context_dim):
    layout = SD15_LAYOUT if context_dim == 768 else _sdxl_width(SD15_LAYOUT)
    parts = _load(tmp_path, faceid_state(layout, seed=3), "ip-adapter-faceid_sd15.bin")
    found = face_file(parts, "ip-adapter-faceid_sd15.bin")
    assert (found.kind, found.normed_embedding, found.face_pack) == ("faceid", True, "buffalo_l")
    projection = found.projection
    assert isinstance(projection, FaceIDProjection)
    assert (projection.embed_dim, projection.tokens, projection.context_dim) == (512, 4, context_dim)
    reference = ReferenceMLPProjection(context_dim)
    reference.load_state_dict(parts["image_proj"], strict=True)
    embeds = torch.nn.functional.normalize(torch.randn(3, 512, generator=torch.Generator().manual_seed(1)))
    with torch.no_grad():
        for batch in (embeds, torch.zeros(1, 512)):
            want = reference(batch)
            got = projection(batch)
            assert got.shape == (batch.shape[0], 4, context_dim)
            torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)


def test_faceid_layers_skip_the_lora_keys_of_every_processor(tmp_path):
    parts = _load(tmp_path, faceid_state(SD15_LAYOUT), "ip-adapter-faceid_sd15.bin")
    processors = {int(k.split(".")[0]) for k in parts["ip_adapter"]}
    assert processors == set(range(32))  # LoRA on attn1 (even) and attn2 (odd) processors
    assert "0.to_q_lora.down.weight" in parts["ip_adapter"] and "0.to_v_ip.weight" not in parts["ip_adapter"]
    layers = cross_attention_layers(SD15_LAYOUT)
    weights = layer_projections(parts["ip_adapter"], layers, "f.bin", projections=("to_v_ip",))
    assert sorted(weights, key=int) == [str(n) for n in range(1, 32, 2)]
    for layer in layers:
        in_file = parts["ip_adapter"][f"{layer.adapter_key}.to_v_ip.weight"]
        assert torch.equal(weights[layer.adapter_key]["to_v_ip"], in_file)
    sdxl_width = _load(tmp_path, faceid_state(_sdxl_width(SD15_LAYOUT)), "ip-adapter-faceid_sdxl.bin")
    with pytest.raises(OnePoseTransError, match="another model family"):
        layer_projections(sdxl_width["ip_adapter"], layers, "ip-adapter-faceid_sdxl.bin")


def test_instantid_file_is_recognised_with_its_raw_embedding(tmp_path):
    parts = _load(tmp_path, instantid_state(_sdxl_width(SD15_LAYOUT)), "ip-adapter.bin")
    found = face_file(parts, "ip-adapter.bin")
    assert (found.kind, found.normed_embedding, found.face_pack) == ("instantid", False, "antelopev2")
    assert found.projection.context_dim == 2048


def _full_face_state() -> dict[str, torch.Tensor]:
    state = {k: v for k, v in faceid_state(SD15_LAYOUT, embed_dim=1024).items() if k.startswith("ip_adapter")}
    state.update({
        "image_proj.proj.0.weight": torch.zeros(1024, 1024), "image_proj.proj.0.bias": torch.zeros(1024),
        "image_proj.proj.2.weight": torch.zeros(768, 1024), "image_proj.proj.2.bias": torch.zeros(768),
        "image_proj.proj.3.weight": torch.ones(768), "image_proj.proj.3.bias": torch.zeros(768),
    })
    return state


PORTRAIT = faceid_state(SD15_LAYOUT, lora_rank=0, tokens=16)


@pytest.mark.parametrize(
    ("name", "state", "expected"),
    [
        ("ip-adapter-faceid-plusv2_sd15.bin", faceid_state(SD15_LAYOUT, plus=True), "FaceID Plus / PlusV2"),
        ("renamed.bin", faceid_state(SD15_LAYOUT, plus=True), "FaceID Plus / PlusV2"),
        ("ip-adapter-faceid-portrait-v11_sd15.bin", PORTRAIT, "Portrait"),
        ("renamed.bin", PORTRAIT, "Portrait-layout"),
        ("ip-adapter-faceid-portrait_sdxl_unnorm.bin", instantid_state(SD15_LAYOUT), "Portrait"),
        ("ip-adapter-full-face_sd15.bin", _full_face_state(), "full-face"),
        ("ip-adapter_sd15.bin", ip_adapter_state(SD15_LAYOUT), "plain IP-Adapter"),
        ("ip-adapter-plus_sd15.bin", instantid_state(SD15_LAYOUT, embed_dim=1280), "1280-wide"),
    ],
)
def test_unsupported_face_files_are_refused_naming_the_supported_ones(tmp_path, name, state, expected):
    parts = _load(tmp_path, state, name)
    with pytest.raises(OnePoseTransError) as error:
        face_file(parts, name)
    message = str(error.value)
    assert expected in message and "ip-adapter-faceid_sd15.bin" in message and "InstantID" in message
