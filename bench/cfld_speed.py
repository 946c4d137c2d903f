"""CFLD speed: our port (pose_models.cfld) vs the official code, same machine, settings and inputs, one run.

Run it where the official code's pinned packages import (the reference venv of
tests/cfld/reference/generate_references.py, or ``bench/gpu_suite.py``, which installs them beside any
Python): ``--official`` is a checkout of github.com/YanzuoLu/CFLD (git-ignored ``bench/official/CFLD``
by default; this repository never contains it)::

    /tmp/cfld_ref/venv/bin/python bench/cfld_speed.py                                   # tiny, CPU
    python bench/cfld_speed.py --size full --device cuda --dtype float16 --steps 50     # the GPU goal

``--size tiny`` is the parity configuration with its deterministic weights; ``--size full`` the release
architecture (Swin-B, SD1.5 UNet) with random weights copied from the official modules into ours. Both
sides get the same source images, poses, initial latents and per-step noise (the official scheduler's
draw is replaced by the same injected noise), so their outputs can be compared: the script reports the
max abs difference of the final latents next to the times. Time per image = (conditions + all sampling
steps) / batch, best of ``--repeats``; on CUDA also peak allocated memory per run. The official code runs
with SDPA in place of xformers and under autocast when ``--dtype float16`` (its fp16 inference mode).
Goal on a GPU (release architecture, fp16): ours >= 2x faster per image at equal output.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import harness
import torch

REFERENCE = harness.REPO / "tests" / "cfld" / "reference"
sys.path.insert(0, str(REFERENCE))

import generate_references as gen  # noqa: E402
import tiny_inputs as T  # noqa: E402

from pose_models.cfld import load_release, pose_input  # noqa: E402

logger = logging.getLogger("bench.cfld_speed")

DEFAULT_OFFICIAL = harness.REPO / "bench" / "official" / "CFLD"
OFFICIAL_FILES = ("models/unet.py", "models/swin_transformer.py", "pose_transfer_test.py", "pose_utils.py",
                  "defaults/__init__.py", "pretrained_models/unet/config.json",
                  "pretrained_models/scheduler/scheduler_config.json")
"""Files of the official checkout the bench imports or reads."""
GOAL = 2.0
"""Official time per image / ours, on a GPU with the release architecture."""


def official_problem(folder: Path) -> str | None:
    """Why ``folder`` is not a usable checkout of the official code, or ``None`` when it is."""
    missing = [name for name in OFFICIAL_FILES if not (folder / name).is_file()]
    if not missing:
        return None
    return (f"the official CFLD code is not at {folder} ({', '.join(missing[:3])} missing): "
            f"git clone https://github.com/YanzuoLu/CFLD {folder}")


class _Autocast:
    """The official sampler's ``accelerator``: autocast on CUDA for fp16, nothing otherwise."""

    def __init__(self, device: torch.device, dtype: torch.dtype) -> None:
        self.device, self.dtype = device, dtype

    def autocast(self):
        if self.device.type == "cuda" and self.dtype != torch.float32:
            return torch.autocast("cuda", dtype=self.dtype)
        return contextlib.nullcontext()


def _full_cfg(mods):
    """The release architecture; the UNet from the official SD1.5 config with random weights."""
    unet_config = json.loads((gen_official_path() / "pretrained_models" / "unet" / "config.json").read_text())
    keep = {k: v for k, v in unet_config.items() if not k.startswith("_")}

    def full_from_pretrained(cls, path, **kwargs):
        return cls(**keep)

    mods["unet"].ResidualUNet2DConditionModel.from_pretrained = classmethod(full_from_pretrained)
    cfg = mods["defaults"].pose_transfer_C.clone()
    cfg.defrost()
    cfg.MODEL.COND_STAGE_CONFIG.PRETRAINED_PATH = ""
    cfg.freeze()
    return cfg


_OFFICIAL: list[Path] = []


def gen_official_path() -> Path:
    return _OFFICIAL[0]


def build_models(size: str, mods, folder: Path):
    """(cfg, official conditioning model, official UNet wrapper, our CFLDModel), equal weights."""
    started = time.perf_counter()
    torch.manual_seed(0)
    if size == "tiny":
        cfg, model, unet = gen.build_official(mods)
    else:
        cfg = _full_cfg(mods)
        model = mods["train"].build_model(cfg).eval()
        unet = mods["unet"].UNet(cfg).eval()
    logger.info("official models built in %.1f s", time.perf_counter() - started)
    started = time.perf_counter()
    paths = folder / "pytorch_model.bin", folder / "pytorch_model_1.bin"
    torch.save(model.state_dict(), paths[0])
    torch.save(unet.state_dict(), paths[1])
    ours = load_release(*paths)
    logger.info("release pair written and loaded into our port in %.1f s", time.perf_counter() - started)
    return cfg, model, unet, ours


def inputs(side: int, batch: int, latent: int, steps: int):
    """Source [-1, 1], poses (cycling the test poses), initial latents, per-step noise."""
    from deterministic import normal, uniform

    source = uniform(f"bench/source/{side}", (batch, 3, side, side))
    poses = torch.stack([pose_input(T.KEYPOINTS_YX[i % len(T.KEYPOINTS_YX)], side) for i in range(batch)])
    x0 = normal(f"bench/x0/{latent}", (batch, 4, latent, latent))
    noise = [normal(f"bench/noise/{i}", (batch, 4, latent, latent)) for i in range(steps)]
    return source, poses, x0, noise


def timed(fn: Callable[[], torch.Tensor], device: torch.device) -> tuple[float, float, torch.Tensor]:
    """(seconds, peak GiB or nan, result)."""
    if device.type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    out = fn()
    if device.type == "cuda":
        torch.cuda.synchronize()
        peak = torch.cuda.max_memory_allocated() / 2**30
    else:
        peak = float("nan")
    return time.perf_counter() - start, peak, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--official", type=Path, default=DEFAULT_OFFICIAL,
                        help="checkout of YanzuoLu/CFLD (default: bench/official/CFLD)")
    parser.add_argument("--size", choices=("tiny", "full"), default="tiny")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", choices=("float32", "float16", "bfloat16"), default="float32")
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int,
                        help="CPU threads (default: 1 on the CPU for stable timings, every core with CUDA)")
    parser.add_argument("--json", type=Path, help="also write the result rows here (bench/gpu_suite.py)")
    args = parser.parse_args()
    problem = official_problem(args.official)
    if problem:
        parser.error(problem)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    args.threads = args.threads or harness.default_threads(args.device)
    torch.set_num_threads(args.threads)
    _OFFICIAL.append(args.official.resolve())
    device, dtype = torch.device(args.device), getattr(torch, args.dtype)

    mods = gen.install_stand_ins(args.official.resolve())
    with tempfile.TemporaryDirectory() as tmp:
        cfg, model, unet, ours = build_models(args.size, mods, Path(tmp))
    cfg.defrost()
    cfg.TEST.NUM_INFERENCE_STEPS = args.steps
    cfg.TEST.DOWN_BLOCK_GUIDANCE_SCALE = cfg.TEST.FULL_GUIDANCE_SCALE = 2.0
    cfg.freeze()
    model.to(device)
    unet.to(device)
    ours.to(device, dtype)
    side, latent = ours.source_size, ours.latent_size
    source, poses, x0, noise = inputs(side, args.batch, latent, args.steps)
    source, poses, x0 = source.to(device), poses.to(device), x0.to(device)
    noise = [n.to(device) for n in noise]
    scheduler = mods["scheduling_ddpm"].DDPMScheduler.from_pretrained(
        str(args.official / "pretrained_models" / "scheduler"))
    accelerator = _Autocast(device, dtype)

    def official_run() -> torch.Tensor:
        queue = list(noise)
        mods["scheduling_ddpm"].randn_tensor = lambda shape, **kw: queue.pop(0).to(kw.get("dtype"))
        vae = gen._RecordingVAE()
        with torch.no_grad(), accelerator.autocast():
            c, down, up = model({"img_cond": source, "pose_img": poses})
            mods["test"].sample(cfg, dtype, accelerator, scheduler, vae, unet, x0.clone(), c, down, up)
        return vae.latents.float()

    def our_run() -> torch.Tensor:
        conditions = ours.encode_conditions(source, poses)
        return ours.sample(conditions, steps=args.steps, pose_scale=2.0, appearance_scale=2.0, latents=x0,
                           step_noise=lambda i: noise[i]).float()

    runners = {"official": official_run, "ours": our_run}
    started = time.perf_counter()
    for fn in runners.values():
        fn()  # warm-up
    logger.info("warm-up runs done in %.1f s", time.perf_counter() - started)
    runs: dict[str, list[tuple[float, float, torch.Tensor]]] = {name: [] for name in runners}
    for _ in range(args.repeats):  # interleaved, so load changes on a shared machine hit both alike
        for name, fn in runners.items():
            runs[name].append(timed(fn, device))
    results = {name: (min(r[0] for r in rs) / args.batch, max(r[1] for r in rs), rs[0][2])
               for name, rs in runs.items()}
    diff = float((results["official"][2] - results["ours"][2]).abs().max())
    scale = float(results["official"][2].abs().max())
    for name in ("official", "ours"):
        per_image, peak, _ = results[name]
        logger.info("%-8s %8.3f s/image  peak %s", name, per_image,
                    "n/a (CPU)" if peak != peak else f"{peak:.2f} GiB")
    settings = (f"size={args.size} device={device} dtype={args.dtype} batch={args.batch} steps={args.steps} "
                f"threads={args.threads}, best of {args.repeats}")
    logger.info(settings)
    speedup = results["official"][0] / results["ours"][0]
    logger.info("speed-up (official / ours): %.2fx   final latents max|diff| %.2e (max|x| %.1f)",
                speedup, diff, scale)
    at_goal = device.type == "cuda" and args.size == "full"
    peaks = {name: None if results[name][1] != results[name][1] else results[name][1] for name in results}
    harness.write_rows(args.json, [harness.Row(
        bench="cfld",
        metric=f"CFLD per image ({args.size}, {args.dtype}, {args.steps} steps, batch {args.batch})",
        ours=results["ours"][0], baseline=results["official"][0],
        goal=f">= {GOAL:.0f}x faster than the official code",
        met=speedup >= GOAL if at_goal else None, peak_gib=peaks["ours"],
        note=f"final latents max|diff| {diff:.2e} (max|x| {scale:.1f}); official peak {peaks['official']}",
    )], settings)


if __name__ == "__main__":
    main()
