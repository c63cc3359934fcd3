"""`prover eval`: run a prover over a dataset, K attempts a theorem, and report pass@k and the
budget sweep.

    prover eval --dataset logic:valid --env lean-term --policy model:runs/tiny --strategy best-first \\
        --attempts 1 --budget expansions=64 --out runs/eval-bf

Every attempt's result row is appended to DIR/results.jsonl as it finishes, through the campaign
runner shared with search, the demo and expert iteration (eval.campaign).  A rerun with the same
--out continues the run: finished attempts are skipped, a larger --attempts adds attempts.  Rows
are tied to their theorem (header and statement) and to the run's settings (DIR/run.json): other
settings are refused, naming what changed; a theorem whose statement changed is refused too, or
run again with --rerun-stale (its old rows move to DIR/results.stale.jsonl).  The budget
defaults to expansions=64; `--budget unlimited` means none.  At the end DIR/report.json,
DIR/report.md and DIR/solve_rate_vs_budget.png are written.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from core.config import parse_assignments


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("eval", help="evaluate a prover on a dataset: pass@k, budget sweep, report",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dataset", required=True,
                   help="minif2f:valid|test, minif2f-lean:DIR[:split], leandojo:FILE.json, logic:train|valid|test, "
                        "jsonl:FILE or a path")
    p.add_argument("--env", required=True,
                   help="scripted:WORLD.json | double:WORLD.json[,workers=N] | repl[:workers=N] (a pool of N REPL "
                        "processes) | lean-term | dojo[:timeout=S,max_sessions=N] (LeanDojo)")
    p.add_argument("--policy", required=True,
                   help="scripted:WORLD.json | model:PATH_OR_HUB_ID | vllm:PATH_OR_HUB_ID (GPU) | vocab")
    p.add_argument("--strategy", required=True,
                   help="best-first | sample | whole | truncate-resume | beam | rebase | mcts | rmaxts")
    p.add_argument("--evaluator", default=None,
                   help="state evaluator for value-guided strategies: none | oracle:WORLD.json (scripted worlds) | "
                        "evaluator:DIR (a trained value model, `prover train-evaluator`)")
    p.add_argument("--attempts", type=int, default=1, help="attempts per theorem (n of pass@k)")
    p.add_argument("--budget", default="expansions=64",
                   help="per attempt, e.g. expansions=64,tokens=5000,seconds=30 (default expansions=64; "
                        "'unlimited' for none)")
    p.add_argument("--out", required=True, type=Path, help="run directory (results.jsonl, report files)")
    p.add_argument("--config", default="", help="strategy config, e.g. n=8,samples=4,retries=2")
    p.add_argument("--fmt", choices=("tactic", "thought"), default=None,
                   help="model output format (model policies; default: the checkpoint's own)")
    p.add_argument("--prompt", choices=_prompt_names(), default=None, metavar="NAME",
                   help="a published checkpoint's prompt format, with its decoding settings (docs/generator.md): "
                        + ", ".join(_prompt_names()) + " (default: the checkpoint's own)")
    p.add_argument("--trust-remote-code", action="store_true",
                   help="let transformers run the checkpoint's own model code (InternLM2-based provers need it)")
    p.add_argument("--temperature", type=float, default=None, help="policy sampling temperature")
    p.add_argument("--sample", action="store_true", help="scripted policy: sample proposals (for sampling runs)")
    p.add_argument("--generation", default="", help="model generation config, e.g. num_beams=4,max_new_tokens=96")
    p.add_argument("--device", default=None, help="model policy device: cpu | cuda | auto")
    p.add_argument("--workers", type=int, default=1, help="parallel search workers (Ray when > 1)")
    p.add_argument("--ray-address", default=None, help="join a Ray cluster instead of starting one")
    p.add_argument("--limit", type=int, default=None, help="only the first N theorems")
    p.add_argument("--seed", type=int, default=0, help="attempt a of every theorem runs with seed S + a")
    p.add_argument("--label", default=None, help="the run's name in reports (default: strategy + policy)")
    p.add_argument("--ks", default=None, help="pass@k values to report, e.g. 1,4,16 (default: powers of 2)")
    p.add_argument("--lean", default=None, help="lean executable (default: found or embedded)")
    p.add_argument("--project", default=None, help="Lean workspace (for repl)")
    p.add_argument("--timeout", type=float, default=60.0, help="seconds per Lean call")
    p.add_argument("--memory-mb", type=int, default=4096, help="memory cap per Lean process")
    p.add_argument("--save-trees", action="store_true",
                   help="also write each search tree as one JSON line to DIR/trees.jsonl")
    p.add_argument("--rerun-stale", action="store_true",
                   help="run again the rows whose theorem changed (old rows move to DIR/results.stale.jsonl)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def _prompt_names() -> list[str]:
    from thoughts.prompts import PROMPTS

    return list(PROMPTS)


def parse_config(text: str, flag: str = "--config") -> dict[str, Any]:
    """`"n=8,length_normalize=true,x=0.5"` -> {"n": 8, "length_normalize": True, "x": 0.5}."""
    return parse_assignments(text, flag)


def parse_ks(text: str | None) -> list[int] | None:
    if not text:
        return None
    try:
        ks = sorted({int(k) for k in text.split(",") if k.strip()})
    except ValueError:
        raise ValueError(f"--ks {text!r}: expected integers like 1,4,16") from None
    if not ks or ks[0] < 1:
        raise ValueError(f"--ks {text!r}: every k must be at least 1")
    return ks


def print_summary(outcome: Any, attempts: int) -> int:
    """What `prover eval` (and `prover demo`) print at the end; the exit code."""
    solved, n = len(outcome.result.solved), outcome.theorems
    print(f"{outcome.label}: solved {solved}/{n} ({100 * solved / n:.1f}%) "
          f"with {attempts} attempt(s) at budget {outcome.budget}")
    for k, e in outcome.summary["pass_at_k"].items():
        print(f"  pass@{k} = {100 * e['value']:.1f}%  [{100 * e['low']:.1f}, {100 * e['high']:.1f}]")
    print(f"report: {outcome.paths['md']}  plot: {outcome.paths['plot']}")
    for row in outcome.result.errors:
        print(f"{row['name']} attempt {row['attempt']}: {row.get('error')}", file=sys.stderr)
    if outcome.result.errors:
        print(f"{len(outcome.result.errors)} attempt(s) failed with errors and were not recorded; "
              "rerun to retry them", file=sys.stderr)
        return 1
    return 0


def run(args: argparse.Namespace) -> int:
    from prover.campaign import EvalSpec, run_eval

    spec = EvalSpec(
        dataset=args.dataset, env=args.env, policy=args.policy, strategy=args.strategy, out=args.out,
        attempts=args.attempts, budget=args.budget, config=parse_config(args.config), fmt=args.fmt,
        prompt=args.prompt, trust_remote_code=args.trust_remote_code,
        temperature=args.temperature, sample=args.sample, generation=parse_config(args.generation, "--generation"),
        device=args.device, workers=args.workers, ray_address=args.ray_address, limit=args.limit, seed=args.seed,
        label=args.label, ks=parse_ks(args.ks), lean=args.lean, project=args.project, timeout=args.timeout,
        memory_mb=args.memory_mb, save_trees=args.save_trees, rerun_stale=args.rerun_stale,
        progress=not args.no_progress, evaluator=args.evaluator,
    )
    return print_summary(run_eval(spec), args.attempts)
