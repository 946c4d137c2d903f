"""Stopping a long network pass between its layers.

A host cancels a run by raising from a check function (ComfyUI's
``throw_exception_if_processing_interrupted``). Calling it between images is too coarse when one image takes
seconds (a ResNet-101 parser at 473 px on a CPU), so :func:`checked_forward` calls ``check()`` before
every direct child module of ``module`` (and of their children, ``depth`` levels down) runs: a cancel then
stops within one layer.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from torch import nn

InterruptCheck = Callable[[], None]
"""Raises to stop the run; returns ``None`` otherwise."""


@contextmanager
def checked_forward(module: nn.Module, check: InterruptCheck | None, depth: int = 2) -> Iterator[None]:
    """While open, ``check()`` runs before each forward of the submodules of ``module`` down to ``depth``
    levels; the hooks are removed on exit, also after an error or interrupt. ``check=None`` does nothing."""
    if check is None:
        yield
        return
    handles = []
    level = [module]
    try:
        for _ in range(depth):
            level = [child for parent in level for child in parent.children()]
            handles += [child.register_forward_pre_hook(lambda _m, _a: check()) for child in level]
        yield
    finally:
        for handle in handles:
            handle.remove()
