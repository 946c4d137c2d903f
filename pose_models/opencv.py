"""OpenCV (``cv2``), an optional dependency: imported when something is drawn, never at import time.

Only drawing that must match another project's OpenCV output pixel for pixel uses it: the OpenPose
ControlNet skeleton (controlnet_aux's drawing), CFLD's pose input (the official rasterisation, tested
bit-exact) and TruePose's pose-based region masks (lines, discs and a convex hull). Everything else in the
pack reads and writes images with Pillow.

The pack does not list an OpenCV distribution as a requirement: ``opencv-python``,
``opencv-python-headless`` and the ``contrib`` builds all install the same ``cv2`` folder, and a second
one installed next to the first (as any fixed requirement name would do on many ComfyUI installs) leaves
a mixed folder that breaks when either is removed. Most installs already have one (insightface,
comfyui_controlnet_aux and many packs bring it); without any, the nodes that draw say how to add one.
"""

from __future__ import annotations

from types import ModuleType

from .errors import PoseTransferError

INSTALL_HINT = "pip install opencv-python-headless"


class MissingDependencyError(PoseTransferError, ImportError):
    """An optional package a feature needs is not installed; the message names the feature and the fix.
    Also an ``ImportError``, so code that asks "is it importable" catches it too."""


def cv2_module(feature: str) -> ModuleType:
    """The ``cv2`` module; raises :class:`MissingDependencyError` naming ``feature`` (what needs it, e.g.
    ``"Render Pose (OpenPose skeleton drawing)"``) and the install command when no OpenCV is installed."""
    try:
        import cv2
    except ImportError as error:
        raise MissingDependencyError(
            f"{feature} needs OpenCV (the cv2 module), which ComfyUI's Python cannot import ({error}). "
            f"Install one OpenCV build into ComfyUI's Python, e.g. `{INSTALL_HINT}` (any of opencv-python, "
            "opencv-python-headless or opencv-contrib-python works; install only one), then restart ComfyUI."
        ) from None
    return cv2
