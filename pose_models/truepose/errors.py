"""The error TruePose raises for bad settings and inputs."""

from ..errors import PoseTransferError


class TruePoseError(PoseTransferError):
    """A TruePose input or setting is wrong; the message names it and says how to fix it."""
