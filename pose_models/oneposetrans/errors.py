"""The error type of the OnePoseTrans part of the pack."""

from ..errors import PoseTransferError


class OnePoseTransError(PoseTransferError):
    """Bad input to an OnePoseTrans node; the message names the problem and the fix."""
