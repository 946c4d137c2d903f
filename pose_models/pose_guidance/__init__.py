"""Training-free gradient guidance on the predicted clean image (FreeDoM style) for pose energies.

Never imports ComfyUI; the host layer (``nodes/host/sampling.py``) plugs these pieces into the host's
post-CFG hook. Modules:

* :mod:`.energy` -- :class:`PoseEnergy`: ``E(images) = w_hm * heatmap error + w_f * field distance +
  w_kp * keypoint error`` of an OpenPose estimate against target keypoints, per image.
* :mod:`.step` -- :func:`normalised_step`: FreeDoM's step ``rho = lambda * s_cfg * rms(x0_c - x0_u) /
  rms(g)`` applied to a latent.
* :mod:`.window` -- :class:`GuidanceWindow`: which sampling steps are guided (sigma window, every n).
* :mod:`.settings` -- :class:`GuidanceSettings`: strength, window, stride, gradient mode, decode size.
"""

from .energy import EnergyTerms, EnergyWeights, PoseEnergy
from .settings import GUIDANCE_MODES, GuidanceSettings
from .step import normalised_step, rms
from .window import GuidanceWindow

__all__ = [
    "GUIDANCE_MODES", "EnergyTerms", "EnergyWeights", "GuidanceSettings", "GuidanceWindow", "PoseEnergy",
    "normalised_step", "rms",
]
