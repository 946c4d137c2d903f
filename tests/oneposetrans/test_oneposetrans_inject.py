"""OnePoseTrans Style (IP-Adapter) and Face (VCM) nodes through the real host, on the tiny SD1.5/SDXL
checkpoints with tiny random IP-Adapter / InstantID / IP-Adapter FaceID files in the released key layouts
and the tiny antelopev2 and buffalo_l packs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from oneposetrans.inject_files import (
    Attn2Recorder,
    ForeignAttn2Node,
    checkpoint_attn2_shapes,
    faceid_state,
    instantid_state,
    ip_adapter_state,
    sampler_graph,
    save_flat,
    save_release_bin,
    write_blob_source,
    write_tiny_buffalo_l,
)
from pose_models.oneposetrans.instantid import FaceResampler, face_value
from pose_models.oneposetrans.ip_adapter import cross_attention_layers, load_adapter_file

pytest.importorskip("insightface", reason="insightface is not installed")
pytestmark = pytest.mark.filterwarnings("ignore:`estimate` is deprecated:FutureWarning")

FOREIGN = "PTTest_ForeignAttn2"
CAPTION_PARTS = {"hat": "", "clothes": "a red dress", "pants": "", "shoes": "", "jewelry": "", "other": ""}


@pytest.fixture(scope="module")
def host(comfy_host, tiny_models):
    models = Path(comfy_host.models_dir)
    sd15 = checkpoint_attn2_shapes(tiny_models["sd15"])
    sdxl = checkpoint_attn2_shapes(tiny_models["sdxl"])
    save_release_bin(ip_adapter_state(sd15), models / "ipadapter" / "pt_test" / "ip-adapter_sd15.bin")
    save_flat(ip_adapter_state(sdxl), models / "ipadapter" / "pt_test" / "ip-adapter_sdxl_vit-h.safetensors")
    save_flat({"foo.weight": torch.zeros(2)}, models / "ipadapter" / "pt_test" / "not_an_adapter.safetensors")
    save_release_bin(instantid_state(sdxl), models / "instantid" / "pt_test" / "ip-adapter.bin")
    save_release_bin(ip_adapter_state(sdxl), models / "instantid" / "pt_test" / "plain_ipadapter.bin")
    (models / "instantid" / "pt_test" / "broken.bin").write_bytes(b"PK\x03\x04 truncated archive")
    save_release_bin(faceid_state(sd15), models / "ipadapter" / "pt_test" / "ip-adapter-faceid_sd15.bin")
    save_release_bin(faceid_state(sdxl), models / "ipadapter" / "pt_test" / "ip-adapter-faceid_sdxl.bin")
    plus = faceid_state(sd15, plus=True)
    save_release_bin(plus, models / "ipadapter" / "pt_test" / "ip-adapter-faceid-plusv2_sd15.bin")
    write_tiny_buffalo_l(models)
    write_blob_source(Path(comfy_host.input_dir), "pt_inject_face.png", with_face=True)
    write_blob_source(Path(comfy_host.input_dir), "pt_inject_blank.png", with_face=False)
    comfy_host.node_classes[FOREIGN] = ForeignAttn2Node
    yield comfy_host
    comfy_host.node_classes.pop(FOREIGN, None)


def _style_nodes(ckpt_model: list[Any], ipadapter: str, **inputs: Any) -> dict[str, Any]:
    return {
        "clipv": {"class_type": "CLIPVisionLoader", "inputs": {"clip_name": "tiny_clip_vision.safetensors"}},
        "src": {"class_type": "LoadImage", "inputs": {"image": "pt_inject_face.png"}},
        "enc": {
            "class_type": "CLIPVisionEncode",
            "inputs": {"clip_vision": ["clipv", 0], "image": ["src", 0], "crop": "center"},
        },
        "style": {
            "class_type": "PT_OnePoseTransStyle",
            "inputs": {
                "model": ckpt_model,
                "ipadapter": ipadapter,
                "clip_vision_output": ["enc", 0],
                "preset": "repose",
                "strength": 1.0,
                "block_scales": "",
                **inputs,
            },
        },
    }


def _face_node(
    model: list[Any],
    image: str = "pt_inject_face.png",
    face_model: str = "instantid/pt_test/ip-adapter.bin",
    **inputs: Any,
) -> dict[str, Any]:
    return {
        "faceimg": {"class_type": "LoadImage", "inputs": {"image": image}},
        "caption": {
            "class_type": "PT_OnePoseTransCaption",
            "inputs": {"clip": ["ckpt", 1], "subject": "woman", **CAPTION_PARTS},
        },
        "face": {
            "class_type": "PT_OnePoseTransFace",
            "inputs": {
                "model": model,
                "face_model": face_model,
                "insightface": "auto",
                "image": ["faceimg", 0],
                "face_index": ["caption", 2],
                "gain": 4.0,
                "det_size": 128,
                "no_face": "error",
                **inputs,
            },
        },
    }


def _latent(result: Any, node: str = "sample") -> torch.Tensor:
    return result.value(node, 0)["samples"]


def _error(result: Any) -> str:
    assert not result.success
    return result.error["node_id"] + ": " + result.error["exception_message"]


def _run_recorded(
    host: Any, prompt: dict[str, Any], capture: tuple[str, ...] = ("sample",)
) -> tuple[Any, list]:
    Attn2Recorder.calls = []
    result = host.run(prompt, capture=capture, keep_cache=True).raise_on_error()
    return result, Attn2Recorder.calls


def test_style_scale_zero_is_bit_identical_and_repose_acts_sd15(host, tiny_models):
    ckpt = tiny_models["sd15"].name
    base = host.run(sampler_graph(ckpt, ["ckpt", 0]), capture=("sample",), keep_cache=True).raise_on_error()
    prompt = {
        **sampler_graph(ckpt, ["style", 0]),
        **_style_nodes(["ckpt", 0], "pt_test/ip-adapter_sd15.bin", preset="custom", block_scales="default=0"),
    }
    zero = host.run(prompt, capture=("sample", "ckpt"), keep_cache=True).raise_on_error()
    assert torch.equal(_latent(zero), _latent(base))
    prompt["style"]["inputs"].update(preset="repose", block_scales="")
    styled = host.run(prompt, capture=("sample", "ckpt", "style"), keep_cache=True).raise_on_error()
    assert (_latent(styled) - _latent(base)).abs().max() > 1e-4
    replaces = styled.value("style", 0).model_options["transformer_options"]["patches_replace"]["attn2"]
    assert sorted(replaces) == [("output", 3), ("output", 4)]  # SD1.5 repose blocks, per-block keys
    assert "patches_replace" not in styled.value("ckpt", 0).model_options["transformer_options"]
    # two copies of the source: their tokens are concatenated; duplicated keys/values attend as one copy
    prompt["twice"] = {"class_type": "RepeatImageBatch", "inputs": {"image": ["src", 0], "amount": 2}}
    prompt["enc"]["inputs"]["image"] = ["twice", 0]
    twice = host.run(prompt, capture=("sample",), keep_cache=True).raise_on_error()
    style_effect = (_latent(styled) - _latent(base)).abs().max()
    assert (_latent(twice) - _latent(styled)).abs().max() < 0.01 * style_effect, style_effect


def test_style_wraps_a_foreign_attn2_replace_sd15(host, tiny_models):
    ckpt = tiny_models["sd15"].name
    plain = {
        **sampler_graph(ckpt, ["foreign", 0]),
        "foreign": {"class_type": FOREIGN, "inputs": {"model": ["ckpt", 0]}},
    }
    plain_result, plain_calls = _run_recorded(host, plain)
    styled = {**plain, **_style_nodes(["foreign", 0], "pt_test/ip-adapter_sd15.bin")}
    styled["sample"]["inputs"]["model"] = ["style", 0]
    styled_result, styled_calls = _run_recorded(host, styled)
    assert len(styled_calls) == len(plain_calls) == 16  # every SD1.5 attn2 once (1 step, batched CFG)
    for (key_a, _, k_a, v_a, _), (key_b, _, k_b, v_b, _) in zip(plain_calls, styled_calls, strict=True):
        assert key_a == key_b and torch.equal(k_a, k_b) and torch.equal(v_a, v_b)
    assert (_latent(styled_result) - _latent(plain_result)).abs().max() > 1e-4
    # a per-block foreign patch added after the style node replaces it (the host's own rule), never shadowed
    after = {**styled, "foreign": {"class_type": FOREIGN, "inputs": {"model": ["style", 0]}}}
    after.update(_style_nodes(["ckpt", 0], "pt_test/ip-adapter_sd15.bin"))
    after["sample"]["inputs"]["model"] = ["foreign", 0]
    after_result, after_calls = _run_recorded(host, after)
    assert len(after_calls) == 16 and torch.equal(_latent(after_result), _latent(plain_result))


def test_style_sdxl_and_family_errors(host, tiny_models):
    sdxl, sd15 = tiny_models["sdxl"].name, tiny_models["sd15"].name
    base = host.run(sampler_graph(sdxl, ["ckpt", 0]), capture=("sample",), keep_cache=True).raise_on_error()
    prompt = {
        **sampler_graph(sdxl, ["style", 0]),
        **_style_nodes(["ckpt", 0], "pt_test/ip-adapter_sdxl_vit-h.safetensors"),
    }
    styled = host.run(prompt, capture=("sample", "style"), keep_cache=True).raise_on_error()
    replaces = styled.value("style", 0).model_options["transformer_options"]["patches_replace"]["attn2"]
    assert sorted(replaces) == [("output", 0, 0), ("output", 0, 1), ("output", 1, 0), ("output", 1, 1)]
    assert (_latent(styled) - _latent(base)).abs().max() > 1e-4
    wrong = {
        **sampler_graph(sd15, ["style", 0]),
        **_style_nodes(["ckpt", 0], "pt_test/ip-adapter_sdxl_vit-h.safetensors"),
    }
    message = _error(host.run(wrong, keep_cache=True))
    assert message.startswith("style:") and "family" in message
    wrong = {**sampler_graph(sdxl, ["style", 0]), **_style_nodes(["ckpt", 0], "pt_test/ip-adapter_sd15.bin")}
    assert "family" in _error(host.run(wrong, keep_cache=True))
    wrong = {
        **sampler_graph(sdxl, ["style", 0]),
        **_style_nodes(["ckpt", 0], "pt_test/not_an_adapter.safetensors"),
    }
    assert "not an IP-Adapter" in _error(host.run(wrong, keep_cache=True))


def _expected_face_values(host, tiny_models) -> dict:
    """Per adapter key: (cond, uncond) face value, from an independent insightface run on the image."""
    from insightface.app import FaceAnalysis
    from PIL import Image

    app = FaceAnalysis(name=str(tiny_models["insightface_antelopev2"]), providers=["CPUExecutionProvider"])
    app.prepare(ctx_id=-1, det_size=(128, 128))
    rgb = np.asarray(Image.open(Path(host.input_dir) / "pt_inject_face.png").convert("RGB"))
    faces = app.get(np.ascontiguousarray(rgb[:, :, ::-1]))
    assert len(faces) == 1
    state = load_adapter_file(str(Path(host.models_dir) / "instantid" / "pt_test" / "ip-adapter.bin"))
    resampler = FaceResampler.from_state(state["image_proj"], "ip-adapter.bin")
    face = resampler(torch.from_numpy(faces[0].embedding.astype(np.float32))[None])[0]
    zero = resampler(torch.zeros(1, 512))[0]
    layers = cross_attention_layers(checkpoint_attn2_shapes(tiny_models["sdxl"]))
    by_key = {}
    for layer in layers:
        w = state["ip_adapter"][f"{layer.adapter_key}.to_v_ip.weight"].float()
        by_key[layer.patch_key] = (face_value(face, w, 4.0), face_value(zero, w, 4.0))
    return by_key


def test_face_replaces_only_the_face_token_value_sdxl(host, tiny_models):
    ckpt = tiny_models["sdxl"].name
    foreign = {"foreign": {"class_type": FOREIGN, "inputs": {"model": ["ckpt", 0]}}}
    plain = {**sampler_graph(ckpt, ["foreign", 0]), **foreign}
    plain_result, plain_calls = _run_recorded(host, plain)
    prompt = {**sampler_graph(ckpt, ["face", 0]), **foreign, **_face_node(["foreign", 0])}
    prompt["pos"]["inputs"]["text"] = ["caption", 0]
    face_result, face_calls = _run_recorded(host, prompt, capture=("sample", "caption", "face", "ckpt"))
    index = face_result.value("caption", 2)
    assert index == 4 and face_result.value("face", 1) is True
    _assert_only_face_token_changed(plain_calls, face_calls, index, _expected_face_values(host, tiny_models))
    assert (_latent(face_result) - _latent(plain_result)).abs().max() > 1e-4
    assert "patches_replace" not in face_result.value("ckpt", 0).model_options["transformer_options"]


def _expected_faceid_values(host, tiny_models) -> dict:
    """Per patch key: (cond, uncond) FaceID face value from an independent buffalo_l run (normed
    embedding), the published MLP projection module and the softmax-weighted sum written out."""
    from insightface.app import FaceAnalysis
    from PIL import Image

    from oneposetrans.test_oneposetrans_faceid_maths import ReferenceMLPProjection

    pack = Path(host.models_dir) / "insightface" / "models" / "buffalo_l"
    app = FaceAnalysis(name=str(pack), providers=["CPUExecutionProvider"])
    app.prepare(ctx_id=-1, det_size=(128, 128))
    rgb = np.asarray(Image.open(Path(host.input_dir) / "pt_inject_face.png").convert("RGB"))
    (face,) = app.get(np.ascontiguousarray(rgb[:, :, ::-1]))
    assert abs(float(np.linalg.norm(face.embedding)) - 1.0) > 0.1  # normed and raw differ: the test can tell
    file = Path(host.models_dir, "ipadapter", "pt_test", "ip-adapter-faceid_sd15.bin")
    state = load_adapter_file(str(file))
    context = state["image_proj"]["norm.weight"].shape[0]
    projection = ReferenceMLPProjection(context)
    projection.load_state_dict(state["image_proj"])
    with torch.no_grad():
        tokens = projection(torch.from_numpy(face.normed_embedding.astype(np.float32))[None])[0]
        zero = projection(torch.zeros(1, 512))[0]
    by_key = {}
    for layer in cross_attention_layers(checkpoint_attn2_shapes(tiny_models["sd15"])):
        w = state["ip_adapter"][f"{layer.adapter_key}.to_v_ip.weight"].float()
        values = []
        for t in (tokens, zero):
            u = t @ w.T
            values.append(4.0 * (torch.softmax(u, dim=0) * u).sum(dim=0))
        by_key[layer.patch_key] = tuple(values)
    return by_key


def _assert_only_face_token_changed(plain_calls, face_calls, index, expected) -> None:
    assert len(face_calls) == len(plain_calls) == len(expected)  # every attn2 once (1 step)
    for (key, _, k_a, v_a, rows), (_, _, k_b, v_b, rows_b) in zip(plain_calls, face_calls, strict=True):
        assert rows == rows_b and torch.equal(k_a, k_b)
        others = [i for i in range(v_a.shape[1]) if i != index]
        assert torch.equal(v_a[:, others], v_b[:, others])
        cond, uncond = expected[key]
        per_chunk = v_b.shape[0] // len(rows)
        for chunk, branch in enumerate(rows):
            want = cond if branch == 0 else uncond
            got = v_b[chunk * per_chunk : (chunk + 1) * per_chunk, index]
            torch.testing.assert_close(got, want.expand_as(got), rtol=1e-4, atol=1e-4)
        assert not torch.equal(v_a[:, index], v_b[:, index])


def test_faceid_replaces_only_the_face_token_value_sd15(host, tiny_models):
    ckpt = tiny_models["sd15"].name
    foreign = {"foreign": {"class_type": FOREIGN, "inputs": {"model": ["ckpt", 0]}}}
    plain = {**sampler_graph(ckpt, ["foreign", 0]), **foreign}
    plain_result, plain_calls = _run_recorded(host, plain)
    face = _face_node(["foreign", 0], face_model="ipadapter/pt_test/ip-adapter-faceid_sd15.bin")
    prompt = {**sampler_graph(ckpt, ["face", 0]), **foreign, **face}
    prompt["pos"]["inputs"]["text"] = ["caption", 0]
    face_result, face_calls = _run_recorded(host, prompt, capture=("sample", "caption", "face", "ckpt"))
    index = face_result.value("caption", 2)
    assert index == 4 and face_result.value("face", 1) is True
    expected = _expected_faceid_values(host, tiny_models)
    _assert_only_face_token_changed(plain_calls, face_calls, index, expected)
    assert (_latent(face_result) - _latent(plain_result)).abs().max() > 1e-4
    assert "patches_replace" not in face_result.value("ckpt", 0).model_options["transformer_options"]


def test_faceid_bad_inputs_and_no_face_sd15(host, tiny_models):
    sdxl, sd15 = tiny_models["sdxl"].name, tiny_models["sd15"].name
    faceid = "ipadapter/pt_test/ip-adapter-faceid_sd15.bin"
    plus_file = "ipadapter/pt_test/ip-adapter-faceid-plusv2_sd15.bin"
    plus = {**sampler_graph(sd15, ["face", 0]), **_face_node(["ckpt", 0], face_model=plus_file)}
    message = _error(host.run(plus, keep_cache=True))
    assert "FaceID Plus" in message and "ip-adapter-faceid_sd15.bin" in message
    # a file of the other family fails on the context width before any face analysis (the pack is missing)
    for ckpt, face_model in (
        (sd15, "ipadapter/pt_test/ip-adapter-faceid_sdxl.bin"),
        (sd15, "instantid/pt_test/ip-adapter.bin"),
        (sdxl, faceid),
    ):
        wrong = {**sampler_graph(ckpt, ["face", 0]), **_face_node(["ckpt", 0], face_model=face_model)}
        wrong["face"]["inputs"]["insightface"] = "not_a_pack"
        message = _error(host.run(wrong, keep_cache=True))
        assert "wide" in message and "family" in message, message
    missing = {**sampler_graph(sd15, ["face", 0]), **_face_node(["ckpt", 0], face_model=faceid)}
    missing["face"]["inputs"]["insightface"] = "not_a_pack"
    message = _error(host.run(missing, keep_cache=True))
    assert "does not exist" in message and "buffalo_l" in message
    blank = {
        **sampler_graph(sd15, ["face", 0]),
        **_face_node(["ckpt", 0], image="pt_inject_blank.png", face_model=faceid),
    }
    assert "no face found" in _error(host.run(blank, keep_cache=True))
    blank["face"]["inputs"]["no_face"] = "continue without face"
    skipped = host.run(blank, capture=("sample", "face"), keep_cache=True).raise_on_error()
    base = host.run(sampler_graph(sd15, ["ckpt", 0]), capture=("sample",), keep_cache=True).raise_on_error()
    assert skipped.value("face", 1) is False and torch.equal(_latent(skipped), _latent(base))


def test_face_bad_inputs(host, tiny_models):
    sdxl, sd15 = tiny_models["sdxl"].name, tiny_models["sd15"].name
    blank = {**sampler_graph(sdxl, ["face", 0]), **_face_node(["ckpt", 0], image="pt_inject_blank.png")}
    message = _error(host.run(blank, keep_cache=True))
    assert message.startswith("face:") and "no face found" in message and "continue without face" in message
    blank["face"]["inputs"]["no_face"] = "continue without face"
    skipped = host.run(blank, capture=("sample", "face"), keep_cache=True).raise_on_error()
    base = host.run(sampler_graph(sdxl, ["ckpt", 0]), capture=("sample",), keep_cache=True).raise_on_error()
    assert skipped.value("face", 1) is False and torch.equal(_latent(skipped), _latent(base))
    no_word = {
        **sampler_graph(sdxl, ["face", 0]),
        **_face_node(["ckpt", 0], caption="A woman in a red dress", clip=["ckpt", 1]),
    }
    assert "no word 'face'" in _error(host.run(no_word, keep_cache=True))
    for face_model, expected in (
        ("instantid/pt_test/broken.bin", "damaged"),
        ("instantid/pt_test/plain_ipadapter.bin", "InstantID"),
    ):
        bad = {**sampler_graph(sdxl, ["face", 0]), **_face_node(["ckpt", 0], face_model=face_model)}
        assert expected in _error(host.run(bad, keep_cache=True))
    sd15_model = {**sampler_graph(sd15, ["face", 0]), **_face_node(["ckpt", 0])}
    assert "family" in _error(host.run(sd15_model, keep_cache=True))
    missing_pack = {**sampler_graph(sdxl, ["face", 0]), **_face_node(["ckpt", 0])}
    Path(host.models_dir, "insightface", "models", "not_a_pack").mkdir(parents=True, exist_ok=True)
    missing_pack["face"]["inputs"]["insightface"] = "not_a_pack"
    assert "no .onnx files" in _error(host.run(missing_pack, keep_cache=True))


def test_style_and_face_chain_in_either_order_sdxl(host, tiny_models):
    ckpt = tiny_models["sdxl"].name
    style = _style_nodes(["face", 0], "pt_test/ip-adapter_sdxl_vit-h.safetensors")
    face_first = {**sampler_graph(ckpt, ["style", 0]), **_face_node(["ckpt", 0]), **style}
    style_first = {
        **sampler_graph(ckpt, ["face", 0]),
        **_face_node(["style", 0]),
        **_style_nodes(["ckpt", 0], "pt_test/ip-adapter_sdxl_vit-h.safetensors"),
    }
    a = host.run(face_first, capture=("sample",), keep_cache=True).raise_on_error()
    b = host.run(style_first, capture=("sample",), keep_cache=True).raise_on_error()
    assert torch.equal(_latent(a), _latent(b))
    face_only = {**sampler_graph(ckpt, ["face", 0]), **_face_node(["ckpt", 0])}
    c = host.run(face_only, capture=("sample",), keep_cache=True).raise_on_error()
    assert (_latent(a) - _latent(c)).abs().max() > 1e-4
