"""The must-show properties of TruePose SourceNet + HPFA, through the real host on the tiny models.

Runs keep the host's cache (``keep_cache=True``) so only the nodes whose inputs change execute again.
"""

from __future__ import annotations

import pytest
import torch

from truepose.foreign_nodes import CALLS, pack_module, registered
from truepose.truepose_graphs import (
    FACE_BOX,
    PERSON_BOX,
    box_mask,
    plain_prompt,
    truepose_prompt,
    untouched_model_prompt,
)
from truepose.truepose_graphs import (
    sample_cached as _sample,
)


def _prompt(tiny_models, files, source: str | None = None, **kwargs):
    ckpt = tiny_models["sd15"].name
    return truepose_prompt(ckpt, source or files.image, files.person, files.face, **kwargs)


@pytest.mark.parametrize("mode", ["cached", "per_step"])
def test_background_pixels_cannot_change_the_output(comfy_host, tiny_models, source_files, mode):
    base = _sample(comfy_host, _prompt(tiny_models, source_files, mode=mode))
    assert not torch.equal(base, _sample(comfy_host, plain_prompt(_prompt(tiny_models, source_files))))
    changed = source_files.variant("tp_bg_changed.png", ~box_mask(PERSON_BOX), seed=2)
    assert torch.equal(_sample(comfy_host, _prompt(tiny_models, source_files, changed, mode=mode)), base)
    inside = source_files.variant("tp_person_changed.png", box_mask(PERSON_BOX), seed=3)
    assert not torch.equal(_sample(comfy_host, _prompt(tiny_models, source_files, inside, mode=mode)), base)


def test_face_only_bank_ignores_the_clothes(comfy_host, tiny_models, source_files):
    face_only = {"groups": "face", "weights": "face=1.5"}
    base = _sample(comfy_host, _prompt(tiny_models, source_files, **face_only))
    clothes = box_mask(PERSON_BOX) & ~box_mask(FACE_BOX)
    changed = source_files.variant("tp_clothes_changed.png", clothes, seed=4)
    assert torch.equal(_sample(comfy_host, _prompt(tiny_models, source_files, changed, **face_only)), base)
    face = source_files.variant("tp_face_changed.png", box_mask(FACE_BOX), seed=5)
    assert not torch.equal(_sample(comfy_host, _prompt(tiny_models, source_files, face, **face_only)), base)


def test_zero_weight_excludes_a_group_exactly(comfy_host, tiny_models, source_files):
    """With clothes weighted 0 the clothes tokens are -inf: the output equals a face-only bias."""
    only_face = _prompt(tiny_models, source_files, weights="other=0")
    face_bank = _prompt(tiny_models, source_files, groups="person", weights="person=0, face=1")
    assert torch.equal(_sample(comfy_host, only_face), _sample(comfy_host, face_bank))


def test_the_given_model_is_untouched(comfy_host, tiny_models, source_files):
    """Plain sampling before and after an HPFA sampling of the same MODEL object gives the same latent."""
    prompt = untouched_model_prompt(_prompt(tiny_models, source_files))
    result = comfy_host.run(prompt, capture=("before", "sample", "after"), keep_cache=True).raise_on_error()
    before, patched, after = (result.value(n)["samples"] for n in ("before", "sample", "after"))
    assert torch.equal(before, after)
    assert not torch.equal(before, patched)


@pytest.mark.parametrize(("mode", "steps", "passes"), [("cached", 2, 1), ("per_step", 2, 2)])
def test_source_passes_per_generation(comfy_host, tiny_models, source_files, monkeypatch, mode, steps,
                                      passes):
    bank = pack_module(comfy_host, "bank")
    sigmas: list[float] = []
    original = bank.run_source_pass

    def counting(*args, **kwargs):
        sigmas.append(args[3])
        return original(*args, **kwargs)

    monkeypatch.setattr(bank, "run_source_pass", counting)
    prompt = _prompt(tiny_models, source_files, mode=mode, steps=steps)
    prompt["bank"]["inputs"]["seed"] = 100 + len(mode)  # a new bank: the SourceNet runs in this generation
    _sample(comfy_host, prompt)
    assert len(sigmas) == passes
    if mode == "cached":
        assert sigmas == [pytest.approx(0.1)]
    else:
        assert sigmas == sorted(sigmas, reverse=True) and len(set(sigmas)) == steps


def test_stacks_with_a_controlnet(comfy_host, tiny_models, source_files):
    prompt = _prompt(tiny_models, source_files)
    prompt["cn"] = {"class_type": "ControlNetLoader",
                    "inputs": {"control_net_name": tiny_models["controlnet_openpose_sd15"].name}}
    prompt["apply"] = {"class_type": "ControlNetApplyAdvanced", "inputs": {
        "positive": ["pos", 0], "negative": ["neg", 0], "control_net": ["cn", 0], "image": ["src", 0],
        "strength": 1.0, "start_percent": 0.0, "end_percent": 1.0}}
    hpfa_only = _sample(comfy_host, prompt)
    prompt["sample"]["inputs"].update(positive=["apply", 0], negative=["apply", 1])
    both = _sample(comfy_host, prompt)
    control_only = _sample(comfy_host, plain_prompt(prompt))
    assert not torch.equal(both, hpfa_only)  # the ControlNet still acts
    assert not torch.equal(both, control_only)  # HPFA still acts


def test_wraps_foreign_attn1_replace_and_keeps_attn2_patches(comfy_host, tiny_models, source_files):
    with registered(comfy_host):
        prompt = _prompt(tiny_models, source_files)
        hpfa_only = _sample(comfy_host, prompt)
        prompt["foreign"] = {"class_type": "PTTest_ForeignAttnPatches",
                             "inputs": {"model": ["ckpt", 0], "attn1_scale": 1.0, "context_scale": 1.0}}
        prompt["hpfa"]["inputs"]["model"] = ["foreign", 0]
        CALLS.update(attn1=0, attn2=0)
        wrapped_plain = _sample(comfy_host, prompt)
        assert CALLS["attn1"] > 0 and CALLS["attn2"] > 0
        # their replace is plain attention here, so wrapping it must reproduce HPFA alone
        torch.testing.assert_close(wrapped_plain, hpfa_only, rtol=1e-3, atol=1e-3)
        prompt["foreign"]["inputs"].update(attn1_scale=0.5, context_scale=2.0)
        wrapped = _sample(comfy_host, prompt)
        foreign_only = _sample(comfy_host, {**prompt, "sample": {
            "class_type": "KSampler", "inputs": dict(prompt["sample"]["inputs"], model=["foreign", 0])}})
        assert not torch.equal(wrapped, wrapped_plain)  # their patches still act
        assert not torch.equal(wrapped, foreign_only)  # HPFA still acts


def test_switched_off_hpfa_is_plain_sampling_bit_for_bit(comfy_host, tiny_models, source_files):
    prompt = _prompt(tiny_models, source_files)
    plain = _sample(comfy_host, plain_prompt(prompt))
    prompt["hpfa"]["inputs"]["strength"] = 0.0
    assert torch.equal(_sample(comfy_host, prompt), plain)
    prompt["hpfa"]["inputs"].update(strength=1.0, start_percent=1.0, end_percent=1.0)  # window holds no step
    assert torch.equal(_sample(comfy_host, prompt), plain)
    prompt["hpfa"]["inputs"].update(start_percent=0.5)  # the second half only
    half = _sample(comfy_host, prompt)
    prompt["hpfa"]["inputs"].update(start_percent=0.0, cfg_branches="negative")
    negative_only = _sample(comfy_host, prompt)
    assert not torch.equal(half, plain) and not torch.equal(negative_only, plain)
    assert not torch.equal(negative_only, half)


def test_an_interrupted_run_leaves_nothing_behind(comfy_host, tiny_models, source_files):
    prompt = _prompt(tiny_models, source_files)
    base = _sample(comfy_host, prompt)
    prompt["sample"]["inputs"]["seed"] += 1
    interrupted = comfy_host.run(prompt, keep_cache=True, interrupt_after_progress=1)
    assert not interrupted.success
    prompt["sample"]["inputs"]["seed"] -= 1
    assert torch.equal(_sample(comfy_host, prompt), base)
