"""OpenPose body model file layout, loader and search (random weights in the real key layout)."""

from __future__ import annotations

from collections import OrderedDict
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file
from tiny_models.body_pose import REAL_KEYS, REAL_PARAMETERS, random_state_dict, real_layout

from pose_models.openpose_body import (
    BodyModelError,
    BodyPoseNet,
    OpenPoseBodyEstimator,
    check_state_dict,
    find_body_model,
    load_body_model,
)

REPO_ROOT = Path(__file__).resolve().parents[2]

@pytest.fixture(scope="module")
def real_state_dict() -> OrderedDict[str, torch.Tensor]:
    return random_state_dict()


@pytest.fixture(scope="module")
def real_file(real_state_dict: OrderedDict[str, torch.Tensor],
              tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("openpose") / "body_pose_model.pth"
    torch.save(real_state_dict, path)
    return path


class NotATensor:
    """A pickled object that weights_only=True must refuse."""


def test_module_layout_is_the_released_key_table() -> None:
    net = BodyPoseNet()
    layout = {k: tuple(v.shape) for k, v in net.state_dict().items()}
    assert layout == dict(real_layout())
    assert len(layout) == REAL_KEYS
    assert sum(p.numel() for p in net.parameters()) == REAL_PARAMETERS
    assert list(net.buffers()) == []


def test_full_size_file_loads_strictly_and_runs(real_file: Path,
                                                real_state_dict: OrderedDict[str, torch.Tensor]) -> None:
    assert real_file.stat().st_size > REAL_PARAMETERS * 4
    net = load_body_model(real_file)
    loaded = net.state_dict()
    assert list(loaded) == list(real_state_dict)
    assert all(torch.equal(loaded[k], v) for k, v in real_state_dict.items())
    assert not net.training
    assert not any(p.requires_grad for p in net.parameters())

    images = torch.rand(2, 3, 64, 48, generator=torch.Generator().manual_seed(1), requires_grad=True)
    out = OpenPoseBodyEstimator(net, box_size=64)(images)
    assert out.heatmaps.shape == (2, 19, 8, 6)
    assert out.pafs.shape == (2, 38, 8, 6)
    assert out.keypoints.shape == (2, 18, 3)
    assert torch.isfinite(out.heatmaps).all() and torch.isfinite(out.pafs).all()
    out.heatmaps.square().sum().backward()
    assert images.grad is not None and torch.isfinite(images.grad).all() and images.grad.abs().sum() > 0


def test_load_converts_dtype(real_file: Path) -> None:
    net = load_body_model(real_file, device="cpu", dtype=torch.float16)
    assert {p.dtype for p in net.parameters()} == {torch.float16}
    assert {p.device.type for p in net.parameters()} == {"cpu"}


def test_safetensors_round_trip(real_state_dict: OrderedDict[str, torch.Tensor], tmp_path: Path) -> None:
    half = {k: v.half() for k, v in real_state_dict.items()}
    path = tmp_path / "body_pose_model.safetensors"
    save_file(half, str(path))
    net = load_body_model(path, dtype=torch.float32)
    loaded = net.state_dict()
    assert all(torch.equal(loaded[k], v.float()) for k, v in half.items())


def test_weights_only_refuses_pickled_objects(tmp_path: Path) -> None:
    path = tmp_path / "evil_body_pose_model.pth"
    torch.save({"conv1_1.weight": torch.zeros(1), "payload": NotATensor()}, path)
    with pytest.raises(BodyModelError) as info:
        load_body_model(path)
    msg = str(info.value)
    assert str(path) in msg and "never loads them" in msg
    assert "weights_only=False" not in msg and "set to False" not in msg  # never the unsafe advice
    assert "NotATensor" in msg and "huggingface.co/lllyasviel/Annotators" in msg


@pytest.mark.parametrize("content", [b"not a torch file", None])
def test_unreadable_files_name_the_file(tmp_path: Path, content: bytes | None) -> None:
    path = tmp_path / "body_pose_model.pth"
    if content is None:  # truncated zip archive
        torch.save({"a": torch.zeros(4)}, path)
        path.write_bytes(path.read_bytes()[:200])
    else:
        path.write_bytes(content)
    with pytest.raises(BodyModelError, match="body_pose_model.pth"):
        load_body_model(path)


def test_bad_safetensors_and_non_mapping(tmp_path: Path) -> None:
    bad = tmp_path / "x.safetensors"
    bad.write_bytes(b"garbage")
    with pytest.raises(BodyModelError, match="this is a text file, not a weight file"):
        load_body_model(bad)
    tensor_file = tmp_path / "tensor.pth"
    torch.save(torch.zeros(3), tensor_file)
    with pytest.raises(BodyModelError, match="holds a Tensor, not weights by name"):
        load_body_model(tensor_file)


def test_missing_file_says_what_to_download(tmp_path: Path) -> None:
    path = tmp_path / "nowhere" / "body_pose_model.pth"
    with pytest.raises(FileNotFoundError) as info:
        load_body_model(path)
    assert str(path) in str(info.value)
    assert "models/openpose/" in str(info.value) and "non-commercial" in str(info.value)


def test_missing_unexpected_and_misshapen_keys_are_listed() -> None:
    sd = {k: torch.empty(shape, device="meta") for k, shape in real_layout().items()}
    del sd["conv1_1.weight"], sd["Mconv7_stage6_L2.bias"]
    sd["model0.conv1_1.weight"] = torch.empty(64, 3, 3, 3, device="meta")
    sd["conv5_5_CPM_L2.weight"] = torch.empty(22, 512, 1, 1, device="meta")
    with pytest.raises(BodyModelError) as info:
        check_state_dict(sd, "some/file.pth")
    msg = str(info.value)
    assert "some/file.pth" in msg
    assert "2 missing key(s): conv1_1.weight, Mconv7_stage6_L2.bias" in msg
    assert "1 unexpected key(s): model0.conv1_1.weight" in msg
    assert "conv5_5_CPM_L2.weight [22, 512, 1, 1] (expected [19, 512, 1, 1])" in msg
    check_state_dict({k: torch.empty(s, device="meta") for k, s in real_layout().items()}, "ok")


def test_wrong_model_file_is_refused_with_counts(tmp_path: Path) -> None:
    path = tmp_path / "hand_pose_model.pth"
    torch.save({"conv1_1.weight": torch.zeros(64, 3, 3, 3), "conv6_2_CPM.weight": torch.zeros(22, 512, 1, 1)},
               path)
    with pytest.raises(BodyModelError) as info:
        load_body_model(path)
    msg = str(info.value)
    assert str(path) in msg and "183 missing key(s)" in msg and "and 178 more" in msg
    assert "1 unexpected key(s): conv6_2_CPM.weight" in msg


def _touch(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"")
    return path


def test_find_body_model_search_order(tmp_path: Path) -> None:
    models, custom_nodes, aux_ckpts = tmp_path / "models", tmp_path / "custom_nodes", tmp_path / "ckpts"
    assert find_body_model([]) is None
    assert find_body_model([models, tmp_path / "missing"]) is None

    aux = _touch(custom_nodes / "comfyui_controlnet_aux/ckpts/lllyasviel/Annotators/body_pose_model.pth")
    assert find_body_model([models, custom_nodes]) == aux
    assert find_body_model([custom_nodes / "comfyui_controlnet_aux"]) == aux
    assert find_body_model([custom_nodes / "comfyui_controlnet_aux/ckpts"]) == aux

    estimators = _touch(models / "pose_estimators/body_pose_model.pth")
    assert find_body_model([models, custom_nodes]) == estimators
    assert find_body_model([custom_nodes, models]) == aux  # roots keep the caller's order
    safetensors = _touch(models / "openpose/body_pose_model.safetensors")
    assert find_body_model([models]) == safetensors
    pth = _touch(models / "openpose/body_pose_model.pth")
    assert find_body_model([models]) == pth  # .pth before .safetensors in one folder

    (aux_ckpts / "body_pose_model.pth").mkdir(parents=True)  # a folder is not a model file
    snapshot = _touch(aux_ckpts / "models--lllyasviel--Annotators/snapshots/abc123/body_pose_model.pth")
    assert find_body_model([aux_ckpts]) == snapshot
    assert find_body_model([str(tmp_path / "nothing"), str(aux_ckpts)]) == snapshot

