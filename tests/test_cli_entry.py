"""``cli.py``, the one entry point of the command lines, run the way a user runs it: from another folder,
with relative paths, and with wrong files."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch
from data_files import deepfashion_csv
from PIL import Image

REPO_ROOT = Path(__file__).resolve().parents[1]
CLI = REPO_ROOT / "cli.py"


def run_cli(cwd: Path, *args: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(CLI), *map(str, args)], cwd=cwd, capture_output=True,
                          text=True, timeout=300, check=False)


@pytest.fixture
def photo(tmp_path: Path) -> Path:
    path = tmp_path / "photo.jpg"
    Image.new("RGB", (32, 48), (200, 120, 90)).save(path, format="JPEG")
    return path


def test_help_lists_the_tools(tmp_path):
    result = run_cli(tmp_path, "--help")
    assert result.returncode == 0
    for tool in ("pose", "pose-field", "parsing", "cfld"):
        assert tool in result.stdout
    assert run_cli(tmp_path, "nonsense").returncode == 2
    tool_help = run_cli(tmp_path, "pose", "--help")
    assert tool_help.returncode == 0 and "python cli.py pose" in tool_help.stdout


def test_relative_output_is_relative_to_the_working_folder(tmp_path):
    work = tmp_path / "somewhere"
    work.mkdir()
    result = run_cli(work, "pose", "convert", deepfashion_csv(), "out/poses.json")
    assert result.returncode == 0, result.stderr
    written = work / "out" / "poses.json"
    assert written.is_file() and str(written) in result.stderr  # the log names the absolute path
    assert not (REPO_ROOT / "out").exists()


def test_output_inside_the_pack_is_refused(tmp_path):
    result = run_cli(REPO_ROOT, "pose", "convert", deepfashion_csv(), "ComfyUI/models/poses.json")
    assert result.returncode == 2
    assert "inside the Pose Transfer pack folder" in result.stderr and "Traceback" not in result.stderr
    assert not (REPO_ROOT / "ComfyUI").exists()
    field = run_cli(REPO_ROOT / "pose_models", "pose-field", "train", "--csv", deepfashion_csv(), "--out",
                    "field.safetensors")
    assert field.returncode == 2 and "inside the Pose Transfer pack folder" in field.stderr
    assert not (REPO_ROOT / "pose_models" / "field.safetensors").exists()


def test_an_absolute_path_into_the_pack_is_taken_as_meant(tmp_path, monkeypatch):
    from pose_models.cli_runner import PACK_ROOT, output_path

    monkeypatch.chdir(tmp_path)
    inside = PACK_ROOT / "weights" / "x.safetensors"
    assert output_path(str(inside)) == inside
    assert output_path("out/x.json") == tmp_path.resolve() / "out" / "x.json"


@pytest.mark.parametrize(("args", "kind"), [
    (("cfld", "info", "{photo}"), "this is a JPEG image, not a weight file"),
    (("cfld", "convert", "{photo}", "out.safetensors"), "this is a JPEG image, not a weight file"),
    (("parsing", "info", "{photo}"), "this is a JPEG image, not a weight file"),
    (("pose", "info", "{photo}"), "this is a JPEG image, not a pose file"),
    (("pose-field", "score", "--csv", "{photo}"), "this is a JPEG image, not a DeepFashion keypoint CSV"),
    (("pose-field", "score", "--csv", "{csv}", "--field", "{photo}"),
     "this is a JPEG image, not a readable safetensors file"),
    (("parsing", "parse", "{photo}", "{photo}", "--out", "parsed"), "a JPEG image, not a weight file"),
])
def test_wrong_file_kinds_are_named(tmp_path, photo, args, kind):
    weights = tmp_path / "model.pth"
    torch.save({"w": torch.zeros(1)}, weights)
    filled = [a.format(photo=photo, csv=deepfashion_csv(), weights=weights) for a in args]
    result = run_cli(tmp_path, *filled)
    assert result.returncode == 2, result.stderr
    assert kind in result.stderr, result.stderr
    assert "Traceback" not in result.stderr and "weights_only" not in result.stderr
