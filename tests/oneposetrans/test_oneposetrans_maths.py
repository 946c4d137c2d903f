"""pose_models.oneposetrans without the host: block names and weights, LoRA format, crops, loss weights,
caption."""

from __future__ import annotations

import pytest
import torch

from pose_models.oneposetrans import (
    OnePoseTransError,
    block_of_weight_key,
    build_caption,
    diffusers_to_host_block,
    init_lora_factors,
    lora_state_dict,
    parse_block_weights,
    parse_targets,
    prediction_loss_weight,
    preset_block_weights,
    random_square_crops,
)


@pytest.mark.parametrize(("diffusers", "host"), [
    ("down_blocks.1.attentions.0", "input_blocks.4.1"), ("down_blocks.2.attentions.1", "input_blocks.8.1"),
    ("down_blocks.0.attentions.1", "input_blocks.2.1"), ("mid_block.attentions.0", "middle_block.1"),
    ("up_blocks.0.attentions.1", "output_blocks.1.1"), ("up_blocks.1.attentions.2", "output_blocks.5.1"),
    ("up_blocks.3.attentions.2", "output_blocks.11.1"), ("output_blocks.1.1", "output_blocks.1.1")])
def test_diffusers_block_names_map_to_host_blocks(diffusers, host):
    assert diffusers_to_host_block(diffusers) == host


def test_weight_keys_belong_to_their_block():
    assert block_of_weight_key("diffusion_model.output_blocks.1.1.transformer_blocks.3.attn2.to_k.weight") \
        == "output_blocks.1.1"
    assert block_of_weight_key("middle_block.1.proj_in.weight") == "middle_block.1"
    assert block_of_weight_key("diffusion_model.time_embed.0.weight") == "time_embed"


def test_presets_and_custom_strings():
    repose = preset_block_weights("repose", "sdxl")
    assert repose.strength("output_blocks.1.1") == 1.0 and repose.strength("input_blocks.4.1") == 0.2
    assert preset_block_weights("refine", "sd15").strength("output_blocks.4.1") == 1.0
    assert preset_block_weights("refine", "sd15").strength("output_blocks.1.1") == 0.0
    custom = parse_block_weights("default=0.2;\nup_blocks.0.attentions.1 = 1.0, middle_block.1=0.5")
    assert custom.default == 0.2 and custom.blocks == {"output_blocks.1.1": 1.0, "middle_block.1": 0.5}
    assert parse_block_weights("").strength("anything") == 1.0
    with pytest.raises(OnePoseTransError, match="name=number"):
        parse_block_weights("output_blocks.1.1")
    for bad in ("default=nan", "output_blocks.1.1=inf", "default=-inf", "middle_block.1=1e6"):
        with pytest.raises(OnePoseTransError, match=f"{bad!r} is not a usable strength"):
            parse_block_weights(f"output_blocks.4.1=1.0, {bad}")
    with pytest.raises(OnePoseTransError, match="valid names: input_blocks.4.1"):
        parse_block_weights("up_blocks.0.attentions.1=1", known_blocks={"input_blocks.4.1"})


def test_lora_init_is_identity_and_keys_are_kohya_format():
    factors = init_lora_factors(8, 6, 4, 4.0, torch.Generator().manual_seed(0))
    assert torch.count_nonzero(factors.up) == 0 and factors.down.std() > 0 and factors.rank == 4
    name = "diffusion_model.output_blocks.1.1.transformer_blocks.0.attn1.to_out.0"
    state = lora_state_dict({name: factors}, torch.float16)
    prefix = "lora_unet_output_blocks_1_1_transformer_blocks_0_attn1_to_out_0"
    assert set(state) == {f"{prefix}.lora_up.weight", f"{prefix}.lora_down.weight", f"{prefix}.alpha"}
    assert state[f"{prefix}.lora_down.weight"].shape == (4, 6) and state[f"{prefix}.alpha"].item() == 4.0
    assert all(v.dtype == torch.float16 for v in state.values())


def test_random_crops_resize_the_short_side_and_are_seeded():
    image = torch.rand(1, 40, 60, 3)
    crops = random_square_crops(image, 32, 5, torch.Generator().manual_seed(1))
    again = random_square_crops(image, 32, 5, torch.Generator().manual_seed(1))
    assert crops.shape == (5, 32, 32, 3) and torch.equal(crops, again)
    assert len({c.sum().item() for c in crops}) > 1  # different offsets along the long side


def test_loss_weights_turn_x0_error_into_eps_and_v_error():
    sigma = torch.tensor([0.5, 3.0])
    x0, eps, x0_pred = torch.randn(2, 4), torch.randn(2, 4), torch.randn(2, 4)
    x_t = x0 + sigma[:, None] * eps
    eps_pred = (x_t - x0_pred) / sigma[:, None]
    w = prediction_loss_weight(sigma, "eps")[:, None]
    torch.testing.assert_close((w * (x0_pred - x0)).abs(), (eps_pred - eps).abs())
    # diffusers v = alpha_t eps - sigma_t x0 with alpha_t = 1/sqrt(1+s^2), sigma_t = s/sqrt(1+s^2)
    norm = torch.sqrt(1 + sigma**2)[:, None]
    v = (eps - sigma[:, None] * x0) / norm
    v_pred = (x_t / norm**2 - x0_pred) * norm / sigma[:, None]  # host V_PREDICTION inverted (sigma_data 1)
    wv = prediction_loss_weight(sigma, "v")[:, None]
    torch.testing.assert_close((wv * (x0_pred - x0)).abs(), (v_pred - v).abs())


def test_caption_template_and_targets():
    assert build_caption("woman", [" a hat,", "", "a red dress"]) == "A woman with face, a hat, a red dress"
    with pytest.raises(OnePoseTransError, match="contains the word 'face'"):
        build_caption("man", ["face paint"])
    assert parse_targets("to_q, to_out.0") == ("to_q", "to_out.0")
    with pytest.raises(OnePoseTransError, match="to_k"):
        parse_targets("to_z")
