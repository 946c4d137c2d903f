"""The one weight-file reader (``pose_models.state_dicts``) and file recognition (``pose_models.file_kinds``):
what a wrong file is gets named, and nothing is ever unpickled beyond tensors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import save_file

from pose_models.file_kinds import file_kind
from pose_models.image_files import read_rgb, write_png
from pose_models.state_dicts import (
    WeightFileError,
    model_family,
    read_safetensors_metadata,
    read_weight_file,
)


class _Payload:
    """Unpickling this would create the marker file; the reader must never do it."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def _torch_file(path: Path) -> Path:
    torch.save({"w": torch.arange(6.0).view(2, 3)}, path)
    return path


def test_plain_weight_files_load_whatever_their_name(tmp_path):
    expected = torch.arange(6.0).view(2, 3)
    zip_file = _torch_file(tmp_path / "a.pth")
    legacy = tmp_path / "b.pth"
    torch.save({"w": expected}, legacy, _use_new_zipfile_serialization=False)
    safetensors_named_bin = tmp_path / "c.bin"
    save_file({"w": expected}, str(safetensors_named_bin))
    for path in (zip_file, legacy, safetensors_named_bin):
        assert torch.equal(read_weight_file(path)["w"], expected), path


@pytest.mark.parametrize(("write", "kind"), [
    (lambda p: Image.new("RGB", (4, 4)).save(p, format="JPEG"), "a JPEG image, not a weight file"),
    (lambda p: Image.new("RGB", (4, 4)).save(p, format="PNG"), "a PNG image, not a weight file"),
    (lambda p: p.write_text("<!DOCTYPE html><html>Virus scan warning</html>"), "an HTML web page"),
    (lambda p: p.write_text("model weights go here\n"), "a text file, not a weight file"),
    (lambda p: p.write_text('{"a": 1}'), "a JSON text file, not a weight file"),
    (lambda p: p.write_bytes(b""), "an empty file"),
    (lambda p: p.write_bytes(_torch_file(p.with_suffix(".full")).read_bytes()[:300]), "truncated zip"),
    (lambda p: p.write_bytes(b"GGUF\x03\x00\x00\x00"), "a GGUF model file"),
])
def test_wrong_files_are_named(tmp_path, write, kind):
    path = tmp_path / "model.pth"
    write(path)
    with pytest.raises(WeightFileError, match=kind) as info:
        read_weight_file(path, hint="Get it from X.")
    assert str(path) in str(info.value) and str(info.value).endswith("Get it from X.")


def test_truncated_safetensors_is_named(tmp_path):
    path = tmp_path / "model.safetensors"
    save_file({"w": torch.zeros(64)}, str(path))
    path.write_bytes(path.read_bytes()[:-16])
    with pytest.raises(WeightFileError, match="damaged safetensors file.*Download it again"):
        read_weight_file(path)
    assert file_kind(path).family == "safetensors"


def test_pickled_code_is_refused_never_run_and_never_advised(tmp_path):
    marker = tmp_path / "ran.txt"
    path = tmp_path / "model.pth"
    torch.save({"w": torch.zeros(1), "x": _Payload(marker)}, path)
    with pytest.raises(WeightFileError, match="holds the Python object type .*never loads them") as info:
        read_weight_file(path)
    assert not marker.exists()
    assert "weights_only" not in str(info.value).replace(str(path), "")  # never torch's advice


def test_custom_error_type_and_non_mapping(tmp_path):
    path = tmp_path / "t.pth"
    torch.save([torch.zeros(1)], path)
    with pytest.raises(KeyError, match="holds a list, not weights by name"):
        read_weight_file(path, error=KeyError)
    with pytest.raises(WeightFileError, match="no such file"):
        read_weight_file(tmp_path / "absent.pth")


def test_safetensors_metadata_and_its_errors(tmp_path):
    path = tmp_path / "f.safetensors"
    save_file({"w": torch.zeros(1)}, str(path), metadata={"format": "x"})
    assert read_safetensors_metadata(path) == {"format": "x"}
    photo = tmp_path / "f2.safetensors"
    Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(photo, format="PNG")
    with pytest.raises(WeightFileError, match="a PNG image, not a readable safetensors file"):
        read_safetensors_metadata(photo)


@pytest.mark.parametrize(("keys", "family"), [
    (["model.diffusion_model.input_blocks.0.0.weight"], "Stable Diffusion checkpoint"),
    (["lora_unet_down_blocks_0_attentions_0.lora_down.weight"], "a LoRA"),
    (["control_model.input_hint_block.0.weight"], "a ControlNet"),
    (["image_proj.proj.weight", "ip_adapter.1.to_k_ip.weight"], "IP-Adapter"),
    (["learnable_vector", "decoder.query_feat"], "CFLD's conditioning model"),
    (["module.fushion.3.weight"], "SCHP"),
    (["conv1_1.weight", "Mconv7_stage6_L1.weight"], "OpenPose body model"),
    (["encoder.down.0.block.0.conv1.weight", "decoder.up.0.block.0.conv1.weight"], "a VAE"),
    (["vision_model.embeddings.patch_embedding.weight"], "CLIP vision"),
    (["something.else"], None),
])
def test_model_family(keys, family):
    found = model_family(keys)
    assert (found is None) if family is None else (family in found), found


def test_image_files_round_trip_and_name_wrong_kinds(tmp_path):
    pixels = np.random.default_rng(0).integers(0, 256, (5, 7, 3), dtype=np.uint8)
    write_png(tmp_path / "x.png", pixels)
    assert np.array_equal(read_rgb(tmp_path / "x.png"), pixels)
    with pytest.raises(ValueError, match="this is a PyTorch weight file, not an image"):
        read_rgb(_torch_file(tmp_path / "model.png"))
