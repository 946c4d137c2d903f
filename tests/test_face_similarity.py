"""Face Similarity: ArcFace cosine similarity of the reference against every image, through the real host
with the tiny insightface pack (the expected numbers come from insightface itself, called here), plus the
pairing, report and face-choice maths."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from PIL import Image

from pose_models.faces import (
    FaceAnalysisError,
    cosine_similarity,
    face_embeddings,
    load_face_analysis,
    reference_indices,
    similarity_report,
)

DET_SIZE = 128


def test_reference_pairing():
    assert reference_indices(1, 3) == [0, 0, 0]
    assert reference_indices(3, 3) == [0, 1, 2]
    with pytest.raises(FaceAnalysisError, match="2 reference images for 3 images; connect one reference"):
        reference_indices(2, 3)


def test_report_and_cosine():
    assert similarity_report([0.5, None, 0.25]) == (
        "image 1: 0.500\nimage 2: no face\nimage 3: 0.250\nmean over 2 of 3 image(s): 0.375")
    assert similarity_report([None]) == "image 1: no face\nno face in any of the 1 image(s)"
    a = np.array([3.0, 4.0])
    assert cosine_similarity(a, 2 * a) == pytest.approx(1.0)
    assert cosine_similarity(a, np.array([-4.0, 3.0])) == pytest.approx(0.0)
    assert cosine_similarity(a, -a) == pytest.approx(-1.0)
    assert cosine_similarity(a, np.zeros(2)) == 0.0


class _FakeApp:
    """insightface-like: ``get`` returns faces with a box and embeddings keyed by the image's mean value."""

    def __init__(self, faces_by_level: dict[int, list[SimpleNamespace]]) -> None:
        self.faces_by_level = faces_by_level
        self.seen: list[tuple[int, ...]] = []

    def get(self, bgr: np.ndarray) -> list[SimpleNamespace]:
        self.seen.append(bgr.shape)
        return self.faces_by_level.get(int(bgr.mean()), [])


def _face(box: tuple[float, float, float, float], value: float) -> SimpleNamespace:
    return SimpleNamespace(bbox=np.array(box), embedding=np.full(4, value),
                           normed_embedding=np.full(4, 0.5 * np.sign(value)))


def test_face_choice_and_progress():
    small, big = _face((0, 0, 10, 10), 1.0), _face((0, 0, 30, 20), -2.0)
    app = _FakeApp({255: [small, big]})
    images = torch.stack([torch.ones(8, 8, 3), torch.zeros(8, 8, 3)])
    calls = []
    first = face_embeddings(app, images, on_image=lambda: calls.append(1))
    assert np.array_equal(first[0], np.full(4, 1.0, np.float32)) and first[1] is None and calls == [1, 1]
    largest = face_embeddings(app, images, normed=True, choose="largest")
    assert np.array_equal(largest[0], np.full(4, -0.5, np.float32))
    assert app.seen[0] == (8, 8, 3)
    with pytest.raises(ValueError, match="choose"):
        face_embeddings(app, images, choose="smallest")


@pytest.mark.filterwarnings("ignore:`estimate` is deprecated:FutureWarning")
def test_loaded_pack_is_reused_until_something_changes(tmp_path):
    pytest.importorskip("insightface", reason="insightface is not installed")
    from tiny_models.insightface_models import write_tiny_insightface

    pack = write_tiny_insightface(tmp_path, "antelopev2")
    app = load_face_analysis(pack, DET_SIZE, False)
    assert load_face_analysis(pack, DET_SIZE, False) is app
    other_size = load_face_analysis(pack, 2 * DET_SIZE, False)
    assert other_size is not app
    assert load_face_analysis(pack, 2 * DET_SIZE, False) is other_size
    replaced = write_tiny_insightface(tmp_path, "antelopev2", seed=1)  # new recognition weights, same names
    fresh = load_face_analysis(replaced, 2 * DET_SIZE, False)
    assert fresh is not other_size
    image = torch.from_numpy(face_blob_rgb()).float()[None] / 255
    (old,), (new,) = face_embeddings(other_size, image), face_embeddings(fresh, image)
    assert not np.allclose(old, new)  # the replaced file is what runs now


def face_blob_rgb() -> np.ndarray:
    from tiny_models.insightface_models import face_blob_image

    return np.ascontiguousarray(face_blob_image(128, 128, sigma=0.1)[:, :, ::-1])


# --- through the host -------------------------------------------------------------------------------


def _write(folder: Path, name: str, centres: tuple[tuple[float, float], ...], sigma: float = 0.1) -> str:
    from tiny_models.insightface_models import face_blob_image

    bgr = face_blob_image(128, 128, centres=centres, sigma=sigma) if centres else np.full((128, 128, 3), 90,
                                                                                          np.uint8)
    Image.fromarray(np.ascontiguousarray(bgr[:, :, ::-1])).save(folder / name)
    return name


@pytest.fixture(scope="module")
def face_images(comfy_host, tiny_models) -> dict[str, str]:
    pytest.importorskip("insightface", reason="insightface is not installed")
    folder = Path(comfy_host.input_dir)
    folder.mkdir(parents=True, exist_ok=True)
    return {
        "face": _write(folder, "pt_fs_face.png", ((0.5, 0.5),)),
        "other": _write(folder, "pt_fs_other.png", ((0.45, 0.55),), sigma=0.13),
        "blank": _write(folder, "pt_fs_blank.png", ()),
    }


def _prompt(reference: str, images: list[str], pack: str = "antelopev2") -> dict:
    prompt = {"ref": {"class_type": "LoadImage", "inputs": {"image": reference}}}
    batch = None
    for i, name in enumerate(images):
        prompt[f"img{i}"] = {"class_type": "LoadImage", "inputs": {"image": name}}
        batch = [f"img{i}", 0] if batch is None else _join(prompt, batch, [f"img{i}", 0], i)
    prompt["sim"] = {"class_type": "PT_FaceSimilarity", "inputs": {
        "reference": ["ref", 0], "images": batch, "insightface": pack, "det_size": DET_SIZE}}
    return prompt


def _join(prompt: dict, a: list, b: list, i: int) -> list:
    prompt[f"batch{i}"] = {"class_type": "ImageBatch", "inputs": {"image1": a, "image2": b}}
    return [f"batch{i}", 0]


def _insightface_similarity(tiny_models, reference: str, image: str, input_dir: Path) -> float:
    """The expected number, from insightface directly: cosine of the normed embeddings."""
    from insightface.app import FaceAnalysis

    app = FaceAnalysis(name=str(tiny_models["insightface_antelopev2"]), allowed_modules=["detection",
                                                                                       "recognition"],
                       providers=["CPUExecutionProvider"])
    app.prepare(ctx_id=-1, det_size=(DET_SIZE, DET_SIZE))
    (a,) = app.get(np.asarray(Image.open(input_dir / reference).convert("RGB"))[:, :, ::-1].copy())
    (b,) = app.get(np.asarray(Image.open(input_dir / image).convert("RGB"))[:, :, ::-1].copy())
    return float(np.dot(a.normed_embedding, b.normed_embedding))


@pytest.mark.filterwarnings("ignore:`estimate` is deprecated:FutureWarning")
def test_similarity_through_the_host(comfy_host, tiny_models, face_images):
    names = [face_images["face"], face_images["other"], face_images["blank"]]
    result = comfy_host.run(_prompt(face_images["face"], names), capture=("sim",)).raise_on_error()
    expected = _insightface_similarity(tiny_models, face_images["face"], face_images["other"],
                                       Path(comfy_host.input_dir))
    assert -1.0 < expected < 0.999  # a different face: not the same embedding
    assert result.value("sim", 1) == 2
    assert result.value("sim", 0) == pytest.approx((1.0 + expected) / 2, abs=1e-5)
    report = result.value("sim", 2)
    assert report.splitlines()[0] == "image 1: 1.000"
    assert report.splitlines()[1] == f"image 2: {expected:.3f}"
    assert report.splitlines()[2] == "image 3: no face"
    assert result.outputs["sim"]["text"] == [report]
    updates = [(v, t) for node, v, t in result.progress if node == "sim"]
    assert updates[-1] == (4, 4)  # one reference + three images
    # one reference per image pairs them in order
    pairwise = _prompt(face_images["other"], [face_images["other"]])
    pairwise["ref"] = {"class_type": "ImageBatch", "inputs": {"image1": ["a", 0], "image2": ["b", 0]}}
    pairwise["a"] = {"class_type": "LoadImage", "inputs": {"image": face_images["face"]}}
    pairwise["b"] = {"class_type": "LoadImage", "inputs": {"image": face_images["other"]}}
    pairwise["img1"] = {"class_type": "LoadImage", "inputs": {"image": face_images["face"]}}
    pairwise["sim"]["inputs"]["images"] = _join(pairwise, ["img0", 0], ["img1", 0], 1)
    both = comfy_host.run(pairwise, capture=("sim",)).raise_on_error().value("sim", 2)
    assert both.splitlines()[:2] == [f"image 1: {expected:.3f}", f"image 2: {expected:.3f}"]


@pytest.mark.filterwarnings("ignore:`estimate` is deprecated:FutureWarning")
def test_bad_input_is_refused(comfy_host, face_images):
    def error(prompt: dict) -> str:
        result = comfy_host.run(prompt)
        assert not result.success and result.error["node_type"] == "PT_FaceSimilarity"
        return result.error["exception_message"]

    # the pairing is checked before the pack is loaded (this pack does not exist)
    mismatched = _prompt(face_images["face"], [face_images["face"]] * 3, pack="pt_no_such_pack")
    mismatched["ref"] = {"class_type": "ImageBatch", "inputs": {"image1": ["r1", 0], "image2": ["r2", 0]}}
    mismatched["r1"] = {"class_type": "LoadImage", "inputs": {"image": face_images["face"]}}
    mismatched["r2"] = {"class_type": "LoadImage", "inputs": {"image": face_images["face"]}}
    assert "2 reference images for 3 images" in error(mismatched)
    missing = error(_prompt(face_images["face"], [face_images["face"]], pack="pt_no_such_pack"))
    assert "insightface pack not usable" in missing
    assert "models/insightface/models/pt_no_such_pack/" in missing
    no_face = error(_prompt(face_images["blank"], [face_images["face"]]))
    assert "no face found in reference image(s) [1]" in no_face
