"""Face similarity: ArcFace cosine similarity between the source photo and the re-posed images, the
identity measure of the papers (``docs/methods.md``, "OnePoseTrans"), from an insightface pack the user
already has."""

from __future__ import annotations

import logging

import torch
from comfy_api.latest import io, ui

from ...pose_models.faces import (
    FaceAnalysisError,
    cosine_similarity,
    face_embeddings,
    load_face_analysis,
    mean_similarity,
    reference_indices,
    similarity_report,
)
from ..common.categories import EVALUATION as CATEGORY
from ..common.images import rgb_images
from ..host.models import accept_pack_name, insightface_pack_dir, insightface_packs, uses_cuda
from ..host.progress import stepper

LOG = logging.getLogger(__name__)

MIN_FACE_IMAGE_SIDE = 16
"""Smallest image side the face detector is given (a face needs some pixels to be found)."""


class FaceSimilarity(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="PT_FaceSimilarity",
            display_name="Face Similarity (ArcFace)",
            category=CATEGORY,
            is_output_node=True,
            description=(
                "How well the re-posed images keep the source's identity: cosine similarity of the "
                "insightface ArcFace embeddings (largest face of each image) between the reference photo "
                "and every image. 1 = same embedding; the same person usually scores well above unrelated "
                "faces. Needs "
                "`pip install insightface onnxruntime` and a pack in models/insightface/models/."
            ),
            inputs=[
                io.Image.Input("reference", tooltip="The source photo: one image for all, or one per image."),
                io.Image.Input("images", tooltip="The generated images (any batch size)."),
                io.Combo.Input(
                    "insightface",
                    options=insightface_packs(),
                    default="antelopev2",
                    tooltip="Face analysis pack in models/insightface/models/ (antelopev2 or buffalo_l; "
                    "compare scores only between runs with the same pack).",
                ),
                io.Int.Input(
                    "det_size", default=640, min=128, max=2048, step=32,
                    tooltip="Detector input size (640 is insightface's default).",
                ),
            ],
            outputs=[
                io.Float.Output(
                    display_name="similarity", tooltip="Mean over the images with a face (0 if none)."
                ),
                io.Int.Output(display_name="faces_found", tooltip="How many images had a face."),
                io.String.Output(display_name="report", tooltip="One line per image, then the mean."),
            ],
        )

    @classmethod
    def validate_inputs(cls, insightface: str) -> bool | str:
        return accept_pack_name(insightface, "Face Similarity")

    @classmethod
    def execute(cls, reference: torch.Tensor, images: torch.Tensor, insightface: str, det_size: int
                ) -> io.NodeOutput:
        reference = rgb_images(reference, "Face Similarity", "reference", MIN_FACE_IMAGE_SIDE)
        images = rgb_images(images, "Face Similarity", "images", MIN_FACE_IMAGE_SIDE)
        pairs = reference_indices(reference.shape[0], images.shape[0])
        pack_dir = insightface_pack_dir(insightface, "Face Similarity")
        app = load_face_analysis(pack_dir, det_size, uses_cuda(), insightface, user="Face Similarity")
        step = stepper(reference.shape[0] + images.shape[0])

        ref_embeddings = face_embeddings(app, reference, normed=True, choose="largest", on_image=step)
        missing = [i + 1 for i, e in enumerate(ref_embeddings) if e is None]
        if missing:
            raise FaceAnalysisError(
                f"Face Similarity: no face found in reference image(s) {missing}. Connect the source photo "
                "with the face visible, or try det_size 640 or larger."
            )
        image_embeddings = face_embeddings(app, images, normed=True, choose="largest", on_image=step)
        similarities = [None if e is None else cosine_similarity(ref_embeddings[r], e)
                        for r, e in zip(pairs, image_embeddings, strict=True)]
        mean, found = mean_similarity(similarities)
        report = similarity_report(similarities)
        LOG.info("Face Similarity (%s): %s", insightface, report.replace("\n", "; "))
        return io.NodeOutput(0.0 if mean is None else mean, found, report, ui=ui.PreviewText(report))



