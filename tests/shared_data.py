"""Test data from the project's shared folder: inside the repository, or beside it (as CI lays it out)."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def deepfashion_csv() -> Path:
    """``shared/data/deepfashion-keypoints-dev.csv``; fails the test (never skips) when it is missing."""
    for base in (REPO / "shared", REPO.parent / "shared"):
        path = base / "data" / "deepfashion-keypoints-dev.csv"
        if path.is_file():
            return path
    pytest.fail("shared/data/deepfashion-keypoints-dev.csv not found in or beside the repository")
