"""Comparing a weight file's state dict with what a network expects, for error messages that say exactly
what does not fit (the loaders of the OpenPose body network, SCHP parsing and the CFLD release use it)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch

LISTED = 5
"""Names shown per kind of mismatch; the rest are counted."""


def listing(items: Sequence[str], limit: int = LISTED) -> str:
    """``"a, b, c and 4 more"``: the first ``limit`` items, then how many were left out."""
    shown = ", ".join(items[:limit])
    return shown + (f" and {len(items) - limit} more" if len(items) > limit else "")


def state_dict_mismatch(
    state: Mapping[str, torch.Tensor], expected: Mapping[str, Sequence[int]]
) -> list[str]:
    """What keeps ``state`` from loading strictly into a network whose ``{key: shape}`` is ``expected``:
    one phrase per kind (missing keys in ``expected``'s order, unexpected keys in ``state``'s, tensors of the
    wrong shape), e.g. ``"2 missing key(s): conv1_1.weight, conv1_1.bias"``. Empty when everything fits."""
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    wrong = [f"{k} {list(state[k].shape)} (expected {list(shape)})" for k, shape in expected.items()
             if k in state and tuple(state[k].shape) != tuple(shape)]
    problems = []
    if missing:
        problems.append(f"{len(missing)} missing key(s): {listing(missing)}")
    if unexpected:
        problems.append(f"{len(unexpected)} unexpected key(s): {listing(unexpected)}")
    if wrong:
        problems.append(f"{len(wrong)} tensor(s) of the wrong shape: {listing(wrong)}")
    return problems
