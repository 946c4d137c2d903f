"""Progress bars, interruption points and the node's progress text, through the host's channels."""

from __future__ import annotations

import logging
from collections.abc import Callable

import comfy.model_management
import comfy.utils

LOG = logging.getLogger(__name__)

def check_interrupted() -> None:
    """Raise the host's interruption exception when the user cancelled the run (clears the flag)."""
    comfy.model_management.throw_exception_if_processing_interrupted()


class ProgressBar(comfy.utils.ProgressBar):
    """The host's progress bar (``ProgressBar(total)``, ``update(n)``, ``update_absolute(value, total)``)
    whose every update is also an interruption point: the server's hook checks for a cancel, but newer
    hosts throttle how often the bar calls its hook."""

    def update_absolute(self, value: int, total: int | None = None, preview: object = None) -> None:
        super().update_absolute(value, total, preview)
        check_interrupted()


def stepper(total: int) -> Callable[[], None]:
    """A callable for long loops: checks for interruption, then advances a bar of ``total`` steps."""
    bar = ProgressBar(total)

    def step() -> None:
        check_interrupted()
        bar.update(1)

    return step


def show_progress_text(text: str) -> None:
    """Show ``text`` under the running node in the page (hosts without the channel: only logged)."""
    try:
        from comfy_execution.utils import get_executing_context
        from server import PromptServer

        context = get_executing_context()
        if PromptServer.instance is not None and context is not None:
            PromptServer.instance.send_progress_text(text, context.node_id)
    except (ImportError, AttributeError):
        LOG.debug("no progress text channel in this host")
