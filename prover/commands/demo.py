"""`prover demo`: the whole pipeline on the real-Lean logic benchmark, with no setup beyond install.

    prover demo --out runs/demo

1. replays the reference proofs of `logic:train` in the real Lean (term-refinement env) and
   writes one training row per step (DIR/examples.jsonl);
2. adds a thought to every row with the rule-based rationale teacher (DIR/examples_thought.jsonl);
3. trains a tiny thought-then-tactic model from scratch on them (DIR/policy/final);
4. searches `logic:valid` with best-first search, every step and every final proof checked by Lean
   (DIR/eval: results.jsonl, report.md, solve_rate_vs_budget.png), and prints the solved counts.

Every step resumes: rerun the same command after an interruption.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

DEFAULT_CONFIG = Path(__file__).resolve().parents[2] / "configs" / "train_tiny.json"


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="train a tiny policy on the logic benchmark and search its valid split in real Lean",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", type=Path, default=Path("runs/demo"), help="run directory")
    p.add_argument("--fmt", choices=("thought", "tactic"), default="thought", help="with or without thoughts")
    p.add_argument("--train-config", type=Path, default=DEFAULT_CONFIG, help="SFT config (JSON)")
    p.add_argument("--train-steps", type=int, default=800, help="optimizer steps")
    p.add_argument("--budget", default="expansions=32", help="search budget per theorem")
    p.add_argument("--n", type=int, default=4, help="candidates per expansion (beam-decoded)")
    p.add_argument("--split", default="valid", help="the split to search: valid or test")
    p.add_argument("--limit", type=int, default=None, help="only the first N theorems of the split")
    p.add_argument("--workers", type=int, default=1, help="parallel search workers (Ray when > 1)")
    p.add_argument("--lean", default=None, help="lean executable (default: found or the embedded one)")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from eval.logic import load_split
    from eval.logic.examples import reference_examples
    from prover.cli import main as prover
    from prover.expert_iteration import write_jsonl_atomic
    from prover.factory import make_env
    from prover.train import TrainConfig, train_sft
    from thoughts.rationale import RuleTeacher, add_rationales

    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    progress = not args.no_progress

    examples = out / "examples.jsonl"
    if not examples.is_file():
        env = make_env("lean-term", lean=args.lean)
        try:
            rows = reference_examples(env, load_split("train"), progress=progress)
        finally:
            env.close()
        write_jsonl_atomic(examples, rows)
        print(f"[1/4] {len(rows)} training steps from the reference proofs of logic:train -> {examples}")
    else:
        print(f"[1/4] reusing {examples}")

    data = examples
    if args.fmt == "thought":
        data = out / "examples_thought.jsonl"
        added = add_rationales(examples, data, RuleTeacher(), progress=progress)
        print(f"[2/4] rule-teacher thoughts: {added} new rows -> {data}")
    else:
        print("[2/4] no thoughts (--fmt tactic)")

    config = TrainConfig.load(args.train_config)
    config.max_steps = args.train_steps
    model = train_sft(data, out / "policy", config, init=None, fmt=args.fmt, progress=progress)
    print(f"[3/4] tiny {args.fmt} policy trained -> {model}")

    print(f"[4/4] best-first search of logic:{args.split} in real Lean")
    argv = ["eval", "--dataset", f"logic:{args.split}", "--env", "lean-term", "--policy", f"model:{model}",
            "--strategy", "best-first", "--config", f"n={args.n}", "--generation", f"num_beams={args.n}",
            "--budget", args.budget, "--fmt", args.fmt, "--device", "cpu", "--workers", str(args.workers),
            "--label", f"demo best-first/{args.fmt}", "--out", str(out / "eval")]
    if args.limit:
        argv += ["--limit", str(args.limit)]
    if args.lean:
        argv += ["--lean", args.lean]
    if not progress:
        argv.append("--no-progress")
    code = prover(argv)
    if code:
        print(f"prover demo: the search step exited {code}; rerun to resume", file=sys.stderr)
    return code
