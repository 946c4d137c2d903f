"""Packaging metadata the Registry, ComfyUI-Manager and CI rely on."""

from __future__ import annotations

import fnmatch
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
    # PEP 639 (a table is deprecated in setuptools and read by the Registry either way).
    assert project["license"] == "GPL-3.0-only"
    assert "GNU GENERAL PUBLIC LICENSE" in (REPO_ROOT / "LICENSE").read_text()
    assert all((REPO_ROOT / name).is_file() for name in project["license-files"])
    assert project["urls"]["Repository"].startswith("https://")
    assert "test" in project["optional-dependencies"]
    comfy = PYPROJECT["tool"]["comfy"]
    for key in ("PublisherId", "DisplayName", "Icon", "requires-comfyui"):
        assert comfy[key], key
    # The V3 API's first release as the floor; no cap, or the Registry hides the pack from newer ComfyUI.
    assert comfy["requires-comfyui"] == ">=0.3.75"
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


def _comfyignore_patterns() -> list[str]:
    lines = (REPO_ROOT / ".comfyignore").read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]


def _ignored(path: str, patterns: list[str]) -> bool:
    """gitignore matching for the pattern forms .comfyignore uses: ``dir/`` and name globs."""
    parts = path.split("/")
    for pattern in patterns:
        if pattern.endswith("/"):
            if pattern[:-1] in parts[:-1]:
                return True
        elif fnmatch.fnmatch(parts[-1], pattern):
            return True
    return False


def test_registry_package_carries_what_users_need_and_no_dev_files():
    tracked = subprocess.run(["git", "ls-files"], cwd=REPO_ROOT, capture_output=True, text=True,
                             check=True).stdout.split()
    patterns = _comfyignore_patterns()
    shipped = {p for p in tracked if not _ignored(p, patterns)}
    for needed in ("__init__.py", "README.md", "LICENSE", "pyproject.toml", "requirements.txt", "cli.py",
                   "web/js/pose_transfer.js", "web/icon.svg", "workflows/cfld.json", "workflows/cfld.jpg",
                   "docs/methods.md", "docs/host.md", "docs/architecture.md", "nodes/__init__.py",
                   "nodes/host/models.py", "pose_models/state_dicts.py"):
        assert needed in shipped, needed
    assert not [p for p in shipped if p.startswith(("tests/", "bench/", ".ci/"))]
    for local in (".venv/x", ".test-cache/x", "nodes/__pycache__/a.pyc", "dist/x.whl"):
        assert _ignored(local, patterns), local
