"""The logic-benchmark budget sweep: best-first against step sampling, with and without thoughts.

    python scripts/logic_sweep.py --out runs/logic_sweep            # everything, resumable
    python scripts/logic_sweep.py --out runs/logic_sweep --dry-run  # print the commands only

Steps (each skipped or resumed when its output exists, so a killed run is rerun as is):
  1. examples.jsonl: the reference proofs of logic:train replayed in the real Lean (the state
     before each hole filling), one training row a step;
  2. examples_thought.jsonl: the same rows with a RuleTeacher thought      (prover rationales)
  3. two tiny policies trained from scratch on them, --fmt thought / tactic (prover train)
  4. four runs on logic:valid: {best-first, sample} x {thought, tactic}     (prover eval)
  5. the comparison: report.md, report.json, solve_rate_vs_budget.png       (prover report)
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
from pathlib import Path

# one BLAS thread: on a small shared CPU, torch's default thread pool spins and runs ~10x slower
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

FORMATS = ("thought", "tactic")


def make_examples(path: Path, split: str, lean: str | None) -> int:
    """Training rows from the reference proofs of `split` (eval.logic.examples.reference_examples:
    each proof replayed in the real Lean; one that does not replay is left out with a warning)."""
    from core.jsonl import write_jsonl_atomic
    from eval.datasets import load_dataset
    from eval.logic.examples import reference_examples
    from prover.factory import make_env

    env = make_env("lean-term", lean=lean)
    try:
        rows = reference_examples(env, load_dataset(f"logic:{split}"))
    finally:
        env.close()
    path.parent.mkdir(parents=True, exist_ok=True)
    write_jsonl_atomic(path, rows)
    return len(rows)


def commands(a: argparse.Namespace) -> list[list[str]]:
    out = Path(a.out)
    cmds: list[list[str]] = [
        ["rationales", "--examples", str(out / "examples.jsonl"), "--out", str(out / "examples_thought.jsonl"),
         "--teacher", "rule", "--no-progress"],
    ]
    data = {"thought": out / "examples_thought.jsonl", "tactic": out / "examples.jsonl"}
    for fmt in FORMATS:
        cmds.append(["train", "--data", str(data[fmt]), "--fmt", fmt, "--config", a.train_config,
                     "--max-steps", str(a.train_steps), "--out", str(out / f"policy-{fmt}"), "--no-progress"])
    runs = []
    for fmt in FORMATS:
        policy = f"model:{out / f'policy-{fmt}' / 'final'}"
        common = ["eval", "--dataset", a.dataset, "--env", "lean-term", "--policy", policy, "--fmt", fmt,
                  "--budget", a.budget, "--seed", str(a.seed), "--device", "cpu"]
        if a.limit:
            common += ["--limit", str(a.limit)]
        if a.lean:
            common += ["--lean", a.lean]
        bf, sp = out / f"best-first-{fmt}", out / f"sample-{fmt}"
        cmds.append(common + ["--strategy", "best-first", "--config", f"n={a.n}", "--generation", f"num_beams={a.n},max_new_tokens={a.max_new_tokens}",
                              "--label", f"best-first/{fmt}", "--out", str(bf)])
        cmds.append(common + ["--strategy", "sample", "--config", f"samples={a.samples},retries={a.retries}",
                              "--generation", f"max_new_tokens={a.max_new_tokens}",
                              "--temperature", str(a.temperature), "--label", f"sample/{fmt}", "--out", str(sp)])
        runs += [bf, sp]
    cmds.append(["report", *map(str, runs), "--out", str(out / "report")])
    return cmds


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="runs/logic_sweep")
    ap.add_argument("--dataset", default="logic:valid")
    ap.add_argument("--limit", type=int, default=None, help="only the first N theorems of the dataset")
    ap.add_argument("--budget", default="env_calls=64",
                    help="per attempt, the largest budget of the sweep (env_calls: Lean checks, fair to both strategies)")
    ap.add_argument("--n", type=int, default=4, help="best-first: candidates per expansion")
    ap.add_argument("--samples", type=int, default=4, help="step sampling: trajectories per attempt")
    ap.add_argument("--retries", type=int, default=1, help="step sampling: resamples of a failed step")
    ap.add_argument("--temperature", type=float, default=1.0, help="step sampling temperature")
    ap.add_argument("--max-new-tokens", type=int, default=128, help="generation cap per step (thought + tactic)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--train-config", default=str(REPO / "configs" / "train_tiny.json"))
    ap.add_argument("--train-steps", type=int, default=1000, help="optimizer steps per policy (batch 16)")
    ap.add_argument("--lean", default=None, help="lean executable (default: found or embedded)")
    ap.add_argument("--dry-run", action="store_true", help="print the commands, run nothing")
    a = ap.parse_args(argv)

    examples = Path(a.out) / "examples.jsonl"
    cmds = commands(a)
    if a.dry_run:
        print(f"# 1. {examples}: reference proofs of logic:train replayed in Lean (make_examples)")
        for c in cmds:
            print("prover " + shlex.join(c))
        return 0
    from prover.cli import main as prover

    if not examples.is_file():
        print(f"{make_examples(examples, 'train', a.lean)} training rows -> {examples}", flush=True)
    for c in cmds:
        print("\n$ prover " + shlex.join(c), flush=True)
        code = prover(c)
        if code:
            print(f"step failed with exit code {code}; rerun this script to resume", file=sys.stderr)
            return code
    return 0


if __name__ == "__main__":
    sys.exit(main())
