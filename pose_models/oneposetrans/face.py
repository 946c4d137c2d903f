"""Face embedding of the source with insightface (antelopev2), as OnePoseTrans does (methods.md 1.3):
detector at ``det_size``, the **first** detected face, its raw 512-d ArcFace ``embedding`` (not normed).

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


def load_face_analysis(pack_dir: Path, det_size: int, use_gpu: bool) -> object:
    """An ``insightface.app.FaceAnalysis`` (detection + recognition only) on the pack folder ``pack_dir``
    (``models/insightface/models/antelopev2``); never downloads."""
    problem = face_pack_problem(pack_dir)
    if problem is not None:
        raise OnePoseTransError(
            f"insightface pack not usable: {problem}. Put antelopev2 (scrfd_10g_bnkps.onnx, glintr100.onnx, "
            "...) into models/insightface/models/antelopev2/."
        )
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
            "is damaged or incomplete. Download antelopev2 again into models/insightface/models/antelopev2/."
        ) from error
    if getattr(app, "det_model", None) is None or "recognition" not in getattr(app, "models", {}):
        raise OnePoseTransError(f"{pack_dir} lacks a detection or a recognition model; antelopev2 has both.")
    return app


def first_face_embeddings(app: object, images: torch.Tensor) -> list[np.ndarray | None]:
    """Per image of ``images`` (``(B, H, W, 3)`` RGB in [0, 1], the host's IMAGE) the raw ArcFace
    embedding ``(512,)`` float32 of the first detected face, or None where no face was found."""
    out: list[np.ndarray | None] = []
    for image in images:
        bgr = (image.clamp(0, 1).cpu().numpy()[:, :, ::-1] * 255.0).round().astype(np.uint8)
        faces = app.get(np.ascontiguousarray(bgr))
        out.append(np.asarray(faces[0].embedding, dtype=np.float32) if faces else None)
    return out
