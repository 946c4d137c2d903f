"""Fixtures of the OnePoseTrans tests: the source image in the host's input folder."""

from __future__ import annotations

from pathlib import Path

import pytest

from oneposetrans.oneposetrans_graphs import write_source


@pytest.fixture(scope="session")
def source_name(comfy_host) -> str:
    folder = Path(comfy_host.input_dir)
    folder.mkdir(parents=True, exist_ok=True)
    return write_source(folder)
