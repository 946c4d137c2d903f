"""TruePose speed: plain sampling vs cached-SourceNet HPFA vs per-step HPFA, same model, steps and size.

Runs the real ComfyUI host in process (the test harness's host tree; no downloads)::

    python bench/truepose_speed.py                        # CPU: tiny SD1.5, 64 and 256 px, 8 steps
    python bench/truepose_speed.py --model tiny-flux      # CPU: the tiny Flux.1-dev checkpoint
    python bench/truepose_speed.py --sizes 128 --steps 20 --repeats 5
    python bench/truepose_speed.py --device cuda --sizes 512 --steps 20 --repeats 3   # the GPU goal

With CUDA the checkpoint defaults to ``full-sd15`` (SD1.5 at its real sizes, random fp16 weights), on the
CPU to the tiny SD1.5; ``--checkpoint FILE`` uses a file written earlier (``bench/gpu_suite.py`` writes
it once for every bench). Goal on a GPU at 512 px, 20 steps: cached HPFA sampling <= 1.3x plain.

For each size one graph holds three KSamplers that differ only in their MODEL (the checkpoint's, HPFA
on a cached bank, HPFA on a per-step bank), so they share the model, steps, size and the machine's load.
The graph runs once to warm up (model load, SourceNet, caches); then each repeat changes only the
samplers' seeds, so only sampling re-executes. Reported: sampling time (best of ``--repeats``, timed
around ``nodes.common_ksampler``), its ratio to plain sampling, and the time of one source pass (the
cached mode runs it once per generation: ``generation`` = pass + sampling). HPFA on the node's default
blocks (``--blocks``), the test source (a person box over 37.5 % of the image), CFG on, euler; one torch
thread by default (less noise on a shared machine). The host's attention is SDPA by default
(``--host-attention pytorch``, what GPU hosts use), so plain and HPFA layers run the same kernel;
ComfyUI's CPU default is a slower sub-quadratic attention, which would make HPFA's own SDPA call look
faster than plain sampling.

Measured (tiny SD1.5, CPU, 1 thread, 8 steps, best of 5, shared 2-core machine), cached HPFA x plain:
64 px 1.06x, 256 px 1.21x (1.16x / 1.27x with the source pass); per-step mode 1.88x / 1.77x. With
``--blocks all``: 1.12x / 1.26x. Tiny Flux.1-dev (``--model tiny-flux``, same settings, best of 3, a
loaded machine): 64 px 1.14x, 256 px 1.06x (1.19x / 1.13x with the source pass; blocks ``auto`` =
double-stream), per-step 1.89x / 1.61x; ``--blocks all`` 1.15x / 1.00x.
"""

from __future__ import annotations

import argparse
import logging
import tempfile
from pathlib import Path

import harness
import torch
from harness import Row, Timed, module_ending
from truepose.truepose_graphs import FACE_BOX, PERSON_BOX, box_mask, random_image, write_png

logger = logging.getLogger("bench.truepose_speed")

MODES = ("plain", "cached", "per_step")
SEED_OFFSET = {"plain": 0, "cached": 1000, "per_step": 2000}
"""Each sampler gets its own seed range, which tells the timer whose call it is."""
GOAL = 1.3
"""Cached HPFA sampling / plain sampling on a GPU at 512 px."""


LATENT_NODES = {"tiny-flux": "EmptySD3LatentImage"}
"""The empty-latent node of each checkpoint kind that does not use ``EmptyLatentImage``."""


def bench_prompt(size: int, steps: int, repeat: int, ckpt: str, files: dict[str, str], blocks: str,
                 model: str) -> dict:
    """One graph, three samplers on the same latent size: plain, HPFA cached, HPFA per step."""
    from truepose.truepose_graphs import truepose_prompt

    prompt = truepose_prompt(ckpt, files["image"], files["person"], files["face"], steps=steps,
                             latent_size=size, latent_node=LATENT_NODES.get(model, "EmptyLatentImage"))
    prompt["hpfa"]["inputs"]["blocks"] = blocks
    per_step = {"bank": "bank_ps", "hpfa": "hpfa_ps", "sample": "sample_ps", "decode": "decode_ps",
                "preview": "preview_ps"}
    for node, copy in per_step.items():
        prompt[copy] = {"class_type": prompt[node]["class_type"], "inputs": dict(prompt[node]["inputs"])}
    prompt["bank_ps"]["inputs"]["mode"] = "per_step"
    prompt["hpfa_ps"]["inputs"]["bank"] = ["bank_ps", 0]
    prompt["sample_ps"]["inputs"]["model"] = ["hpfa_ps", 0]
    prompt["decode_ps"]["inputs"]["samples"] = ["sample_ps", 0]
    prompt["preview_ps"]["inputs"]["images"] = ["decode_ps", 0]
    for name in ("sample_plain", "decode_plain", "preview_plain"):
        source = name.split("_")[0]
        prompt[name] = {"class_type": prompt[source]["class_type"], "inputs": dict(prompt[source]["inputs"])}
    prompt["sample_plain"]["inputs"]["model"] = ["ckpt", 0]
    prompt["decode_plain"]["inputs"]["samples"] = ["sample_plain", 0]
    prompt["preview_plain"]["inputs"]["images"] = ["decode_plain", 0]
    for node, mode in (("sample_plain", "plain"), ("sample", "cached"), ("sample_ps", "per_step")):
        prompt[node]["inputs"]["seed"] = SEED_OFFSET[mode] + repeat
    return prompt


def write_inputs(folder: Path, size: int) -> dict[str, str]:
    import numpy as np
    from PIL import Image

    image = Image.fromarray(random_image(1)).resize((size, size), Image.NEAREST)
    masks = {}
    for name, box in (("person", PERSON_BOX), ("face", FACE_BOX)):
        mask = Image.fromarray(box_mask(box).astype(np.uint8) * 255).resize((size, size), Image.NEAREST)
        masks[name] = f"bench_{name}_{size}.png"
        mask.save(folder / masks[name])
    return {"image": write_png(folder, f"bench_source_{size}.png", np.asarray(image)), **masks}


def in_mode(mode: str):
    low = SEED_OFFSET[mode]
    return lambda seed: low <= seed < low + 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", choices=["cpu", "cuda"], default=harness.default_device())
    parser.add_argument("--model", choices=["tiny-sd15", "tiny-flux", "full-sd15"],
                        help="checkpoint (default: full-sd15 with CUDA, tiny-sd15 on the CPU)")
    parser.add_argument("--checkpoint", type=Path, help="an existing checkpoint file of --model's kind")
    parser.add_argument("--sizes", type=int, nargs="+", default=[64, 256], help="image sides in px")
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--host-attention", choices=["pytorch", "default"], default="pytorch",
                        help="pytorch: the host's attention is SDPA, as on GPU hosts and as HPFA's own call "
                             "(default); default: the host's CPU choice (sub-quadratic)")
    parser.add_argument("--blocks", default="auto", help="HPFA block selection (node default)")
    parser.add_argument("--threads", type=int,
                        help="torch CPU threads (default: 1 on the CPU, least noise; every core with CUDA)")
    parser.add_argument("--json", type=Path, help="also write the result rows here (bench/gpu_suite.py)")
    args = parser.parse_args()
    harness.check_device(args.device)
    args.model = args.model or ("full-sd15" if args.device == "cuda" else "tiny-sd15")
    args.threads = args.threads or harness.default_threads(args.device)
    torch.set_num_threads(args.threads)
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    logger.setLevel(logging.INFO)
    with tempfile.TemporaryDirectory() as scratch:
        tree = harness.prepare_tree(Path(scratch))
        ckpt = harness.checkpoint(tree, args.model, args.checkpoint, args.device)
        host = harness.start_host(tree, args.device, args.host_attention)
        import nodes

        bank_module = module_ending("nodes.truepose.bank")
        (tree / "input").mkdir(exist_ok=True)
        results = []
        for size in args.sizes:
            files = write_inputs(tree / "input", size)
            with Timed(bank_module, "run_source_pass") as passes:
                warm_up = bench_prompt(size, args.steps, 0, ckpt, files, args.blocks, args.model)
                host.run(warm_up).raise_on_error()
            with Timed(nodes, "common_ksampler", arg_index=1, memory=True) as sampling:
                for repeat in range(1, args.repeats + 1):
                    prompt = bench_prompt(size, args.steps, repeat, ckpt, files, args.blocks, args.model)
                    host.run(prompt, keep_cache=True).raise_on_error()
            best = {mode: sampling.best_where(in_mode(mode)) for mode in MODES}
            peaks = {mode: sampling.peak_where(in_mode(mode)) for mode in MODES}
            results.append((size, best, peaks, min(passes.times)))
    settings = (f"{args.model} on {args.device} ({args.threads} CPU thread(s), host attention "
                f"{args.host_attention}), {args.steps} euler steps, CFG, HPFA blocks '{args.blocks}', "
                f"best of {args.repeats}")
    logger.info(settings)
    logger.info("size | plain s | cached HPFA s (x plain) | per-step HPFA s (x plain) | "
                "cached SourceNet pass s | cached generation x plain | peak GiB plain / cached")
    rows = []
    on_flux = " on Flux" if "flux" in args.model else ""
    for size, best, peaks, source_pass in results:
        plain = best["plain"]
        logger.info(f"{size}x{size} | {plain:.3f} | {best['cached']:.3f} ({best['cached'] / plain:.2f}x) | "
                    f"{best['per_step']:.3f} ({best['per_step'] / plain:.2f}x) | {source_pass:.3f} | "
                    f"{(best['cached'] + source_pass) / plain:.2f}x | {peaks['plain']} / {peaks['cached']}")
        at_goal = args.device == "cuda" and size == 512
        rows.append(Row(
            bench="truepose", metric=f"TruePose cached HPFA sampling{on_flux}, {size} px, {args.steps} steps",
            ours=best["cached"], baseline=plain, goal=f"<= {GOAL}x plain sampling (GPU, 512 px)",
            met=best["cached"] / plain <= GOAL if at_goal else None, peak_gib=peaks["cached"],
            note=f"+ SourceNet pass {source_pass:.3f} s per generation; per-step mode "
                 f"{best['per_step'] / plain:.2f}x; plain peak {peaks['plain']}"))
    harness.write_rows(args.json, rows, settings)


if __name__ == "__main__":
    main()
