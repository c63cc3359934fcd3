"""`prover evaluate-evaluator`: ROC-AUC, calibration and AUC by difficulty of an evaluator on
labelled states (see prover/value_report.py)."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("evaluate-evaluator", help="how well an evaluator separates proved states from dead ends",
                       description="Writes OUT/report.json, OUT/report.md and OUT/reliability.png.")
    p.add_argument("--evaluator", required=True, help="evaluator:DIR (a train-evaluator final/) or oracle:WORLD.json")
    p.add_argument("--data", type=Path, required=True, help="labelled rows JSONL (prover evaluator-data)")
    p.add_argument("--out", type=Path, required=True, help="report folder")
    p.add_argument("--min-difficulty", type=int, help="only states of theorems at least this difficult")
    p.add_argument("--max-difficulty", type=int, help="only states of theorems at most this difficult")
    p.add_argument("--bins", type=int, default=10, help="calibration bins (default 10)")
    p.add_argument("--bootstrap", type=int, default=1000, help="bootstrap resamples of theorems for the AUC interval")
    p.add_argument("--seed", type=int, default=0, help="bootstrap seed")
    p.add_argument("--device", default="auto", help="device of a model evaluator (cpu | cuda | auto)")
    p.add_argument("--batch-size", type=int, default=32, help="states per forward pass")
    p.add_argument("--title", default="", help="report title")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from prover.factory import make_evaluator
    from prover.value_data import load_value_rows, select
    from prover.value_report import evaluator_report, write_evaluator_report

    if args.bins < 2 or args.bootstrap < 0:
        raise ValueError("--bins must be at least 2 and --bootstrap non-negative")
    rows = select(load_value_rows(args.data), args.min_difficulty, args.max_difficulty)
    if not rows:
        raise ValueError(f"{args.data}: no rows within the difficulty bounds")
    evaluator = make_evaluator(args.evaluator, device=args.device, batch_size=args.batch_size)
    if evaluator is None:
        raise ValueError("--evaluator none has nothing to evaluate")
    report = evaluator_report(evaluator, rows, bins=args.bins, reps=args.bootstrap, seed=args.seed,
                              progress=not args.no_progress,
                              baselines={"shorter state": lambda s: -float(len(s))})
    meta = {"evaluator": args.evaluator, "data": str(args.data), "min_difficulty": args.min_difficulty,
            "max_difficulty": args.max_difficulty, "bootstrap": args.bootstrap, "seed": args.seed}
    paths = write_evaluator_report(report, args.out, args.title or f"evaluator {args.evaluator}", meta)
    o, cal = report["overall"], report["calibration"]
    ci = o["auc_95"]
    auc = "n/a (one class)" if o["auc"] is None else f"{o['auc']:.3f}" + (f" [{ci[0]:.3f}, {ci[1]:.3f}]" if ci else "")
    within = "n/a" if o["auc_within_theorem"] is None else f"{o['auc_within_theorem']:.3f}"
    print(f"{o['states']} states ({o['positives']} proved) of {o['theorems']} theorems: ROC-AUC {auc}; "
          f"within a theorem {within} ({o['theorems_with_both_labels']} theorems); "
          f"ECE {cal['ece']:.3f}; Brier {cal['brier']:.3f}")
    for name, s in report["by_band"].items():
        a = "n/a" if s["auc"] is None else f"{s['auc']:.3f}"
        print(f"  difficulty {name}: {s['states']} states ({s['positives']} proved), AUC {a}")
    print(f"report: {paths['md']}  plot: {paths['plot']}")
    return 0
