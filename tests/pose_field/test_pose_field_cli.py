"""``python -m pose_models.pose_field`` train / score / evaluate (subprocess, from the repository root)."""

from __future__ import annotations

import csv
import io
import subprocess
import sys
from pathlib import Path

import pytest
from data_files import deepfashion_csv

from pose_models.pose_field.learned import read_field_metadata

REPO = Path(__file__).resolve().parents[2]


def cli(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pose_models.pose_field", *map(str, args)], cwd=REPO,
                          capture_output=True, text=True, timeout=300, check=False)


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, subprocess.CompletedProcess[str]]:
    out = tmp_path_factory.mktemp("field") / "tiny.safetensors"
    result = cli("train", "--csv", deepfashion_csv(), "--out", out, "--epochs", "2", "--steps", "30",
                 "--hidden", "32,32", "--batch-size", "128", "--seed", "3")
    return out, result


def test_train_writes_a_field_and_logs_progress(trained):
    out, result = trained
    assert result.returncode == 0, result.stderr
    assert out.is_file()
    assert result.stdout == ""
    assert "epoch 1/2" in result.stderr and "epoch 2/2" in result.stderr and "loss" in result.stderr
    assert "held-out:" in result.stderr
    training = read_field_metadata(out)["training"]
    assert training["threads"] == 1 and training["epochs"] == 2 and training["seed"] == 3


def test_score_one_row_per_input_row(tmp_path, trained):
    rows = [
        "name:keypoints_y:keypoints_x",
        "full.jpg:[33, 60, 62, 99, 132, 62, 99, 132, 130, 186, 240, 130, 186, 240, 29, 29, 32, 32]:"
        "[88, 88, 68, 62, 60, 108, 114, 116, 75, 74, 73, 101, 102, 103, 84, 92, 78, 98]",
        "empty.jpg:" + "[" + ", ".join(["-1"] * 18) + "]:" + "[" + ", ".join(["-1"] * 18) + "]",
        "four.jpg:[33, 60, 62, 99" + ", -1" * 14 + "]:[88, 88, 68, 62" + ", -1" * 14 + "]",
    ]
    path = tmp_path / "poses.csv"
    path.write_text("\n".join(rows) + "\n")
    for field in ("analytic", trained[0]):
        result = cli("score", "--csv", path, "--field", field)
        assert result.returncode == 0, result.stderr
        table = list(csv.reader(io.StringIO(result.stdout)))
        assert table[0] == ["name", "distance"]
        assert [r[0] for r in table[1:]] == ["full.jpg", "empty.jpg", "four.jpg"]
        assert float(table[1][1]) >= 0
        assert table[2][1] == "" and table[3][1] == ""  # not scorable: empty distance


def test_score_dev_csv_row_count():
    result = cli("score", "--csv", deepfashion_csv())
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    data_rows = deepfashion_csv().read_text().strip().count("\n")
    assert len(lines) == data_rows + 1
    empty = sum(1 for line in lines[1:] if line.endswith(","))
    assert 300 < empty < 400  # 322 rows have no person, a few more too few joints


def test_evaluate_prints_table_for_both_fields(trained):
    result = cli("evaluate", "--csv", deepfashion_csv(), "--field", "analytic", "--field", trained[0],
                 "--protocols", "limb")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["field", "protocol", "delta", "n", "auc", "paired"]
    assert len(lines) == 1 + 2 * 3
    assert {line.split()[0] for line in lines[1:]} == {"analytic", "tiny"}
    assert [line.split()[2] for line in lines[1:4]] == ["0.20", "0.40", "0.80"]
    assert all(0.0 <= float(line.split()[4]) <= 1.0 for line in lines[1:])


def test_bad_input_is_one_error_line(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("not a header\n")
    result = cli("score", "--csv", bad)
    assert result.returncode == 2
    assert result.stderr.strip().startswith("ERROR") and "Traceback" not in result.stderr
    threads = cli("train", "--csv", deepfashion_csv(), "--out", tmp_path / "x.safetensors", "--threads", "0")
    assert threads.returncode == 2 and "--threads must be at least 1" in threads.stderr
    assert not (tmp_path / "x.safetensors").exists()
    missing = cli("score", "--csv", deepfashion_csv(), "--field", tmp_path / "nope.safetensors")
    assert missing.returncode == 1 and "Traceback" not in missing.stderr

