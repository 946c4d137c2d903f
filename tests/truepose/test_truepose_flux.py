"""TruePose SourceNet + HPFA on Flux.1, through the real host on the tiny Flux.1-dev checkpoint.

The checkpoint is in the single-file layout of ComfyUI's Flux checkpoints (``tests/tiny_models``), loaded by
the stock CheckpointLoaderSimple; HPFA patches it through the host's attention override and ``dit`` block
replaces. 64 px images are 4 x 4 tokens of 16 px; the person box leaves the outer token columns pure
background. The must-shows of the UNet (``test_truepose_guarantees.py``) hold here too.
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
    prompt = truepose_prompt(tiny_models["flux"].name, source or files.image, files.person, files.face,
                             latent_node="EmptySD3LatentImage", **kwargs)
    prompt["hpfa"]["inputs"]["blocks"] = "all"
    return prompt


def _with_reference(prompt: dict, image: str) -> dict:
    """Kontext-style: the positive prompt carries ``image`` as a reference latent (ReferenceLatent)."""
    prompt["ref_image"] = {"class_type": "LoadImage", "inputs": {"image": image}}
    prompt["ref_latent"] = {"class_type": "VAEEncode",
                            "inputs": {"pixels": ["ref_image", 0], "vae": ["ckpt", 2]}}
    prompt["ref"] = {"class_type": "ReferenceLatent",
                     "inputs": {"conditioning": ["pos", 0], "latent": ["ref_latent", 0]}}
    prompt["sample"]["inputs"]["positive"] = ["ref", 0]
    return prompt


def test_the_bank_holds_the_source_tokens_of_every_flux_block(comfy_host, tiny_models, source_files):
    result = comfy_host.run(_prompt(tiny_models, source_files), capture=("bank",), keep_cache=True)
    bank = result.raise_on_error().value("bank")
    assert type(bank.backbone).__name__ == "FluxBackbone"
    assert bank.backbone.token_factor == 16 and bank.backbone.rotary.axes_dim == (4, 6, 6)
    layers = [("double", 0, 0), ("double", 1, 0), ("single", 0, 0), ("single", 1, 0)]
    assert list(bank.features.kv) == layers
    for key, value in bank.features.kv.values():
        assert key.shape == value.shape == (1, 2, 16, 16)  # 1 source, 2 heads, 4 x 4 tokens, head width 16
    assert set(bank.features.grids.values()) == {(4, 4)}


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


def test_the_given_model_is_untouched(comfy_host, tiny_models, source_files):
    prompt = untouched_model_prompt(_prompt(tiny_models, source_files))
    result = comfy_host.run(prompt, capture=("before", "sample", "after"), keep_cache=True).raise_on_error()
    before, patched, after = (result.value(n)["samples"] for n in ("before", "sample", "after"))
    assert torch.equal(before, after)
    assert not torch.equal(before, patched)


@pytest.mark.parametrize(("mode", "passes"), [("cached", 1), ("per_step", 2)])
def test_one_source_pass_per_generation(comfy_host, tiny_models, source_files, monkeypatch, mode, passes):
    bank = pack_module(comfy_host, "bank")
    sigmas: list[float] = []
    original = bank.run_source_pass

    def counting(*args, **kwargs):
        sigmas.append(args[3])
        return original(*args, **kwargs)

    monkeypatch.setattr(bank, "run_source_pass", counting)
    prompt = _prompt(tiny_models, source_files, mode=mode, steps=2)
    prompt["bank"]["inputs"]["seed"] = 200 + len(mode)  # a new bank: the SourceNet runs in this generation
    _sample(comfy_host, prompt)
    assert len(sigmas) == passes


def test_stacks_with_another_packs_block_replaces_and_attention_override(comfy_host, tiny_models,
                                                                          source_files):
    with registered(comfy_host):
        prompt = _prompt(tiny_models, source_files)
        hpfa_only = _sample(comfy_host, prompt)
        prompt["foreign"] = {"class_type": "PTTest_ForeignDitPatches",
                             "inputs": {"model": ["ckpt", 0], "block_scale": 1.0, "attention_scale": 1.0}}
        prompt["hpfa"]["inputs"]["model"] = ["foreign", 0]
        CALLS.update(dit_block=0, attention_override=0)
        wrapped_plain = _sample(comfy_host, prompt)
        assert CALLS["dit_block"] > 0 and CALLS["attention_override"] > 0
        # their patches are identities here, so wrapping them must reproduce HPFA alone
        torch.testing.assert_close(wrapped_plain, hpfa_only, rtol=1e-3, atol=1e-3)
        prompt["foreign"]["inputs"].update(block_scale=0.9, attention_scale=0.8)
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
    prompt["hpfa"]["inputs"].update(start_percent=0.0, cfg_branches="negative")
    negative_only = _sample(comfy_host, prompt)
    prompt["hpfa"]["inputs"].update(cfg_branches="both", blocks="single:1")
    one_block = _sample(comfy_host, prompt)
    assert not torch.equal(negative_only, plain) and not torch.equal(one_block, plain)
    prompt["hpfa"]["inputs"].update(blocks="auto")  # the double-stream blocks
    assert not torch.equal(_sample(comfy_host, prompt), one_block)


def test_kontext_reference_tokens_are_untouched_and_the_exclusion_stays_exact(comfy_host, tiny_models,
                                                                               source_files, monkeypatch):
    """With a Kontext reference image the calls hold text, target and reference tokens: HPFA changes the
    target's rows only (the reference's rows get exactly the layer's own attention), and the bank is still
    the masked source alone (reference latents are not part of the source pass)."""
    fusion = pack_module(comfy_host, "fusion")
    original = fusion.HPFARun.attend
    seen: list[tuple[int, int, int]] = []

    def checked(self, layer, call):
        out = original(self, layer, call)
        if out is not None and call.references:  # the positive prompt's calls (the negative has no reference)
            (reference,) = call.references
            rows, target = reference.span, call.queries.span
            own = call.inner(call.q[:, :, rows], call.k, call.v, call.mask_rows(rows))
            assert torch.equal(out[:, rows], own)
            seen.append((call.q.shape[2] - target.start, target.stop - target.start, rows.stop - rows.start))
        return out

    monkeypatch.setattr(fusion.HPFARun, "attend", checked)
    reference = source_files.variant("tp_reference.png", box_mask(PERSON_BOX), seed=6)
    prompt = _with_reference(_prompt(tiny_models, source_files), reference)
    base = _sample(comfy_host, prompt)
    assert seen and set(seen) == {(32, 16, 16)}  # target then reference: 4 x 4 tokens each
    without = _sample(comfy_host, plain_prompt(prompt))
    assert not torch.equal(base, without)
    changed = source_files.variant("tp_bg_changed_ref.png", ~box_mask(PERSON_BOX), seed=7)
    assert torch.equal(_sample(comfy_host, _with_reference(_prompt(tiny_models, source_files, changed),
                                                           reference)), base)


def test_flux_block_words_are_checked_before_sampling(comfy_host, tiny_models, source_files):
    prompt = _prompt(tiny_models, source_files)
    prompt["hpfa"]["inputs"]["blocks"] = "middle, output"
    result = comfy_host.run(prompt, capture=("sample",), keep_cache=True)
    assert not result.success
    assert "unknown block 'middle'; use auto, double, single, all" in result.error["exception_message"]
    assert not [p for p in result.progress if p[0] == "sample" and p[1] > 0]


def test_target_of_another_size_is_refused_naming_the_token_size(comfy_host, tiny_models, source_files):
    result = comfy_host.run(_prompt(tiny_models, source_files, latent_size=96), capture=("sample",),
                            keep_cache=True)
    assert not result.success
    message = result.error["exception_message"]
    assert "the target is 96x96 px but the source was encoded at 64x64 px" in message
    assert "multiples of 16 px" in message
