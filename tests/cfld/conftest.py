"""Fixtures of the CFLD tests: the tiny release pair (official layout) and the model loaded from it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from cfld.tiny_release import reference, write_release

from pose_models.cfld import CFLDModel, Conditions, load_release


@pytest.fixture(scope="module", autouse=True)
def _one_thread() -> Iterator[None]:
    """Tiny models run fastest single-threaded on the shared 2-core machines (no thread contention)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def release_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """``(pytorch_model.bin, pytorch_model_1.bin)`` of the tiny configuration."""
    return write_release(tmp_path_factory.mktemp("cfld_release"))


@pytest.fixture(scope="session")
def cfld_model(release_files: tuple[Path, Path]) -> CFLDModel:
    return load_release(*release_files)


@pytest.fixture(scope="session")
def ref() -> dict[str, torch.Tensor]:
    return reference()[0]


@pytest.fixture(scope="session")
def ref_settings() -> dict[str, str]:
    return reference()[1]


@pytest.fixture(scope="session")
def ref_conditions(ref: dict[str, torch.Tensor]) -> Conditions:
    """The official code's conditions (to test the UNet stages on their own)."""
    return Conditions(ref["prompt"], [ref[f"pose_residual{i}"] for i in range(3)],
                      {k: ref[f"appearance_bias{k}"] for k in range(3, 12)})
