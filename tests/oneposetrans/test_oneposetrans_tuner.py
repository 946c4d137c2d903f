"""OnePoseTrans tuner, Save LoRA and LoRA Block Weights through the real host on the tiny models:
tuning lowers the denoising loss on the source, the saved file through the stock LoraLoader equals the
in-memory patch, the MODEL given stays untouched (also after an interrupt), runs are deterministic."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import safetensors.torch
import torch
import torch.utils.checkpoint

from oneposetrans.oneposetrans_graphs import base_sampling_prompt, tuner_prompt, with_sampler

STEPS = 8


def _losses(report: str) -> tuple[float, float]:
    match = re.search(r"before ([0-9.]+), after ([0-9.]+)", report)
    assert match, report
    return float(match.group(1)), float(match.group(2))


def _sample(host, prompt, *capture):
    result = host.run(prompt, capture=("sample", *capture)).raise_on_error()
    return result, result.value("sample")["samples"]


@pytest.fixture(scope="module")
def base_sample(comfy_host, tiny_models) -> torch.Tensor:
    return _sample(comfy_host, base_sampling_prompt(tiny_models["sd15"].name))[1]


@pytest.fixture(scope="module")
def tuned_run(comfy_host, tiny_models, source_name):
    """Tuner -> Save LoRA (fp32) -> KSampler on the tuned MODEL."""
    prompt = with_sampler(tuner_prompt(tiny_models["sd15"].name, source_name, steps=STEPS), ["tune", 0])
    prompt["save"] = {"class_type": "PT_SaveOnePoseTransLoRA",
                      "inputs": {"lora": ["tune", 1], "filename_prefix": "oneposetrans_test/sd15"}}
    result, sample = _sample(comfy_host, prompt, "tune", "save", "ckpt")
    return result, sample


def test_tuning_lowers_the_denoising_loss_on_the_source(tuned_run):
    result, _ = tuned_run
    before, after = _losses(result.value("tune", 2))
    assert after < 0.95 * before, (before, after)
    assert [p[1] for p in result.progress if p[0] == "tune"] == list(range(1, STEPS + 1))
    lora = result.value("tune", 1)
    # 16 transformer blocks x 2 attentions x 4 projections on the tiny SD1.5 UNet, 3 tensors each
    names = {k.rsplit(".", 2)[0] if "lora_" in k.rsplit(".", 2)[-2] else k.rsplit(".", 1)[0] for k in lora}
    assert all(re.fullmatch(r"lora_unet_.*_attn[12]_to_(q|k|v|out_0)", n) for n in names)
    assert len(lora) == 3 * len(names)
    # alpha is a setting, not a trained parameter (official recipe: fixed alpha 4 here)
    assert all(torch.equal(v, torch.tensor(4.0)) for k, v in lora.items() if k.endswith(".alpha"))
    ups = [v for k, v in lora.items() if k.endswith("lora_up.weight")]
    assert all(v.dtype == torch.float32 for v in ups) and any(v.abs().max() > 0 for v in ups)


def test_model_given_is_untouched(comfy_host, tiny_models, tuned_run, base_sample):
    result, tuned_sample = tuned_run
    base_model = result.value("ckpt", 0)
    assert not base_model.patches and not base_model.weight_wrapper_patches
    assert not torch.allclose(tuned_sample, base_sample)
    after = _sample(comfy_host, base_sampling_prompt(tiny_models["sd15"].name))[1]
    assert torch.equal(after, base_sample)


def test_saved_lora_through_stock_loader_equals_in_memory_patch(comfy_host, tiny_models, tuned_run,
                                                                 base_sample):
    result, tuned_sample = tuned_run
    lora_name = result.value("save", 0)
    path = Path(comfy_host.models_dir) / "loras" / lora_name
    saved = safetensors.torch.load_file(str(path))
    lora = result.value("tune", 1)
    assert saved.keys() == lora.keys() and all(torch.equal(saved[k], lora[k]) for k in saved)

    ckpt = tiny_models["sd15"].name
    stock = with_sampler(base_sampling_prompt(ckpt), ["lora", 0])
    stock["lora"] = {"class_type": "LoraLoader", "inputs": {
        "model": ["ckpt", 0], "clip": ["ckpt", 1], "lora_name": lora_name, "strength_model": 1.0,
        "strength_clip": 0.0}}
    stock_sample = _sample(comfy_host, stock)[1]
    torch.testing.assert_close(stock_sample, tuned_sample, rtol=1e-4, atol=1e-4)

    def blocks(preset: str, custom: str = "") -> torch.Tensor:
        prompt = with_sampler(base_sampling_prompt(ckpt), ["blocks", 0])
        prompt["blocks"] = {"class_type": "PT_OnePoseTransLoRABlocks", "inputs": {
            "model": ["ckpt", 0], "preset": preset, "strength": 1.0, "block_weights": custom,
            "lora_name": lora_name}}
        return _sample(comfy_host, prompt)[1]

    torch.testing.assert_close(blocks("full"), stock_sample, rtol=1e-6, atol=1e-6)
    assert torch.equal(blocks("custom", "default=0"), base_sample)
    repose = blocks("repose")
    assert not torch.allclose(repose, stock_sample) and not torch.allclose(repose, base_sample)
    # the preset equals its custom spelling (SD1.5 style block = up_blocks.1.attentions.1)
    torch.testing.assert_close(blocks("custom", "default=0.2; up_blocks.1.attentions.1=1.0"), repose,
                               rtol=0, atol=0)


def test_interrupt_leaves_no_patch(comfy_host, tiny_models, source_name, base_sample):
    prompt = tuner_prompt(tiny_models["sd15"].name, source_name, steps=STEPS)
    interrupted = comfy_host.run(prompt, capture=("tune",), interrupt_after_progress=3)
    assert not interrupted.success and "tune" not in interrupted.values
    assert [p[1] for p in interrupted.progress if p[0] == "tune"] == [1, 2, 3]
    after = _sample(comfy_host, base_sampling_prompt(tiny_models["sd15"].name))[1]
    assert torch.equal(after, base_sample)


def test_same_inputs_give_the_same_lora(comfy_host, tiny_models, source_name):
    prompt = tuner_prompt(tiny_models["sd15"].name, source_name, steps=2, eval_samples=0)
    first, second = (comfy_host.run(prompt, capture=("tune",)).raise_on_error() for _ in range(2))
    lora = first.value("tune", 1)
    assert all(torch.equal(lora[k], v) for k, v in second.value("tune", 1).items())
    assert first.value("tune", 2) == second.value("tune", 2)


def test_gradient_checkpointing_trains_the_same_lora(comfy_host, tiny_models, source_name, monkeypatch):
    calls = []
    original = torch.utils.checkpoint.checkpoint

    def counting(*args, **kwargs):
        calls.append(1)
        return original(*args, **kwargs)

    monkeypatch.setattr(torch.utils.checkpoint, "checkpoint", counting)
    prompts = [tuner_prompt(tiny_models["sd15"].name, source_name, steps=2, eval_samples=0,
                            gradient_checkpointing=flag) for flag in (False, True)]
    plain, checkpointed = (comfy_host.run(p, capture=("tune",)).raise_on_error().value("tune", 1)
                           for p in prompts)
    assert calls  # the checkpointed run recomputed blocks
    assert plain.keys() == checkpointed.keys()
    for key, value in plain.items():
        torch.testing.assert_close(checkpointed[key], value, rtol=1e-5, atol=1e-6)
