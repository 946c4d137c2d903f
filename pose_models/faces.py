"""ArcFace face embeddings with insightface, shared by the OnePoseTrans face part and the face similarity
node.

OnePoseTrans (``docs/methods.md``): detector at ``det_size``, the **first** detected face, its 512-d ArcFace
embedding: the raw ``embedding`` for InstantID (pack ``antelopev2``), the L2-normalised ``normed_embedding``
for IP-Adapter FaceID (pack ``buffalo_l``; ``docs/methods.md``, OnePoseTrans, SD1.5 variant). Face
similarity: the **largest** face's ``normed_embedding``, compared by cosine similarity
(:func:`cosine_similarity`).

insightface and onnxruntime are optional dependencies (``pip install insightface onnxruntime``); they are
imported only when a face is analysed.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from .errors import PoseTransferError

INSTALL_HINT = "pip install insightface onnxruntime"


class FaceAnalysisError(PoseTransferError):
    """insightface or its model pack is missing or unusable; the message names the fix."""


FACE_CHOICES = ("first", "largest")
"""Which detected face of an image counts: the detector's first (OnePoseTrans) or the largest box."""


def face_pack_problem(pack_dir: Path) -> str | None:
    """Why ``pack_dir`` is not a usable insightface pack (no folder, no .onnx files), or None."""
    if not pack_dir.is_dir():
        return f"the folder {pack_dir} does not exist"
    if not any(pack_dir.glob("*.onnx")):
        return f"the folder {pack_dir} holds no .onnx files"
    return None


PACK_FILES = {
    "antelopev2": "scrfd_10g_bnkps.onnx, glintr100.onnx, ...",
    "buffalo_l": "det_10g.onnx, w600k_r50.onnx, ...",
}
"""Detector and recognition files of the two packs, for error messages."""


def _pack_fix(pack: str) -> str:
    files = PACK_FILES.get(pack, "its .onnx files")
    return f"Put {pack} ({files}) into models/insightface/models/{pack}/ and select it"


def load_face_analysis(
    pack_dir: Path, det_size: int, use_gpu: bool, pack: str = "antelopev2", user: str = "The face part"
) -> object:
    """An ``insightface.app.FaceAnalysis`` (detection + recognition only) on the pack folder ``pack_dir``
    (``models/insightface/models/antelopev2``); never downloads. ``pack``: the pack to name in errors
    (``antelopev2`` for InstantID, ``buffalo_l`` for FaceID); ``user``: who needs insightface, for the
    error when it is not installed. Raises :class:`FaceAnalysisError`.

    The last one loaded is kept (:data:`_LOADED`) and returned again while the folder, ``det_size`` and
    ``use_gpu`` are the same and no ``.onnx`` file changed: loading a pack takes seconds (antelopev2's
    recognition model is 250 MB), and a graph re-runs this on every new image."""
    problem = face_pack_problem(pack_dir)
    if problem is not None:
        raise FaceAnalysisError(f"insightface pack not usable: {problem}. {_pack_fix(pack)}.")
    key = (str(pack_dir.resolve()), int(det_size), bool(use_gpu), _pack_signature(pack_dir))
    if key in _LOADED:
        return _LOADED[key]
    app = _new_face_analysis(pack_dir, det_size, use_gpu, pack, user)
    _LOADED.clear()
    _LOADED[key] = app
    return app


_LOADED: dict[tuple[object, ...], object] = {}
"""At most one loaded ``FaceAnalysis``, keyed by folder, detector size, device and pack signature."""


def _pack_signature(pack_dir: Path) -> tuple[tuple[str, int, int], ...]:
    """``(name, size, mtime_ns)`` of every ``.onnx`` file of the pack: changes when a file is replaced."""
    stats = {f.name: f.stat() for f in pack_dir.glob("*.onnx")}
    return tuple(sorted((name, st.st_size, st.st_mtime_ns) for name, st in stats.items()))


def _new_face_analysis(pack_dir: Path, det_size: int, use_gpu: bool, pack: str, user: str) -> object:
    try:
        from insightface.app import FaceAnalysis
    except ImportError as error:
        raise FaceAnalysisError(
            f"{user} needs insightface and onnxruntime ({error}); install them into ComfyUI's Python "
            f"with `{INSTALL_HINT}`."
        ) from error
    providers = ["CUDAExecutionProvider", "CPUExecutionProvider"] if use_gpu else ["CPUExecutionProvider"]
    try:
        app = FaceAnalysis(
            name=str(pack_dir.resolve()), allowed_modules=["detection", "recognition"], providers=providers
        )
        app.prepare(ctx_id=0 if use_gpu else -1, det_size=(det_size, det_size))
    except Exception as error:  # noqa: BLE001 - onnxruntime/insightface raise many types for a bad pack
        raise FaceAnalysisError(
            f"insightface could not load {pack_dir} ({type(error).__name__}: {str(error)[:160]}); the pack "
            f"is damaged or incomplete. {_pack_fix(pack)} (download it again)."
        ) from error
    if getattr(app, "det_model", None) is None or "recognition" not in getattr(app, "models", {}):
        raise FaceAnalysisError(
            f"{pack_dir} lacks a detection or a recognition model; {pack} has both. {_pack_fix(pack)}."
        )
    return app


def face_embeddings(
    app: object,
    images: torch.Tensor,
    normed: bool = False,
    choose: str = "first",
    on_image: Callable[[], None] | None = None,
) -> list[np.ndarray | None]:
    """Per image of ``images`` (``(B, H, W, 3)`` RGB in [0, 1], the host's IMAGE) the ArcFace embedding
    ``(512,)`` float32 of one detected face (``choose``, see :data:`FACE_CHOICES`; raw ``embedding``, or
    ``normed_embedding`` = embedding / its L2 norm when ``normed``), or None where no face was found.
    ``on_image`` is called after each image (progress, interruption)."""
    if choose not in FACE_CHOICES:
        raise ValueError(f"choose must be one of {FACE_CHOICES}, got {choose!r}")
    out: list[np.ndarray | None] = []
    for image in images:
        bgr = (image.clamp(0, 1).cpu().numpy()[:, :, ::-1] * 255.0).round().astype(np.uint8)
        faces = app.get(np.ascontiguousarray(bgr))
        if not faces:
            out.append(None)
        else:
            face = faces[0] if choose == "first" else max(faces, key=_box_area)
            vector = face.normed_embedding if normed else face.embedding
            out.append(np.asarray(vector, dtype=np.float32))
        if on_image is not None:
            on_image()
    return out


def _box_area(face: object) -> float:
    x0, y0, x1, y1 = (float(v) for v in face.bbox[:4])
    return max(x1 - x0, 0.0) * max(y1 - y0, 0.0)


def cosine_similarity(a: np.ndarray, b: np.ndarray) -> float:
    """Cosine similarity in [-1, 1] of two embeddings ``(D,)`` (1 = same direction); 0 for a zero vector."""
    norm = float(np.linalg.norm(a) * np.linalg.norm(b))
    return float(np.dot(a, b) / norm) if norm > 0 else 0.0


def reference_indices(references: int, images: int) -> list[int]:
    """Which reference image each of ``images`` images is compared with: the one reference for all, or one
    reference per image (same batch size). Raises :class:`FaceAnalysisError` for any other pairing."""
    if references == 1:
        return [0] * images
    if references == images:
        return list(range(images))
    raise FaceAnalysisError(
        f"Face Similarity: {references} reference images for {images} images; connect one reference image "
        "(compared with every image) or one per image (same batch size)."
    )


def mean_similarity(similarities: list[float | None]) -> tuple[float | None, int]:
    """``(mean, count)`` over the images with a face (``None`` entries are images without one); the mean is
    ``None`` when no image had a face."""
    found = [s for s in similarities if s is not None]
    return (sum(found) / len(found) if found else None), len(found)


def similarity_report(similarities: list[float | None]) -> str:
    """One line per image (``image 1: 0.623`` or ``image 2: no face``), then the mean over the images with a
    face (or a line saying none had one)."""
    lines = [f"image {i}: " + ("no face" if s is None else f"{s:.3f}") for i, s in enumerate(similarities, 1)]
    mean, found = mean_similarity(similarities)
    if mean is not None:
        lines.append(f"mean over {found} of {len(similarities)} image(s): {mean:.3f}")
    else:
        lines.append(f"no face in any of the {len(similarities)} image(s)")
    return "\n".join(lines)
