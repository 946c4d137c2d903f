"""The one error root of the pack.

Every error the pack raises for bad input, a bad setting or a bad file is a :class:`PoseTransferError`
(a ``ValueError``): the per-part classes (:class:`~pose_models.pose.PoseFormatError`,
:class:`~pose_models.truepose.TruePoseError`, :class:`~pose_models.cfld.CFLDError`, ...) subclass it.
Its message is meant to be shown to the user unchanged: it names what is wrong, where (input, file,
frame), and how to fix it. Nodes prefix it with their display name (``nodes/common/errors.py``).
"""

from __future__ import annotations


class PoseTransferError(ValueError):
    """Input, settings or files the pack cannot work with; the message says what, where and the fix."""
