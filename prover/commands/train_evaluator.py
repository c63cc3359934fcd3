"""`prover train-evaluator`: train the learned evaluator (a value model) on labelled states
(see prover/value_model.py)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

_OVERRIDES = (("epochs", int), ("lr", float), ("batch_size", int), ("max_len", int), ("max_steps", int),
              ("seed", int), ("save_every", int), ("device", str), ("tiny_size", str))


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train-evaluator", help="train a value model on labelled proof states",
                       description="Binary cross-entropy on rows {state, label, ...} (prover evaluator-data). "
                                   "Resumes from the latest checkpoint in --out; the evaluator is OUT/final, "
                                   "used as evaluator:OUT/final.")
    p.add_argument("--data", type=Path, required=True, help="rows JSONL (prover evaluator-data)")
    p.add_argument("--out", type=Path, required=True, help="run folder (checkpoints, log, final/)")
    p.add_argument("--config", type=Path, help="TrainConfig JSON (e.g. configs/evaluator_tiny.json)")
    p.add_argument("--init", help="a model folder whose backbone to start from, e.g. the policy "
                   "(default: a fresh tiny model made from the data)")
    p.add_argument("--min-difficulty", type=int, help="train on states of theorems at least this difficult")
    p.add_argument("--max-difficulty", type=int, help="train on states of theorems at most this difficult")
    for name, typ in _OVERRIDES:
        p.add_argument("--" + name.replace("_", "-"), dest=name, type=typ, help=f"override config {name}")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from dataclasses import asdict

    from prover.train import TrainConfig
    from prover.value_data import load_value_rows, select
    from prover.value_model import train_evaluator

    cfg = TrainConfig.load(args.config) if args.config else TrainConfig()
    over = {k: getattr(args, k) for k, _ in _OVERRIDES if getattr(args, k) is not None}
    cfg = TrainConfig.from_dict({**asdict(cfg), **over}, where="train config")
    rows = select(load_value_rows(args.data), args.min_difficulty, args.max_difficulty)
    if not rows:
        raise ValueError(f"{args.data}: no rows within the difficulty bounds")
    pos = sum(1 for r in rows if r["label"] >= 0.5)
    print(f"{len(rows)} states ({pos} proved, {len(rows) - pos} dead ends) of "
          f"{len({r['theorem'] for r in rows})} theorems from {args.data}")
    final = train_evaluator(rows, args.out, cfg, init=args.init, progress=not args.no_progress,
                            data_name=str(args.data))
    log_file = args.out / "train_log.jsonl"
    lines = [ln for ln in log_file.read_text(encoding="utf-8").splitlines() if ln.strip()] if log_file.is_file() else []
    if lines:
        last = json.loads(lines[-1])
        print(f"step {last['step']}: loss {last['loss']:.4f}")
    print(f"evaluator saved to {final} (use it as evaluator:{final})")
    return 0
