"""TruePose nodes through the host: SCHP parser node, SDXL, target regions with gating and batches, and
bad input refused before any sampling step."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from parsing.schp_fakes import write_official

from pose_models.parsing import GROUPS, LIP
from truepose.foreign_nodes import pack_module, registered
from truepose.truepose_graphs import SIZE, truepose_prompt


def _prompt(tiny_models, files, **kwargs):
    return truepose_prompt(tiny_models["sd15"].name, files.image, files.person, files.face, **kwargs)


def _run(host, prompt, *capture):
    return host.run(prompt, capture=capture, keep_cache=True)


def _error(result) -> str:
    assert not result.success
    return result.error["exception_message"]


def _sampled_steps(result) -> list:
    return [p for p in result.progress if p[0] == "sample" and p[1] > 0]


@pytest.fixture(scope="module")
def schp_name(comfy_host) -> str:
    folder = Path(comfy_host.models_dir) / "human_parsing"
    folder.mkdir(exist_ok=True)
    return write_official(folder, "tiny_schp_lip.pth", LIP.num_classes, seed=3).name


def test_human_parsing_node_outputs_and_model_cache(comfy_host, tiny_models, source_files, schp_name):
    prompt = _prompt(tiny_models, source_files, groups="all")
    prompt["schp"] = {"class_type": "PT_HumanParsing", "inputs": {
        "image": ["src", 0], "model_name": schp_name, "flip": True, "input_size": 64}}
    prompt["bank"]["inputs"]["source_parsing"] = ["schp", 2]
    prompt["preview"]["inputs"]["images"] = ["bank", 1]  # stop at the SourceNet: no sampling needed here
    result = _run(comfy_host, prompt, "schp", "bank").raise_on_error()
    colour, legend, parsing = (result.value("schp", i) for i in range(3))
    assert colour.shape == (1, SIZE, SIZE, 3) and legend.shape[0] == 1
    # the host imports the pack under its own module name: compare by name, not class identity
    assert type(parsing).__name__ == "ParsingResult" and parsing.label_set.name == LIP.name
    masks = {g: result.value("schp", 3 + i) for i, g in enumerate(GROUPS)}
    assert all(m.shape == (1, SIZE, SIZE) for m in masks.values())
    assert torch.equal(masks["person"] + masks["background"], torch.ones(1, SIZE, SIZE))
    assert ("schp", 1, 1) in result.progress
    assert result.value("bank").features is not None
    parsing_nodes = pack_module(comfy_host, "parsing")
    patcher, label_set = parsing_nodes.load_parser(schp_name)
    assert label_set.name == LIP.name
    assert parsing_nodes.load_parser(schp_name)[0] is patcher  # cached by path and mtime
    assert [entry.patcher for _, entry in parsing_nodes.PARSERS.entries.values()] == [patcher]


def test_missing_parser_file_names_the_folder(comfy_host, source_files):
    node = comfy_host.node_classes["PT_HumanParsing"]
    with pytest.raises(ValueError, match="models/human_parsing"):
        node.execute(image=torch.zeros(1, 8, 8, 3), model_name="missing.pth", flip=False, input_size=0)


def test_source_without_person_is_refused_before_sampling(comfy_host, tiny_models, source_files):
    from PIL import Image

    Image.new("L", (SIZE, SIZE), 0).save(source_files.folder / "tp_empty.png")
    prompt = _prompt(tiny_models, source_files)
    prompt["person"]["inputs"]["image"] = "tp_empty.png"
    prompt["face"]["inputs"]["image"] = "tp_empty.png"
    result = _run(comfy_host, prompt)
    assert "no pixel in the groups" in _error(result) and result.error["node_id"] == "bank"
    assert not _sampled_steps(result)


def test_source_and_target_sizes_must_match(comfy_host, tiny_models, source_files):
    result = _run(comfy_host, _prompt(tiny_models, source_files, latent_size=SIZE + 16))
    message = _error(result)
    assert "Resize the source image" in message and f"{SIZE}x{SIZE}" in message
    assert not _sampled_steps(result)


def test_unknown_model_shapes_are_refused(comfy_host, tiny_models, source_files):
    with registered(comfy_host):
        prompt = _prompt(tiny_models, source_files)
        prompt["odd"] = {"class_type": "PTTest_NonUNetModel", "inputs": {"model": ["ckpt", 0]}}
        prompt["bank"]["inputs"]["model"] = ["odd", 0]
        result = _run(comfy_host, prompt)
    assert "neither an SD1.5/SDXL-style UNet nor a Flux.1 model" in _error(result)
    assert not _sampled_steps(result)


def _with_target_regions(prompt: dict, width: int = SIZE, gate: float = 4.0) -> dict:
    prompt["pose"] = {"class_type": "PT_LoadPoseFile", "inputs": {
        "file": "[example] standing_front.json", "canvas_width": 0, "canvas_height": 0, "first_frame": 0,
        "max_frames": 0, "coordinates": "auto"}}
    prompt["regions"] = {"class_type": "PT_TruePoseTargetRegions",
                         "inputs": {"pose": ["pose", 0], "width": width, "height": SIZE, "scale": 1.0}}
    prompt["hpfa"]["inputs"].update(target_regions=["regions", 0], gate=gate)
    return prompt


def test_target_region_gating_with_a_batch_of_targets(comfy_host, tiny_models, source_files):
    gated = _with_target_regions(_prompt(tiny_models, source_files, batch=2, mode="per_step"))
    result = _run(comfy_host, gated, "regions", "sample").raise_on_error()
    regions = result.value("regions")
    assert regions.labels.shape == (1, SIZE, SIZE) and len(regions.labels.unique()) >= 5
    batch = result.value("sample")["samples"]
    assert batch.shape[0] == 2 and not torch.equal(batch[0], batch[1])
    single = _run(comfy_host, _with_target_regions(_prompt(tiny_models, source_files, mode="per_step")),
                  "sample").raise_on_error().value("sample")["samples"]
    torch.testing.assert_close(batch[:1], single, rtol=1e-3, atol=1e-3)  # row 0 is the single target
    ungated_prompt = _with_target_regions(_prompt(tiny_models, source_files, mode="per_step"), gate=0.0)
    ungated = _run(comfy_host, ungated_prompt, "sample").raise_on_error().value("sample")["samples"]
    assert not torch.equal(ungated, single)


def test_target_regions_of_another_size_are_refused(comfy_host, tiny_models, source_files):
    result = _run(comfy_host, _with_target_regions(_prompt(tiny_models, source_files), width=SIZE * 2))
    assert "target_regions are" in _error(result)
    assert not _sampled_steps(result)


@pytest.mark.parametrize(("setting", "value", "message"), [
    ("group_weights", "face=-1", "finite number >= 0"),
    ("group_weights", "torso=1", "unknown region group"),
    ("blocks", "output:40", "matches no self-attention layer"),
])
def test_bad_hpfa_settings_are_refused(comfy_host, tiny_models, source_files, setting, value, message):
    prompt = _prompt(tiny_models, source_files)
    prompt["hpfa"]["inputs"][setting] = value
    result = _run(comfy_host, prompt)
    assert message in _error(result) and result.error["node_id"] == "hpfa"


def test_sdxl_model_works_and_its_bank_is_refused_by_an_sd15_model(comfy_host, tiny_models, source_files):
    files = source_files
    prompt = truepose_prompt(tiny_models["sdxl"].name, files.image, files.person, files.face)
    result = _run(comfy_host, prompt, "bank", "sample").raise_on_error()
    bank = result.value("bank")
    assert bank.backbone.family.endswith("SDXL")
    assert len(bank.features.kv) == len(bank.backbone.self_attention)
    assert torch.isfinite(result.value("sample")["samples"]).all()
    sd15 = tiny_models["sd15"].name
    prompt["sd15"] = {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": sd15}}
    prompt["hpfa"]["inputs"]["model"] = ["sd15", 0]
    prompt["sample"]["inputs"]["model"] = ["hpfa", 0]
    message = _error(_run(comfy_host, prompt))
    assert "same MODEL" in message and "SDXL" in message


def test_example_workflow_runs_on_the_tiny_models(comfy_host, tiny_models, schp_name):
    import json

    from workflow_format import on_tiny_models, ui_to_api, without_meta

    workflows = Path(__file__).resolve().parents[2] / "workflows"
    api = json.loads((workflows / "api" / "truepose.json").read_text())
    ui = json.loads((workflows / "truepose.json").read_text())
    assert ui_to_api(ui, comfy_host.node_classes) == without_meta(api)
    prompt = on_tiny_models(api, tiny_models, width=SIZE, height=SIZE + 32, steps=2)
    for node in prompt.values():
        inputs, kind = node["inputs"], node["class_type"]
        if kind == "PT_HumanParsing":
            inputs.update(model_name=schp_name, input_size=64)
        elif kind == "PT_TruePoseSourceNet":
            inputs["groups"] = "all"  # the random-weight parser may find no person
    result = comfy_host.run(prompt, keep_cache=True).raise_on_error()
    (image,) = result.images("17")
    assert image.is_file()
