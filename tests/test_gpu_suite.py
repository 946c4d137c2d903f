"""The GPU bench suite's dry run (CPU, tiny sizes): every bench's code path runs and reports, a bench over
its time limit is stopped without stopping the rest, and a missing official CFLD checkout is a clear skip."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SUITE = REPO / "bench" / "gpu_suite.py"
sys.path.insert(0, str(REPO / "bench"))

import gpu_suite  # noqa: E402


@pytest.fixture(scope="module")
def dry_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[subprocess.CompletedProcess, Path]:
    folder = tmp_path_factory.mktemp("suite")
    out = folder / "suite.md"
    result = subprocess.run(
        [sys.executable, str(SUITE), "--dry-run", "--official", str(folder / "no-cfld"), "--cache",
         str(folder / "cache"), "--time-limit", "reposedm-vae=2", "--out", str(out)],
        capture_output=True, text=True, timeout=600, cwd=folder,
    )
    return result, folder


def table_rows(text: str) -> dict[str, list[str]]:
    rows = {}
    for line in text.splitlines():
        if line.startswith("| ") and not line.startswith(("| metric", "|---")):
            cells = [c.strip() for c in line.strip("|").split("|")]
            rows[cells[0]] = cells
    return rows


def test_dry_run_reports_every_bench(dry_run: tuple[subprocess.CompletedProcess, Path]) -> None:
    result, folder = dry_run
    assert result.returncode == 1, result.stdout + result.stderr  # the stopped bench fails the suite
    rows = table_rows((folder / "suite.md").read_text())
    truepose = rows["TruePose cached HPFA sampling, 64 px, 2 steps"]
    reposedm = rows["RePoseDM guided sampling (taesd decoder), 64 px, 2 steps"]
    tuner = rows["OnePoseTrans tuner node, tiny-sd15, 64 px, 4 steps, batch 2"]
    for cells in (truepose, reposedm):
        ours, baseline, ratio = float(cells[1].removesuffix(" s")), float(cells[2]), float(cells[3][:-1])
        rounding = ratio * (0.0005 / ours + 0.0005 / baseline)  # the table rounds times to 3 decimals
        assert ours > 0 and baseline > 0 and ratio == pytest.approx(ours / baseline, abs=0.01 + rounding)
        assert cells[5] == "n/a"  # goals are judged on a GPU only
    assert float(tuner[1].removesuffix(" s")) > 0
    assert rows["cfld"][1].startswith("skipped: the official CFLD code is not at")
    assert "git clone https://github.com/YanzuoLu/CFLD" in rows["cfld"][1]
    assert rows["reposedm-vae"][1] == "stopped at its 2 s limit"
    assert "Setup " in result.stdout and "dry run" in result.stdout
    # every bench's own JSON result, and no scratch host tree left behind
    for name in ("truepose", "reposedm", "oneposetrans"):
        payload = json.loads((folder / "cache" / "logs" / f"{name}.json").read_text())
        assert payload["machine"]["device"] == "cpu" and payload["rows"]
    assert not any((folder / "cache" / "tmp").iterdir())


def test_missing_requirements_reads_the_installed_versions() -> None:
    missing = gpu_suite.missing_requirements(
        ["numpy>=1.0", "numpy>=999", "surely-not-an-installed-package", "kornia>=0.7.1", "SQLAlchemy"]
    )
    assert missing == ["numpy>=999", "surely-not-an-installed-package"]
