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
