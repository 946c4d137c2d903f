"""Exception types of the CFLD package.

:class:`CFLDError` is raised for inputs CFLD cannot process as asked (wrong tensor layout, image size,
keypoints); :class:`CFLDCheckpointError` for release files that are missing, swapped, not CFLD's, or do
not fit together. Both subclass the pack's error root ``PoseTransferError`` (a ``ValueError``) and carry
a message meant to be shown to the user unchanged: it names the file or input, what is wrong and what
to do about it.
"""

from __future__ import annotations

from ..errors import PoseTransferError


class CFLDError(PoseTransferError):
    """Input CFLD cannot process as asked; the message says why and how to fix it."""


class CFLDCheckpointError(CFLDError):
    """A release file that cannot be read or is not the expected CFLD file; the message names the file."""
