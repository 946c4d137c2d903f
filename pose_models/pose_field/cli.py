"""Command line for pose fields: ``python cli.py pose-field <command> ...`` (``cli.py`` is in the pack folder;
or ``python -m pose_models.pose_field`` from the pack folder). Paths are relative to the current folder.

Commands
--------
* ``train --csv FILE --out FILE.safetensors`` -- train a learned field on the train split of a DeepFashion
  keypoint CSV (``--train-fraction``, ``--seed``, ``--epochs``, ``--steps``, ``--threads``, ...); logs the
  loss per epoch and, at the end, the held-out evaluation table.
* ``score --csv FILE [--field analytic|PATH]`` -- writes CSV ``name,distance`` to stdout, one row per input
  row in file order; the distance is empty for rows that are not scorable (fewer than 5 visible joints, or
  no neck, or neither a hip nor both shoulders).
* ``evaluate --csv FILE [--field analytic] [--field PATH ...]`` -- writes the ROC-AUC table (real vs one limb
  rotated by 0.2/0.4/0.8 rad, see :mod:`.evaluate`) for the held-out rows (``--rows all`` for every row).

Logging goes to stderr (``-v`` for debug). Bad input ends with one ``ERROR`` line and exit status 2; an
unreadable or unwritable file gives status 1.
"""

from __future__ import annotations

import argparse
import csv
import logging
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

import torch

from ..cli_runner import output_path, program, run_command
from ..pose import PoseFormatError
from .base import PoseField
from .data import DEFAULT_TRAIN_FRACTION, load_pose_table, train_split
from .evaluate import DEFAULT_DELTAS, DEFAULT_EVAL_SEED, evaluate_fields, format_table
from .fields import field_label, load_field
from .learned import FieldConfig, LearnedPoseField, save_learned_field
from .perturb import EVAL_BONES
from .skeleton import scorable
from .train import TrainConfig, train_field

logger = logging.getLogger("pose_models.pose_field.cli")


def _floats(text: str) -> tuple[float, ...]:
    try:
        return tuple(float(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a comma-separated list of numbers") from None


def _ints(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a comma-separated list of integers") from None


def build_parser() -> argparse.ArgumentParser:
    """The ``argparse`` parser of all commands."""
    defaults = TrainConfig()
    parser = argparse.ArgumentParser(prog=program("pose-field"),
                                     description=__doc__.splitlines()[0])
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("train", help="train a learned pose field")
    p.add_argument("--csv", type=Path, required=True, help="DeepFashion keypoint CSV")
    p.add_argument("--out", type=output_path, required=True, help="output .safetensors file")
    p.add_argument("--train-fraction", type=float, default=DEFAULT_TRAIN_FRACTION,
                   help=f"fraction of items in the train split (default {DEFAULT_TRAIN_FRACTION})")
    p.add_argument("--seed", type=int, default=defaults.seed, help=f"random seed (default {defaults.seed})")
    p.add_argument("--epochs", type=int, default=defaults.epochs, help=f"default {defaults.epochs}")
    p.add_argument("--steps", type=int, help="stop after this many optimiser steps (default: all epochs)")
    p.add_argument("--batch-size", type=int, default=defaults.batch_size,
                   help=f"clean poses per step (default {defaults.batch_size})")
    p.add_argument("--samples-per-pose", type=int, default=defaults.samples_per_pose,
                   help=f"perturbed copies of each clean pose per step (default {defaults.samples_per_pose})")
    p.add_argument("--lr", type=float, default=defaults.lr,
                   help=f"Adam learning rate (default {defaults.lr})")
    p.add_argument("--hidden", type=_ints, default=defaults.field.hidden,
                   help="hidden layer widths (default " + ",".join(map(str, defaults.field.hidden)) + ")")
    p.add_argument("--members", type=int, default=defaults.field.members,
                   help=f"ensemble size, MLPs averaged (default {defaults.field.members})")
    p.add_argument("--threads", type=int, default=1,
                   help="CPU threads for torch (default 1: the networks are small, and extra threads mostly "
                        "contend, badly so on a busy machine)")
    p.add_argument("--no-eval", action="store_true", help="skip the held-out evaluation at the end")

    p = sub.add_parser("score", help="print name,distance for every row of a CSV")
    p.add_argument("--csv", type=Path, required=True, help="DeepFashion keypoint CSV")
    p.add_argument("--field", default="analytic", help="'analytic' (default) or a learned .safetensors file")

    p = sub.add_parser("evaluate", help="print the ROC-AUC table (real vs one limb rotated)")
    p.add_argument("--csv", type=Path, required=True, help="DeepFashion keypoint CSV")
    p.add_argument("--field", action="append", help="'analytic' or a .safetensors file; repeat for several "
                   "(default: analytic)")
    p.add_argument("--rows", choices=("heldout", "all"), default="heldout", help="rows to evaluate")
    p.add_argument("--train-fraction", type=float,
                   help="split of --rows heldout (default: the learned fields' own, else "
                        f"{DEFAULT_TRAIN_FRACTION})")
    p.add_argument("--seed", type=int, default=DEFAULT_EVAL_SEED,
                   help=f"limb/sign draw (default {DEFAULT_EVAL_SEED})")
    p.add_argument("--deltas", type=_floats, default=DEFAULT_DELTAS, help="rotation sizes in radians")
    p.add_argument("--protocols", default=",".join(EVAL_BONES),
                   help="comma-separated: limb (arm at shoulder / leg at hip), segment (forearm / shin)")
    return parser


def _train(args: argparse.Namespace) -> None:
    if args.threads < 1:
        raise ValueError(f"--threads must be at least 1, got {args.threads}.")
    torch.set_num_threads(args.threads)
    table = load_pose_table(args.csv)
    split = train_split(table.names, args.train_fraction)
    config = TrainConfig(epochs=args.epochs, max_steps=args.steps, batch_size=args.batch_size,
                         samples_per_pose=args.samples_per_pose, lr=args.lr, seed=args.seed,
                         field=FieldConfig(hidden=args.hidden, members=args.members))
    logger.info("%s: %d rows, %d in the train split", args.csv, len(table), int(split.sum()))
    start = time.perf_counter()
    field = train_field(table.keypoints[split], config)
    elapsed = time.perf_counter() - start
    logger.info("trained in %.1f s", elapsed)
    training = {**asdict(config), "train_fraction": args.train_fraction, "csv": args.csv.name,
                "train_rows": int(split.sum()), "seconds": round(elapsed, 1), "threads": args.threads,
                "torch": torch.__version__}
    save_learned_field(field, args.out, training)
    logger.info("wrote %s", args.out)
    if not args.no_eval and not split.all():
        rows = evaluate_fields({"learned": field}, table.keypoints[~split])
        for line in format_table(rows).splitlines():
            logger.info("held-out: %s", line)


def _score(args: argparse.Namespace) -> None:
    field = load_field(args.field)
    table = load_pose_table(args.csv)
    with torch.no_grad():
        values = field(table.keypoints)
    ok = scorable(table.keypoints)
    logger.info("%s: %d rows, %d scorable, field %s", args.csv, len(table), int(ok.sum()), args.field)
    writer = csv.writer(sys.stdout, lineterminator="\n")
    writer.writerow(["name", "distance"])
    for name, value, good in zip(table.names, values.tolist(), ok.tolist(), strict=True):
        writer.writerow([name, f"{value:.6f}" if good else ""])


def _evaluate(args: argparse.Namespace) -> None:
    fields: dict[str, PoseField] = {}
    for spec in args.field or ["analytic"]:
        label = field_label(spec)
        fields[label if label not in fields else spec] = load_field(spec)
    protocols = tuple(p for p in args.protocols.split(",") if p)
    unknown = set(protocols) - set(EVAL_BONES)
    if unknown:
        raise ValueError(f"unknown protocol(s) {sorted(unknown)}; choose from {sorted(EVAL_BONES)}.")
    table = load_pose_table(args.csv)
    keypoints = table.keypoints
    if args.rows == "heldout":
        fraction = args.train_fraction or _learned_fraction(fields)
        keypoints = keypoints[~train_split(table.names, fraction)]
        logger.info("evaluating %d held-out rows of %d (train fraction %g)", len(keypoints), len(table),
                    fraction)
    sys.stdout.write(format_table(evaluate_fields(fields, keypoints, args.deltas, protocols, args.seed)))


def _learned_fraction(fields: dict[str, PoseField]) -> float:
    """The train fraction the learned fields were trained with (they must agree), else the default."""
    fractions = {f.training_settings.get("train_fraction", DEFAULT_TRAIN_FRACTION)
                 for f in fields.values() if isinstance(f, LearnedPoseField)}
    if len(fractions) > 1:
        raise ValueError(f"the learned fields were trained on different splits {sorted(fractions)}; "
                         "give --train-fraction.")
    return fractions.pop() if fractions else DEFAULT_TRAIN_FRACTION


_COMMANDS = {"train": _train, "score": _score, "evaluate": _evaluate}


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; returns the exit status (0 ok, 1 file error, 2 bad input)."""
    return run_command(build_parser().parse_args(argv), _COMMANDS, (PoseFormatError, ValueError), logger)
