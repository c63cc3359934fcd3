"""The learned-evaluator experiment on the logic benchmark (issue 14), step by step, resumable.

    python scripts/value_experiment.py trees  --policy DIR --dataset logic:train --out runs/value/trees-train
    python scripts/value_experiment.py search --policy DIR --dataset logic:valid --evaluator evaluator:DIR \
        --method value-bf --budget env_calls=64 --out runs/value/search/...

`compare` prints, per result folder, the solved count with its 95% Wilson interval and the paired
comparison with a baseline folder.  `trees` runs best-first search with the policy over a dataset in the real (embedded) Lean and
writes, per theorem, one result row (results.jsonl) and one tree row (trees.jsonl:
{"name", "attempt", "tree": search.export.to_data(tree)}) as each search finishes; a rerun skips the
theorems already done.  `search` runs one of the compared methods at one budget and writes the
result rows.  The data, training and evaluation steps are the `prover` commands
(`evaluator-data`, `train-evaluator`, `evaluate-evaluator`); docs/evaluator.md lists the whole
sequence with the figures it printed.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

# one BLAS thread: the machine is small and shared
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

# the compared methods: strategy name and its config (the budget is separate)
METHODS: dict[str, tuple[str, dict[str, Any], bool]] = {
    "logprob-bf": ("best-first", {}, False),
    "value-bf": ("best-first", {"value_weight": 0.5}, True),
    "rebase": ("rebase", {"beta": 0.1}, True),
}


def _policy(path: str, n: int, max_new_tokens: int, temperature: float | None) -> Any:
    """Beam search with n beams (deterministic), or sampling at `temperature` when given."""
    from prover.factory import make_policy

    gen: dict[str, Any] = {"max_new_tokens": max_new_tokens}
    gen.update({"num_beams": n} if temperature is None else {"temperature": temperature})
    return make_policy(f"model:{path}", fmt="tactic", device="cpu", generation=gen)


def run_searches(theorems: list, out: Path, strategy: str, config: dict[str, Any], budget: Any, policy: Any,
                 evaluator: Any, lean: str | None, trees: bool, seed: int, desc: str, attempt: int = 0) -> None:
    """One search per theorem, result rows (and tree rows) appended as each finishes; resumable."""
    import torch
    from tqdm import tqdm

    from core.jsonl import append_jsonl, done_keys, repair_jsonl
    from prover.factory import make_env
    from search.export import to_data
    from search.strategies import run_strategy

    torch.set_num_threads(1)
    out.mkdir(parents=True, exist_ok=True)
    results, tree_file = out / "results.jsonl", out / "trees.jsonl"
    repair_jsonl(results)
    if trees:
        repair_jsonl(tree_file)
    done = {name for name, _ in done_keys(results, "name", "attempt")}
    todo = [t for t in theorems if t.name not in done]
    env = make_env("lean-term", lean=lean)
    try:
        for t in tqdm(todo, desc=desc, unit="theorem", file=sys.stderr):
            res = run_strategy(strategy, t, env, policy, budget, {**config, "keep_graph": trees},
                               seed=seed, attempt=attempt, evaluator=evaluator)
            if trees:  # the tree first: a row in results.jsonl means both are written
                append_jsonl(tree_file, {"name": t.name, "attempt": attempt, "tree": to_data(res.tree)})
            append_jsonl(results, res.to_row())
    finally:
        env.close()


def compare(run_dirs: list[Path], baseline: str) -> list[dict[str, Any]]:
    """Solved counts with 95% Wilson intervals, and against the run named `baseline` (a folder name)
    the theorems only one of the two solved (the discordant pairs of a paired comparison) with an
    exact two-sided sign-test p-value."""
    from math import comb

    from core.jsonl import read_jsonl
    from eval.metrics import wilson_interval

    solved = {d.name: {r["name"] for r in read_jsonl(d / "results.jsonl") if r.get("status") == "proved"}
              for d in run_dirs}
    totals = {d.name: sum(1 for _ in read_jsonl(d / "results.jsonl")) for d in run_dirs}
    base = solved.get(baseline, set())
    out = []
    for d in run_dirs:
        s, n = solved[d.name], totals[d.name]
        e = wilson_interval(len(s), n)
        gain, loss = len(s - base), len(base - s)
        k, m = min(gain, loss), gain + loss
        p = min(1.0, 2 * sum(comb(m, i) for i in range(k + 1)) / 2 ** m) if m else 1.0
        out.append({"run": d.name, "solved": len(s), "theorems": n, "rate": e.value, "low": e.low, "high": e.high,
                    "only_this": gain, "only_baseline": loss, "sign_p": p})
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("step", choices=("trees", "search", "compare"))
    ap.add_argument("--policy", help="tactic policy folder (e.g. the demo's policy/final)")
    ap.add_argument("--dataset", help="eval.datasets spec, e.g. logic:train")
    ap.add_argument("--out", type=Path, help="output folder (trees, search)")
    ap.add_argument("--runs", type=Path, nargs="*", default=[], help="compare: result folders")
    ap.add_argument("--baseline", default="", help="compare: the folder name of the baseline run")
    ap.add_argument("--n", type=int, default=16, help="candidates per expansion (beams)")
    ap.add_argument("--max-new-tokens", type=int, default=32)
    ap.add_argument("--budget", default="expansions=32")
    ap.add_argument("--method", choices=list(METHODS), default="logprob-bf", help="search: the compared method")
    ap.add_argument("--config", default="", help="search: strategy config overrides k=v,...")
    ap.add_argument("--evaluator", default="none", help="search: evaluator spec (evaluator:DIR)")
    ap.add_argument("--lean", default=None)
    ap.add_argument("--limit", type=int)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--temperature", type=float, help="sample candidates at this temperature instead of beams")
    ap.add_argument("--attempt", type=int, default=0, help="the attempt number written to the rows")
    a = ap.parse_args(argv)

    import json

    from core.config import parse_assignments
    from eval.datasets import load_dataset
    from search.budget import Budget

    if a.step == "compare":
        for row in compare(a.runs, a.baseline):
            print(json.dumps(row))
        return 0
    if not (a.policy and a.dataset and a.out):
        ap.error("trees and search need --policy, --dataset and --out")

    theorems = load_dataset(a.dataset)[: a.limit]
    budget = Budget.parse(a.budget)
    policy = _policy(a.policy, a.n, a.max_new_tokens, a.temperature)
    if a.step == "trees":
        run_searches(theorems, a.out, "best-first", {"n": a.n}, budget, policy, None, a.lean, True, a.seed,
                     f"trees {a.dataset}", a.attempt)
        return 0
    strategy, config, needs_ev = METHODS[a.method]
    config = {**config, **parse_assignments(a.config, "--config")}
    config["width" if strategy == "rebase" else "n"] = a.n
    from prover.factory import make_evaluator

    evaluator = make_evaluator(a.evaluator)
    if needs_ev and evaluator is None:
        raise SystemExit(f"method {a.method} needs --evaluator")
    run_searches(theorems, a.out, strategy, config, budget, policy, evaluator if needs_ev else None, a.lean,
                 False, a.seed, f"{a.method} {a.budget}")
    return 0


if __name__ == "__main__":
    from core.logs import quiet_output

    with quiet_output():  # a log file or pipe gets progress bars as a few lines, not every redraw
        code = main()
    sys.exit(code)
