"""Progress bars, interruption points and the node's progress text, through the host's channels."""

from __future__ import annotations

import logging
from collections.abc import Callable

import comfy.model_management
import comfy.utils

LOG = logging.getLogger(__name__)

ProgressBar = comfy.utils.ProgressBar
"""``ProgressBar(total)``: ``update(n)``, ``update_absolute(value, total)``; the server's hook makes every
update an interruption point."""


def check_interrupted() -> None:
    """Raise the host's interruption exception when the user cancelled the run (clears the flag)."""
    comfy.model_management.throw_exception_if_processing_interrupted()


def stepper(total: int) -> Callable[[], None]:
    """A callable for long loops: checks for interruption, then advances a bar of ``total`` steps."""
    bar = ProgressBar(total)

    def step() -> None:
        check_interrupted()
        bar.update(1)

    return step


def fraction_reporter(bar: comfy.utils.ProgressBar) -> Callable[[int, int], None]:
    """``update(done, total)`` for library loops that report their own totals; also an interruption point."""
    def update(done: int, total: int) -> None:
        bar.update_absolute(done, total)
        check_interrupted()

    return update


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
