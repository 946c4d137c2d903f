"""Paths of the data files the tests read from ``tests/data/`` (see ``tests/data/README.md``)."""

from __future__ import annotations

from pathlib import Path

import pytest

DATA_DIR = Path(__file__).resolve().parent / "data"


def deepfashion_csv() -> Path:
    """``tests/data/deepfashion-keypoints-dev.csv`` (2,019 DeepFashion keypoint rows); fails the test (never
    skips) when it is missing, which only happens in a damaged checkout."""
    path = DATA_DIR / "deepfashion-keypoints-dev.csv"
    if not path.is_file():
        pytest.fail(f"{path} is missing: the checkout is incomplete (git checkout -- tests/data)")
    return path
