"""The error type of the OnePoseTrans part of the pack."""


class OnePoseTransError(ValueError):
    """Bad input to an OnePoseTrans node; the message names the problem and the fix."""
