"""Evaluation nodes (``pose transfer/Evaluation``): measurements of re-posed results."""

from __future__ import annotations

from comfy_api.latest import io

from .face_similarity import FaceSimilarity

EVALUATION_NODES: tuple[type[io.ComfyNode], ...] = (FaceSimilarity,)
