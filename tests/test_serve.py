"""``tests/serve.sh``'s server (``comfy_host/serve.py``), as a user meets it: a real ComfyUI on 127.0.0.1 with
the pack, on a models folder the user names, templates listed; stopped by the pid it runs under."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from host_server import free_port, stop_process

REPO_ROOT = Path(__file__).resolve().parents[1]
SERVE = REPO_ROOT / "tests" / "comfy_host" / "serve.py"


def _get(base: str, path: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(base + path, timeout=30) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


@pytest.fixture
def served(tiny_models, host_tree, tmp_path):
    """The server on the tiny models folder; yields (base URL, process, log path)."""
    port = free_port()
    log_path = tmp_path / "serve.log"
    models = host_tree / "models"
    with log_path.open("wb") as log:
        proc = subprocess.Popen([sys.executable, str(SERVE), "--models", str(models), "--port", str(port),
                                 "--workdir", str(tmp_path / "work")], stdout=log, stderr=subprocess.STDOUT,
                                cwd=tmp_path)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while True:
            if proc.poll() is not None:
                pytest.fail(f"serve.py exited with {proc.returncode}:\n{log_path.read_text()[-4000:]}")
            try:
                if _get(base, "/system_stats")[0] == 200:
                    break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"no answer within 180 s:\n{log_path.read_text()[-4000:]}")
            time.sleep(0.5)
        yield base, proc, log_path, models
    finally:
        stop_process(proc)


def test_serve_runs_the_pack_on_the_named_models_folder(served):
    base, proc, log_path, models = served
    status, body = _get(base, "/object_info")
    assert status == 200
    info = json.loads(body)
    pack_nodes = [k for k in info if k.startswith("PT_")]
    assert len(pack_nodes) >= 30 and "PT_RenderPose" in pack_nodes and "PT_CFLDLoader" in pack_nodes
    checkpoints = info["CheckpointLoaderSimple"]["input"]["required"]["ckpt_name"][0]
    assert "tiny_sd15.safetensors" in checkpoints  # the named folder is the host's models folder
    status, body = _get(base, "/extensions")
    assert status == 200 and "/extensions/pose-transfer/js/pose_transfer.js" in json.loads(body)
    status, body = _get(base, "/extensions/pose-transfer/docs/PT_RenderPose.md")
    assert status == 200 and b"Render Pose" in body
    status, body = _get(base, "/workflow_templates")
    templates = json.loads(body)["pose-transfer"]
    assert {"cfld", "truepose", "reposedm", "oneposetrans", "pose_retarget_controlnet_sd15"} <= set(templates)
    status, body = _get(base, "/api/workflow_templates/pose-transfer/cfld.json")
    assert status == 200 and json.loads(body)["nodes"]
    status, body = _get(base, "/")
    assert status == 200 and b"<html" in body.lower()  # the pinned frontend is served
    log = log_path.read_text()
    assert f"pid {proc.pid})" in log and "http://127.0.0.1:" in log and str(models.resolve()) in log
    assert "IMPORT FAILED" not in "".join(line for line in log.splitlines() if "pose-transfer" in line)
    proc.terminate()  # stop it by the pid it announced: the server runs in that very process
    assert proc.wait(timeout=30) is not None
    with pytest.raises(urllib.error.URLError):
        _get(base, "/system_stats")


def test_serve_refuses_a_missing_models_folder(tmp_path):
    command = [sys.executable, str(SERVE), "--models", "no-such-folder", "--workdir", str(tmp_path / "work")]
    result = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode != 0
    assert re.search(r"--models no-such-folder: .*no-such-folder is not a folder", result.stderr)
