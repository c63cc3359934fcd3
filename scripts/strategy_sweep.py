"""Strategies side by side on one policy and one split, at equal Lean calls and at equal FLOPs.

    python scripts/strategy_sweep.py --policy runs/demo/policy/final --split valid --out runs/strategies-valid
    python scripts/strategy_sweep.py ... --config configs/strategies_logic.json --evaluator evaluator:DIR

Each run of the config file is one `prover eval` (resumable: rerun the same command after a kill);
then `prover report --axis env_calls --axis flops` over all of them, and `summary.md`: solved at
each Lean-call budget with 95% Wilson intervals.  A run needing an evaluator (value-guided
best-first, MCTS with values) is skipped without `--evaluator`.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

LEAN_CALLS = (16, 32, 64, 128)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--policy", required=True, help="checkpoint folder of the policy")
    ap.add_argument("--split", default="valid", choices=("valid", "test"))
    ap.add_argument("--out", required=True, type=Path)
    ap.add_argument("--config", type=Path, default=REPO / "configs" / "strategies_logic.json")
    ap.add_argument("--evaluator", default=None, help="evaluator spec for the runs that use one")
    ap.add_argument("--only", default="", help="comma-separated labels to run (default: all)")
    ap.add_argument("--no-progress", action="store_true")
    args = ap.parse_args()

    import torch

    from core.jsonl import read_json, read_jsonl
    from eval.frontier import axis_report
    from eval.metrics import wilson_interval
    from eval.sweep import solve_curve
    from prover.campaign import EvalSpec, run_eval
    from search.strategies import make_config

    torch.set_num_threads(1)
    cfg = read_json(args.config, "strategy sweep config")
    only = {s for s in args.only.split(",") if s}
    done: list[tuple[str, Path]] = []
    for run in cfg["runs"]:
        label = run["label"]
        if only and label not in only:
            continue
        needs = make_config(run["strategy"], run.get("config", {})).needs_evaluator()
        if needs and not args.evaluator:
            print(f"skip {label}: {needs} needs an evaluator (--evaluator)", file=sys.stderr)
            continue
        out = args.out / label
        spec = EvalSpec(dataset=f"logic:{args.split}", env="lean-term", policy=f"model:{args.policy}",
                        strategy=run["strategy"], out=out, budget=run.get("budget", cfg["budget"]),
                        config=run.get("config", {}), generation=run.get("generation", cfg["generation"]),
                        device="cpu", label=label, progress=not args.no_progress,
                        evaluator=args.evaluator if run.get("evaluator", True) else None)
        outcome = run_eval(spec)
        print(f"{label}: solved {len(outcome.result.solved)}/{outcome.theorems}", flush=True)
        done.append((label, out))

    runs = [(label, list(read_jsonl(out / "results.jsonl")), len(list(read_jsonl(out / "results.jsonl"))))
            for label, out in done]
    for metric in ("env_calls", "flops"):
        paths = axis_report(runs, metric, args.out)
        print(f"written {paths['md']} {paths['plot']}")
    lines = [f"# Strategies on logic:{args.split}, policy {args.policy}", "",
             "| run | " + " | ".join(f"solved at {b} Lean calls" for b in LEAN_CALLS)
             + " | FLOPs per theorem (mean) | policy parameters |",
             "| --- |" + " --- |" * (len(LEAN_CALLS) + 2)]
    for label, rows, n in runs:
        c = solve_curve(rows, "env_calls", theorems=n)
        cells = []
        for b in LEAN_CALLS:
            if b > c.horizon:
                cells.append("n/a")
                continue
            k = c.solved_at(b)
            e = wilson_interval(k, n)
            cells.append(f"{k}/{n} [{100 * e.low:.0f}, {100 * e.high:.0f}]%")
        flops = sum(float(r.get("flops", 0)) for r in rows) / max(len(rows), 1)
        params = max(int(r.get("policy_parameters", 0)) for r in rows)
        lines.append(f"| {label} | " + " | ".join(cells) + f" | {flops:.3g} | {params} |")
    lines += ["", "[low, high]: 95% Wilson interval. Solved at b Lean calls is read off each run's rows "
              "(`first_proof_at.env_calls`, exact up to the run's horizon)."]
    (args.out / "summary.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    from core.logs import quiet_output

    with quiet_output():  # a log file or pipe gets progress bars as a few lines, not every redraw
        code = main()
    sys.exit(code)
