"""Tests for the tiny insightface-compatible model pack (``tests/tiny_models/insightface_models.py``).

The pack must load through the real ``insightface.app.FaceAnalysis`` offline, be routed to SCRFD
(with keypoints) and ArcFaceONNX, and behave predictably: blank images give no face, bright blobs
give one face each, a photo gives faces with well-formed attributes and distinct embeddings.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

insightface = pytest.importorskip("insightface", reason="insightface is not installed")
skimage_data = pytest.importorskip("skimage.data", reason="scikit-image is not installed")
onnx = pytest.importorskip("onnx", reason="onnx is not installed")

from insightface.app import FaceAnalysis  # noqa: E402
from insightface.model_zoo.arcface_onnx import ArcFaceONNX  # noqa: E402
from insightface.model_zoo.scrfd import SCRFD  # noqa: E402
from tiny_models.insightface_models import (  # noqa: E402
    EMBEDDING_DIM,
    PACK_FILE_NAMES,
    face_blob_image,
    tiny_arcface_onnx,
    tiny_scrfd_onnx,
    write_tiny_insightface,
)

# scikit-image 0.26 deprecates SimilarityTransform.estimate, which insightface's face_align still calls.
pytestmark = pytest.mark.filterwarnings("ignore:`estimate` is deprecated:FutureWarning")

PACK = "antelopev2"
DET_SIZE = (128, 128)


def _bgr(rgb: np.ndarray) -> np.ndarray:
    """skimage images are RGB; insightface expects OpenCV's BGR."""
    if rgb.ndim == 2:
        rgb = np.repeat(rgb[:, :, None], 3, axis=2)
    return np.ascontiguousarray(rgb[:, :, ::-1])


def _no_download(*args: Any, **kwargs: Any) -> None:
    raise AssertionError(f"insightface tried to download: {args} {kwargs}")


@pytest.fixture(scope="module")
def models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    models = tmp_path_factory.mktemp("models")
    pack_dir = write_tiny_insightface(models, name=PACK, seed=0)
    assert pack_dir == models / "insightface" / "models" / PACK
    return models


@pytest.fixture(scope="module")
def app(models_dir: Path) -> Iterator[FaceAnalysis]:
    root = models_dir / "insightface"
    # FaceAnalysis downloads only when this folder is missing; make sure it is not, and that any
    # download attempt fails loudly instead of reaching the network.
    assert (root / "models" / PACK).is_dir()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("insightface.utils.storage.download_file", _no_download)
        face_app = FaceAnalysis(name=PACK, root=str(root), providers=["CPUExecutionProvider"])
        face_app.prepare(ctx_id=-1, det_size=DET_SIZE)
        yield face_app


@pytest.fixture(scope="module")
def astronaut() -> np.ndarray:
    # 512x512 photo; halve it so the detector's letterboxing also gets exercised at another scale.
    image = _bgr(skimage_data.astronaut())
    return np.ascontiguousarray(image[::2, ::2])


def test_pack_layout_and_sizes(models_dir: Path) -> None:
    pack_dir = models_dir / "insightface" / "models" / PACK
    names = sorted(p.name for p in pack_dir.iterdir())
    assert names == sorted(PACK_FILE_NAMES["antelopev2"])
    detector = pack_dir / "scrfd_10g_bnkps.onnx"
    recognition = pack_dir / "glintr100.onnx"
    assert detector.stat().st_size < 64 * 1024
    assert recognition.stat().st_size < 1024 * 1024

    det_model = onnx.load(str(detector))
    onnx.checker.check_model(det_model)
    assert len(det_model.graph.output) == 9
    det_dims = det_model.graph.input[0].type.tensor_type.shape.dim
    assert [d.dim_value for d in det_dims[:2]] == [1, 3]
    assert all(d.dim_param and not d.dim_value for d in det_dims[2:])  # dynamic H and W

    rec_model = onnx.load(str(recognition))
    onnx.checker.check_model(rec_model)
    assert len(rec_model.graph.output) == 1
    rec_dims = rec_model.graph.input[0].type.tensor_type.shape.dim
    assert rec_dims[0].dim_param  # dynamic batch
    assert [d.dim_value for d in rec_dims[1:]] == [3, 112, 112]


def test_buffalo_l_naming(tmp_path: Path) -> None:
    pack_dir = write_tiny_insightface(tmp_path, name="buffalo_l")
    assert pack_dir == tmp_path / "insightface" / "models" / "buffalo_l"
    assert sorted(p.name for p in pack_dir.iterdir()) == ["det_10g.onnx", "w600k_r50.onnx"]
    custom = write_tiny_insightface(tmp_path, name="my_pack", naming="buffalo_l")
    assert sorted(p.name for p in custom.iterdir()) == ["det_10g.onnx", "w600k_r50.onnx"]
    with pytest.raises(ValueError, match="naming"):
        write_tiny_insightface(tmp_path, name="bad", naming="nope")  # type: ignore[arg-type]


def test_exports_are_deterministic() -> None:
    assert tiny_scrfd_onnx() == tiny_scrfd_onnx()
    assert tiny_arcface_onnx(seed=0) == tiny_arcface_onnx(seed=0)
    assert tiny_arcface_onnx(seed=0) != tiny_arcface_onnx(seed=1)


def test_routing(app: FaceAnalysis) -> None:
    assert set(app.models) == {"detection", "recognition"}
    detector = app.models["detection"]
    assert isinstance(detector, SCRFD)
    assert detector.use_kps
    assert detector.fmc == 3
    assert detector._num_anchors == 2
    recognition = app.models["recognition"]
    assert isinstance(recognition, ArcFaceONNX)
    assert recognition.input_size == (112, 112)
    assert (recognition.input_mean, recognition.input_std) == (127.5, 127.5)
    assert recognition.output_shape[-1] == EMBEDDING_DIM


def test_faces_on_photo(app: FaceAnalysis, astronaut: np.ndarray) -> None:
    faces = app.get(astronaut)
    assert faces, "the tiny detector should fire on the astronaut photo"
    height, width = astronaut.shape[:2]
    for face in faces:
        assert face.bbox.shape == (4,)
        x1, y1, x2, y2 = face.bbox
        assert x2 > x1 and y2 > y1
        assert -width / 2 < (x1 + x2) / 2 < 1.5 * width and -height / 2 < (y1 + y2) / 2 < 1.5 * height
        assert face.det_score >= 0.5
        assert face.kps.shape == (5, 2)
        assert np.all(face.kps[:, 0] > x1) and np.all(face.kps[:, 0] < x2)
        assert np.all(face.kps[:, 1] > y1) and np.all(face.kps[:, 1] < y2)
        assert face.embedding.shape == (EMBEDDING_DIM,)
        assert np.all(np.isfinite(face.embedding))
        assert face.normed_embedding.shape == (EMBEDDING_DIM,)
        assert np.linalg.norm(face.normed_embedding) == pytest.approx(1.0, abs=1e-5)


def test_embeddings_identical_for_same_input_and_distinct_otherwise(
    app: FaceAnalysis, astronaut: np.ndarray
) -> None:
    first = app.get(astronaut)
    again = app.get(astronaut.copy())
    assert len(first) == len(again)
    for a, b in zip(first, again, strict=True):
        np.testing.assert_array_equal(a.bbox, b.bbox)
        np.testing.assert_array_equal(a.embedding, b.embedding)

    coffee = app.get(_bgr(skimage_data.coffee()))
    assert coffee
    similarity = float(np.dot(first[0].normed_embedding, coffee[0].normed_embedding))
    assert similarity < 0.9
    assert not np.allclose(first[0].embedding, coffee[0].embedding)


def test_recognition_batches(app: FaceAnalysis, astronaut: np.ndarray) -> None:
    recognition = app.models["recognition"]
    crop = np.ascontiguousarray(astronaut[:112, :112])
    feats = recognition.get_feat([crop, crop[::-1].copy()])
    assert feats.shape == (2, EMBEDDING_DIM)
    assert not np.allclose(feats[0], feats[1])


@pytest.mark.parametrize(
    "image",
    [
        np.zeros((256, 256, 3), np.uint8),
        np.zeros((200, 300, 3), np.uint8),
        np.full((256, 256, 3), 128, np.uint8),
        np.full((300, 200, 3), 255, np.uint8),
        np.full((200, 300, 3), (40, 160, 220), np.uint8),
        np.random.default_rng(0).integers(0, 256, (256, 256, 3), dtype=np.uint8),
    ],
    ids=["black-square", "black-wide", "grey-square", "white-tall", "colour-wide", "noise"],
)
def test_blank_images_give_no_face(app: FaceAnalysis, image: np.ndarray) -> None:
    assert app.get(image) == []


@pytest.mark.parametrize(
    ("height", "width", "centres"),
    [
        (256, 256, ((0.5, 0.5),)),
        (300, 400, ((0.3, 0.4),)),
        (512, 384, ((0.6, 0.7),)),
        (256, 384, ((0.25, 0.5), (0.75, 0.5))),
    ],
)
def test_bright_blobs_give_one_face_each(
    app: FaceAnalysis, height: int, width: int, centres: tuple[tuple[float, float], ...]
) -> None:
    faces = app.get(face_blob_image(height, width, centres=centres))
    assert len(faces) == len(centres)
    cell = 8 * max(height, width) / DET_SIZE[0]  # one stride-8 cell, in image pixels
    found = sorted(((f.bbox[0] + f.bbox[2]) / 2, (f.bbox[1] + f.bbox[3]) / 2) for f in faces)
    for (fx, fy), (cx, cy) in zip(found, sorted(centres), strict=True):
        assert abs(fx - cx * width) <= cell and abs(fy - cy * height) <= cell
    for face in faces:
        assert face.det_score > 0.9
        assert face.normed_embedding.shape == (EMBEDDING_DIM,)
