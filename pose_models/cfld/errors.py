"""Exception types of the CFLD package.

:class:`CFLDError` is raised for inputs CFLD cannot process as asked (wrong tensor layout, image size,
keypoints); :class:`CheckpointError` for release files that are missing, swapped, not CFLD's, or do not
fit together. Both subclass ``ValueError`` and carry a message meant to be shown to the user unchanged:
it names the file or input, what is wrong and what to do about it.
"""

from __future__ import annotations


class CFLDError(ValueError):
    """Input CFLD cannot process as asked; the message says why and how to fix it."""


class CheckpointError(CFLDError):
    """A release file that cannot be read or is not the expected CFLD file; the message names the file."""
