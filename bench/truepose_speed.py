"""TruePose speed: plain sampling vs cached-SourceNet HPFA vs per-step HPFA, same model, steps and size.

Runs the real ComfyUI host in process (the test harness's host tree and tiny models; no GPU, no weights)::

    python bench/truepose_speed.py                        # tiny SD1.5, 64 and 256 px, 8 steps
    python bench/truepose_speed.py --sizes 128 --steps 20 --repeats 5

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
``--blocks all``: 1.12x / 1.26x.
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

REPO = Path(__file__).resolve().parents[1]
TESTS = REPO / "tests"
sys.path[:0] = [str(TESTS), str(TESTS / "comfy_host")]
sys.path.append(str(REPO))

from host_inprocess import start_in_process_host  # noqa: E402
from host_install import host_tree  # noqa: E402
from host_tree import prepare_host_tree  # noqa: E402
from tiny_models import write_tiny_models  # noqa: E402
from truepose.truepose_graphs import FACE_BOX, PERSON_BOX, box_mask, random_image, write_png  # noqa: E402

logger = logging.getLogger("bench.truepose_speed")

MODES = ("plain", "cached", "per_step")
SEED_OFFSET = {"plain": 0, "cached": 1000, "per_step": 2000}
"""Each sampler gets its own seed range, which tells the timer whose call it is."""


class Timer:
    """Wraps a module function and keeps the wall time of each call."""

    def __init__(self, module: Any, name: str) -> None:
        self.module, self.name, self.times = module, name, []
        self.original = getattr(module, name)

    def __enter__(self) -> Timer:
        def timed(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return self.original(*args, **kwargs)
            finally:
                self.times.append(time.perf_counter() - start)
        setattr(self.module, self.name, timed)
        return self

    def __exit__(self, *exc: object) -> None:
        setattr(self.module, self.name, self.original)


class SamplingTimer:
    """Wraps ``nodes.common_ksampler`` and keeps ``(seed, seconds)`` of every call."""

    def __init__(self, module: Any) -> None:
        self.module, self.calls = module, []
        self.original = module.common_ksampler

    def __enter__(self) -> SamplingTimer:
        def timed(model: Any, seed: int, *args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return self.original(model, seed, *args, **kwargs)
            finally:
                self.calls.append((seed, time.perf_counter() - start))
        self.module.common_ksampler = timed
        return self

    def __exit__(self, *exc: object) -> None:
        self.module.common_ksampler = self.original

    def best(self, mode: str) -> float:
        low = SEED_OFFSET[mode]
        return min(t for seed, t in self.calls if low <= seed < low + 1000)


def bench_prompt(size: int, steps: int, repeat: int, ckpt: str, files: dict[str, str], blocks: str) -> dict:
    """One graph, three samplers on the same latent size: plain, HPFA cached, HPFA per step."""
    from truepose.truepose_graphs import truepose_prompt

    prompt = truepose_prompt(ckpt, files["image"], files["person"], files["face"], steps=steps,
                             latent_size=size)
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


def use_pytorch_attention(tree: Path) -> None:
    """Start the host as ``--use-pytorch-cross-attention`` would (before ``comfy.model_management`` loads)."""
    from torchvision_fix import declare_torchvision_ops

    declare_torchvision_ops()
    sys.path.insert(0, str(tree))
    import comfy.cli_args

    comfy.cli_args.args.use_pytorch_cross_attention = True


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[64, 256], help="image sides in px")
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--host-attention", choices=["pytorch", "default"], default="pytorch",
                        help="pytorch: the host's attention is SDPA, as on GPU hosts and as HPFA's own call "
                             "(default); default: the host's CPU choice (sub-quadratic)")
    parser.add_argument("--blocks", default="middle, output", help="HPFA block selection (node default)")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (1 = least noise)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    logger.setLevel(logging.INFO)
    with tempfile.TemporaryDirectory() as scratch:
        test_packs = [TESTS / "host_plugins" / "pt_test_models"]
        tree = prepare_host_tree(host_tree(), Path(scratch) / "ComfyUI", test_packs)
        models = write_tiny_models(tree / "models")
        if args.host_attention == "pytorch":
            use_pytorch_attention(tree)
        host = start_in_process_host(tree)
        import nodes

        bank_module = next(m for n, m in sys.modules.items() if n.endswith("nodes.truepose_bank"))
        (tree / "input").mkdir(exist_ok=True)
        rows = []
        for size in args.sizes:
            files = write_inputs(tree / "input", size)
            with Timer(bank_module, "run_source_pass") as passes:
                warm_up = bench_prompt(size, args.steps, 0, models["sd15"].name, files, args.blocks)
                host.run(warm_up).raise_on_error()
            with SamplingTimer(nodes) as sampling:
                for repeat in range(1, args.repeats + 1):
                    prompt = bench_prompt(size, args.steps, repeat, models["sd15"].name, files, args.blocks)
                    host.run(prompt, keep_cache=True).raise_on_error()
            best = {mode: sampling.best(mode) for mode in MODES}
            rows.append((size, best, min(passes.times)))
    logger.info(f"tiny SD1.5 (CPU, {args.threads} thread(s), host attention {args.host_attention}), "
                f"{args.steps} euler steps, CFG, HPFA blocks '{args.blocks}', best of {args.repeats}")
    logger.info("size | plain s | cached HPFA s (x plain) | per-step HPFA s (x plain) | "
                "cached SourceNet pass s | cached generation x plain")
    for size, best, source_pass in rows:
        plain = best["plain"]
        logger.info(f"{size}x{size} | {plain:.3f} | {best['cached']:.3f} ({best['cached'] / plain:.2f}x) | "
                    f"{best['per_step']:.3f} ({best['per_step'] / plain:.2f}x) | {source_pass:.3f} | "
                    f"{(best['cached'] + source_pass) / plain:.2f}x")


if __name__ == "__main__":
    main()
