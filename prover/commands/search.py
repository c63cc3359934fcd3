"""`prover search`: run one strategy over a file of theorems, one result line per theorem (and attempt)
appended as it finishes; a rerun with the same --out skips what is done."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from core.types import Theorem


def add_parser(sub: argparse._SubParsersAction) -> None:
    from search.strategies import STRATEGIES

    p = sub.add_parser("search", help="prove theorems with a search strategy, results to a JSONL file",
                       description=__doc__)
    p.add_argument("--theorems", required=True,
                   help="JSONL of theorems, a scripted world JSON (its theorems), or a dataset spec (logic:valid, ...)")
    p.add_argument("--env", required=True, help="scripted:WORLD.json | double:WORLD.json | repl | lean-term")
    p.add_argument("--policy", required=True, help="scripted:WORLD.json | model:PATH_OR_HUB_ID | vocab")
    p.add_argument("--strategy", default="best-first", choices=list(STRATEGIES))
    p.add_argument("--budget", default="expansions=64",
                   help="any of expansions=N,env_calls=N,tokens=N,seconds=S (default expansions=64)")
    p.add_argument("--out", required=True, type=Path, help="results JSONL (appended; rerun resumes)")
    p.add_argument("--limit", type=int, help="only the first N theorems")
    p.add_argument("--seed", type=int, default=0, help="attempt a uses seed S+a")
    p.add_argument("--attempts", type=int, default=1, help="independent searches per theorem (one row each)")
    p.add_argument("--lean", help="lean binary (or 'embedded')")
    p.add_argument("--project", help="Lean workspace (lake project)")
    p.add_argument("--timeout", type=float, default=60.0, help="seconds per Lean request")
    p.add_argument("--memory-mb", type=int, default=4096, help="memory cap per Lean process")
    p.add_argument("--workers", type=int, default=1, help="Lean processes of the lean-term env")
    p.add_argument("--export-graph", type=Path, metavar="DIR", help="write each search graph (JSON, GraphML, PNG)")
    g = p.add_argument_group("strategy settings (each applies to the strategies whose config has it)")
    g.add_argument("--n", type=int, help="candidates per expansion (best-first, beam)")
    g.add_argument("--expand-batch", type=int, help="best-first: frontier nodes per model call")
    g.add_argument("--length-normalize", action="store_true", default=None, help="priority = logprob / depth")
    g.add_argument("--max-depth", type=int, help="longest proof in steps")
    g.add_argument("--width", type=int, help="beam width")
    g.add_argument("--samples", type=int, help="sample: trajectories K; whole: proofs generated")
    g.add_argument("--retries", type=int, help="sample: resamples of a failed step")
    g.add_argument("--proof-batch", type=int, help="whole: proofs per model call")
    g.add_argument("--stop-at-first", action="store_true", default=None, help="sample/whole: stop at first proof")
    pg = p.add_argument_group("policy settings")
    pg.add_argument("--temperature", type=float, help="sampling temperature")
    pg.add_argument("--sampling", choices=("auto", "on", "off"), default="auto",
                    help="scripted policy: sample instead of taking the top candidates (auto: on for sample/whole)")
    pg.add_argument("--fmt", help="model policy prompt format (tactic | thought)")
    pg.add_argument("--device", default=None, help="model policy device (cpu | cuda | auto)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


CONFIG_FLAGS = ("n", "expand_batch", "length_normalize", "max_depth", "width", "samples", "retries",
                "proof_batch", "stop_at_first")


def load_theorem_list(spec: str) -> list[Theorem]:
    """A JSONL of theorems, a scripted world file, or (when eval.datasets is there) a dataset spec."""
    from core.jsonl import load_theorems, read_json

    path = Path(spec)
    if path.is_file():
        if path.suffix == ".json":
            data = read_json(path, "theorem file")
            if isinstance(data, dict) and "theorems" in data:
                from lean_env.scripted import ScriptedWorld

                return [t.theorem() for t in ScriptedWorld.from_dict(data, where=str(path)).theorems]
        return load_theorems(path)
    try:
        from eval.datasets import load_dataset
    except ImportError:
        raise FileNotFoundError(f"theorem file not found: {path}") from None
    return load_dataset(spec)


def policy_options(args: argparse.Namespace) -> dict[str, Any]:
    kw: dict[str, Any] = {"seed": args.seed}
    if args.temperature is not None:
        kw["temperature"] = args.temperature
    if args.policy.startswith("scripted:"):
        kw["sample"] = args.sampling == "on" or (args.sampling == "auto" and args.strategy in ("sample", "whole"))
    if args.fmt:
        kw["fmt"] = args.fmt
    if args.device:
        kw["device"] = args.device
    return kw


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from core.jsonl import append_jsonl, done_keys
    from lean_env.errors import LeanError
    from prover.factory import make_env, make_policy
    from search.budget import Budget
    from search.export import export_graph
    from search.strategies import make_config, run_strategy

    if args.attempts < 1:
        raise ValueError(f"--attempts must be at least 1, got {args.attempts}")
    budget = Budget.parse(args.budget)
    config = make_config(args.strategy, {k: getattr(args, k) for k in CONFIG_FLAGS if getattr(args, k) is not None},
                         keep_graph=args.export_graph is not None)
    theorems = load_theorem_list(args.theorems)
    if args.limit is not None:
        if args.limit < 1:
            raise ValueError(f"--limit must be at least 1, got {args.limit}")
        theorems = theorems[: args.limit]
    names = [t.name for t in theorems]
    if len(set(names)) != len(names):
        raise ValueError(f"{args.theorems}: theorem names must be unique (results are keyed by name)")
    done = done_keys(args.out, "name", "attempt")
    jobs = [(t, a) for a in range(args.attempts) for t in theorems if (t.name, a) not in done]
    counts = {"proved": 0, "failed": 0, "budget": 0}
    errors = 0
    env = make_env(args.env, lean=args.lean, project=args.project, timeout=args.timeout,
                   memory_mb=args.memory_mb, workers=args.workers)
    try:
        policy = make_policy(args.policy, **policy_options(args))
        total = len(theorems) * args.attempts
        bar = tqdm(total=total, initial=total - len(jobs), desc=f"search {args.strategy}", unit="thm",
                   disable=args.no_progress, file=sys.stderr)
        for theorem, attempt in jobs:
            try:
                res = run_strategy(args.strategy, theorem, env, policy, budget, seed=args.seed + attempt,
                                   attempt=attempt, config=config)
            except (LeanError, KeyError, ValueError) as e:  # this theorem only; not recorded: a rerun retries it
                errors += 1
                tqdm.write(f"{theorem.name} attempt {attempt}: {type(e).__name__}: {e}", file=sys.stderr)
                bar.update(1)
                continue
            append_jsonl(args.out, res.to_row())
            if args.export_graph is not None and res.tree is not None:
                suffix = f"-{attempt}" if args.attempts > 1 else ""
                export_graph(res.tree, args.export_graph, f"{theorem.name}{suffix}")
            counts[res.status] += 1
            bar.update(1)
            bar.set_postfix(proved=counts["proved"])
        bar.close()
    finally:
        env.close()
    skipped = len(theorems) * args.attempts - len(jobs)
    print(f"{args.strategy} at budget {budget}: proved {counts['proved']}, failed {counts['failed']}, "
          f"out of budget {counts['budget']}" + (f", skipped {skipped} already done" if skipped else "")
          + f" -> {args.out}")
    if errors:
        print(f"{errors} search(es) stopped on an error and were not recorded; rerun to retry them", file=sys.stderr)
        return 1
    return 0
