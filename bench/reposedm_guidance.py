"""RePoseDM pose guidance cost: unguided vs guided sampling in one run, with a per-part breakdown.

Runs the real ComfyUI host in process (the test harness's host tree, tiny SD1.5 checkpoint and a
random-weight OpenPose body network in the released layout; no GPU, no downloads)::

    python bench/reposedm_guidance.py                       # 64 and 256 px, 8 steps, estimator box 184
    python bench/reposedm_guidance.py --sizes 512 --steps 20 --box-size 368 --decoder taesd   # the GPU goal
    python bench/reposedm_guidance.py --sizes 512 --steps 20 --box-size 368   # the full VAE decode

With CUDA the checkpoint defaults to ``full-sd15``: SD1.5's UNet, VAE and CLIP-L at their real sizes with
random fp16 weights (``bench/full_size_models.py``), so the ratio weighs a real UNet step against a real
decode and estimator pass; on the CPU to the tiny SD1.5 (``--model`` picks either; ``--checkpoint FILE``
uses a file written earlier, as ``bench/gpu_suite.py`` does).

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
import tempfile
from pathlib import Path

import harness
from harness import Row, Timed, module_ending
from tiny_models.body_pose import write_body_pose_model
from tiny_models.taesd import write_random_taesd

logger = logging.getLogger("bench.reposedm_guidance")

GOAL = 1.5
"""Guided sampling (TAESD decoder, guidance on half of the steps) / unguided, on a GPU at 512 px."""


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


def rss_growth_mb(rss_before: float) -> float:
    """Growth of the process's peak RSS in MB (0 once an earlier configuration reached a higher peak)."""
    return (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before) / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", choices=["cpu", "cuda"], default=harness.default_device())
    parser.add_argument("--sizes", type=int, nargs="+", default=[64, 256], help="image sides in px")
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--box-size", type=int, default=184, help="estimator input height (368 = reference)")
    parser.add_argument("--model", choices=["tiny-sd15", "full-sd15"],
                        help="tiny-sd15 (default on the CPU) or full-sd15: SD1.5 at its real sizes, random "
                        "weights (default with CUDA)")
    parser.add_argument("--checkpoint", type=Path, help="an existing checkpoint file of --model's kind")
    parser.add_argument("--decoder", choices=("vae", "taesd"), default="vae",
                        help="the guidance decodes x0 with the checkpoint's VAE or TAESD (random weights)")
    parser.add_argument("--json", type=Path, help="also write the result rows here (bench/gpu_suite.py)")
    args = parser.parse_args()
    harness.check_device(args.device)
    args.model = args.model or ("full-sd15" if args.device == "cuda" else "tiny-sd15")
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    logger.setLevel(logging.INFO)
    with tempfile.TemporaryDirectory() as scratch:
        tree = harness.prepare_tree(Path(scratch))
        checkpoint = harness.checkpoint(tree, args.model, args.checkpoint, args.device)
        write_body_pose_model(tree / "models" / "openpose" / "body_pose_model.pth")
        host = harness.start_host(tree, args.device)
        decoder = None
        if args.decoder == "taesd":
            decoder = write_random_taesd(tree / "models" / "vae" / "bench_taesd.safetensors").name
        import nodes

        guidance = module_ending("nodes.host.sampling")  # calls energy_gradient by its module name
        autograd = module_ending("nodes.host.autograd")
        estimator_cls = module_ending("pose_models.openpose_body.estimator").OpenPoseBodyEstimator
        energy_cls = module_ending("pose_models.pose_guidance.energy").PoseEnergy
        results = []
        for size in args.sizes:
            best: dict[bool, float] = {}
            peaks: dict[bool, float | None] = {}
            parts: dict[str, float] = {}
            guided_steps = 0
            for guided in (False, True):
                harness.reset_peak_memory()
                rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
                host.run(
                    prompt_for(guided, size, args.steps, 0, checkpoint, args.box_size, decoder),
                    keep_cache=False,
                ).raise_on_error()
                with (
                    Timed(nodes, "common_ksampler") as sampling,
                    Timed(guidance, "energy_gradient") as grads,
                    Timed(autograd.LatentDecoder, "forward") as vae_decodes,
                    Timed(autograd.TinyLatentDecoder, "forward") as taesd_decodes,
                    Timed(energy_cls, "forward") as energies,
                    Timed(estimator_cls, "forward") as estimates,
                ):
                    for seed in range(1, args.repeats + 1):
                        prompt = prompt_for(
                            guided, size, args.steps, seed, checkpoint, args.box_size, decoder
                        )
                        host.run(prompt, keep_cache=True).raise_on_error()
                best[guided] = min(sampling.times)
                peaks[guided] = harness.peak_memory_gib()
                if peaks[guided] is None:
                    logger.info(f"{size} px, guided={guided}: +{rss_growth_mb(rss):.0f} MB RSS peak growth")
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
            results.append((size, best, peaks, parts, guided_steps))
    settings = (
        f"{args.model} on {args.device}, decoder {args.decoder}, {args.steps} euler steps, CFG 5, x0 mode, "
        f"guidance on steps in 0.5-1.0, estimator box {args.box_size}, best of {args.repeats}"
    )
    logger.info(settings)
    logger.info(
        "size | unguided s | guided s (x unguided) | guided steps | per guided step: total = decode + "
        "estimator+energy (estimator alone) + backward | peak GiB unguided / guided"
    )
    rows = []
    for size, best, peaks, parts, steps in results:
        ratio = best[True] / best[False]
        breakdown = (f"{steps} guided steps of {parts['step']:.3f} s = decode {parts['decode']:.3f} + "
                     f"estimator+energy {parts['energy']:.3f} (estimator {parts['estimator']:.3f}) + "
                     f"backward {parts['backward']:.3f}")
        logger.info(f"{size}x{size} | {best[False]:.3f} | {best[True]:.3f} ({ratio:.2f}x) | {breakdown} | "
                    f"{peaks[False]} / {peaks[True]}")
        at_goal = args.device == "cuda" and size == 512 and args.decoder == "taesd"
        rows.append(Row(
            bench="reposedm", metric=f"RePoseDM guided sampling ({args.decoder} decoder), {size} px, "
                                     f"{args.steps} steps",
            ours=best[True], baseline=best[False], goal=f"<= {GOAL}x unguided (GPU, 512 px, TAESD)",
            met=ratio <= GOAL if at_goal else None, peak_gib=peaks[True],
            note=f"{breakdown}; unguided peak {peaks[False]}"))
    harness.write_rows(args.json, rows, settings)


if __name__ == "__main__":
    main()
