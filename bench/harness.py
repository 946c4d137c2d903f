"""What the benches share: the real ComfyUI host in process on the CPU or a GPU, checkpoints, timers,
peak memory and the JSON result rows that ``bench/gpu_suite.py`` collects.

Import it before anything from ``tests/``: it puts the test harness (host tree, tiny-model writers) on
``sys.path``. One host per process (ComfyUI keeps its state in module globals), so every bench script is
its own process.

A result row (``Row``) is one measured goal: what was measured, our figure, the baseline's (same run,
same machine), their ratio, the goal in words and whether it was met (``None`` where the run is not at
the goal's setting, e.g. a CPU dry run), and the peak GPU memory of our side.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
TESTS = REPO / "tests"
for _path in (TESTS / "comfy_host", TESTS):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))
if str(REPO) not in sys.path:
    sys.path.append(str(REPO))

import torch  # noqa: E402
from full_size_models import write_full_size_sd15, write_full_size_sdxl  # noqa: E402
from host_inprocess import InProcessHost, start_in_process_host  # noqa: E402
from host_install import host_tree  # noqa: E402
from host_tree import prepare_host_tree  # noqa: E402
from tiny_models.flux_checkpoints import write_flux_checkpoint  # noqa: E402
from tiny_models.sd_checkpoints import write_sd15_checkpoint, write_sdxl_checkpoint  # noqa: E402
from torchvision_fix import declare_torchvision_ops  # noqa: E402

CHECKPOINTS: dict[str, Callable[..., Path]] = {
    "tiny-sd15": write_sd15_checkpoint,
    "tiny-sdxl": write_sdxl_checkpoint,
    "tiny-flux": write_flux_checkpoint,
    "full-sd15": write_full_size_sd15,
    "full-sdxl": write_full_size_sdxl,
}
"""Checkpoint kinds: the tests' tiny models, or the released architectures at their real sizes with
random fp16 weights (``bench/full_size_models.py``)."""


@dataclass
class Row:
    """One measured goal (see the module docstring). Times in ``unit``; ``ratio`` = ours / baseline."""

    bench: str
    metric: str
    ours: float
    unit: str = "s"
    baseline: float | None = None
    goal: str = ""
    met: bool | None = None
    peak_gib: float | None = None
    note: str = ""

    @property
    def ratio(self) -> float | None:
        return None if self.baseline in (None, 0) else self.ours / self.baseline


def default_device() -> str:
    """``cuda`` where torch sees a GPU, else ``cpu``."""
    return "cuda" if torch.cuda.is_available() else "cpu"


def default_threads(device: str) -> int:
    """Torch CPU threads: 1 on the CPU (least noise in CPU timings), every core with CUDA (model building
    and loading are CPU work there, and the timed work is the GPU's)."""
    return 1 if device == "cpu" else os.cpu_count() or 1


def check_device(device: str) -> None:
    if device == "cuda" and not torch.cuda.is_available():
        raise SystemExit("--device cuda: torch sees no CUDA device (is this Python's torch a CUDA build?)")


def prepare_tree(scratch: Path) -> Path:
    """A scratch copy of the test host tree with this pack and the test-model plugin pack."""
    return prepare_host_tree(host_tree(), scratch / "ComfyUI", [TESTS / "host_plugins" / "pt_test_models"])


def start_host(tree: Path, device: str, attention: str = "pytorch") -> InProcessHost:
    """Start the host from ``tree`` on ``device``. ``attention="pytorch"`` is the host's
    ``--use-pytorch-cross-attention`` (SDPA, what GPU hosts use and what the pack's own attention calls
    use), ``"default"`` the host's own choice."""
    declare_torchvision_ops()
    sys.path.insert(0, str(tree))
    import comfy.cli_args

    comfy.cli_args.args.use_pytorch_cross_attention = attention == "pytorch"
    return start_in_process_host(tree, cpu=device == "cpu")


def checkpoint(tree: Path, kind: str, given: Path | None = None, device: str = "cpu") -> str:
    """The file name (in ``models/checkpoints``) of a ``kind`` checkpoint: ``given`` linked in (a file the
    suite wrote once for every bench), or written now (full-size values drawn on ``device``)."""
    folder = tree / "models" / "checkpoints"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"bench_{kind}.safetensors"
    if given is not None:
        path.symlink_to(given.resolve())
    elif kind.startswith("full-"):
        CHECKPOINTS[kind](path, device=device)
    else:
        CHECKPOINTS[kind](path)
    return path.name


def synchronize() -> None:
    """Wait for queued CUDA work, so that a timed call includes its kernels (no-op on the CPU)."""
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def reset_peak_memory() -> None:
    if torch.cuda.is_available():
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()


def peak_memory_gib() -> float | None:
    """Peak allocated CUDA memory since the last :func:`reset_peak_memory`; ``None`` on the CPU."""
    return torch.cuda.max_memory_allocated() / 2**30 if torch.cuda.is_available() else None


class Timed:
    """Replaces ``owner.name`` (a module function or a method) by a wrapper that records the wall time of
    each call (CUDA-synchronised on both ends) and, with ``arg_index``, that positional argument of each
    call (e.g. a sampler's seed, which tells whose call it was), with ``memory`` each call's peak CUDA
    memory (calls must not nest: the peak is reset at each call's start)."""

    def __init__(self, owner: Any, name: str, arg_index: int | None = None, memory: bool = False) -> None:
        self.owner, self.name, self.arg_index, self.memory = owner, name, arg_index, memory
        self.original: Callable[..., Any] = getattr(owner, name)
        self.times: list[float] = []
        self.args: list[Any] = []
        self.peaks: list[float | None] = []

    def __enter__(self) -> Timed:
        original, arg_index = self.original, self.arg_index

        def timed(*args: Any, **kwargs: Any) -> Any:
            if self.memory:
                reset_peak_memory()
            synchronize()
            start = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                synchronize()
                self.times.append(time.perf_counter() - start)
                if arg_index is not None:
                    self.args.append(args[arg_index])
                if self.memory:
                    self.peaks.append(peak_memory_gib())

        setattr(self.owner, self.name, timed)
        return self

    def __exit__(self, *exc: object) -> None:
        setattr(self.owner, self.name, self.original)

    def best_where(self, keep: Callable[[Any], bool]) -> float:
        """The shortest time among the calls whose recorded argument passes ``keep``."""
        return min(t for t, arg in zip(self.times, self.args, strict=True) if keep(arg))

    def peak_where(self, keep: Callable[[Any], bool]) -> float | None:
        """The highest peak memory (GiB) among the calls whose recorded argument passes ``keep``."""
        peaks = [p for p, arg in zip(self.peaks, self.args, strict=True) if keep(arg) and p is not None]
        return max(peaks) if peaks else None


def module_ending(suffix: str) -> Any:
    """The loaded module whose name ends with ``suffix`` (the pack's modules load under the host's
    custom-node package name)."""
    return next(m for n, m in sys.modules.items() if n.endswith(suffix))


def machine() -> dict[str, str]:
    """What the figures were measured on: GPU (or CPU), torch and CUDA versions, Python."""
    import platform

    info = {"python": platform.python_version(), "torch": torch.__version__,
            "cuda": str(torch.version.cuda), "device": "cpu"}
    if torch.cuda.is_available():
        info["device"] = torch.cuda.get_device_name(0)
    return info


def write_rows(path: Path | None, rows: list[Row], settings: str) -> None:
    """Write ``rows`` (with the machine and the run's settings) as JSON to ``path``, when one is given."""
    if path is None:
        return
    payload = {"machine": machine(), "settings": settings,
               "rows": [asdict(row) | {"ratio": row.ratio} for row in rows]}
    path.write_text(json.dumps(payload, indent=1))


def read_rows(path: Path) -> tuple[dict[str, Any], list[Row]]:
    """The ``(payload, rows)`` a bench wrote with :func:`write_rows`."""
    payload = json.loads(path.read_text())
    rows = [Row(**{k: v for k, v in row.items() if k != "ratio"}) for row in payload["rows"]]
    return payload, rows
