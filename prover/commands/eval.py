"""`prover eval`: run a prover over a dataset, K attempts a theorem, and report pass@k and the
budget sweep.

    prover eval --dataset logic:valid --env lean-term --policy model:runs/tiny --strategy best-first \\
        --attempts 1 --budget expansions=64 --out runs/eval-bf

Every attempt's result row is appended to DIR/results.jsonl as it finishes, through the same
search machinery as expert iteration (prover.distributed.search_many); a rerun with the same
--out skips what is done (a larger --attempts adds attempts).  At the end DIR/report.json,
DIR/report.md and DIR/solve_rate_vs_budget.png are written.
"""

from __future__ import annotations

import argparse
import functools
import json
import sys
import time
from pathlib import Path
from typing import Any

# what must match for a rerun to continue the same run (attempts and workers may change)
RUN_IDENTITY = ("dataset", "env", "policy", "strategy", "budget", "seed", "config", "fmt", "limit",
                "temperature", "sample", "generation")


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("eval", help="evaluate a prover on a dataset: pass@k, budget sweep, report",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dataset", required=True,
                   help="minif2f:valid|test, minif2f-lean:DIR[:split], leandojo:FILE.json, logic:train|valid|test, "
                        "jsonl:FILE or a path")
    p.add_argument("--env", required=True, help="scripted:WORLD.json | repl | lean-term")
    p.add_argument("--policy", required=True, help="scripted:WORLD.json | model:PATH_OR_HUB_ID | vocab")
    p.add_argument("--strategy", required=True, help="best-first | sample | whole | beam")
    p.add_argument("--attempts", type=int, default=1, help="attempts per theorem (n of pass@k)")
    p.add_argument("--budget", default="", help="per attempt, e.g. expansions=64,tokens=5000,seconds=30")
    p.add_argument("--out", required=True, type=Path, help="run directory (results.jsonl, report files)")
    p.add_argument("--config", default="", help="strategy config, e.g. n=8,samples=4,retries=2")
    p.add_argument("--fmt", choices=("tactic", "thought"), default=None,
                   help="model output format (model policies; default: the checkpoint's own)")
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
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def parse_config(text: str) -> dict[str, Any]:
    """`"n=8,length_normalize=true,x=0.5"` -> {"n": 8, "length_normalize": True, "x": 0.5}."""
    out: dict[str, Any] = {}
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        key, sep, value = part.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"--config part {part!r}: expected KEY=VALUE")
        v = value.strip()
        low = v.lower()
        if low in ("true", "false"):
            out[key.strip()] = low == "true"
            continue
        for conv in (int, float):
            try:
                out[key.strip()] = conv(v)
                break
            except ValueError:
                continue
        else:
            out[key.strip()] = v
    return out


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


def _policy_name(spec: str) -> str:
    """A short name for labels: the checkpoint folder of a model (its parent for .../final), else the kind."""
    kind, _, arg = spec.partition(":")
    if kind != "model" or not arg:
        return kind
    p = Path(arg)
    return p.parent.name if p.name in ("final", "") and p.parent.name else p.name


def check_same_run(path: Path, meta: dict[str, Any]) -> None:
    """Refuse to mix two different runs in one directory."""
    if not path.is_file():
        return
    try:
        old = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise ValueError(f"{path}: not valid JSON ({e.msg})") from None
    diff = [f"{k}: was {old.get(k)!r}, now {meta.get(k)!r}" for k in RUN_IDENTITY if old.get(k) != meta.get(k)]
    if diff:
        raise ValueError(f"{path.parent} holds a different run ({'; '.join(diff)}); use another --out")


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from core.jsonl import read_jsonl, repair_jsonl
    from eval.datasets import load_dataset
    from eval.report import RESULTS_FILE, RUN_FILE, load_run, write_report
    from prover.distributed import SearchJob, search_many
    from prover.factory import make_env, make_policy
    from search.budget import Budget

    if args.attempts < 1:
        raise ValueError(f"--attempts must be at least 1, got {args.attempts}")
    budget = Budget.parse(args.budget)
    config = parse_config(args.config)
    generation = parse_config(args.generation)
    ks = parse_ks(args.ks)
    theorems = load_dataset(args.dataset)
    if args.limit is not None:
        theorems = theorems[: args.limit]
    if not theorems:
        raise ValueError(f"dataset {args.dataset!r} has no theorems")
    policy_name = _policy_name(args.policy)
    meta = {
        "label": args.label or f"{args.strategy}/{policy_name}" + (f"/{args.fmt}" if args.fmt else ""),
        "dataset": args.dataset, "env": args.env, "policy": args.policy, "strategy": args.strategy,
        "budget": str(budget), "seed": args.seed, "config": config, "fmt": args.fmt, "limit": args.limit,
        "temperature": args.temperature, "sample": args.sample, "generation": generation,
        "attempts": args.attempts, "theorems": len(theorems),
    }
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    check_same_run(out / RUN_FILE, meta)
    meta["started"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    (out / RUN_FILE).write_text(json.dumps(meta, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")

    results = out / RESULTS_FILE
    repair_jsonl(results)
    names = {t.name for t in theorems}
    done_rows = [r for r in read_jsonl(results) if r.get("name") in names]
    done = {(r.get("name"), r.get("attempt")) for r in done_rows}
    solved = {r["name"] for r in done_rows if r.get("status") == "proved"}
    jobs = [SearchJob(t, attempt=a, seed=args.seed + a) for a in range(args.attempts) for t in theorems]
    todo = sum(1 for j in jobs if j.key not in done)

    policy_kw: dict[str, Any] = {k: v for k, v in (("fmt", args.fmt), ("temperature", args.temperature),
                                                   ("device", args.device)) if v is not None}
    if args.sample:
        policy_kw["sample"] = True
    if generation:
        policy_kw["generation"] = generation
    env_factory = functools.partial(make_env, args.env, lean=args.lean, project=args.project,
                                    timeout=args.timeout, memory_mb=args.memory_mb)
    policy_factory = functools.partial(make_policy, args.policy, **policy_kw)
    errors = 0
    bar = tqdm(total=len(jobs), initial=len(jobs) - todo, desc=f"eval {meta['label']}", unit="attempt",
               disable=args.no_progress, file=sys.stderr)
    bar.set_postfix(solved=f"{len(solved)}/{len(theorems)}")
    try:
        for row in search_many(jobs, env_factory, policy_factory, args.strategy, budget, config,
                               workers=args.workers, ray_address=args.ray_address, out=results, progress=False):
            if row.get("status") == "error":
                errors += 1
                print(f"{row['name']} attempt {row['attempt']}: {row.get('error')}", file=sys.stderr)
            elif row.get("status") == "proved":
                solved.add(row["name"])
            bar.update(1)
            bar.set_postfix(solved=f"{len(solved)}/{len(theorems)}")
    finally:
        bar.close()

    paths = write_report([load_run(out)], out, ks=ks, seed=args.seed)
    print(f"{meta['label']}: solved {len(solved)}/{len(theorems)} ({100 * len(solved) / len(theorems):.1f}%) "
          f"with {args.attempts} attempt(s) at budget {budget}")
    summary = json.loads(paths["json"].read_text(encoding="utf-8"))["runs"][0]
    for k, e in summary["pass_at_k"].items():
        print(f"  pass@{k} = {100 * e['value']:.1f}%  [{100 * e['low']:.1f}, {100 * e['high']:.1f}]")
    print(f"report: {paths['md']}  plot: {paths['plot']}")
    if errors:
        print(f"{errors} attempt(s) failed with errors and were not recorded; rerun to retry them", file=sys.stderr)
        return 1
    return 0
