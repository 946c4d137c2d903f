"""``python -m pose_models.parsing`` (convert / info / parse) and import hygiene of the package."""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from parsing.schp_fakes import write_official

from pose_models.parsing import ATR
from pose_models.parsing.cli import main

REPO = Path(__file__).resolve().parents[2]


def run_module(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pose_models.parsing", *map(str, args)], cwd=REPO,
                          capture_output=True, text=True, timeout=120, check=False)


@pytest.fixture(scope="module")
def atr_checkpoint(tmp_path_factory) -> Path:
    return write_official(tmp_path_factory.mktemp("cli"), "weights.pth", ATR.num_classes, seed=7)


def test_import_pulls_in_neither_comfyui_nor_torchvision():
    code = ("import sys, pose_models.parsing, pose_models.parsing.cli; "
            "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('comfy', 'comfy_api', "
            "'comfy_extras', 'folder_paths', 'nodes', 'server', 'torchvision') or m.startswith('comfy')); "
            "print(bad); sys.exit(1 if bad else 0)")
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True,
                            timeout=60, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == "[]"


def test_bad_input_gives_one_error_line_and_status_2(tmp_path):
    result = run_module("convert", tmp_path / "absent.pth", tmp_path / "out.safetensors")
    assert result.returncode == 2, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("ERROR")]
    assert len(errors) == 1 and "no such file" in errors[0] and "models/human_parsing/" in errors[0]
    assert "Traceback" not in result.stderr


def test_info_names_the_label_set(atr_checkpoint, caplog):
    with caplog.at_level(logging.INFO):
        assert main(["info", str(atr_checkpoint)]) == 0
    assert "SCHP ATR, 18 labels" in caplog.text and "603 tensors" in caplog.text


def test_parse_writes_label_colour_and_legend_pngs(atr_checkpoint, tmp_path):
    image = tmp_path / "person.png"
    rng = np.random.default_rng(0)
    cv2.imwrite(str(image), rng.integers(0, 256, (30, 22, 3), dtype=np.uint8))
    out = tmp_path / "out"
    assert main(["parse", str(atr_checkpoint), str(image), "--out", str(out), "--input-size", "65x65",
                 "--flip"]) == 0
    labels = cv2.imread(str(out / "person_labels.png"), cv2.IMREAD_UNCHANGED)
    assert labels.shape == (30, 22) and labels.max() < ATR.num_classes
    colours = cv2.cvtColor(cv2.imread(str(out / "person_color.png")), cv2.COLOR_BGR2RGB)
    assert np.array_equal(colours, ATR.palette[labels])
    assert cv2.imread(str(out / "legend.png")).shape[0] == 24 * ATR.num_classes
    assert main(["parse", str(atr_checkpoint), str(tmp_path / "missing.png"), "--out", str(out)]) == 2
