"""Packaging metadata the Registry, ComfyUI-Manager and CI rely on."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import tomllib

REPO_ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())


def _requirement_lines(path: Path) -> list[str]:
    return [line.split("#", 1)[0].strip() for line in path.read_text().splitlines()
            if line.split("#", 1)[0].strip()]


def test_dependencies_equal_requirements_txt_and_never_torch():
    requirements = _requirement_lines(REPO_ROOT / "requirements.txt")
    assert PYPROJECT["project"]["dependencies"] == requirements
    names = {re.split(r"[<>=!~\[ ;]", line, maxsplit=1)[0].lower() for line in requirements}
    assert not names & {"torch", "torchvision", "torchaudio"}


def test_project_and_registry_fields():
    project = PYPROJECT["project"]
    assert re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.-]{0,99}", project["name"])
    assert "comfyui" not in project["name"].lower()
    assert re.fullmatch(r"\d+\.\d+\.\d+", project["version"])
    for key in ("description", "license", "requires-python"):
        assert project[key], key
    assert (REPO_ROOT / project["license"]["file"]).is_file()
    assert project["urls"]["Repository"].startswith("https://")
    assert "test" in project["optional-dependencies"]
    comfy = PYPROJECT["tool"]["comfy"]
    for key in ("PublisherId", "DisplayName", "Icon", "requires-comfyui"):
        assert comfy[key], key
    assert "web" not in comfy, "use WEB_DIRECTORY only, or the JS loads twice"
    assert (REPO_ROOT / "web" / "icon.svg").is_file()


def test_readme_test_command_is_what_ci_runs():
    readme = (REPO_ROOT / "README.md").read_text()
    assert "bash tests/run.sh" in readme
    ci = (REPO_ROOT / ".ci" / "run").read_text()
    assert "exec bash tests/run.sh" in ci


def _pose_models_modules() -> list[str]:
    """Every ``pose_models`` subpackage, and its ``cli`` module where it has one."""
    modules = []
    for pkg in sorted(p for p in (REPO_ROOT / "pose_models").iterdir() if (p / "__init__.py").is_file()):
        modules.append(f"pose_models.{pkg.name}")
        if (pkg / "cli.py").is_file():
            modules.append(f"pose_models.{pkg.name}.cli")
    return modules


@pytest.mark.parametrize("module", _pose_models_modules())
def test_pose_models_imports_without_comfyui_or_torchvision(module):
    code = (f"import sys, {module}; "
            "bad = sorted(m for m in sys.modules if m.split('.')[0] in "
            "('folder_paths', 'nodes', 'server', 'execution', 'torchvision') or m.startswith('comfy')); "
            "print(bad); sys.exit(1 if bad else 0)")
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True,
                            timeout=120, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == "[]"


def test_every_pose_models_package_is_import_checked():
    assert {"pose_models.pose", "pose_models.parsing", "pose_models.openpose_body", "pose_models.pose_field",
            "pose_models.pose_align"} <= set(_pose_models_modules())
