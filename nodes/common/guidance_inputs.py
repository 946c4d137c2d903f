"""The widgets of a gradient-guidance node (RePoseDM Pose Guidance, TruePose CAA) and their settings."""

from __future__ import annotations

from comfy_api.latest import io

from ...pose_models.pose_guidance import GUIDANCE_MODES, GuidanceSettings


def strength_input(default: float, note: str = "") -> io.Float.Input:
    """The ``strength`` widget (FreeDoM's lambda) of a guidance node."""
    return io.Float.Input("strength", default=default, min=0.0, max=2.0, step=0.01,
                          tooltip=f"FreeDoM's lambda: step size relative to the CFG update{note}.")


def schedule_inputs(start: float, end: float) -> list[io.Input]:
    """The ``start_percent``, ``end_percent``, ``every_n_steps``, ``mode`` and ``decode_downscale`` widgets
    of a guidance node (the rest of :class:`GuidanceSettings`)."""
    return [
        io.Float.Input("start_percent", default=start, min=0.0, max=1.0, step=0.01,
                       tooltip="Guidance starts after this share of the denoising."),
        io.Float.Input("end_percent", default=end, min=0.0, max=1.0, step=0.01,
                       tooltip="Guidance ends after this share (1.0 = until the last step)."),
        io.Int.Input("every_n_steps", default=1, min=1, max=100,
                     tooltip="Guide every n-th step inside the window."),
        io.Combo.Input("mode", options=GUIDANCE_MODES, default="x0",
                       tooltip="x0: gradient on the predicted clean latent (fast). xt: through the UNet on "
                               "the noisy latent (FreeDoM's form, ~3x memory, no ControlNet)."),
        io.Combo.Input("decode_downscale", options=["1", "2", "4"], default="1",
                       tooltip="Decode the predicted image at 1/n size for the energy (saves memory and "
                               "time at SDXL sizes)."),
    ]


def guidance_settings(strength: float, start_percent: float, end_percent: float, every_n_steps: int,
                      mode: str, decode_downscale: str) -> GuidanceSettings:
    """Settings from the widgets of :func:`strength_input` and :func:`schedule_inputs`."""
    return GuidanceSettings(strength=strength, start_percent=start_percent, end_percent=end_percent,
                            every=every_n_steps, mode=mode, decode_downscale=int(decode_downscale))
