"""The plain-PyTorch CFLD model: conditions, one UNet call, the three-branch guidance, the sampling loop.

Tensor contracts (``B`` = batch, release sizes in brackets):

* ``img_cond``: source person ``[B, 3, S, S]`` RGB in **[-1, 1]** (``x * 2 - 1`` of a [0, 1] image), the
  176:256 photo stretched to a square (S = 256), see :mod:`.preprocess`.
* ``pose_img``: target pose ``[B, 21, S, S]`` from :func:`.rasterize.pose_input` (skeleton in [0, 1] +
  18 heatmaps in [0, 1]).
* ``latents``: SD1.5 VAE latents *times 0.18215*, ``[N, 4, S/4, S/4]`` ([N, 4, 64, 64]: a 512x512 image).
  The grid is fixed by the HGA biases; other sizes raise :class:`CFLDError`.
* ``timestep``: DDPM training step in 0..999 (int, 0-d or ``[N]`` tensor).
* :class:`Conditions` ``(prompt [2B, n_ctx, ctx], pose residuals, appearance biases {3..11: [B, h*w, C]})``.

Guidance (``uc_down_full``): ``eps = uc + s_pose * (down - uc) + s_app * (full - down)`` where ``uc`` = null
prompt, no pose, no appearance; ``down`` = null prompt + pose; ``full`` = decoder prompt + pose + appearance;
one 3B-batched UNet call per step, like the official code.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import torch

from .checkpoint import build_conditioner, build_unet, check_pair, read_release
from .conditioner import CFLDConditioner, Conditions
from .errors import CFLDError
from .pose_encoder import POSE_CHANNELS
from .scheduler import DDPMSchedule
from .unet import SD15UNet

DEFAULT_POSE_SCALE = 2.0
DEFAULT_APPEARANCE_SCALE = 2.0
DEFAULT_STEPS = 50

StepCallback = Callable[[int, int, torch.Tensor], None]
"""``callback(step_index, total_steps, latents)`` after every sampling step."""


def _batch_rows(tensor: torch.Tensor, rows: int) -> torch.Tensor:
    """Repeat a ``[B, ...]`` condition to ``rows`` (a multiple of B) by tiling whole batches."""
    if rows % tensor.shape[0]:
        raise CFLDError(f"CFLD: {rows} latents cannot share conditions made for a batch of {tensor.shape[0]}")
    return tensor.repeat(rows // tensor.shape[0], *([1] * (tensor.ndim - 1)))


class CFLDModel:
    """Conditioning model + UNet of one release pair. Build with :func:`load_release`."""

    def __init__(self, conditioner: CFLDConditioner, unet: SD15UNet) -> None:
        self.conditioner = conditioner
        self.unet = unet

    @property
    def device(self) -> torch.device:
        return self.unet.conv_in.weight.device

    @property
    def dtype(self) -> torch.dtype:
        return self.unet.conv_in.weight.dtype

    @property
    def source_size(self) -> int:
        """Side of the square source and pose inputs (256 for the release)."""
        return self.conditioner.source_size

    @property
    def latent_size(self) -> int:
        """Side of the square latent grid (64 for the release: a 512x512 image)."""
        return self.conditioner.config.swin.stage_side(0)

    def to(self, device: torch.device | str | None = None, dtype: torch.dtype | None = None) -> CFLDModel:
        self.conditioner.to(device, dtype)
        self.unet.to(device, dtype)
        return self

    # ------------------------------------------------------------------------------------- conditions
    def _check_inputs(self, img_cond: torch.Tensor, pose_img: torch.Tensor) -> None:
        s = self.source_size
        if img_cond.ndim != 4 or tuple(img_cond.shape[1:]) != (3, s, s):
            raise CFLDError(f"CFLD source image: expected [B, 3, {s}, {s}] in [-1, 1], got "
                            f"{list(img_cond.shape)}. Pad or crop the photo to 176:256 (W:H) and resize it "
                            f"to {s}x{s} first (pose_models.cfld.prepare_source).")
        if pose_img.ndim != 4 or tuple(pose_img.shape[1:]) != (POSE_CHANNELS, s, s):
            raise CFLDError(f"CFLD pose input: expected [B, 21, {s}, {s}], got {list(pose_img.shape)}. "
                            f"Rasterise it with pose_models.cfld.pose_input(keypoints, {s}).")
        if img_cond.shape[0] != pose_img.shape[0]:
            raise CFLDError(f"CFLD: {img_cond.shape[0]} source images but {pose_img.shape[0]} poses; give "
                            f"one pose per source image.")
        lo, hi = float(img_cond.min()), float(img_cond.max())
        if lo < -1.01 or hi > 1.01:
            raise CFLDError(f"CFLD source image values span [{lo:.3g}, {hi:.3g}]; expected [-1, 1] "
                            f"(use image * 2 - 1 for a [0, 1] image).")

    @torch.no_grad()
    def encode_conditions(self, img_cond: torch.Tensor, pose_img: torch.Tensor) -> Conditions:
        """:class:`Conditions` for ``B`` source images and ``B`` target poses (see the module docstring)."""
        self._check_inputs(img_cond, pose_img)
        return self.conditioner(img_cond.to(self.device, self.dtype), pose_img.to(self.device, self.dtype))

    # ----------------------------------------------------------------------------------------- UNet
    @torch.no_grad()
    def predict_noise(self, latents: torch.Tensor, timestep: int | torch.Tensor, prompt: torch.Tensor,
                      pose_residuals: Sequence[torch.Tensor] | None = None,
                      appearance_biases: Mapping[int, torch.Tensor] | None = None) -> torch.Tensor:
        """One UNet call: ``eps float32 [N, 4, h, w]``. ``prompt [N, n_ctx, ctx]``; residuals ``[N, ...]`` per
        level (``None``/empty: no pose); biases ``{block: [N, h*w, C]}`` (``None``/empty: no appearance).
        Inputs are cast to the model's device and dtype (fp16/bf16 weights: like the official autocast)."""
        side = self.latent_size
        if latents.ndim != 4 or tuple(latents.shape[1:]) != (4, side, side):
            raise CFLDError(f"CFLD latents: expected [N, 4, {side}, {side}] (a {side * 8}x{side * 8} image: "
                            f"the canvas is fixed by the appearance biases), got {list(latents.shape)}.")
        if prompt.shape[0] != latents.shape[0]:
            raise CFLDError(f"CFLD: {latents.shape[0]} latents but {prompt.shape[0]} prompts")
        dev, dt = self.device, self.dtype
        residuals = [r.to(dev, dt) for r in pose_residuals or ()]
        biases = {k: v.to(dev, dt) for k, v in (appearance_biases or {}).items()}
        eps = self.unet(latents.to(dev, dt), timestep, prompt.to(dev, dt), residuals, biases)
        return eps.float()

    @staticmethod
    def branch_conditions(conditions: Conditions, rows: int
                          ) -> tuple[torch.Tensor, list[torch.Tensor], dict[int, torch.Tensor]]:
        """UNet inputs for ``[uc; down; full]`` stacked, each branch ``rows`` latents (a multiple of B)."""
        prompt, residuals, biases = conditions
        b = prompt.shape[0] // 2
        null, cond = _batch_rows(prompt[:b], rows), _batch_rows(prompt[b:], rows)
        residuals3 = []
        for r in residuals:
            r = _batch_rows(r, rows)
            residuals3.append(torch.cat([torch.zeros_like(r), r, r]))
        biases3 = {}
        for k, v in biases.items():
            v = _batch_rows(v, rows)
            zeros = torch.zeros_like(v)
            biases3[k] = torch.cat([zeros, zeros, v])
        return torch.cat([null, null, cond]), residuals3, biases3

    @torch.no_grad()
    def guided_noise(self, latents: torch.Tensor, timestep: int | torch.Tensor, conditions: Conditions,
                     pose_scale: float = DEFAULT_POSE_SCALE,
                     appearance_scale: float = DEFAULT_APPEARANCE_SCALE) -> torch.Tensor:
        """``uc + pose_scale * (down - uc) + appearance_scale * (full - down)``, one 3N-batched call."""
        n = latents.shape[0]
        prompt3, residuals3, biases3 = self.branch_conditions(conditions, n)
        eps = self.predict_noise(torch.cat([latents] * 3), timestep, prompt3, residuals3, biases3)
        uc, down, full = eps.chunk(3)
        return uc + pose_scale * (down - uc) + appearance_scale * (full - down)

    # --------------------------------------------------------------------------------------- sampling
    @torch.no_grad()
    def sample(self, conditions: Conditions, *, steps: int = DEFAULT_STEPS,
               pose_scale: float = DEFAULT_POSE_SCALE, appearance_scale: float = DEFAULT_APPEARANCE_SCALE,
               latents: torch.Tensor | None = None, generator: torch.Generator | None = None,
               step_noise: Callable[[int], torch.Tensor] | None = None,
               callback: StepCallback | None = None) -> torch.Tensor:
        """The official DDPM loop; returns the final latents, float32 (divide by 0.18215 before decoding).

        Initial latents and per-step noise come from ``latents`` / ``step_noise(step_index)`` when given,
        else from ``generator`` (``torch.randn`` on the model's device).
        """
        schedule = DDPMSchedule(steps)
        b, side = conditions.prompt.shape[0] // 2, self.latent_size
        shape = (b, 4, side, side)

        def randn() -> torch.Tensor:
            return torch.randn(shape, generator=generator, device=self.device, dtype=torch.float32)

        # The scheduler works in float32 whatever the weights' dtype (as the official loop under autocast).
        x = (randn() if latents is None else latents).to(self.device, torch.float32)
        for i, t in enumerate(schedule.timesteps):
            eps = self.guided_noise(x, torch.tensor(t, device=self.device), conditions, pose_scale,
                                    appearance_scale)
            noise = (step_noise(i) if step_noise is not None else randn()) if t > 0 else None
            x = schedule.step(eps, t, x, None if noise is None else noise.to(x.device))
            if callback is not None:
                callback(i, steps, x)
        return x


def load_release(model_bin: str | Path, unet_bin: str | Path, device: torch.device | str = "cpu",
                 dtype: torch.dtype = torch.float32) -> CFLDModel:
    """Load ``pytorch_model.bin`` (conditioning) and ``pytorch_model_1.bin`` (UNet), or their safetensors
    conversions; sizes come from the tensors. Raises :class:`CFLDCheckpointError` for missing, swapped,
    foreign or mismatched files."""
    model_bin, unet_bin = Path(model_bin), Path(unet_bin)
    cond_state, unet_state = read_release(model_bin, unet_bin)
    conditioner = build_conditioner(cond_state, model_bin)
    unet = build_unet(unet_state, unet_bin)
    check_pair(conditioner.config, unet.config, model_bin, unet_bin)
    return CFLDModel(conditioner, unet).to(device, dtype)
