"""Fixtures of the TruePose tests: the source image and masks in the host's input folder."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from truepose.truepose_graphs import FACE_BOX, PERSON_BOX, box_mask, random_image, write_png


@dataclass(frozen=True)
class SourceFiles:
    """File names in the host's ``input/``: the source image, its person and face masks."""

    folder: Path
    image: str
    person: str
    face: str
    pixels: np.ndarray

    def variant(self, name: str, region: np.ndarray, seed: int) -> str:
        """A copy of the source with the pixels of ``region`` (bool mask) replaced by other noise."""
        pixels = self.pixels.copy()
        pixels[region] = random_image(seed)[region]
        return write_png(self.folder, name, pixels)


@pytest.fixture(scope="session")
def source_files(comfy_host) -> SourceFiles:
    folder = Path(comfy_host.input_dir)
    folder.mkdir(parents=True, exist_ok=True)
    pixels = random_image(1)
    return SourceFiles(folder, write_png(folder, "tp_source.png", pixels),
                       write_png(folder, "tp_person.png", box_mask(PERSON_BOX)),
                       write_png(folder, "tp_face.png", box_mask(FACE_BOX)), pixels)
