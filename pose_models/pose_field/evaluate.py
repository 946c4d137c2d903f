"""Does a field score real poses lower than the same poses with one limb rotated? ROC-AUC per rotation size.

Protocol (:func:`evaluate_fields`): the rows are the **scorable** poses (:func:`.skeleton.scorable`) of the
given table (the CLI uses the held-out split) that have a visible bone of the protocol. For each protocol
(:data:`.perturb.EVAL_BONES`) one bone and a sign are drawn per pose from ``seed`` (the same draw for every
``delta``), the pose is rotated by ``sign * delta`` with its children carried, and coordinates are rounded to
whole pixels. Negatives = the real poses, positives = the rotated ones.

* ``auc``: ROC-AUC = P(f(rotated) > f(real)) over all (real, rotated) pairs, ties counting one half
  (Mann-Whitney U / (n_neg n_pos)); 0.5 = chance.
* ``paired``: the same, restricted to each pose and its own rotated copy.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .base import PoseField
from .perturb import EVAL_BONES, choose_limbs, rotate_one_limb
from .skeleton import scorable

DEFAULT_DELTAS = (0.2, 0.4, 0.8)
DEFAULT_EVAL_SEED = 1
"""Evaluation seed (training uses 0 by default: a different random stream, and a different protocol)."""


@dataclass(frozen=True)
class EvalRow:
    """One line of the table: field, protocol, rotation ``delta`` (radians), number of poses, metrics."""

    field: str
    protocol: str
    delta: float
    n: int
    auc: float
    paired: float


def _average_ranks(values: np.ndarray) -> np.ndarray:
    """1-based ranks of ``values`` with ties given their average rank."""
    order = np.argsort(values, kind="mergesort")
    sorted_values = values[order]
    ranks = np.empty(len(values), dtype=np.float64)
    start = 0
    while start < len(values):
        end = start
        while end + 1 < len(values) and sorted_values[end + 1] == sorted_values[start]:
            end += 1
        ranks[order[start : end + 1]] = (start + end) / 2 + 1
        start = end + 1
    return ranks


def roc_auc(negatives: np.ndarray, positives: np.ndarray) -> float:
    """ROC-AUC of scores where positives should be higher (Mann-Whitney U, ties count one half)."""
    negatives, positives = np.asarray(negatives, np.float64), np.asarray(positives, np.float64)
    if len(negatives) == 0 or len(positives) == 0:
        raise ValueError("roc_auc needs at least one negative and one positive score.")
    ranks = _average_ranks(np.concatenate([negatives, positives]))
    n_pos = len(positives)
    u = ranks[len(negatives):].sum() - n_pos * (n_pos + 1) / 2
    return float(u / (len(negatives) * n_pos))


def paired_win_rate(real: np.ndarray, rotated: np.ndarray) -> float:
    """Fraction of poses whose rotated copy scores higher than the real pose (ties count one half)."""
    real, rotated = np.asarray(real), np.asarray(rotated)
    return float(((rotated > real) + 0.5 * (rotated == real)).mean())


@torch.no_grad()
def _scores(field: PoseField, keypoints: torch.Tensor, batch_size: int = 1024) -> np.ndarray:
    return torch.cat([field(keypoints[i : i + batch_size]) for i in range(0, len(keypoints), batch_size)]
                     ).double().numpy()


def evaluate_fields(fields: dict[str, PoseField], keypoints: torch.Tensor,
                    deltas: tuple[float, ...] = DEFAULT_DELTAS,
                    protocols: tuple[str, ...] = tuple(EVAL_BONES),
                    seed: int = DEFAULT_EVAL_SEED) -> list[EvalRow]:
    """Evaluate each named field on ``keypoints [N, 18, 3]`` (see the module docstring)."""
    keypoints = keypoints[scorable(keypoints)]
    rows = []
    for protocol in protocols:
        generator = torch.Generator().manual_seed(seed)
        bone, sign, ok = choose_limbs(keypoints, protocol, generator)
        real_kp = keypoints[ok]
        if len(real_kp) == 0:
            raise ValueError(f"no scorable pose has a visible bone of the {protocol!r} protocol.")
        rotated_kp = {d: rotate_one_limb(real_kp, bone[ok], sign[ok], d) for d in deltas}
        for name, field in fields.items():
            real = _scores(field, real_kp)
            for delta in deltas:
                rotated = _scores(field, rotated_kp[delta])
                rows.append(EvalRow(name, protocol, delta, len(real), roc_auc(real, rotated),
                                    paired_win_rate(real, rotated)))
    return rows


def format_table(rows: list[EvalRow]) -> str:
    """The rows as an aligned text table (one header line, one line per row, trailing newline)."""
    width = max([len("field"), *(len(r.field) for r in rows)])
    lines = [f"{'field':<{width}} {'protocol':<8} {'delta':>5} {'n':>5} {'auc':>6} {'paired':>6}"]
    lines += [f"{r.field:<{width}} {r.protocol:<8} {r.delta:>5.2f} {r.n:>5d} {r.auc:>6.3f} {r.paired:>6.3f}"
              for r in rows]
    return "\n".join(lines) + "\n"
