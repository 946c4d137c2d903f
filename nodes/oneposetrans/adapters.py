"""The adapter files of the OnePoseTrans injections: folders, the face-file list, paths, family checks."""

from __future__ import annotations

from ...pose_models.oneposetrans import OnePoseTransError
from ...pose_models.oneposetrans.ip_adapter import CrossAttentionLayer
from ..host.models import FAMILY_NAMES, ensure_model_folder, model_files, model_path

IPADAPTER_FOLDER = "ipadapter"
INSTANTID_FOLDER = "instantid"
FAMILY_BY_CONTEXT = {768: FAMILY_NAMES["sd15"], 2048: FAMILY_NAMES["sdxl"]}
"""The family a text-token width belongs to (for messages)."""
ensure_model_folder(IPADAPTER_FOLDER)
ensure_model_folder(INSTANTID_FOLDER)


def face_model_files() -> list[str]:
    """The face files the Face node offers, each as ``<folder>/<file>``: every file of ``models/instantid/``
    and the files of ``models/ipadapter/`` whose name contains "faceid" (IP-Adapter FaceID)."""
    instantid = [f"{INSTANTID_FOLDER}/{name}" for name in model_files(INSTANTID_FOLDER)]
    faceid = [
        f"{IPADAPTER_FOLDER}/{name}" for name in model_files(IPADAPTER_FOLDER) if "faceid" in name.lower()
    ]
    return instantid + faceid


def face_model_path(face_model: str) -> str:
    folder, _, name = face_model.partition("/")
    if folder not in (INSTANTID_FOLDER, IPADAPTER_FOLDER) or not name:
        raise OnePoseTransError(
            f"face_model {face_model!r} names no model folder; pick an entry of the list "
            "(instantid/... or ipadapter/...)."
        )
    return adapter_path(folder, name, "OnePoseTrans Face")


def adapter_path(folder: str, name: str, node: str) -> str:
    """Absolute path of an adapter file; the one missing-file error otherwise."""
    return model_path(folder, name, node)


def check_context(layers: list[CrossAttentionLayer], context_dim: int, file_name: str) -> None:
    if not layers:
        raise OnePoseTransError("This MODEL has no cross-attention layers; load an SD1.5 or SDXL checkpoint.")
    if context_dim != layers[0].context_dim:
        family = FAMILY_BY_CONTEXT
        raise OnePoseTransError(
            f"{file_name!r} makes {context_dim}-wide tokens ({family.get(context_dim, 'another model')}), "
            f"this MODEL's text tokens are {layers[0].context_dim} wide "
            f"({family.get(layers[0].context_dim, 'other')}). "
            "Pick the file made for this checkpoint's family."
        )
