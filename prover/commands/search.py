"""`prover search`: run one strategy over a file of theorems, one result line per theorem (and attempt)
appended to --out as it finishes, through the campaign runner shared with `prover eval`.

A rerun with the same --out skips what is done.  The rows are tied to their theorem (header and
statement) and to the settings (recorded in OUT.run.json beside OUT.jsonl): a rerun with other
settings is refused, naming what changed, and a theorem whose statement changed is refused too,
or run again with --rerun-stale (its old rows move to OUT.stale.jsonl).  The budget defaults to
expansions=64; `--budget unlimited` means none."""

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
                   help="any of expansions=N,env_calls=N,tokens=N,seconds=S (default expansions=64; 'unlimited': none)")
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
    p.add_argument("--save-trees", action="store_true",
                   help="also write each search tree as one JSON line to OUT.trees.jsonl")
    p.add_argument("--rerun-stale", action="store_true",
                   help="run again the rows whose theorem changed (old rows move to OUT.stale.jsonl)")
    p.add_argument("--evaluator", default=None,
                   help="state evaluator for value-guided strategies: none | oracle:WORLD.json | evaluator:DIR")
    g = p.add_argument_group("strategy settings (each applies to the strategies whose config has it)")
    g.add_argument("--config", default="",
                   help="any strategy config fields, e.g. value_weight=0.5,beta=0.1,c_puct=1.5 (docs/strategies.md)")
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
                from doubles.scripted import ScriptedWorld

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
    import functools

    from eval.campaign import Campaign, run_campaign
    from eval.identity import sibling
    from prover.campaign import check_number, env_identity, executor, parse_budget, policy_identity
    from prover.factory import make_env, make_policy

    check_number(args.attempts, "--attempts", low=1)
    check_number(args.limit, "--limit", low=1, optional=True)
    check_number(args.timeout, "--timeout", low=0, integer=False)
    check_number(args.memory_mb, "--memory-mb", low=1)
    check_number(args.workers, "--workers", low=1)
    try:
        budget = parse_budget(args.budget)
    except ValueError as e:
        raise ValueError(f"--budget: {e}") from None
    from core.config import parse_assignments
    from prover.campaign import evaluator_factory, evaluator_identity
    from prover.factory import check_evaluator_spec

    check_evaluator_spec(args.evaluator, "--evaluator")
    config = {**parse_assignments(args.config, "--config"),
              **{k: getattr(args, k) for k in CONFIG_FLAGS if getattr(args, k) is not None}}
    theorems = load_theorem_list(args.theorems)
    if args.limit is not None:
        theorems = theorems[: args.limit]
    policy_kw = policy_options(args)
    identity = {"theorems": args.theorems, "env": args.env, "policy": args.policy, "limit": args.limit,
                "policy_options": {k: v for k, v in policy_kw.items() if k not in ("seed", "device")},
                "env_id": env_identity(args.env, lean=args.lean, project=args.project),
                "policy_id": policy_identity(args.policy),
                "evaluator": args.evaluator or "none", "evaluator_id": evaluator_identity(args.evaluator)}
    campaign = Campaign(
        theorems=theorems,
        env_factory=functools.partial(make_env, args.env, lean=args.lean, project=args.project,
                                      timeout=args.timeout, memory_mb=args.memory_mb, workers=args.workers),
        policy_factory=functools.partial(make_policy, args.policy, **policy_kw),
        evaluator_factory=evaluator_factory(args.evaluator, args.device),
        strategy=args.strategy, config=config, budget=budget, out=args.out, attempts=args.attempts,
        seed=args.seed, identity=identity, runtime={"attempts": args.attempts, "count": len(theorems)},
        executor=executor(), save_trees=args.save_trees, export_graphs=args.export_graph,
        rerun_stale=args.rerun_stale, label=f"search {args.strategy}", progress=not args.no_progress,
        hint="use another --out",
        stale_hint=(f"rerun with --rerun-stale to run them again (their rows move to {sibling(args.out, 'stale')}), "
                    "or use another --out"),
    )
    result = run_campaign(campaign)
    counts = {"proved": 0, "failed": 0, "budget": 0}
    for row in result.new:
        counts[row["status"]] = counts.get(row["status"], 0) + 1
    print(f"{args.strategy} at budget {budget}: proved {counts['proved']}, failed {counts['failed']}, "
          f"out of budget {counts['budget']}"
          + (f", skipped {result.skipped} already done" if result.skipped else "") + f" -> {args.out}")
    for row in result.errors:
        print(f"{row['name']} attempt {row['attempt']}: {row.get('error')}", file=sys.stderr)
    if result.errors:
        print(f"{len(result.errors)} search(es) stopped on an error and were not recorded; rerun to retry them",
              file=sys.stderr)
        return 1
    return 0
