"""The pack loads through the real host's loader when OpenCV, insightface or onnxruntime is missing: every
node is registered, nodes that do not need the package work, and the ones that do stop with a message that
names the package and the install command. Each case runs in a fresh process with the modules blocked
(``comfy_host/missing_dependency_probe.py``)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
PROBE = Path(__file__).resolve().parent / "comfy_host" / "missing_dependency_probe.py"


def declared_node_ids() -> list[str]:
    """Every ``node_id="PT_..."`` the pack's node modules (``nodes/`` and its packages) declare."""
    found = (re.findall(r'node_id="(PT_\w+)"', f.read_text()) for f in (REPO_ROOT / "nodes").rglob("*.py"))
    return sorted({node_id for ids in found for node_id in ids})


def run_probe(host_tree: Path, *blocked: str) -> dict:
    result = subprocess.run([sys.executable, str(PROBE), str(host_tree), *blocked], capture_output=True,
                            text=True, timeout=600, check=False)
    lines = [line for line in result.stdout.splitlines() if line.startswith("REPORT ")]
    assert result.returncode == 0 and lines, result.stdout[-3000:] + result.stderr[-3000:]
    return json.loads(lines[-1][len("REPORT "):])


@pytest.mark.usefixtures("tiny_models")
def test_without_opencv_insightface_onnxruntime(host_tree):
    report = run_probe(host_tree, "cv2", "insightface", "onnxruntime")
    assert report["nodes"] == declared_node_ids()
    assert not [m for m in report["import_failures"] if "pose-transfer" in m.lower()]
    assert report["save_pose"] == "ok"
    render = report["render_pose"]
    assert "Render Pose" in render and "needs OpenCV" in render
    assert "pip install opencv-python-headless" in render
    assert "needs insightface and onnxruntime" in report["face_similarity"]
    assert "pip install insightface onnxruntime" in report["face_similarity"]


@pytest.mark.usefixtures("tiny_models")
def test_without_onnxruntime_only(host_tree):
    report = run_probe(host_tree, "onnxruntime")
    assert report["nodes"] == declared_node_ids()
    assert report["save_pose"] == "ok" and report["render_pose"] == "ok"
    assert "onnxruntime" in report["face_similarity"]
    assert "pip install insightface onnxruntime" in report["face_similarity"]
