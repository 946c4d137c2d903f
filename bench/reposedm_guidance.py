"""RePoseDM pose guidance cost: unguided vs guided sampling in one run, with a per-part breakdown.

Runs the real ComfyUI host in process (the test harness's host tree, tiny SD1.5 checkpoint and a
random-weight OpenPose body network in the released layout; no GPU, no downloads)::

    python bench/reposedm_guidance.py                       # 64 and 256 px, 8 steps, estimator box 184
    python bench/reposedm_guidance.py --sizes 512 --steps 20 --box-size 368 --repeats 3   # the GPU goal
    python bench/reposedm_guidance.py --sizes 512 --steps 20 --decoder taesd   # the fast configuration

With CUDA the checkpoint defaults to ``full-sd15``: SD1.5's UNet, VAE and CLIP-L at their real sizes with
random fp16 weights (``bench/full_size_models.py``), so the ratio weighs a real UNet step against a real
decode and estimator pass; on the CPU to the tiny SD1.5 (``--model`` picks either).

Per size, the two graphs differ only in the MODEL the KSampler gets (the checkpoint's, or Pose Guidance on
it with guidance on half of the steps: window 0.5 -> 1.0, x0 mode, analytic field). Each graph runs once
to warm up; each repeat changes only the sampler seed, so only sampling re-executes. Reported: sampling
time (best of ``--repeats``, timed around ``nodes.common_ksampler``), the guided/unguided ratio (goal on a
GPU at 512 px, 20 steps: <= 1.5x), the guided steps, and where a guided step's time goes: decoder
forward, estimator + energy forward, backward (the rest of the gradient step). On CUDA, peak allocated
memory of each configuration (model loading included); on the CPU the growth of the process's peak RSS
(0 once an earlier configuration already reached a higher peak).
"""

from __future__ import annotations

import argparse
import logging
import resource
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
TESTS = REPO / "tests"
sys.path[:0] = [str(TESTS), str(TESTS / "comfy_host")]
sys.path.append(str(REPO))

from full_size_models import write_full_size_sd15  # noqa: E402
from host_inprocess import start_in_process_host  # noqa: E402
from host_install import host_tree  # noqa: E402
from host_tree import prepare_host_tree  # noqa: E402
from tiny_models import write_tiny_models  # noqa: E402
from tiny_models.body_pose import write_body_pose_model  # noqa: E402
from tiny_models.taesd import write_random_taesd  # noqa: E402

logger = logging.getLogger("bench.reposedm_guidance")

CHECKPOINTS = ("tiny-sd15", "full-sd15")


class Timed:
    """Replaces ``owner.name`` (a function or method) by a timed wrapper while the context is open."""

    def __init__(self, owner: Any, name: str) -> None:
        self.owner, self.name, self.times = owner, name, []
        self.original: Callable[..., Any] = getattr(owner, name)

    def __enter__(self) -> Timed:
        original = self.original

        def timed(*args: Any, **kwargs: Any) -> Any:
            synchronize()
            start = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                synchronize()
                self.times.append(time.perf_counter() - start)

        setattr(self.owner, self.name, timed)
        return self

    def __exit__(self, *exc: object) -> None:
        setattr(self.owner, self.name, self.original)


def prompt_for(guided: bool, size: int, steps: int, seed: int, ckpt: str, box_size: int,
               decoder: str | None = None) -> dict:
    """The graph; ``decoder``: a file of ``models/vae/`` (TAESD) for the guidance's decode (default: the
    checkpoint's VAE)."""
    prompt = {
        "ckpt": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": ckpt}},
        "pos": {"class_type": "CLIPTextEncode", "inputs": {"text": "a person", "clip": ["ckpt", 1]}},
        "neg": {"class_type": "CLIPTextEncode", "inputs": {"text": "", "clip": ["ckpt", 1]}},
        "latent": {
            "class_type": "EmptyLatentImage",
            "inputs": {"width": size, "height": size, "batch_size": 1},
        },
        "sample": {
            "class_type": "KSampler",
            "inputs": {
                "model": ["ckpt", 0],
                "seed": seed,
                "steps": steps,
                "cfg": 5.0,
                "sampler_name": "euler",
                "scheduler": "normal",
                "positive": ["pos", 0],
                "negative": ["neg", 0],
                "latent_image": ["latent", 0],
                "denoise": 1.0,
            },
        },
        "decode": {"class_type": "VAEDecode", "inputs": {"samples": ["sample", 0], "vae": ["ckpt", 2]}},
        "out": {"class_type": "PreviewImage", "inputs": {"images": ["decode", 0]}},
    }
    if guided:
        prompt |= {
            "pose": {
                "class_type": "PT_LoadPoseFile",
                "inputs": {
                    "file": "[example] arms_up_stride.json",
                    "canvas_width": 0,
                    "canvas_height": 0,
                    "first_frame": 0,
                    "max_frames": 0,
                    "coordinates": "auto",
                },
            },
            "square": {
                "class_type": "PT_NormalizePoseKeypoint",
                "inputs": {
                    "pose": ["pose", 0],
                    "coordinates": "auto",
                    "confidence_threshold": 0.0,
                    "binarize_confidence": False,
                    "mirror": False,
                    "canvas_width": size,
                    "canvas_height": size,
                    "canvas_fit": "contain",
                },
            },
            "estimator": {
                "class_type": "PT_LoadPoseEstimator",
                "inputs": {
                    "model_name": "body_pose_model.pth",
                    "box_size": box_size,
                    "softargmax_beta": 20.0,
                },
            },
            "field": {
                "class_type": "PT_LoadPoseField",
                "inputs": {"field_name": "analytic (kinematic prior, no file)"},
            },
            "guide": {
                "class_type": "PT_PoseGuidance",
                "inputs": {
                    "model": ["ckpt", 0],
                    "vae": ["ckpt", 2],
                    "target_pose": ["square", 0],
                    "estimator": ["estimator", 0],
                    "field": ["field", 0],
                    "strength": 0.08,
                    "heatmap_weight": 1.0,
                    "field_weight": 0.5,
                    "keypoint_weight": 0.0,
                    "start_percent": 0.5,
                    "end_percent": 1.0,
                    "every_n_steps": 1,
                    "mode": "x0",
                    "decode_downscale": "1",
                    "person": 0,
                },
            },
        }
        prompt["sample"]["inputs"]["model"] = ["guide", 0]
        if decoder is not None:
            prompt["decoder"] = {"class_type": "VAELoader", "inputs": {"vae_name": decoder}}
            prompt["guide"]["inputs"]["vae"] = ["decoder", 0]
    return prompt


def synchronize() -> None:
    """Wait for queued CUDA work, so that a timed call includes its kernels (no-op on the CPU)."""
    import torch

    if torch.cuda.is_available():
        torch.cuda.synchronize()


def peak_memory_reset() -> None:
    import torch

    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()


def peak_memory_mb(rss_before: float) -> str:
    import torch

    if torch.cuda.is_available():
        return f"{torch.cuda.max_memory_allocated() / 2**20:.0f} MB CUDA peak"
    return (
        f"+{(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before) / 1024:.0f} MB RSS peak growth"
    )


def module_ending(suffix: str) -> Any:
    return next(m for n, m in sys.modules.items() if n.endswith(suffix))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[64, 256], help="image sides in px")
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--box-size", type=int, default=184, help="estimator input height (368 = reference)")
    parser.add_argument("--model", choices=list(CHECKPOINTS),
                        help="tiny-sd15 (default without CUDA) or full-sd15: SD1.5 at its real sizes, random "
                        "weights (default with CUDA)")
    parser.add_argument("--decoder", choices=("vae", "taesd"), default="vae",
                        help="the guidance decodes x0 with the checkpoint's VAE or TAESD (random weights)")
    args = parser.parse_args()
    import torch

    args.model = args.model or ("full-sd15" if torch.cuda.is_available() else "tiny-sd15")
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    logger.setLevel(logging.INFO)
    with tempfile.TemporaryDirectory() as scratch:
        tree = prepare_host_tree(
            host_tree(), Path(scratch) / "ComfyUI", [TESTS / "host_plugins" / "pt_test_models"]
        )
        models = write_tiny_models(tree / "models")
        checkpoint = models["sd15"].name
        if args.model == "full-sd15":
            checkpoint = write_full_size_sd15(tree / "models" / "checkpoints" / "full_sd15.safetensors").name
        write_body_pose_model(tree / "models" / "openpose" / "body_pose_model.pth")
        host = start_in_process_host(tree)
        decoder = None
        if args.decoder == "taesd":
            decoder = write_random_taesd(tree / "models" / "vae" / "bench_taesd.safetensors").name
        import nodes

        guidance = module_ending("nodes.guidance")
        estimator_cls = module_ending("pose_models.openpose_body.estimator").OpenPoseBodyEstimator
        energy_cls = module_ending("pose_models.pose_guidance.energy").PoseEnergy
        rows = []
        for size in args.sizes:
            best: dict[bool, float] = {}
            memory: dict[bool, str] = {}
            parts: dict[str, float] = {}
            guided_steps = 0
            for guided in (False, True):
                peak_memory_reset()
                rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
                host.run(
                    prompt_for(guided, size, args.steps, 0, checkpoint, args.box_size, decoder),
                    keep_cache=False,
                ).raise_on_error()
                with (
                    Timed(nodes, "common_ksampler") as sampling,
                    Timed(guidance, "_energy_gradient") as grads,
                    Timed(guidance.LatentDecoder, "forward") as vae_decodes,
                    Timed(guidance.TinyLatentDecoder, "forward") as taesd_decodes,
                    Timed(energy_cls, "forward") as energies,
                    Timed(estimator_cls, "forward") as estimates,
                ):
                    for seed in range(1, args.repeats + 1):
                        prompt = prompt_for(
                            guided, size, args.steps, seed, checkpoint, args.box_size, decoder
                        )
                        host.run(prompt, keep_cache=True).raise_on_error()
                best[guided] = min(sampling.times)
                memory[guided] = peak_memory_mb(rss)
                if guided:
                    guided_steps = len(grads.times) // args.repeats
                    step = sum(grads.times) / len(grads.times)
                    decodes = vae_decodes.times + taesd_decodes.times
                    decode = sum(decodes) / len(decodes)
                    energy = sum(energies.times) / len(energies.times)
                    estimate = sum(estimates.times) / len(estimates.times)
                    parts = {
                        "step": step,
                        "decode": decode,
                        "estimator": estimate,
                        "energy": energy,
                        "backward": step - decode - energy,
                    }
            rows.append((size, best, memory, parts, guided_steps))
    logger.info(
        f"{args.model}, decoder {args.decoder}, {args.steps} euler steps, CFG 5, x0 mode, guidance on "
        f"steps in 0.5-1.0, estimator box {args.box_size}, best of {args.repeats}"
    )
    logger.info(
        "size | unguided s | guided s (x unguided) | guided steps | per guided step: total = decode + "
        "estimator+energy (estimator alone) + backward | memory unguided / guided"
    )
    for size, best, memory, parts, steps in rows:
        logger.info(
            f"{size}x{size} | {best[False]:.3f} | {best[True]:.3f} ({best[True] / best[False]:.2f}x) | "
            f"{steps} | {parts['step']:.3f} = {parts['decode']:.3f} + {parts['energy']:.3f} "
            f"({parts['estimator']:.3f}) + {parts['backward']:.3f} s | {memory[False]} / {memory[True]}"
        )


if __name__ == "__main__":
    main()
