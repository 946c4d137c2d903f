"""The tuner's weight adapters under any host precision: the value-keeping copy stays exact for fp16,
bf16 and fp32 UNets when the host computes weight patches in fp16 (ComfyUI 0.4+ on fp16 GPUs; forced here
on the CPU), and the trainable LoRA's bypass path (hosts that call ``h``) computes the same LoRA."""

from __future__ import annotations

import sys

import pytest
import torch


def _autograd(comfy_host):
    base = comfy_host.node_classes["PT_OnePoseTransTuner"].__module__.split(".nodes.")[0]
    return sys.modules[f"{base}.nodes.host.autograd"]


def _pass_through(originals: dict) -> object:
    """The naive value-keeping patch: returns the host's working copy (what the tuner did before)."""
    from comfy.weight_adapter.base import WeightAdapterBase

    class PassThrough(WeightAdapterBase):
        name = "pass_through"

        def calculate_weight(self, weight, *args, **kwargs):
            return weight

    return PassThrough()


def _patched_weight(dtype: torch.dtype, patch_for) -> tuple[torch.Tensor, torch.Tensor]:
    import comfy.model_patcher

    container = torch.nn.Module()
    container.diffusion_model = torch.nn.Linear(16, 16, bias=False)
    values = torch.randn(16, 16, generator=torch.Generator().manual_seed(3)) * 3.0 + 1e-3
    container.diffusion_model.weight.data = values.to(dtype)
    original = container.diffusion_model.weight.data.clone()
    patcher = comfy.model_patcher.ModelPatcher(container, load_device=torch.device("cpu"),
                                               offload_device=torch.device("cpu"))
    patcher.weight_inplace_update = False
    key = "diffusion_model.weight"
    patcher.add_patches({key: patch_for({key: container.diffusion_model.weight})})
    with torch.inference_mode(False):
        patcher.patch_weight_to_device(key, device_to=torch.device("cpu"))
    return container.diffusion_model.weight, original


@pytest.fixture
def fp16_patch_dtype(comfy_host, monkeypatch) -> bool:
    """Make the host compute weight patches in fp16 where it has that choice; ``True`` when it has."""
    import comfy.model_management

    if not hasattr(comfy.model_management, "lora_compute_dtype"):
        return False
    monkeypatch.setattr(comfy.model_management, "lora_compute_dtype", lambda device=None: torch.float16)
    return True


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float32])
def test_exact_copy_keeps_the_weight_value(comfy_host, fp16_patch_dtype, dtype):
    autograd = _autograd(comfy_host)
    weight, original = _patched_weight(dtype, autograd.ExactCopy)
    assert weight.dtype == dtype and torch.equal(weight, original)
    assert not weight.is_inference() and weight.data_ptr() != original.data_ptr()


def test_the_naive_copy_loses_fp32_values_under_fp16_patches(comfy_host, fp16_patch_dtype):
    if not fp16_patch_dtype:
        pytest.skip("this host computes weight patches in fp32 only (no lora_compute_dtype)")
    weight, original = _patched_weight(torch.float32, _pass_through)
    assert not torch.equal(weight, original)  # what ExactCopy is for


def test_fused_lora_matches_the_host_lora_and_its_bypass(comfy_host):
    from comfy.weight_adapter.lora import LoraDiff

    autograd = _autograd(comfy_host)
    generator = torch.Generator().manual_seed(0)
    up, down = torch.randn(12, 4, generator=generator), torch.randn(4, 10, generator=generator)
    fused = autograd.FusedLoraDiff((up, down, 8.0, None, None, None))
    plain = LoraDiff((up, down, 8.0, None, None, None))
    w = torch.randn(12, 10, generator=generator)
    with torch.no_grad():
        assert torch.allclose(fused(w), plain(w), atol=1e-5)
        if hasattr(LoraDiff, "h"):  # hosts that train LoRAs in bypass mode call h(x, base_out)
            x = torch.randn(3, 10, generator=generator)
            assert torch.allclose(fused.h(x, x @ w.T), x @ (fused(w) - w).T, atol=1e-4)
