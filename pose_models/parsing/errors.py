"""Exception types of the human-parsing package.

:class:`ParsingError` is raised for input that cannot be parsed as asked (wrong image layout, bad
sizes); :class:`ParsingCheckpointError` for a weights file that cannot be read or does not fit the SCHP
network. Both subclass the pack's error root ``PoseTransferError`` (a ``ValueError``) and carry a
message meant to be shown to the user unchanged: it names the file or input, what is wrong and what to
do about it.
"""

from __future__ import annotations

from ..errors import PoseTransferError


class ParsingError(PoseTransferError):
    """Input the human parser cannot process as asked; the message says why and how to fix it."""


class ParsingCheckpointError(ParsingError):
    """A weights file that cannot be read or does not fit the SCHP network; the message names the file."""
