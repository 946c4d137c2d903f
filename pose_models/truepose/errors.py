"""The error TruePose raises for bad settings and inputs."""


class TruePoseError(ValueError):
    """A TruePose input or setting is wrong; the message names it and says how to fix it."""
