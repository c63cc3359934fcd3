"""`prover report DIR [DIR...] [--out DIR]`: evaluation runs side by side.

Each DIR is a `prover eval --out` directory (or a results .jsonl file).  Writes report.json,
report.md (runs, pass@k with intervals, categories, solved against budget in expansions, Lean calls, tokens
and seconds) and solve_rate_vs_budget.png (one line per run) into --out (default: the one DIR).
A run with fewer results than it asked for (killed, or errors not yet rerun) is reported as
incomplete, on stderr and in report.md: its missing theorems count as unsolved.  Runs whose run.json
names different dataset content hashes (other statements, another version of the benchmark) are
not compared unless --allow-different-datasets is given.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("report", help="compare evaluation runs: tables and solve-rate plots",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("runs", nargs="+", type=Path, help="run directories of `prover eval`")
    p.add_argument("--out", type=Path, default=None, help="where to write (required with several runs)")
    p.add_argument("--ks", default=None, help="pass@k values, e.g. 1,4,16")
    p.add_argument("--seed", type=int, default=0, help="bootstrap seed")
    p.add_argument("--axis", action="append", default=[], metavar="METRIC",
                   help="also plot every run against one compute axis (flops, env_calls, tokens, expansions, seconds) "
                        "on a log scale, with the compute-optimal frontier table (which run solves most at each "
                        "budget): solve_rate_vs_METRIC.png, frontier_METRIC.md; may be repeated")
    p.add_argument("--allow-different-datasets", action="store_true",
                   help="compare runs whose run.json names different dataset content hashes (refused otherwise)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from eval.dataset_identity import check_same_dataset
    from eval.report import incompleteness, load_run, write_report
    from prover.commands.eval import parse_ks

    if args.out is None:
        if len(args.runs) > 1:
            raise ValueError("several runs: say where the comparison goes with --out DIR")
        args.out = args.runs[0] if args.runs[0].is_dir() else args.runs[0].parent
    runs = [load_run(p) for p in args.runs]
    for warning in check_same_dataset([(r.label, r.meta) for r in runs], allow=args.allow_different_datasets):
        print(f"prover report: warning: {warning}", file=sys.stderr)
    from eval.frontier import axis_report
    from eval.sweep import METRICS

    bad = [a for a in args.axis if a not in METRICS]
    if bad:
        raise ValueError(f"--axis {bad[0]!r}: choose from {', '.join(METRICS)}")
    paths = write_report(runs, args.out, ks=parse_ks(args.ks), seed=args.seed)
    print(paths["md"].read_text(encoding="utf-8"))
    print(f"written: {paths['json']}, {paths['md']}, {paths['plot']}")
    labels = [s["label"] for s in json.loads(paths["json"].read_text(encoding="utf-8"))["runs"]]
    for metric in args.axis:
        ax = axis_report([(lab, r.rows, r.theorems) for lab, r in zip(labels, runs, strict=True)], metric, args.out)
        print(ax["md"].read_text(encoding="utf-8"))
        print(f"written: {ax['md']}, {ax['json']}, {ax['plot']}")
    for summary in json.loads(paths["json"].read_text(encoding="utf-8"))["runs"]:
        gap = incompleteness(summary)
        if gap:
            print(f"prover report: warning: {gap}; rerun its `prover eval` to finish it", file=sys.stderr)
    return 0
