"""OnePoseTrans on the tiny SDXL model (tuner with size conditioning, caption face index, repose preset)
and bad input refused before any training step."""

from __future__ import annotations

from pathlib import Path

import pytest
import safetensors.torch

from oneposetrans.oneposetrans_graphs import CAPTION, tuner_prompt


def _error(result) -> str:
    assert not result.success
    return result.error["exception_message"]


@pytest.fixture(scope="module")
def sdxl_run(comfy_host, tiny_models, source_name):
    prompt = tuner_prompt(tiny_models["sdxl"].name, source_name, steps=2, eval_samples=2)
    prompt["caption"] = {"class_type": "PT_OnePoseTransCaption", "inputs": {
        "clip": ["ckpt", 1], "subject": "woman", "hat": "", "clothes": "a red dress", "pants": "",
        "shoes": "", "jewelry": "", "other": ""}}
    prompt["tune"]["inputs"]["caption"] = ["caption", 0]
    prompt["blocks"] = {"class_type": "PT_OnePoseTransLoRABlocks", "inputs": {
        "model": ["ckpt", 0], "preset": "repose", "strength": 1.0, "block_weights": "", "lora": ["tune", 1]}}
    prompt["show"] = {"class_type": "PreviewAny", "inputs": {"source": ["blocks", 0]}}
    prompt["save"] = {"class_type": "PT_SaveOnePoseTransLoRA",
                      "inputs": {"lora": ["tune", 1], "filename_prefix": "oneposetrans_test/sdxl"}}
    return comfy_host.run(prompt, capture=("caption", "tune", "blocks", "save")).raise_on_error()


def test_sdxl_tuner_caption_and_repose_preset(sdxl_run):
    assert sdxl_run.value("caption", 0) == CAPTION and sdxl_run.value("caption", 2) == 4
    assert sdxl_run.value("caption", 1) == "low quality, bad quality"
    lora = sdxl_run.value("tune", 1)
    assert any(k.startswith("lora_unet_output_blocks_1_1_transformer_blocks_") for k in lora)
    assert "before" in sdxl_run.value("tune", 2)
    patched = sdxl_run.value("blocks")
    strengths = {k: v[0][0] for k, v in patched.patches.items()}
    style = {s for k, s in strengths.items() if ".output_blocks.1.1." in k}
    assert style == {1.0} and set(strengths.values()) == {0.2, 1.0}


def test_bad_input_is_refused_before_training(comfy_host, tiny_models, source_name, sdxl_run):
    no_face = comfy_host.run(tuner_prompt(tiny_models["sd15"].name, source_name, caption="A woman in red"))
    assert "no word 'face'" in _error(no_face)
    assert not [p for p in no_face.progress if p[0] == "tune"]
    crop = comfy_host.run(tuner_prompt(tiny_models["sd15"].name, source_name, crop_size=100))
    assert "multiple of 8" in _error(crop)

    def blocks(lora_name: str):
        ckpt = tiny_models["sd15"].name
        return comfy_host.run({
            "ckpt": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": ckpt}},
            "blocks": {"class_type": "PT_OnePoseTransLoRABlocks", "inputs": {
                "model": ["ckpt", 0], "preset": "repose", "strength": 1.0, "block_weights": "",
                "lora_name": lora_name}},
            "out": {"class_type": "PreviewAny", "inputs": {"source": ["blocks", 0]}}})

    sdxl_lora = sdxl_run.value("save", 0)
    assert "another architecture" in _error(blocks(sdxl_lora))
    broken = Path(comfy_host.models_dir) / "loras" / "oneposetrans_test" / "broken.safetensors"
    broken.write_bytes(b"not a safetensors file")
    assert "this is a text file, not a weight file" in _error(blocks("oneposetrans_test/broken.safetensors"))
    good = Path(comfy_host.models_dir) / "loras" / sdxl_lora
    assert safetensors.torch.load_file(str(good))
