"""``python -m pose_models.pose`` smoke tests (subprocess, from the repository root) and import hygiene."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
from data_files import deepfashion_csv

REPO = Path(__file__).resolve().parents[2]


def cli(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pose_models.pose", *map(str, args)], cwd=REPO,
                          capture_output=True, text=True, timeout=120, check=False)



def test_convert_chain_round_trips_the_csv(tmp_path):
    csv = tmp_path / "subset.csv"  # the header and the first 300 rows
    csv.write_text("".join(deepfashion_csv().read_text().splitlines(keepends=True)[:301]))
    steps = [(csv, tmp_path / "pk.json"), (tmp_path / "pk.json", tmp_path / "op"),
             (tmp_path / "op", tmp_path / "back.csv")]
    for src, dst in steps:
        result = cli("convert", src, dst)
        assert result.returncode == 0, result.stderr
    assert (tmp_path / "back.csv").read_bytes() == csv.read_bytes()
    assert len(list((tmp_path / "op").glob("*.json"))) == 300
    value = json.loads((tmp_path / "pk.json").read_text())
    assert len(value) == 300 and value[2]["canvas_width"] == 176
    assert "wrote 300 frames" in cli("convert", csv, tmp_path / "x.json").stderr


def test_convert_options(tmp_path):
    result = cli("convert", deepfashion_csv(), tmp_path / "n.json", "--binarize", "--normalized-output",
                 "--fit", "512x512")
    assert result.returncode == 0, result.stderr
    value = json.loads((tmp_path / "n.json").read_text())
    assert value[2]["canvas_width"] == 512
    flat = value[2]["people"][0]["pose_keypoints_2d"]
    assert max(abs(v) for v in flat) <= 1.0 and set(flat[2::3]) <= {0.0, 1.0}


def test_render_writes_pngs(tmp_path):
    result = cli("render", deepfashion_csv(), "--out", tmp_path / "png", "--limit", "4", "--size", "352x512")
    assert result.returncode == 0, result.stderr
    files = sorted((tmp_path / "png").glob("*.png"))
    assert [f.name[:7] for f in files] == ["000000_", "000001_", "000002_", "000003_"]
    img = cv2.imread(str(files[2]))
    assert img.shape == (512, 352, 3) and img.any() and not cv2.imread(str(files[0])).any()
    # nose of row 2 at (87, 36) in 176 x 256 -> (174, 72) at 352 x 512; red in RGB = (0, 0, 255) in BGR
    assert img[72, 174].tolist() == [0, 0, 255]
    for style in ("heatmaps", "limbs", "cfld"):
        result = cli("render", deepfashion_csv(), "--out", tmp_path / style, "--limit", "3", "--style", style)
        assert result.returncode == 0, result.stderr
        assert len(list((tmp_path / style).glob("*.png"))) == 3


def test_retarget_and_info(tmp_path):
    csv = deepfashion_csv()
    result = cli("retarget", csv, csv, tmp_path / "rt.json", "--source-frame", "2")
    assert result.returncode == 0, result.stderr
    assert len(json.loads((tmp_path / "rt.json").read_text())) == 2019
    info = cli("info", deepfashion_csv())
    assert info.returncode == 0 and "2019 frames" in info.stderr and "{0: 322, 1: 1697}" in info.stderr


def test_bad_input_gives_one_clear_error_line(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('[{"people": [{"pose_keypoints_2d": [1, 2]}], "canvas_width": 10, "canvas_height": 10}]')
    result = cli("convert", bad, tmp_path / "out.csv")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "person 0, pose_keypoints_2d: 2 numbers is not a multiple of 3" in result.stderr
    op = tmp_path / "op.json"
    body = np.zeros((18, 3))
    body[1] = (5, 5, 1)
    op.write_text(json.dumps({"people": [{"pose_keypoints_2d": body.ravel().tolist()}]}))
    result = cli("info", op)
    assert result.returncode == 2 and "--canvas WxH" in result.stderr
    assert cli("info", op, "--canvas", "64x64").returncode == 0
    assert cli("info", tmp_path / "nothing.csv").returncode == 2
    assert cli("render", op, "--canvas", "64x0", "--out", tmp_path).returncode == 2  # argparse error
