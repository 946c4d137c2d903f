"""The real ComfyUI host, in this test process: the host's own loader and executor, no server.

``start_in_process_host`` imports a prepared host tree (see ``host_tree.prepare_host_tree``), loads the
built-in nodes and every pack in its ``custom_nodes`` through the host's own custom-node loader, and
returns an ``InProcessHost`` whose ``run`` validates an API-format prompt and executes it with the
host's ``execution.PromptExecutor`` (inside ``torch.inference_mode``, exactly as the server does).

Only one host can live in a process: ComfyUI keeps its state in module globals.
"""

from __future__ import annotations

import asyncio
import inspect
import itertools
import logging
import os
import sys
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from torchaudio_stub import stub_torchaudio
from torchvision_fix import declare_torchvision_ops

LOG = logging.getLogger(__name__)


THROTTLE_SETTINGS = ("PROGRESS_THROTTLE_MIN_INTERVAL", "PROGRESS_THROTTLE_MIN_PERCENT")
"""``comfy.utils`` settings with which newer hosts call the progress hook only now and then."""


class PromptValidationError(AssertionError):
    """The host refused a prompt before running it (what ``POST /prompt`` answers with HTTP 400)."""


class PromptExecutionError(AssertionError):
    """A node raised while the host executed a prompt."""


@dataclass
class RunResult:
    """What one executed prompt left behind.

    ``outputs`` maps node id -> that node's UI output dict (``{"images": [...]}``, ...), as in
    ``/history``. ``messages`` are the executor's status messages ``(event, data)``; ``progress`` the
    ``(node_id, value, total)`` updates the progress-bar hook saw; ``error`` the ``execution_error`` or
    ``execution_interrupted`` data when the run failed; ``values`` the raw outputs (one list per output
    slot, as the executor caches them) of the nodes named in ``run(capture=...)``.
    """

    prompt_id: str
    success: bool
    outputs: dict[str, dict[str, Any]]
    messages: list[tuple[str, dict[str, Any]]]
    progress: list[tuple[str | None, int, int]]
    error: dict[str, Any] | None
    values: dict[str, list[list[Any]]]

    def value(self, node_id: str, slot: int = 0) -> Any:
        """The Python value of output ``slot`` of node ``node_id`` (a node named in ``run(capture=...)``)."""
        (item,) = self.values[node_id][slot]
        return item

    def raise_on_error(self) -> RunResult:
        if not self.success:
            err = self.error or {}
            raise PromptExecutionError(
                f"node {err.get('node_id')} ({err.get('node_type')}) failed: "
                f"{err.get('exception_type')}: {err.get('exception_message')}\n"
                + "".join(err.get("traceback") or [])
            )
        return self

    def images(self, node_id: str) -> list[Path]:
        """Absolute paths of the images a SaveImage/PreviewImage node wrote."""
        import folder_paths

        paths = []
        for item in self.outputs[node_id]["images"]:
            base = folder_paths.get_directory_by_type(item["type"])
            paths.append(Path(base) / item["subfolder"] / item["filename"])
        return paths


class _ServerStub:
    """The attributes ``PromptExecutor`` and the progress handlers read from the server; events recorded."""

    def __init__(self) -> None:
        self.client_id: str | None = None
        self.last_node_id: str | None = None
        self.last_prompt_id: str | None = None
        self.sockets_metadata: dict[str, Any] = {}
        self.events: list[tuple[str, Any]] = []

    def send_sync(self, event: str, data: Any, sid: str | None = None) -> None:
        self.events.append((event, data))

    def queue_updated(self) -> None:
        """Nothing listens to queue updates in process."""


@dataclass
class _ProgressRecorder:
    """Progress-bar hook like the server's: an interrupt point, plus a record of every update."""

    updates: list[tuple[str | None, int, int]] = field(default_factory=list)
    interrupt_after: int | None = None

    def __call__(self, value: int, total: int, preview: Any, prompt_id: str | None = None,
                 node_id: str | None = None) -> None:
        import comfy.model_management
        from comfy_execution.utils import get_executing_context

        context = get_executing_context()
        if node_id is None and context is not None:
            node_id = context.node_id
        self.updates.append((node_id, int(value), int(total)))
        if self.interrupt_after is not None and len(self.updates) >= self.interrupt_after:
            comfy.model_management.interrupt_current_processing(True)
        comfy.model_management.throw_exception_if_processing_interrupted()


class InProcessHost:
    """A loaded ComfyUI host. ``run`` executes API-format prompts through the real executor."""

    def __init__(self, tree: Path, load_log: list[logging.LogRecord]) -> None:
        import execution

        self.tree = tree
        self.models_dir = tree / "models"
        self.output_dir = tree / "output"
        self.input_dir = tree / "input"
        self.load_log = load_log
        self._server = _ServerStub()
        self._progress = _ProgressRecorder()
        self._executor = execution.PromptExecutor(
            self._server, cache_type=execution.CacheType.CLASSIC,
            cache_args={"lru": 0, "ram": 0, "ram_inactive": 0},  # newer hosts read ram_inactive
        )
        self._ids = itertools.count()

    @property
    def node_classes(self) -> dict[str, type]:
        import nodes

        return nodes.NODE_CLASS_MAPPINGS

    def validate(self, prompt: dict[str, Any]) -> list[str]:
        """Validate like ``POST /prompt``; return the output node ids, or raise PromptValidationError."""
        import execution

        check = execution.validate_prompt(str(uuid.uuid4()), prompt, None)
        ok, error, outputs, node_errors = asyncio.run(check)
        if not ok:
            raise PromptValidationError(f"{error}\nnode errors: {node_errors}")
        return outputs

    def run(self, prompt: dict[str, Any], *, capture: tuple[str, ...] = (), keep_cache: bool = False,
            interrupt_after_progress: int | None = None,
            extra_data: dict[str, Any] | None = None) -> RunResult:
        """Validate and execute ``prompt`` (API format: ``{id: {"class_type", "inputs"}}``).

        By default each run starts with empty node caches, so every node executes; ``keep_cache=True``
        behaves like consecutive queue items on a server. ``interrupt_after_progress=n`` interrupts the
        run (as the UI's cancel button does) at the n-th progress-bar update. ``capture`` names nodes
        whose raw output values the result keeps (``RunResult.value``).
        """
        import comfy.utils

        for name in THROTTLE_SETTINGS:  # newer hosts throttle the hook; the tests count every update
            if hasattr(comfy.utils, name):
                setattr(comfy.utils, name, 0)
        outputs = self.validate(prompt)
        if not keep_cache:
            self._executor.reset()
        self._progress.updates = []
        self._progress.interrupt_after = interrupt_after_progress
        comfy.utils.set_progress_bar_global_hook(self._progress)
        prompt_id = f"test-{next(self._ids)}"
        self._server.last_prompt_id = prompt_id
        self._executor.execute(prompt, prompt_id, extra_data or {}, outputs)
        messages = list(self._executor.status_messages)
        error = next((data for event, data in messages
                      if event in ("execution_error", "execution_interrupted")), None)
        values = {}
        for node_id in capture:
            entry = self._executor.caches.outputs.get(node_id)
            if inspect.isawaitable(entry):  # the cache became async in later hosts
                entry = asyncio.run(entry)
            if entry is not None:
                values[node_id] = entry.outputs
        return RunResult(
            prompt_id=prompt_id,
            success=self._executor.success and error is None,
            outputs=self._executor.history_result["outputs"],
            messages=messages,
            progress=list(self._progress.updates),
            error=error,
            values=values,
        )


class _Collect(logging.Handler):
    def __init__(self, records: list[logging.LogRecord]) -> None:
        super().__init__(logging.DEBUG)
        self.records = records

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def start_in_process_host(tree: Path, cpu: bool = True) -> InProcessHost:
    """Import the host from ``tree``, load built-ins and every pack in ``tree/custom_nodes``.

    ``cpu``: run as ``--cpu`` (the tests); ``False`` lets the host pick its device (the GPU benches).
    """
    declare_torchvision_ops()
    stub_torchaudio()
    os.chdir(tree)
    sys.path.insert(0, str(tree))
    import comfy.cli_args

    comfy.cli_args.args.cpu = cpu  # before comfy.model_management is imported
    import utils.extra_config  # noqa: F401  (must precede `nodes`, which shadows `utils` on sys.path)

    import nodes

    records: list[logging.LogRecord] = []
    handler = _Collect(records)
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        asyncio.run(nodes.init_extra_nodes(init_custom_nodes=True, init_api_nodes=False))
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)
    LOG.info("host loaded from %s: %d node classes", tree, len(nodes.NODE_CLASS_MAPPINGS))
    return InProcessHost(tree, records)
