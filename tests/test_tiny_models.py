"""The tiny model fixtures (``tests/tiny_models``) through the real host's stock loaders and nodes.

One API-format workflow per model file runs through the host's executor with stock nodes only; the
``pt_test_models`` host pack (``tests/host_plugins``) is what lets the stock loaders accept the tiny
sizes. Further checks: the written key layouts equal the host's own modules at the real model sizes,
real-sized models never take the tiny paths, the pack's registration is idempotent, the UNet/VAE files
reproduce the checkpoint, and sampling is deterministic per seed.
"""

from __future__ import annotations

import asyncio
import hashlib
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw
from tiny_models import MODEL_FILES, write_tiny_models
from tiny_models.clip_vision_models import CLIP_VISION, IMAGE_SIZE, PATCH_SIZE, PROJECTION_DIM
from tiny_models.flux_checkpoints import FLUX_CLIP_L, FLUX_T5
from tiny_models.layouts import (
    FluxSpec,
    T5Spec,
    TransformerSpec,
    UNetSpec,
    VaeSpec,
    controlnet_layout,
    flux_layout,
    hf_clip_text_layout,
    hf_clip_vision_layout,
    kl_vae_layout,
    open_clip_text_layout,
    t5_encoder_layout,
    unet_layout,
)
from tiny_models.sd_checkpoints import SD15_CLIP_L, SDXL_CLIP_G, SDXL_CLIP_L
from tiny_models.tensors import StateDict

POSE_IMAGE = "pt_tiny_models_pose.png"

# Real model sizes, as the host's model detection reports them for released checkpoints.
REAL_SD15_UNET = UNetSpec(
    model_channels=320, channel_mult=(1, 2, 4, 4), num_res_blocks=2,
    transformer_depth=(1, 1, 1, 1, 1, 1, 0, 0), transformer_depth_output=(1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0),
    transformer_depth_middle=1, context_dim=768)
REAL_SDXL_UNET = UNetSpec(
    model_channels=320, channel_mult=(1, 2, 4), num_res_blocks=2, transformer_depth=(0, 0, 2, 2, 10, 10),
    transformer_depth_output=(0, 0, 0, 2, 2, 2, 10, 10, 10), transformer_depth_middle=10, context_dim=2048,
    use_linear_in_transformer=True, adm_in_channels=2816)
REAL_SD_VAE = VaeSpec(ch=128, ch_mult=(1, 2, 4, 4), num_res_blocks=2)
REAL_CLIP_L = TransformerSpec(768, 12, 3072)
REAL_CLIP_G = TransformerSpec(1280, 32, 5120)
REAL_CLIP_VISION_L = TransformerSpec(1024, 24, 4096)
REAL_FLUX_DEV = FluxSpec(hidden_size=3072, head_dim=128, depth=19, depth_single_blocks=38,
                         context_in_dim=4096, vec_in_dim=768)
REAL_FLUX_AE = VaeSpec(ch=128, ch_mult=(1, 2, 4, 4), num_res_blocks=2, z_channels=16, embed_dim=16,
                       quant_convs=False)
REAL_T5_XXL = T5Spec(d_model=4096, num_layers=24, num_heads=64, d_kv=64, d_ff=10240)


# --------------------------------------------------------------------------------------------- helpers


def _plugin() -> ModuleType:
    """The ``pt_test_models`` package as the host's loader imported it."""
    return next(module for name, module in sys.modules.items()
                if name.endswith("custom_nodes/pt_test_models"))


def _real_clip_vision_layout() -> StateDict:
    return hf_clip_vision_layout(REAL_CLIP_VISION_L, patch_size=14, image_size=224, projection_dim=768)


def _meta(layout: StateDict) -> dict[str, torch.Tensor]:
    return {key: torch.empty(spec.shape, device="meta") for key, spec in layout.specs.items()}


def _shapes(tensors: dict[str, torch.Tensor]) -> dict[str, tuple[int, ...]]:
    return {key: tuple(value.shape) for key, value in tensors.items()}


def _layout_shapes(layout: StateDict) -> dict[str, tuple[int, ...]]:
    return {key: spec.shape for key, spec in layout.specs.items()}


def _pixels(result: Any, node_id: str) -> np.ndarray:
    paths = result.images(node_id)
    assert len(paths) == 1
    return np.asarray(Image.open(paths[0]).convert("RGB"))


def _assert_real_image(pixels: np.ndarray, size: tuple[int, int] = (64, 64)) -> None:
    assert pixels.shape == (*size, 3)
    assert pixels.std() > 1.0, "image is (nearly) constant"


def _txt2img(checkpoint: str, seed: int = 1, positive: str = "a person dancing") -> dict[str, dict[str, Any]]:
    """CheckpointLoaderSimple -> CLIPTextEncode x2 -> EmptyLatentImage 64x64 -> KSampler (4 euler steps)
    -> VAEDecode -> SaveImage (node "7")."""
    return {
        "1": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": checkpoint}},
        "2": {"class_type": "CLIPTextEncode", "inputs": {"clip": ["1", 1], "text": positive}},
        "3": {"class_type": "CLIPTextEncode", "inputs": {"clip": ["1", 1], "text": "blurry"}},
        "4": {"class_type": "EmptyLatentImage", "inputs": {"width": 64, "height": 64, "batch_size": 1}},
        "5": {"class_type": "KSampler", "inputs": {
            "model": ["1", 0], "positive": ["2", 0], "negative": ["3", 0], "latent_image": ["4", 0],
            "seed": seed, "steps": 4, "cfg": 5.0, "sampler_name": "euler", "scheduler": "normal",
            "denoise": 1.0}},
        "6": {"class_type": "VAEDecode", "inputs": {"samples": ["5", 0], "vae": ["1", 2]}},
        "7": {"class_type": "SaveImage", "inputs": {"images": ["6", 0], "filename_prefix": "pt_tiny"}},
    }


def _run_pixels(comfy_host: Any, prompt: dict[str, dict[str, Any]], node_id: str = "7") -> np.ndarray:
    return _pixels(comfy_host.run(prompt).raise_on_error(), node_id)


@pytest.fixture(scope="module")
def pose_image(comfy_host: Any) -> str:
    """A 64x64 OpenPose-style stick figure (coloured limbs on black) in the host's input folder."""
    image = Image.new("RGB", (64, 64))
    draw = ImageDraw.Draw(image)
    limbs = [((32, 10), (32, 30), (255, 0, 0)), ((32, 14), (18, 26), (255, 170, 0)),
             ((32, 14), (46, 26), (170, 255, 0)), ((32, 30), (22, 54), (0, 255, 85)),
             ((32, 30), (42, 54), (0, 170, 255))]
    for start, end, colour in limbs:
        draw.line([start, end], fill=colour, width=3)
    image.save(Path(comfy_host.input_dir) / POSE_IMAGE)
    return POSE_IMAGE


# ------------------------------------------------------------------------------- files, no host needed


def _digests(paths: dict[str, Path]) -> dict[str, str]:
    return {key: hashlib.sha256(paths[key].read_bytes()).hexdigest() for key in MODEL_FILES}


def test_write_tiny_models_is_deterministic_and_small(tmp_path: Path) -> None:
    first = write_tiny_models(tmp_path / "a", seed=0)
    again = write_tiny_models(tmp_path / "b", seed=0)
    other = write_tiny_models(tmp_path / "c", seed=1)
    assert set(first) == {*MODEL_FILES, "insightface_antelopev2"}
    for key, relative in MODEL_FILES.items():
        assert first[key] == tmp_path / "a" / relative and first[key].is_file()
    assert _digests(first) == _digests(again)
    assert all(a != b for a, b in zip(_digests(first).values(), _digests(other).values(), strict=True))
    total = sum(path.stat().st_size for path in (tmp_path / "a").rglob("*") if path.is_file())
    assert total < 100 * 2**20


# ------------------------------------------------------------------ layouts equal the host's own modules


def test_unet_and_controlnet_layouts_equal_host_modules_at_real_sizes(comfy_host: Any) -> None:
    import comfy.cldm.cldm
    import comfy.ops
    from comfy.ldm.modules.diffusionmodules.openaimodel import UNetModel

    common = {"image_size": 32, "in_channels": 4, "num_res_blocks": 2, "use_spatial_transformer": True,
              "legacy": False, "operations": comfy.ops.disable_weight_init}
    sd15 = {**common, "model_channels": 320, "channel_mult": [1, 2, 4, 4], "context_dim": 768, "num_heads": 8,
            "transformer_depth": [1, 1, 1, 1, 1, 1, 0, 0], "transformer_depth_middle": 1,
            "transformer_depth_output": [1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0]}
    sdxl = {**common, "model_channels": 320, "channel_mult": [1, 2, 4], "context_dim": 2048,
            "num_head_channels": 64, "transformer_depth": [0, 0, 2, 2, 10, 10],
            "transformer_depth_middle": 10, "transformer_depth_output": [0, 0, 0, 2, 2, 2, 10, 10, 10],
            "use_linear_in_transformer": True, "num_classes": "sequential", "adm_in_channels": 2816}
    with torch.device("meta"):
        host_sd15 = UNetModel(out_channels=4, **sd15).state_dict()
        host_sdxl = UNetModel(out_channels=4, **sdxl).state_dict()
        host_control = comfy.cldm.cldm.ControlNet(hint_channels=3, **sd15).state_dict()
    assert _layout_shapes(unet_layout(REAL_SD15_UNET)) == _shapes(host_sd15)
    assert _layout_shapes(unet_layout(REAL_SDXL_UNET)) == _shapes(host_sdxl)
    assert _layout_shapes(controlnet_layout(REAL_SD15_UNET)) == _shapes(host_control)


def test_vae_and_clip_layouts_equal_host_modules_at_real_sizes(comfy_host: Any) -> None:
    import comfy.clip_model
    import comfy.clip_vision
    import comfy.ops
    import comfy.utils
    from comfy.ldm.models.autoencoder import AutoencoderKL

    ddconfig = {"double_z": True, "z_channels": 4, "resolution": 256, "in_channels": 3, "out_ch": 3,
                "ch": 128, "ch_mult": [1, 2, 4, 4], "num_res_blocks": 2, "attn_resolutions": [],
                "dropout": 0.0}
    text = {"num_hidden_layers": 12, "hidden_size": 768, "num_attention_heads": 12,
            "intermediate_size": 3072, "hidden_act": "quick_gelu", "max_position_embeddings": 77,
            "eos_token_id": 49407}
    text_g = {**text, "num_hidden_layers": 32, "hidden_size": 1280, "num_attention_heads": 20,
              "intermediate_size": 5120, "hidden_act": "gelu"}
    vision = {"num_hidden_layers": 24, "hidden_size": 1024, "num_attention_heads": 16,
              "intermediate_size": 4096, "hidden_act": "quick_gelu", "model_type": "clip_vision_model",
              "num_channels": 3, "patch_size": 14, "image_size": 224, "projection_dim": 768}
    ops = comfy.ops.manual_cast
    with torch.device("meta"):
        host_vae = AutoencoderKL(ddconfig=ddconfig, embed_dim=4).state_dict()
        host_text = comfy.clip_model.CLIPTextModel(text, None, "meta", ops).state_dict()
        host_text_g = comfy.clip_model.CLIPTextModel(text_g, None, "meta", ops).state_dict()
        host_vision = comfy.clip_model.CLIPVisionModelProjection(vision, None, "meta", ops).state_dict()
    assert _layout_shapes(kl_vae_layout(REAL_SD_VAE)) == _shapes(host_vae)
    # SD checkpoints store CLIP-L without its projection and with HF's position_ids buffer.
    host_text.pop("text_projection.weight")
    assert _layout_shapes(hf_clip_text_layout(REAL_CLIP_L, position_ids=False)) == _shapes(host_text)
    # open_clip layout: the host converts it to the HF layout itself.
    converted = comfy.utils.clip_text_transformers_convert(_meta(open_clip_text_layout(REAL_CLIP_G)), "", "")
    converted.pop("logit_scale")
    assert _shapes(converted) == _shapes(host_text_g)
    assert _layout_shapes(_real_clip_vision_layout()) == _shapes(host_vision)


def test_flux_layouts_equal_host_modules_at_real_sizes(comfy_host: Any) -> None:
    import comfy.ops
    import comfy.text_encoders.t5
    from comfy.ldm.flux.model import Flux, FluxParams
    from comfy.ldm.models.autoencoder import AutoencodingEngine

    ops = comfy.ops.disable_weight_init
    ddconfig = {"double_z": True, "z_channels": 16, "resolution": 256, "in_channels": 3, "out_ch": 3,
                "ch": 128, "ch_mult": [1, 2, 4, 4], "num_res_blocks": 2, "attn_resolutions": [],
                "dropout": 0.0}
    module = "comfy.ldm.modules.diffusionmodules.model"
    t5 = {"d_model": 4096, "num_layers": 24, "num_heads": 64, "d_kv": 64, "d_ff": 10240, "vocab_size": 32128,
          "dense_act_fn": "gelu_pytorch_tanh", "is_gated_act": True, "model_type": "t5"}
    newer = {"txt_ids_dims": []} if "txt_ids_dims" in FluxParams.__dataclass_fields__ else {}  # 0.33+
    with torch.device("meta"):
        host_flux = Flux(**newer, in_channels=16, out_channels=16, vec_in_dim=768, context_in_dim=4096,
                         hidden_size=3072, mlp_ratio=4.0, num_heads=24, depth=19, depth_single_blocks=38,
                         axes_dim=[16, 56, 56], theta=10000, patch_size=2, qkv_bias=True, guidance_embed=True,
                         operations=ops)
        host_ae = AutoencodingEngine(
            regularizer_config={"target": "comfy.ldm.models.autoencoder.DiagonalGaussianRegularizer"},
            encoder_config={"target": f"{module}.Encoder", "params": ddconfig},
            decoder_config={"target": f"{module}.Decoder", "params": ddconfig})
        host_t5 = comfy.text_encoders.t5.T5(t5, None, "meta", ops)
    host_flux_shapes = _shapes(host_flux.state_dict())
    released = _layout_shapes(flux_layout(REAL_FLUX_DEV))
    if not any(key.endswith("_norm.scale") for key in host_flux_shapes):
        # newer hosts name the q/k RMSNorm parameter ``weight`` and rename the released ``*_norm.scale``
        # keys on load (the Flux config's process_unet_state_dict)
        released = {key.removesuffix(".scale") + ".weight" if key.endswith("_norm.scale") else key: shape
                    for key, shape in released.items()}
    assert released == host_flux_shapes
    assert _layout_shapes(kl_vae_layout(REAL_FLUX_AE)) == _shapes(host_ae.state_dict())
    assert _layout_shapes(t5_encoder_layout(REAL_T5_XXL)) == _shapes(host_t5.state_dict())


# ------------------------------------------------------------------- the host pack: tiny paths only


def test_real_sizes_never_take_the_tiny_paths(comfy_host: Any) -> None:
    import comfy.model_detection

    plugin = _plugin()
    for layout, stock in ((unet_layout(REAL_SD15_UNET), "SD15"), (unet_layout(REAL_SDXL_UNET), "SDXL"),
                          (flux_layout(REAL_FLUX_DEV), "Flux")):
        config = comfy.model_detection.model_config_from_unet(_meta(layout), "")
        assert type(config).__name__ == stock
    shapes = plugin.shapes
    assert shapes.kl_vae_config(_meta(kl_vae_layout(REAL_SD_VAE))) is None
    assert shapes.kl_vae_config(_meta(kl_vae_layout(REAL_FLUX_AE))) is None
    assert shapes.t5_encoder_config(_meta(t5_encoder_layout(REAL_T5_XXL)), "") is None
    assert shapes.hf_text_encoder_config(_meta(hf_clip_text_layout(REAL_CLIP_L)), "text_model.") is None
    assert shapes.open_clip_text_encoder_config(_meta(open_clip_text_layout(REAL_CLIP_G)), "") is None
    assert shapes.clip_vision_config(_meta(_real_clip_vision_layout())) is None


def test_host_pack_is_idempotent_and_adds_only_its_stand_in_nodes(comfy_host: Any) -> None:
    import comfy.clip_vision
    import comfy.sd
    import comfy.supported_models

    import nodes

    def state() -> tuple[list[str], Any, Any]:
        tiny = [config.__name__ for config in comfy.supported_models.models
                if getattr(config, "pt_test_models_tiny", False)]
        vae_original = comfy.sd.VAE.__init__.__pt_test_models_original__
        clip_original = comfy.clip_vision.load_clipvision_from_sd.__pt_test_models_original__
        return tiny, vae_original, clip_original

    before = state()
    node_count = len(nodes.NODE_CLASS_MAPPINGS)
    # The harness links the pack into custom_nodes; loading it again re-imports it under the same name.
    assert asyncio.run(nodes.load_custom_node(str(Path(comfy_host.tree) / "custom_nodes" / "pt_test_models")))
    after = state()
    assert before == after
    assert after[0] == ["TinySD15", "TinySDXL", "TinyFlux"]
    assert [c.__name__ for c in comfy.supported_models.models[:3]] == after[0]
    assert not hasattr(after[1], "__pt_test_models_original__")
    assert not hasattr(after[2], "__pt_test_models_original__")
    assert len(nodes.NODE_CLASS_MAPPINGS) == node_count
    plugin = _plugin()
    assert list(plugin.NODE_CLASS_MAPPINGS) == ["PTTest_NaNImage"] and plugin.NODE_DISPLAY_NAME_MAPPINGS == {}


# -------------------------------------------------------------------------------- stock loaders, direct


def test_checkpoint_loader_builds_working_tiny_models(comfy_host: Any, tiny_models: dict[str, Path]) -> None:
    import comfy.model_base

    import nodes

    # key: (model config, model class, conditioning width, pooled width)
    expected = {
        "sd15": ("TinySD15", comfy.model_base.BaseModel, SD15_CLIP_L.hidden_size, SD15_CLIP_L.hidden_size),
        "sdxl": ("TinySDXL", comfy.model_base.SDXL, SDXL_CLIP_L.hidden_size + SDXL_CLIP_G.hidden_size,
                 SDXL_CLIP_G.hidden_size),
    }
    with torch.inference_mode():
        for key, (config_name, model_class, width, pooled_width) in expected.items():
            model, clip, vae = nodes.CheckpointLoaderSimple().load_checkpoint(tiny_models[key].name)
            assert type(model.model.model_config).__name__ == config_name
            assert type(model.model) is model_class
            conditioning = nodes.CLIPTextEncode().encode(clip, "a person dancing")[0]
            cond, extra = conditioning[0]
            assert cond.shape == (1, 77, width)
            assert torch.isfinite(cond).all() and cond.std() > 0.1
            assert extra["pooled_output"].shape == (1, pooled_width)
            assert torch.isfinite(extra["pooled_output"]).all()
            image = vae.decode(torch.randn(1, 4, 8, 8, generator=torch.Generator().manual_seed(0)))
            assert image.shape == (1, 64, 64, 3) and torch.isfinite(image).all()


def test_checkpoint_loader_builds_a_working_tiny_flux(comfy_host: Any, tiny_models: dict[str, Path]) -> None:
    import comfy.ldm.flux.model
    import comfy.model_base

    import nodes

    with torch.inference_mode():
        model, clip, vae = nodes.CheckpointLoaderSimple().load_checkpoint(tiny_models["flux"].name)
        assert type(model.model.model_config).__name__ == "TinyFlux"
        assert type(model.model) is comfy.model_base.Flux
        net = model.model.diffusion_model
        assert isinstance(net, comfy.ldm.flux.model.Flux)
        assert (len(net.double_blocks), len(net.single_blocks), net.num_heads) == (2, 2, 2)
        cond, extra = nodes.CLIPTextEncode().encode(clip, "a person dancing")[0][0]
        assert cond.shape == (1, 256, FLUX_T5.d_model)  # the host pads T5 tokens to 256
        assert torch.isfinite(cond).all() and cond.std() > 0.1
        assert extra["pooled_output"].shape == (1, FLUX_CLIP_L.hidden_size)
        assert vae.latent_channels == 16
        image = vae.decode(torch.randn(1, 16, 8, 8, generator=torch.Generator().manual_seed(0)))
        assert image.shape == (1, 64, 64, 3) and torch.isfinite(image).all()


def test_clip_vision_encode_gives_embeddings(comfy_host: Any, tiny_models: dict[str, Path]) -> None:
    import nodes

    grid = (IMAGE_SIZE // PATCH_SIZE) ** 2 + 1
    with torch.inference_mode():
        clip_vision = nodes.CLIPVisionLoader().load_clip(tiny_models["clip_vision"].name)[0]
        images = torch.rand(2, 80, 96, 3, generator=torch.Generator().manual_seed(0))
        output = nodes.CLIPVisionEncode().encode(clip_vision, images, "center")[0]
    assert output["image_embeds"].shape == (2, PROJECTION_DIM)
    assert output["penultimate_hidden_states"].shape == (2, grid, CLIP_VISION.hidden_size)
    assert output["last_hidden_state"].shape == (2, grid, CLIP_VISION.hidden_size)
    for name in ("image_embeds", "penultimate_hidden_states", "last_hidden_state"):
        assert torch.isfinite(output[name]).all(), name
    assert not torch.equal(output["image_embeds"][0], output["image_embeds"][1])
    assert not torch.equal(output["penultimate_hidden_states"], output["last_hidden_state"])


# --------------------------------------------------------------------------- workflows, real executor


def test_sd15_checkpoint_txt2img(comfy_host: Any, tiny_models: dict[str, Path]) -> None:
    result = comfy_host.run(_txt2img(tiny_models["sd15"].name)).raise_on_error()
    path = result.images("7")[0]
    assert path.suffix == ".png" and path.is_file()
    _assert_real_image(_pixels(result, "7"))


def test_sdxl_checkpoint_txt2img_uses_size_conditioning(comfy_host: Any,
                                                        tiny_models: dict[str, Path]) -> None:
    prompt = _txt2img(tiny_models["sdxl"].name)
    plain = _run_pixels(comfy_host, prompt)
    _assert_real_image(plain)

    def with_size(size: int) -> np.ndarray:
        sized = {**prompt, "2": {"class_type": "CLIPTextEncodeSDXL", "inputs": {
            "clip": ["1", 1], "width": size, "height": size, "crop_w": 0, "crop_h": 0,
            "target_width": size, "target_height": size, "text_g": "a person dancing",
            "text_l": "a person dancing"}}}
        return _run_pixels(comfy_host, sized)

    small, large = with_size(512), with_size(1024)
    _assert_real_image(small)
    assert not np.array_equal(small, large), "SDXL size conditioning did not reach the UNet"


def test_controlnet_changes_the_output(comfy_host: Any, tiny_models: dict[str, Path],
                                       pose_image: str) -> None:
    prompt = _txt2img(tiny_models["sd15"].name)
    without = _run_pixels(comfy_host, prompt)
    controlled = {
        **prompt,
        "10": {"class_type": "ControlNetLoader",
               "inputs": {"control_net_name": tiny_models["controlnet_openpose_sd15"].name}},
        "11": {"class_type": "LoadImage", "inputs": {"image": pose_image}},
        "12": {"class_type": "ControlNetApplyAdvanced", "inputs": {
            "positive": ["2", 0], "negative": ["3", 0], "control_net": ["10", 0], "image": ["11", 0],
            "strength": 1.0, "start_percent": 0.0, "end_percent": 1.0}},
    }
    controlled["5"] = {**prompt["5"], "inputs": {**prompt["5"]["inputs"], "positive": ["12", 0],
                                                 "negative": ["12", 1]}}
    with_control = _run_pixels(comfy_host, controlled)
    _assert_real_image(with_control)
    assert not np.array_equal(without, with_control)


def test_clip_vision_workflow_runs(comfy_host: Any, tiny_models: dict[str, Path], pose_image: str) -> None:
    prompt = {
        "1": {"class_type": "CLIPVisionLoader", "inputs": {"clip_name": tiny_models["clip_vision"].name}},
        "2": {"class_type": "LoadImage", "inputs": {"image": pose_image}},
        "3": {"class_type": "CLIPVisionEncode", "inputs": {"clip_vision": ["1", 0], "image": ["2", 0],
                                                           "crop": "center"}},
        "4": {"class_type": "PreviewAny", "inputs": {"source": ["3", 0]}},
    }
    result = comfy_host.run(prompt).raise_on_error()
    assert "clip_vision.Output" in result.outputs["4"]["text"][0]


def test_unet_and_vae_loaders_reproduce_the_checkpoint(comfy_host: Any, tiny_models: dict[str, Path]) -> None:
    prompt = _txt2img(tiny_models["sd15"].name, seed=3)
    from_checkpoint = _run_pixels(comfy_host, prompt)
    split = {
        **prompt,
        "20": {"class_type": "UNETLoader",
               "inputs": {"unet_name": tiny_models["unet_sd15"].name, "weight_dtype": "default"}},
        "21": {"class_type": "VAELoader", "inputs": {"vae_name": tiny_models["vae"].name}},
    }
    split["5"] = {**prompt["5"], "inputs": {**prompt["5"]["inputs"], "model": ["20", 0]}}
    split["6"] = {**prompt["6"], "inputs": {**prompt["6"]["inputs"], "vae": ["21", 0]}}
    from_files = _run_pixels(comfy_host, split)
    _assert_real_image(from_files)
    np.testing.assert_array_equal(from_files, from_checkpoint)


def test_sampling_is_deterministic_per_seed(comfy_host: Any, tiny_models: dict[str, Path]) -> None:
    name = tiny_models["sd15"].name
    first = _run_pixels(comfy_host, _txt2img(name, seed=7))
    again = _run_pixels(comfy_host, _txt2img(name, seed=7))
    other = _run_pixels(comfy_host, _txt2img(name, seed=8))
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, other)
