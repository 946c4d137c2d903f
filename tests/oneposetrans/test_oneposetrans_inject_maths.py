"""Host-free maths of the OnePoseTrans injections: adapter layer numbering on the real SD1.5/SDXL layouts,
file loading and checks, the IP-Adapter image projection, InstantID's Resampler (against an nn.Module
written from the published architecture) and the face value formula."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
from torch import nn

from oneposetrans.inject_files import instantid_state, ip_adapter_state, save_flat, save_release_bin
from pose_models.oneposetrans import OnePoseTransError
from pose_models.oneposetrans.instantid import FaceResampler, face_value
from pose_models.oneposetrans.ip_adapter import (
    ImageProjection,
    cross_attention_layers,
    layer_projections,
    load_adapter_file,
    rows_by_branch,
    style_preset_scales,
)

SDXL_BLOCKS = {
    **{f"input_blocks.{i}.1": (2, 640) for i in (4, 5)},
    **{f"input_blocks.{i}.1": (10, 1280) for i in (7, 8)},
    "middle_block.1": (10, 1280),
    **{f"output_blocks.{i}.1": (10, 1280) for i in (0, 1, 2)},
    **{f"output_blocks.{i}.1": (2, 640) for i in (3, 4, 5)},
}
SD15_BLOCKS = {
    **{f"input_blocks.{i}.1": (1, 320 * 2 ** ((i - 1) // 3)) for i in (1, 2, 4, 5, 7, 8)},
    "middle_block.1": (1, 1280),
    **{f"output_blocks.{i}.1": (1, 1280 // 2 ** ((i - 3) // 3)) for i in range(3, 12)},
}


def _shapes(blocks: dict[str, tuple[int, int]], context: int) -> dict[str, tuple[int, int]]:
    return {
        f"{block}.transformer_blocks.{d}.attn2.to_k.weight": (inner, context)
        for block, (depth, inner) in blocks.items()
        for d in range(depth)
    }


def _execution_order(blocks: dict[str, tuple[int, int]]) -> list[str]:
    """SpatialTransformers in the host's execution order (its ``transformer_index``)."""

    def rank(name: str) -> tuple[int, int]:
        kind, index = name.split(".")[0], int(name.split(".")[1])
        return ({"input_blocks": 0, "middle_block": 1, "output_blocks": 2}[kind], index)

    return sorted(blocks, key=rank)


def test_layer_numbering_matches_the_released_files_sdxl():
    layers = cross_attention_layers(_shapes(SDXL_BLOCKS, 2048))
    assert len(layers) == 70 and [layer.adapter_key for layer in layers] == [str(k) for k in range(1, 140, 2)]
    by_key = {layer.patch_key: layer for layer in layers}
    # input blocks (4 + 20 layers), output blocks, middle block last (diffusers registers it after up_blocks)
    assert by_key[("input", 4, 0)].adapter_key == "1" and by_key[("input", 8, 9)].adapter_key == "47"
    assert by_key[("output", 0, 0)].adapter_key == "49" and by_key[("output", 5, 1)].adapter_key == "119"
    assert by_key[("middle", 0, 0)].adapter_key == "121" and by_key[("middle", 0, 9)].adapter_key == "139"
    assert (
        by_key[("output", 1, 3)].host_block == "output_blocks.1.1"
        and by_key[("output", 1, 3)].inner_dim == 1280
    )


def test_layer_numbering_matches_the_released_files_sd15():
    layers = cross_attention_layers(_shapes(SD15_BLOCKS, 768))
    keys = {layer.host_block: int(layer.adapter_key) for layer in layers}
    assert len(layers) == 16 and keys["input_blocks.1.1"] == 1 and keys["input_blocks.8.1"] == 11
    assert (
        keys["output_blocks.3.1"] == 13 and keys["output_blocks.11.1"] == 29 and keys["middle_block.1"] == 31
    )
    assert {layer.patch_key for layer in layers if layer.host_block == "middle_block.1"} == {("middle", 0, 0)}


def test_repose_style_preset_is_ipadapter_plus_layer_weights_5_and_6():
    order = _execution_order(SDXL_BLOCKS)
    scales = style_preset_scales("repose", "sdxl")
    assert {order.index(b): scales.strength(b) for b in order if scales.strength(b)} == {5: 0.4, 6: 1.0}
    sd15 = style_preset_scales("repose", "sd15")
    assert sd15.strength("output_blocks.4.1") == 1.0 and sd15.strength("output_blocks.3.1") == 0.4
    assert sd15.strength("middle_block.1") == 0.0 and style_preset_scales("refine", "sdxl").blocks == {
        "output_blocks.1.1": 1.0
    }


def test_release_bin_and_flat_safetensors_load_the_same(tmp_path: Path):
    shapes = _shapes({"input_blocks.1.1": (1, 32), "middle_block.1": (1, 64)}, 48)
    state = ip_adapter_state(shapes, embed_dim=24)
    bin_parts = load_adapter_file(str(save_release_bin(state, tmp_path / "a.bin")))
    flat_parts = load_adapter_file(str(save_flat(state, tmp_path / "a.safetensors")))
    for part in ("image_proj", "ip_adapter"):
        assert bin_parts[part].keys() == flat_parts[part].keys()
        assert all(torch.equal(bin_parts[part][k], flat_parts[part][k]) for k in bin_parts[part])
    projection = ImageProjection.from_state(bin_parts["image_proj"], "a.bin")
    assert (projection.tokens, projection.context_dim, projection.embed_dim) == (4, 48, 24)
    embeds = torch.randn(3, 24)
    manual = nn.functional.layer_norm(
        (embeds @ state["image_proj.proj.weight"].T + state["image_proj.proj.bias"]).reshape(3, 4, 48),
        (48,),
        state["image_proj.norm.weight"],
        state["image_proj.norm.bias"],
    )
    torch.testing.assert_close(projection(embeds), manual)
    weights = layer_projections(bin_parts["ip_adapter"], cross_attention_layers(shapes), "a.bin")
    assert set(weights) == {"1", "3"} and weights["3"]["to_v_ip"].shape == (64, 48)


def test_bad_files_are_refused_with_the_fix(tmp_path: Path):
    (tmp_path / "broken.bin").write_bytes(b"garbage")
    with pytest.raises(OnePoseTransError, match="this is a text file, not a weight file.*models/ipadapter/"):
        load_adapter_file(str(tmp_path / "broken.bin"))
    torch.save({"state_dict": {"w": torch.zeros(1)}}, tmp_path / "other.bin")
    with pytest.raises(OnePoseTransError, match="not an IP-Adapter or InstantID"):
        load_adapter_file(str(tmp_path / "other.bin"))
    torch.save({"image_proj": {"x": torch.nn.Linear(1, 1)}, "ip_adapter": {}}, tmp_path / "pickle.bin")
    with pytest.raises(OnePoseTransError, match="Linear, not only tensors.*never loads them"):  # no modules
        load_adapter_file(str(tmp_path / "pickle.bin"))
    sd15 = cross_attention_layers(_shapes(SD15_BLOCKS, 768))
    sdxl_adapter = {f"{k}.to_k_ip.weight": torch.zeros(1) for k in range(1, 140, 2)}
    with pytest.raises(OnePoseTransError, match=r"70 cross-attention layers \(SDXL\).*16 \(SD1.5\)"):
        layer_projections(sdxl_adapter, sd15, "ip-adapter_sdxl_vit-h.safetensors")


def test_rows_follow_cond_or_uncond():
    cond, uncond = torch.ones(2, 3), torch.zeros(2, 3)
    rows = rows_by_branch([1, 0], 4, cond, uncond)
    assert rows.shape == (4, 2, 3) and rows[:2].eq(0).all() and rows[2:].eq(1).all()
    with pytest.raises(OnePoseTransError):
        rows_by_branch([0, 1], 3, cond, uncond)


class _ReferencePerceiver(nn.Module):
    """Perceiver attention as published (IP-Adapter Plus / InstantID ``resampler.py``), from the paper's
    description: queries from the latents, keys/values from ``[x, latents]``."""

    def __init__(self, dim: int, heads: int, dim_head: int = 64) -> None:
        super().__init__()
        self.heads, self.dim_head = heads, dim_head
        self.norm1, self.norm2 = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.to_q = nn.Linear(dim, heads * dim_head, bias=False)
        self.to_kv = nn.Linear(dim, 2 * heads * dim_head, bias=False)
        self.to_out = nn.Linear(heads * dim_head, dim, bias=False)

    def forward(self, x: torch.Tensor, latents: torch.Tensor) -> torch.Tensor:
        x, latents = self.norm1(x), self.norm2(latents)
        q = self.to_q(latents)
        k, v = self.to_kv(torch.cat([x, latents], dim=1)).chunk(2, dim=-1)
        split = [t.unflatten(-1, (self.heads, self.dim_head)).transpose(1, 2) for t in (q, k, v)]
        weights = torch.softmax(split[0] @ split[1].transpose(-1, -2) / math.sqrt(self.dim_head), dim=-1)
        return self.to_out((weights @ split[2]).transpose(1, 2).flatten(2))


class _ReferenceResampler(nn.Module):
    def __init__(
        self, dim: int, depth: int, heads: int, queries: int, embed: int, out: int, mult: int
    ) -> None:
        super().__init__()
        self.latents = nn.Parameter(torch.zeros(1, queries, dim))
        self.proj_in, self.proj_out, self.norm_out = (
            nn.Linear(embed, dim),
            nn.Linear(dim, out),
            nn.LayerNorm(out),
        )
        self.layers = nn.ModuleList(
            nn.ModuleList(
                [
                    _ReferencePerceiver(dim, heads),
                    nn.Sequential(
                        nn.LayerNorm(dim),
                        nn.Linear(dim, mult * dim, bias=False),
                        nn.GELU(),
                        nn.Linear(mult * dim, dim, bias=False),
                    ),
                ]
            )
            for _ in range(depth)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        latents = self.latents.repeat(x.shape[0], 1, 1)
        x = self.proj_in(x)
        for attention, feed_forward in self.layers:
            latents = attention(x, latents) + latents
            latents = feed_forward(latents) + latents
        return self.norm_out(self.proj_out(latents))


def test_face_resampler_matches_the_published_architecture():
    shapes = _shapes({"input_blocks.4.1": (1, 64)}, 80)
    state = instantid_state(shapes, embed_dim=512, dim=32, depth=2, heads=2, queries=16)
    image_proj = {k[len("image_proj.") :]: v for k, v in state.items() if k.startswith("image_proj.")}
    reference = _ReferenceResampler(32, 2, 2, 16, 512, 80, 4)
    reference.load_state_dict(image_proj, strict=True)  # the released key layout fits the module tree
    resampler = FaceResampler.from_state(image_proj, "ip-adapter.bin")
    embedding = 20 * torch.randn(2, 512)  # raw ArcFace vectors are not normalised (norm ~ 20)
    with torch.no_grad():
        torch.testing.assert_close(resampler(embedding), reference(embedding[:, None]), rtol=1e-5, atol=1e-5)
    assert resampler(torch.zeros(1, 512)).shape == (1, 16, 80)


def test_face_value_is_gain_times_softmax_weighted_sum():
    tokens, weight = torch.randn(16, 80), torch.randn(64, 80)
    u = tokens @ weight.T
    expected = torch.tensor(
        [
            4
            * sum(math.exp(u[j, c]) / sum(math.exp(u[i, c]) for i in range(16)) * u[j, c] for j in range(16))
            for c in range(64)
        ],
        dtype=torch.float32,
    )
    torch.testing.assert_close(face_value(tokens, weight, 4.0), expected, rtol=1e-4, atol=1e-4)
    # equal values in every token: softmax is uniform, the value is gain * that value (the "64 * mean" form)
    same = torch.ones(16, 1) * torch.randn(1, 80)
    torch.testing.assert_close(face_value(same, weight, 4.0), 4 * (same[0] @ weight.T))
