"""SCHP checkpoints: official key layout, safe loading, label-set detection, clear errors, safetensors."""

from __future__ import annotations

import pathlib
from pathlib import Path

import pytest
import torch
from parsing.schp_fakes import official_shapes, official_state_dict, save_official

from pose_models.parsing import (
    LABEL_SETS,
    ParsingCheckpointError,
    SCHPNet,
    convert_to_safetensors,
    load_network,
)
from pose_models.parsing.checkpoint import expected_shapes, read_state_dict

ids = [s.name for s in LABEL_SETS]


@pytest.fixture(scope="module")
def lip_state() -> dict[str, torch.Tensor]:
    return official_state_dict(20, seed=1)


@pytest.mark.parametrize("label_set", LABEL_SETS, ids=ids)
def test_full_network_has_the_official_keys_and_shapes(label_set):
    network = SCHPNet(label_set.num_classes)  # full size, real allocation (the forward runs elsewhere)
    shapes = {k: tuple(v.shape) for k, v in network.state_dict().items()}
    assert shapes == official_shapes(label_set.num_classes) == expected_shapes(label_set.num_classes)
    assert list(shapes) == list(official_shapes(label_set.num_classes))  # same module order, too
    assert len(shapes) == 603
    assert not any(k.endswith("num_batches_tracked") for k in shapes)
    assert shapes["fushion.3.weight"] == (label_set.num_classes, 256, 1, 1)
    assert shapes["context_encoding.bottleneck.0.weight"] == (512, 4096, 3, 3)
    assert sum(v.numel() for v in network.parameters()) == pytest.approx(66.7e6, rel=0.01)


@pytest.mark.parametrize("label_set", LABEL_SETS, ids=ids)
def test_label_set_comes_from_the_weights_not_the_name(tmp_path, label_set):
    wrong_name = next(s for s in LABEL_SETS if s is not label_set).checkpoint
    path = save_official(tmp_path / wrong_name, official_state_dict(label_set.num_classes, seed=2))
    network, detected = load_network(path)
    assert detected is label_set
    assert network.num_classes == label_set.num_classes and not network.training
    assert all(not p.requires_grad for p in network.parameters())


def test_loads_every_official_container(tmp_path, lip_state):
    legacy = save_official(tmp_path / "legacy.pth", lip_state, legacy=True)  # torch < 1.6 format
    bare = tmp_path / "bare.pt"
    torch.save({k.removeprefix("module."): v for k, v in lip_state.items()}, bare)
    for path in (legacy, bare):
        state = read_state_dict(path)
        assert set(state) == set(official_shapes(20))
        assert torch.equal(state["fushion.3.weight"], lip_state["module.fushion.3.weight"])


def test_dtype_and_device_arguments(tmp_path, lip_state):
    path = save_official(tmp_path / "lip.pth", lip_state)
    network, _ = load_network(path, device=torch.device("cpu"), dtype=torch.bfloat16)
    assert {p.dtype for p in network.state_dict().values()} == {torch.bfloat16}
    assert network.conv1.weight.device.type == "cpu"


class _Payload:
    """Pickles as a call that writes a marker file: loading it must never run that call."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return pathlib.Path.write_text, (self.marker, "executed")


def test_pickled_objects_are_refused_not_executed(tmp_path, lip_state):
    marker = tmp_path / "marker.txt"
    path = tmp_path / "exp-schp-201908261155-lip.pth"
    torch.save({"state_dict": lip_state, "extra": _Payload(marker)}, path)
    with pytest.raises(ParsingCheckpointError,
                       match="holds the Python object type .*never loads them") as err:
        load_network(path)
    message = str(err.value)
    assert str(path) in message and "models/human_parsing/" in message
    assert "weights_only" not in message  # no advice to load the file unsafely
    assert not marker.exists()


def test_non_tensor_entries_and_unreadable_files(tmp_path, lip_state):
    bad = tmp_path / "bad.pth"
    torch.save({"state_dict": {**lip_state, "module.note": "hello"}}, bad)
    with pytest.raises(ParsingCheckpointError, match=r"'module\.note' is a str, not a tensor"):
        load_network(bad)
    truncated = tmp_path / "truncated.pth"
    truncated.write_bytes(save_official(tmp_path / "full.pth", lip_state).read_bytes()[:1000])
    with pytest.raises(ParsingCheckpointError, match="cannot be read"):
        load_network(truncated)
    with pytest.raises(ParsingCheckpointError, match="no such file.*models/human_parsing/"):
        load_network(tmp_path / "absent.pth")
    garbage = tmp_path / "garbage.safetensors"
    garbage.write_bytes(b"not a safetensors file")
    with pytest.raises(ParsingCheckpointError, match="this is a text file, not a weight file"):
        load_network(garbage)


def test_missing_and_unexpected_keys_are_named(tmp_path, lip_state):
    state = dict(lip_state)
    del state["module.layer3.22.bn2.running_var"]
    state["module.layer1.0.bn1.num_batches_tracked"] = torch.tensor(5)
    path = save_official(tmp_path / "edited.pth", state)
    with pytest.raises(ParsingCheckpointError) as err:
        load_network(path)
    message = str(err.value)
    assert str(path) in message and "LIP" in message
    assert "1 missing key(s): layer3.22.bn2.running_var" in message
    assert "1 unexpected key(s): layer1.0.bn1.num_batches_tracked" in message
    assert "exp-schp-201908261155-lip.pth" in message and "models/human_parsing/" in message


def test_wrong_shapes_are_named(tmp_path, lip_state):
    state = dict(lip_state)
    state["module.decoder.conv4.weight"] = torch.zeros(18, 256, 1, 1)  # an ATR decoder in a LIP model
    state["module.layer2.0.conv2.weight"] = torch.zeros(128, 128, 1, 1)
    with pytest.raises(ParsingCheckpointError) as err:
        load_network(save_official(tmp_path / "shapes.pth", state))
    assert ("2 tensor(s) of the wrong shape: "
            "layer2.0.conv2.weight [128, 128, 1, 1] (expected [128, 128, 3, 3]), "
            "decoder.conv4.weight [18, 256, 1, 1] (expected [20, 256, 1, 1])") in str(err.value)


def test_unknown_label_count_and_foreign_files(tmp_path, lip_state):
    state = dict(lip_state)
    state["module.fushion.3.weight"] = torch.zeros(5, 256, 1, 1)
    with pytest.raises(ParsingCheckpointError, match="5 output labels.*20 \\(LIP\\), 18 \\(ATR\\), 7"):
        load_network(save_official(tmp_path / "five.pth", state))
    foreign = tmp_path / "resnet.pth"
    torch.save({"fc.weight": torch.zeros(10, 2048)}, foreign)
    with pytest.raises(ParsingCheckpointError, match="not an SCHP parsing checkpoint.*models/human_parsing/"):
        load_network(foreign)


def test_conversion_refuses_a_broken_checkpoint(tmp_path, lip_state):
    state = dict(lip_state)
    del state["module.edge.conv5.bias"]
    target = tmp_path / "out.safetensors"
    with pytest.raises(ParsingCheckpointError, match="edge.conv5.bias"):
        convert_to_safetensors(save_official(tmp_path / "broken.pth", state), target)
    assert not target.exists()
