"""`prover train`: supervised fine-tuning of the generator (see prover/train.py)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from thoughts.format import FORMATS, PROOF_FORMAT

_OVERRIDES = (("epochs", int), ("lr", float), ("batch_size", int), ("max_len", int), ("max_steps", int),
              ("seed", int), ("save_every", int), ("device", str), ("tiny_size", str))


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="fine-tune the generator on training examples (SFT)",
                       description="SFT on rows {state, thought, tactic, theorem, source}; loss on the target only. "
                                   "Resumes from the latest checkpoint in --out.")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--data", type=Path, help="training examples (JSONL)")
    src.add_argument("--world", type=Path, help="a scripted world JSON: train on its solutions")
    p.add_argument("--out", type=Path, required=True, help="run folder (checkpoints, log, final/)")
    p.add_argument("--config", type=Path, help="TrainConfig JSON (e.g. configs/train_tiny.json)")
    p.add_argument("--init", "--model", dest="init", help="model folder or hub id to start from "
                   "(default: a tiny model made from the data)")
    p.add_argument("--fmt", choices=(*FORMATS, PROOF_FORMAT), default="thought",
                   help="prompt format (default: thought; proof: rows {formal_statement, proof})")
    for name, typ in _OVERRIDES:
        p.add_argument("--" + name.replace("_", "-"), dest=name, type=typ, help=f"override config {name}")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from dataclasses import asdict

    from prover.train import TrainConfig, train_sft

    cfg = TrainConfig.load(args.config) if args.config else TrainConfig()
    over = {k: getattr(args, k) for k, _ in _OVERRIDES if getattr(args, k) is not None}
    cfg = TrainConfig.from_dict({**asdict(cfg), **over}, where="train config")
    if args.world:
        from doubles.scripted import ScriptedWorld
        from prover.tiny import examples_from_world

        examples: list[dict] | Path = examples_from_world(ScriptedWorld.load(args.world))
        print(f"{len(examples)} training rows from the solutions of {args.world}")
    else:
        examples = args.data
    final = train_sft(examples, args.out, cfg, init=args.init, fmt=args.fmt, progress=not args.no_progress)
    log_file = args.out / "train_log.jsonl"
    last = None
    if log_file.is_file():
        lines = [ln for ln in log_file.read_text(encoding="utf-8").splitlines() if ln.strip()]
        last = json.loads(lines[-1]) if lines else None
    if last:
        print(f"step {last['step']}: loss {last['loss']:.4f}")
    print(f"model saved to {final}")
    return 0
