"""`prover evaluator-data`: labelled proof states for the learned evaluator, from search trees
(see prover/value_data.py for the labels and docs/evaluator.md for the whole recipe)."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("evaluator-data", help="label the states of search trees for training an evaluator",
                       description="Rows {state, label, theorem, difficulty, source, run}: 1 for states on a "
                                   "checked proof, 0 for dead ends, budget-cut states left out; one row per "
                                   "distinct state.")
    p.add_argument("--trees", type=Path, nargs="+", required=True,
                   help="trees files (JSONL, one search tree a line, e.g. an eval's trees.jsonl)")
    p.add_argument("--out", type=Path, required=True, help="rows JSONL (written whole, atomically)")
    p.add_argument("--theorems", nargs="*", default=[],
                   help="dataset specs whose theorems give each row its difficulty (e.g. logic:train logic:valid)")
    p.add_argument("--source", default="search", help="the rows' 'source' (eval, search, expert-iteration, ...)")
    p.add_argument("--min-difficulty", type=int, help="keep states of theorems at least this difficult")
    p.add_argument("--max-difficulty", type=int, help="keep states of theorems at most this difficult")
    p.add_argument("--test-fraction", type=float, default=0.0,
                   help="also split by theorem: this share of the theorems goes to --test-out")
    p.add_argument("--test-out", type=Path, help="rows of the held-out theorems (with --test-fraction)")
    p.add_argument("--seed", type=int, default=0, help="seed of the theorem split")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from core.jsonl import write_jsonl_atomic
    from prover.value_data import DataStats, difficulty_of, rows_from_tree_files, select, split_by_theorem

    if (args.test_fraction > 0) != (args.test_out is not None):
        raise ValueError("--test-fraction and --test-out go together")
    stats = DataStats()
    rows = rows_from_tree_files(args.trees, difficulty_of(args.theorems), args.source, stats)
    rows = select(rows, args.min_difficulty, args.max_difficulty)
    train, test = split_by_theorem(rows, args.test_fraction, args.seed)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    write_jsonl_atomic(args.out, train)
    s = stats.to_dict()
    print(f"{s['trees']} trees of {s['theorems']} theorems; nodes {s['nodes']}; "
          f"{s['conflicts']} state(s) a dead end in one tree and proved in another (label 1)")
    for name, part, path in (("rows", train, args.out), ("test rows", test, args.test_out)):
        if path is None:
            continue
        pos = sum(1 for r in part if r["label"] >= 0.5)
        print(f"{name}: {len(part)} states ({pos} proved, {len(part) - pos} dead ends) of "
              f"{len({r['theorem'] for r in part})} theorems -> {path}")
        if path is not args.out:
            write_jsonl_atomic(path, part)
    return 0
