"""Memory the host reports, and the one refusal for work that will not fit.

A node that allocates from its inputs (a size, a frame count, a batch) estimates the bytes first and calls
:func:`require_memory`: a request larger than what the host reports free (system RAM for the CPU,
the device's free memory for a GPU) stops the node with a message naming the amount, what is free and the
fix, before anything is allocated. The server keeps running either way; without the check the kernel's
out-of-memory killer could end it.
"""

from __future__ import annotations

import comfy.model_management
import torch

from ...pose_models.errors import PoseTransferError

HEADROOM = 0.85
"""Share of the reported free memory a node may plan to use (the rest is for everything else running)."""


class ResourceLimitError(PoseTransferError):
    """Work refused before it starts because it needs more memory than the machine has free."""


def free_memory(device: torch.device | str = "cpu") -> int:
    """Bytes the host reports free on ``device`` (``"cpu"``: available system RAM)."""
    return int(comfy.model_management.get_free_memory(torch.device(device)))


def format_bytes(count: float) -> str:
    """``count`` bytes as ``"512 MB"``, ``"6.6 GB"``, ``"2.3 TB"`` (decimal units, as users read them)."""
    for unit, size in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6), ("KB", 1e3)):
        if count >= size:
            return f"{count / size:.1f} {unit}" if count < 100 * size else f"{count / size:.0f} {unit}"
    return f"{int(count)} bytes"


def require_memory(needed: int, node: str, what: str, fix: str, device: torch.device | str = "cpu") -> None:
    """Raise :class:`ResourceLimitError` when ``needed`` bytes exceed :data:`HEADROOM` of what is free on
    ``device``: ``"<node>: <what> needs <N> of memory but <M> are free. <fix>"``."""
    free = free_memory(device)
    if needed > HEADROOM * free:
        kind = "system" if torch.device(device).type == "cpu" else f"{torch.device(device).type.upper()} "
        raise ResourceLimitError(
            f"{node}: {what} needs {format_bytes(needed)} of {kind.strip()} memory but "
            f"{format_bytes(free)} are free. {fix}"
        )


def chunk_that_fits(per_item: int, device: torch.device | str, count: int, node: str, what: str,
                    fix: str) -> int:
    """How many items of ``per_item`` working bytes to process at once on ``device`` (1 to ``count``);
    :class:`ResourceLimitError` when not even one fits (``what`` names one item)."""
    free = HEADROOM * free_memory(device)
    if per_item > free:
        require_memory(per_item, node, what, fix, device)
    return max(1, min(count, int(free // max(per_item, 1))))
