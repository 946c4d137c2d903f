"""Node errors: the pack's error root and the one helper that prefixes a node's display name.

Library errors (:class:`~pose_models.errors.PoseTransferError` and its subclasses) name what is wrong
and the fix; a node adds its display name, so the message in the page says which node failed.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from ...pose_models.errors import PoseTransferError

__all__ = ["PoseTransferError", "node_errors"]


@contextmanager
def node_errors(node: str) -> Iterator[None]:
    """Re-raise a :class:`PoseTransferError` from the block as the same class with ``"<node>: "`` in
    front of its message (once: a message that already starts with it is kept)."""
    try:
        yield
    except PoseTransferError as err:
        if str(err).startswith(f"{node}:"):
            raise
        raise type(err)(f"{node}: {err}") from None
