"""Face embedding of the source with insightface, as OnePoseTrans does (methods.md 1.3): detector at
``det_size``, the **first** detected face, its 512-d ArcFace embedding: the raw ``embedding`` for InstantID
(pack ``antelopev2``), the L2-normalised ``normed_embedding`` for IP-Adapter FaceID (pack ``buffalo_l``;
methods.md 1.9).

insightface and onnxruntime are optional dependencies (``pip install insightface onnxruntime``); they are
imported only when a face is analysed.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from .errors import OnePoseTransError

INSTALL_HINT = "pip install insightface onnxruntime"


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


def load_face_analysis(pack_dir: Path, det_size: int, use_gpu: bool, pack: str = "antelopev2") -> object:
    """An ``insightface.app.FaceAnalysis`` (detection + recognition only) on the pack folder ``pack_dir``
    (``models/insightface/models/antelopev2``); never downloads. ``pack``: the pack the face file was
    trained with, named in errors (``antelopev2`` for InstantID, ``buffalo_l`` for FaceID)."""
    problem = face_pack_problem(pack_dir)
    if problem is not None:
        raise OnePoseTransError(f"insightface pack not usable: {problem}. {_pack_fix(pack)}.")
    try:
        from insightface.app import FaceAnalysis
    except ImportError as error:
        raise OnePoseTransError(
            f"The face part needs insightface and onnxruntime ({error}); install them into ComfyUI's Python "
            f"with `{INSTALL_HINT}`, or switch the face part off."
        ) from error
    providers = ["CUDAExecutionProvider", "CPUExecutionProvider"] if use_gpu else ["CPUExecutionProvider"]
    try:
        app = FaceAnalysis(
            name=str(pack_dir.resolve()), allowed_modules=["detection", "recognition"], providers=providers
        )
        app.prepare(ctx_id=0 if use_gpu else -1, det_size=(det_size, det_size))
    except Exception as error:  # noqa: BLE001 - onnxruntime/insightface raise many types for a bad pack
        raise OnePoseTransError(
            f"insightface could not load {pack_dir} ({type(error).__name__}: {str(error)[:160]}); the pack "
            f"is damaged or incomplete. {_pack_fix(pack)} (download it again)."
        ) from error
    if getattr(app, "det_model", None) is None or "recognition" not in getattr(app, "models", {}):
        raise OnePoseTransError(
            f"{pack_dir} lacks a detection or a recognition model; {pack} has both. {_pack_fix(pack)}."
        )
    return app


def first_face_embeddings(
    app: object, images: torch.Tensor, normed: bool = False
) -> list[np.ndarray | None]:
    """Per image of ``images`` (``(B, H, W, 3)`` RGB in [0, 1], the host's IMAGE) the ArcFace embedding
    ``(512,)`` float32 of the first detected face (raw ``embedding``, or ``normed_embedding`` = embedding /
    its L2 norm when ``normed``), or None where no face was found."""
    out: list[np.ndarray | None] = []
    for image in images:
        bgr = (image.clamp(0, 1).cpu().numpy()[:, :, ::-1] * 255.0).round().astype(np.uint8)
        faces = app.get(np.ascontiguousarray(bgr))
        if not faces:
            out.append(None)
            continue
        vector = faces[0].normed_embedding if normed else faces[0].embedding
        out.append(np.asarray(vector, dtype=np.float32))
    return out
