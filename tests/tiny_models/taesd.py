"""A random-weight TAESD "VAE" file (``taesd_encoder.*``, ``taesd_decoder.*``, ``vae_scale``, ``vae_shift``)
in the layout the host's ``VAELoader`` recognises as TAESD.

TAESD is small at its real size (about 2.4 M parameters), so the file is real-sized. The layout comes from
the host's own ``comfy.taesd.taesd.TAESD``: unlike the rest of this package, :func:`write_random_taesd`
needs the host importable (call it after the host has started).
"""

from __future__ import annotations

from pathlib import Path

import torch
from safetensors.torch import save_file


def write_random_taesd(path: Path, seed: int = 0) -> Path:
    """He-initialised convolutions, zero biases, scale 1 / shift 0; the decoder's last convolution is
    damped and biased to 0.5 so that the random decoder's output stays inside [0, 1]."""
    import comfy.taesd.taesd

    gen = torch.Generator().manual_seed(seed)
    state = {}
    for key, value in comfy.taesd.taesd.TAESD().state_dict().items():  # host ops leave weights uninitialised
        if value.ndim == 4:
            fan_in = value.shape[1] * value.shape[2] * value.shape[3]
            state[key] = torch.randn(value.shape, generator=gen) * (2.0 / fan_in) ** 0.5
        else:
            state[key] = torch.ones_like(value) if key == "vae_scale" else torch.zeros_like(value)
    last = max(int(k.split(".")[1]) for k in state if k.startswith("taesd_decoder."))
    state[f"taesd_decoder.{last}.weight"] *= 0.05
    state[f"taesd_decoder.{last}.bias"].fill_(0.5)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file({k: v.contiguous() for k, v in state.items()}, str(path))
    return path
