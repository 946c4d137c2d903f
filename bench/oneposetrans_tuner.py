"""OnePoseTrans tuner speed and memory: a PT_OnePoseTransTuner step vs a plain peft LoRA step, one run.

Runs the real ComfyUI host in process (the test harness's host tree and tiny models; no downloads). The
tuner runs as a graph node (CheckpointLoaderSimple + LoadImage -> PT_OnePoseTransTuner, the official
recipe: rank 32, alpha 32, to_q/to_k/to_v/to_out.0 of every attn1/attn2, AdamW lr 1e-3 wd 1e-2, batch 2,
precision "auto", no gradient checkpointing, no evaluation passes). The baseline is the step a user would
write by hand: peft's ``LoraConfig`` (same rank, alpha, target modules) injected into the SAME
checkpoint's UNet module as the host builds it (loaded with ``comfy.sd.load_checkpoint_guess_config``),
AdamW with the same settings, the same batch, latent size, timestep distribution, text context (and SDXL
``y``), autocast dtype and eps-MSE loss; it reads the loss each step as the tuner does. Rounds alternate
tuner graph and baseline so both see the same machine load. Reported: median step time after
``--warmup`` steps of each round (tuner: time between its per-step loss reports), the ratio (goal <= 1.1x
on the tiny CPU config), the tuner node's wall time (VAE encoding, caption, model load, training), and on
CUDA the peak allocated memory of each (goal for SDXL at 512 px, 60 steps on an H100: <= 15 s, <= 24 GB).

The bench venv (peft is not in the CI venv; it must stay untouched)::

    python3.11 -m venv /tmp/otbench/venv
    /tmp/otbench/venv/bin/pip install torch==2.13.0      # on a GPU machine: the CUDA build of 2.13.0
    /tmp/otbench/venv/bin/pip install -c tests/constraints.txt -r .test-cache/host-requirements.txt \
        -r requirements.txt insightface onnx onnxruntime   # as tests/run.sh (the host pulls torchvision)
    /tmp/otbench/venv/bin/pip install --no-deps peft accelerate
    /tmp/otbench/venv/bin/pip check

(no diffusers in it, next to the host's torchvision; on CPU torch that CUDA-built torchvision imports only
after ``tests/comfy_host/torchvision_fix.declare_torchvision_ops()``, which the bench calls before peft and
transformers load). Without peft (the CI venv, the suite's dry run) the tuner runs alone and only its wall
time and memory are reported. Commands::

    /tmp/otbench/venv/bin/python bench/oneposetrans_tuner.py              # tiny SD1.5, CPU, 64 px crops
    /tmp/otbench/venv/bin/python bench/oneposetrans_tuner.py --crops 64 128 --steps 12 --rounds 3
    /tmp/otbench/venv/bin/python bench/oneposetrans_tuner.py --model tiny-sdxl   # the SDXL path (y input)
    /tmp/otbench/venv/bin/python bench/oneposetrans_tuner.py --device cuda   # full-size SDXL, recipe

``--device cuda`` writes an SDXL-shaped checkpoint at the real sizes (UNet 2.6 B parameters, CLIP-L,
CLIP-G, VAE; random weights, fp16, about 7 GB, with the tiny-model layout writer; ``--checkpoint FILE``
uses one written earlier) and defaults to the recipe: 60 steps, batch 2, 512 px crops.

Also reported: the bytes autograd keeps for the backward pass (distinct storages, the models' own weights
left out), which shows per-forward weight copies the CPU cannot show as peak memory.

Measured (CPU, 1 thread, quiet 2-core machine, peft 0.21.2, 12 steps x 4 rounds), tuner x peft step: tiny
SD1.5 64 px 0.91x (0.083 s vs 0.091 s), 128 px 0.94x (0.156 s vs 0.167 s), tiny SDXL 64 px 0.94x (0.076 s vs
0.081 s); kept for backward 11.5 vs 7.5, 25.8 vs 23.7 and 13.7 vs 6.1 MiB (the extra is the adapted linears'
materialised weights ``w + scale * up @ down``, which the weight-adapter mechanism keeps for the input
gradient). Goal <= 1.1x met; with other jobs on the machine single runs move by about 0.2x. Before the tuner
gave the frozen weights one normal-tensor copy per run (it had identity weight wrappers: one copy of every
UNet weight per forward) the same bench measured 1.30x / 1.32x and 44.9 vs 7.5 MiB kept for backward. The
CUDA mode has not run yet (no GPU here); its UNet layout is detected by the host's ``model_detection`` as
its own SDXL config (checked with meta tensors).
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import logging
import statistics
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import harness
import torch
from harness import Row, module_ending
from oneposetrans.oneposetrans_graphs import tuner_prompt, write_source

logger = logging.getLogger("bench.oneposetrans_tuner")

RANK, ALPHA, LEARNING_RATE, WEIGHT_DECAY, BATCH = 32, 32.0, 1e-3, 1e-2, 2
WALL_GOAL, MEMORY_GOAL = 15.0, 24.0
"""The official recipe on an H100: tuner node wall time (s) and peak GPU memory (GiB)."""
STEP_GOAL = 1.1
"""Tuner step / hand-written peft step."""
TARGETS = ("to_q", "to_k", "to_v", "to_out.0")


class SavedForBackward:
    """Bytes of the distinct tensor storages autograd keeps for the backward pass inside the block,
    leaving out the model's own weights (``exclude``: parameter storages, which cost nothing extra): the
    activations and any per-forward weight copies. The max over blocks is kept in ``peak``."""

    def __init__(self, exclude: set[int]) -> None:
        self.exclude, self.peak = exclude, 0
        self.seen: set[int] = set()
        self.total = 0
        self.hooks = torch.autograd.graph.saved_tensors_hooks(self.pack, lambda t: t)

    def pack(self, tensor: torch.Tensor) -> torch.Tensor:
        storage = tensor.untyped_storage()
        pointer = storage.data_ptr()
        if pointer not in self.exclude and pointer not in self.seen:
            self.seen.add(pointer)
            self.total += storage.nbytes()
        return tensor

    def __enter__(self) -> SavedForBackward:
        self.seen, self.total = set(), 0
        self.hooks.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.hooks.__exit__(*exc)
        self.peak = max(self.peak, self.total)


def storages(module: torch.nn.Module) -> set[int]:
    return {t.untyped_storage().data_ptr() for t in (*module.parameters(), *module.buffers())}


@dataclass
class TunerCapture:
    """What one tuner run did: step end times, its loss function (context, ``y``, sampling, autocast)
    and the latent batch shape."""

    step_ends: list[float] = field(default_factory=list)
    loss_fn: Any = None
    batch_shape: tuple[int, ...] | None = None
    wall: list[float] = field(default_factory=list)
    saved: SavedForBackward | None = None
    on_step: Any = None
    """Called at the end of every step (the profiler's ``step``)."""

    def step_times(self, warmup: int) -> list[float]:
        ends = self.step_ends
        return [b - a for a, b in zip(ends[warmup:], ends[warmup + 1 :], strict=False)]


class Instrument:
    """Patches the tuner module (``_show_loss``: called once at the end of every step; ``DenoisingLoss``:
    recorded for the baseline) and the node module's ``tune`` (wall time); restored on exit."""

    def __init__(self, tuner_module: Any, node_module: Any, capture: TunerCapture, cuda: bool) -> None:
        self.tuner, self.node, self.capture, self.cuda = tuner_module, node_module, capture, cuda
        self.saved = (tuner_module._show_loss, tuner_module.DenoisingLoss, node_module.tune)

    def __enter__(self) -> Instrument:
        show_loss, loss_class, tune = self.saved
        capture, cuda = self.capture, self.cuda

        def step_end(*args: Any) -> None:
            if cuda:
                torch.cuda.synchronize()
            capture.step_ends.append(time.perf_counter())
            show_loss(*args)
            if capture.on_step is not None:
                capture.on_step()

        class RecordingLoss(loss_class):
            def __init__(self, *args: Any, **kwargs: Any) -> None:
                super().__init__(*args, **kwargs)
                capture.loss_fn = self

            def __call__(self, x0: torch.Tensor, *args: Any) -> torch.Tensor:
                capture.batch_shape = tuple(x0.shape)
                if capture.saved is None:
                    capture.saved = SavedForBackward(storages(self.base))
                with capture.saved:
                    return super().__call__(x0, *args)

        def timed_tune(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return tune(*args, **kwargs)
            finally:
                capture.wall.append(time.perf_counter() - start)

        self.tuner._show_loss, self.tuner.DenoisingLoss, self.node.tune = step_end, RecordingLoss, timed_tune
        return self

    def __exit__(self, *exc: object) -> None:
        self.tuner._show_loss, self.tuner.DenoisingLoss, self.node.tune = self.saved


def peft_unet(checkpoint: Path, device: torch.device) -> torch.nn.Module:
    """The checkpoint's UNet module as the host builds it, with peft LoRA on the tuner's targets; only
    the LoRA factors (fp32) train."""
    import comfy.sd
    from peft import LoraConfig, inject_adapter_in_model

    patcher = comfy.sd.load_checkpoint_guess_config(str(checkpoint), output_vae=False, output_clip=False)[0]
    unet = patcher.model.diffusion_model.to(device)
    unet.requires_grad_(False)
    config = LoraConfig(r=RANK, lora_alpha=ALPHA, target_modules=list(TARGETS), lora_dropout=0.0)
    unet = inject_adapter_in_model(config, unet)
    for name, parameter in unet.named_parameters():
        trainable = "lora_" in name
        if trainable:
            parameter.data = parameter.data.float()
        parameter.requires_grad_(trainable)
    return unet


def check_same_targets(unet: torch.nn.Module, patcher: Any) -> None:
    """Both sides adapt the same linears: peft's LoRA layers and the tuner's LoRA weight wrappers."""
    from comfy.weight_adapter.lora import LoraDiff
    from peft.tuners.lora import LoraLayer

    peft_names = {n for n, m in unet.named_modules() if isinstance(m, LoraLayer)}
    tuner_names = {
        key.removeprefix("diffusion_model.").removesuffix(".weight")
        for key, wrappers in patcher.weight_wrapper_patches.items()
        if any(isinstance(w, LoraDiff) for w in wrappers)
    }
    if peft_names != tuner_names:
        raise RuntimeError(f"adapted linears differ: peft only {sorted(peft_names - tuner_names)[:5]}, "
                           f"tuner only {sorted(tuner_names - peft_names)[:5]}")
    logger.info(f"both sides adapt the same {len(peft_names)} linears")


def baseline_steps(unet: torch.nn.Module, capture: TunerCapture, steps: int, seed: int,
                   saved: SavedForBackward) -> list[float]:
    """``steps`` hand-written LoRA steps (forward inside ``saved``); returns each step's wall time.
    ``x_t = sqrt(ā)x0 + sqrt(1-ā)ε``, ``loss = mse(unet(x_t, t, context, y), ε)``."""
    loss_fn = capture.loss_fn
    device = loss_fn.device
    alphas_cumprod = 1.0 / (1.0 + loss_fn.sampling.sigmas.to(device).float() ** 2)
    parameters = [p for p in unet.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(parameters, lr=LEARNING_RATE, betas=(0.9, 0.999), eps=1e-8,
                                  weight_decay=WEIGHT_DECAY)
    scaler = torch.amp.GradScaler(device.type, enabled=loss_fn.autocast == torch.float16)
    generator = torch.Generator().manual_seed(seed)
    latents = torch.randn((steps, *capture.batch_shape), generator=generator)
    dtype = next(unet.parameters()).dtype
    times = []
    for step in range(steps):
        start = time.perf_counter()
        x0 = latents[step].to(device)
        batch = x0.shape[0]
        timesteps = torch.randint(0, 1000, (batch,), generator=generator).to(device)
        noise = torch.randn(x0.shape, generator=generator).to(device)
        abar = alphas_cumprod[timesteps].view(-1, 1, 1, 1)
        x_t = abar.sqrt() * x0 + (1 - abar).sqrt() * noise
        extra = {} if loss_fn.adm is None else {"y": loss_fn.adm.repeat(batch, 1).to(dtype)}
        autocast = torch.autocast(device.type, dtype=loss_fn.autocast, enabled=loss_fn.autocast is not None)
        with saved, autocast:
            context = loss_fn.cond.repeat(batch, 1, 1).to(dtype)
            prediction = unet(x_t.to(dtype), timesteps.float(), context=context, **extra)
        loss = torch.nn.functional.mse_loss(prediction.float(), noise)
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
        optimizer.zero_grad(set_to_none=True)
        float(loss.detach())
        if device.type == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return times


PROFILE_WAIT, PROFILE_ACTIVE = 4, 3
"""``--profile``: steps left out before the profiled ones (one more warms the profiler up), steps profiled."""


def step_profiler(cuda: bool) -> torch.profiler.profile:
    """A profiler over ``PROFILE_ACTIVE`` tuner steps (advanced by the tuner's step-end hook)."""
    activities = [torch.profiler.ProfilerActivity.CPU]
    if cuda:
        activities.append(torch.profiler.ProfilerActivity.CUDA)
    return torch.profiler.profile(
        activities=activities,
        schedule=torch.profiler.schedule(wait=PROFILE_WAIT, warmup=1, active=PROFILE_ACTIVE, repeat=1))


def gib(value: float | None) -> str:
    return "n/a (CPU)" if value is None else f"{value:.2f} GiB"


def bench_crop(host: Any, checkpoint: str, source: str, crop: int, args: argparse.Namespace) -> dict:
    """Alternating rounds of tuner graph and baseline (when peft is installed) at one crop size; medians,
    wall times, peaks."""
    import comfy.model_management

    cuda = args.device == "cuda"
    tuner_module = module_ending("nodes.oneposetrans.training")
    node_module = module_ending("nodes.oneposetrans.tuner")
    tuner_times, baseline_times, walls = [], [], []
    tuner_peak = baseline_peak = None
    unet, tuner_saved, baseline_saved = None, 0, None
    for round_index in range(args.rounds):
        capture = TunerCapture()
        prompt = tuner_prompt(checkpoint, source, steps=args.steps, batch_size=BATCH, crop_size=crop,
                              rank=RANK, alpha=ALPHA, learning_rate=LEARNING_RATE, weight_decay=WEIGHT_DECAY,
                              eval_samples=0, seed=round_index, lora_dtype="fp16", precision=args.precision)
        comfy.model_management.soft_empty_cache()
        harness.reset_peak_memory()
        profiler = step_profiler(cuda) if args.profile and round_index == 0 else contextlib.nullcontext()
        with Instrument(tuner_module, node_module, capture, cuda), profiler:
            if args.profile and round_index == 0:
                capture.on_step = profiler.step
            host.run(prompt, keep_cache=True).raise_on_error()
        if args.profile and round_index == 0:
            sort = "self_cuda_time_total" if cuda else "self_cpu_time_total"
            logger.info(f"profile of steps {PROFILE_WAIT + 2}-{PROFILE_WAIT + 1 + PROFILE_ACTIVE}:\n"
                        + profiler.key_averages().table(sort_by=sort, row_limit=25))
        tuner_peak = harness.peak_memory_gib()
        tuner_times += capture.step_times(args.warmup)
        tuner_saved = max(tuner_saved, capture.saved.peak)
        walls += capture.wall
        logger.info(f"round {round_index}, {crop} px: tuner node {capture.wall[-1]:.2f} s, median step "
                    f"{statistics.median(capture.step_times(args.warmup)):.4f} s, peak {gib(tuner_peak)}")
        if not args.peft or args.no_baseline:
            continue
        if cuda:
            comfy.model_management.unload_all_models()
            comfy.model_management.soft_empty_cache()
        device = capture.loss_fn.device
        path = Path(host.models_dir) / "checkpoints" / checkpoint
        started = time.perf_counter()
        unet = peft_unet(path, device) if unet is None else unet.to(device)
        logger.info(f"round {round_index}: peft UNet ready in {time.perf_counter() - started:.1f} s")
        harness.reset_peak_memory()
        check_same_targets(unet, capture.loss_fn.patcher)
        baseline_saved = baseline_saved or SavedForBackward(storages(unet))
        baseline_times += baseline_steps(unet, capture, args.steps, round_index, baseline_saved)[
            args.warmup + 1 :
        ]
        baseline_peak = harness.peak_memory_gib()
        logger.info(f"round {round_index}, {crop} px: peft median step "
                    f"{statistics.median(baseline_times[-(args.steps - args.warmup - 1):]):.4f} s, "
                    f"peak {gib(baseline_peak)}")
        if cuda:
            unet.to("cpu")
            comfy.model_management.soft_empty_cache()
    return {"crop": crop, "tuner": statistics.median(tuner_times),
            "baseline": statistics.median(baseline_times) if baseline_times else None,
            "wall": min(walls), "tuner_peak": tuner_peak, "baseline_peak": baseline_peak,
            "samples": (len(tuner_times), len(baseline_times)),
            "saved": (tuner_saved / 2**20, baseline_saved.peak / 2**20 if baseline_saved else None)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu",
                        help="cpu: tiny SD1.5; cuda: full-size random SDXL (the recipe)")
    parser.add_argument("--model", choices=["tiny-sd15", "tiny-sdxl", "full-sdxl"],
                        help="checkpoint (cpu: tiny-sd15, cuda: full-sdxl)")
    parser.add_argument("--checkpoint", type=Path, help="an existing checkpoint file of --model's kind")
    parser.add_argument("--crops", type=int, nargs="+", help="crop sides in px (cpu 64, cuda 512)")
    parser.add_argument("--steps", type=int, help="steps per round (cpu 10, cuda 60)")
    parser.add_argument("--rounds", type=int, default=2, help="alternating tuner/baseline rounds")
    parser.add_argument("--warmup", type=int, default=2, help="steps of each round left out of the median")
    parser.add_argument("--threads", type=int,
                        help="torch CPU threads (default: 1 on the CPU, least noise; every core with CUDA)")
    parser.add_argument("--precision", choices=["auto", "fp32", "bf16", "fp16"], default="auto",
                        help="the tuner's precision input (auto = the node default)")
    parser.add_argument("--no-baseline", action="store_true", help="time the tuner only (no peft steps)")
    parser.add_argument("--profile", action="store_true",
                        help=f"print a torch profile of {PROFILE_ACTIVE} steps of the first round")
    parser.add_argument("--json", type=Path, help="also write the result rows here (bench/gpu_suite.py)")
    args = parser.parse_args()
    harness.check_device(args.device)
    cuda = args.device == "cuda"
    args.model = args.model or ("full-sdxl" if cuda else "tiny-sd15")
    args.crops = args.crops or ([512] if cuda else [64])
    args.steps = args.steps or (60 if cuda else 10)
    if args.steps <= args.warmup + 1:
        parser.error(f"--steps must exceed --warmup + 1 ({args.warmup + 1})")
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    logger.setLevel(logging.INFO)
    args.peft = importlib.util.find_spec("peft") is not None
    if not args.peft:
        logger.warning("peft is not installed: the tuner runs without its hand-written peft baseline")
    args.threads = args.threads or harness.default_threads(args.device)
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as scratch:
        tree = harness.prepare_tree(Path(scratch))
        checkpoint = harness.checkpoint(tree, args.model, args.checkpoint, args.device)
        host = harness.start_host(tree, args.device)
        module_ending("nodes.oneposetrans.training").LOG.setLevel(logging.INFO)  # its phase timings
        (tree / "input").mkdir(exist_ok=True)
        source = write_source(tree / "input")
        results = [bench_crop(host, checkpoint, source, crop, args) for crop in args.crops]
    settings = (f"{args.model} on {args.device} ({args.threads} CPU thread(s)), precision {args.precision}, "
                f"rank {RANK}, batch {BATCH}, "
                f"{args.steps} steps x {args.rounds} rounds, median after {args.warmup} warm-up steps")
    logger.info(settings)
    logger.info("crop | tuner step s | peft step s | tuner x peft | tuner node wall s | peak tuner | "
                "peak peft | saved for backward MiB (tuner, peft) | steps timed (tuner, peft)")
    rows = []
    for r in results:
        baseline = "n/a" if r["baseline"] is None else f"{r['baseline']:.4f}"
        ratio = "n/a" if r["baseline"] is None else f"{r['tuner'] / r['baseline']:.2f}x"
        saved = f"{r['saved'][0]:.1f}, " + ("n/a" if r["saved"][1] is None else f"{r['saved'][1]:.1f}")
        logger.info(f"{r['crop']} | {r['tuner']:.4f} | {baseline} | {ratio} | {r['wall']:.2f} | "
                    f"{gib(r['tuner_peak'])} | {gib(r['baseline_peak'])} | {saved} | {r['samples']}")
        recipe = cuda and args.model == "full-sdxl" and r["crop"] == 512 and args.steps == 60
        rows.append(Row(
            bench="oneposetrans", metric=f"OnePoseTrans tuner node, {args.model}, {r['crop']} px, "
                                         f"{args.steps} steps, batch {BATCH}",
            ours=r["wall"], goal=f"<= {WALL_GOAL:.0f} s and <= {MEMORY_GOAL:.0f} GiB (H100, official recipe)",
            met=(r["wall"] <= WALL_GOAL and r["tuner_peak"] <= MEMORY_GOAL) if recipe else None,
            peak_gib=r["tuner_peak"], note="node wall time: VAE encode, caption, model load, training"))
        if r["baseline"] is not None:
            rows.append(Row(
                bench="oneposetrans", metric=f"OnePoseTrans tuner step vs peft LoRA step, {args.model}, "
                                             f"{r['crop']} px",
                ours=r["tuner"], baseline=r["baseline"], goal=f"<= {STEP_GOAL}x peft",
                met=r["tuner"] / r["baseline"] <= STEP_GOAL, peak_gib=r["tuner_peak"],
                note=f"peft peak {gib(r['baseline_peak'])}; steps timed {r['samples']}"))
    harness.write_rows(args.json, rows, settings)


if __name__ == "__main__":
    main()
