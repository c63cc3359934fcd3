"""`prover report DIR [DIR...] [--out DIR]`: evaluation runs side by side.

Each DIR is a `prover eval --out` directory (or a results .jsonl file).  Writes report.json,
report.md (runs, pass@k with intervals, categories, solved against budget in expansions, Lean calls, tokens
and seconds) and solve_rate_vs_budget.png (one line per run) into --out (default: the one DIR).
"""

from __future__ import annotations

import argparse
from pathlib import Path


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("report", help="compare evaluation runs: tables and solve-rate plots",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("runs", nargs="+", type=Path, help="run directories of `prover eval`")
    p.add_argument("--out", type=Path, default=None, help="where to write (required with several runs)")
    p.add_argument("--ks", default=None, help="pass@k values, e.g. 1,4,16")
    p.add_argument("--seed", type=int, default=0, help="bootstrap seed")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from eval.report import load_run, write_report
    from prover.commands.eval import parse_ks

    if args.out is None:
        if len(args.runs) > 1:
            raise ValueError("several runs: say where the comparison goes with --out DIR")
        args.out = args.runs[0] if args.runs[0].is_dir() else args.runs[0].parent
    runs = [load_run(p) for p in args.runs]
    paths = write_report(runs, args.out, ks=parse_ks(args.ks), seed=args.seed)
    print(paths["md"].read_text(encoding="utf-8"))
    print(f"written: {paths['json']}, {paths['md']}, {paths['plot']}")
    return 0
