"""The one exception type of the pose toolkit.

Every reader, writer and transform raises :class:`PoseFormatError` for bad input. Its message names
*what* is wrong, *where* (input, frame, person, part, point) and *how to fix it*, so a node can show it to
the user unchanged. It subclasses the pack's error root (a ``ValueError``) so callers that already catch
``ValueError`` keep working.
"""

from __future__ import annotations

from ..errors import PoseTransferError


class PoseFormatError(PoseTransferError):
    """Pose data that cannot be read, written or processed as asked; the message says why and how."""


def where(*parts: str | None) -> str:
    """Join the non-empty location parts (``"frame 3"``, ``"person 0"``, ...) into ``"frame 3, person 0"``."""
    return ", ".join(p for p in parts if p)
