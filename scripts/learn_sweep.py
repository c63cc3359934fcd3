"""The experiments of issue 15 ("make the learner learn"): every lever is a demo recipe under
configs/learn/, run through `prover demo`'s own pipeline, and every run appends one row to the
levers table.

    python scripts/learn_sweep.py prepare --out runs/learn/cache          # replay once: train, extra, valid
    python scripts/learn_sweep.py run configs/learn/sft_extra2k.json --out runs/learn [--split valid]
    python scripts/learn_sweep.py table --out runs/learn                   # docs table of every run

`prepare` replays the reference proofs of logic:train, logic:extra and logic:valid in the real Lean
once (rows in the order `eval.logic.examples.reference_examples` writes them); `run` copies the rows
a recipe asks for into its folder (the rows the demo's step 1 would compute, which it then reuses),
runs the demo's steps 2-4, and appends the figures to OUT/levers.jsonl: solved at every expansion
budget up to the recipe's, with the Lean calls spent, the training seconds and the validation loss.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

BUDGETS = (1, 2, 4, 8, 16, 32, 64, 128)


def prepare(out: Path) -> None:
    from core.jsonl import write_jsonl_atomic
    from eval.logic import EXTRA, load_split
    from eval.logic.examples import reference_examples
    from prover.factory import make_env

    out.mkdir(parents=True, exist_ok=True)
    env = make_env("lean-term")
    try:
        for split in ("train", "valid", EXTRA):
            f = out / f"{split}.jsonl"
            if f.is_file():
                continue
            t0 = time.perf_counter()
            rows = reference_examples(env, load_split(split))
            write_jsonl_atomic(f, rows)
            print(f"{split}: {len(rows)} steps in {time.perf_counter() - t0:.1f}s -> {f}", flush=True)
    finally:
        env.close()


def stage(cfg: object, cache: Path, run_dir: Path) -> None:
    """The recipe's examples.jsonl and valid_examples.jsonl, from the cache."""
    from core.jsonl import read_jsonl, write_jsonl_atomic
    from prover.commands.demo import training_theorems

    run_dir.mkdir(parents=True, exist_ok=True)
    ex = run_dir / "examples.jsonl"
    if not ex.is_file():
        names = [t.name for t in training_theorems(cfg)]  # type: ignore[arg-type]
        by: dict[str, list[dict]] = {}
        for split in ("train", "extra"):
            for r in read_jsonl(cache / f"{split}.jsonl"):
                by.setdefault(r["theorem"], []).append(r)
        write_jsonl_atomic(ex, [r for n in names for r in by.get(n, [])])
    va = run_dir / "valid_examples.jsonl"
    if not va.is_file():
        write_jsonl_atomic(va, list(read_jsonl(cache / "valid.jsonl")))


def summarise(label: str, cfg_path: Path, run_dir: Path, split: str, wall: float) -> dict:
    from core.jsonl import read_json, read_jsonl
    from eval.metrics import wilson_interval

    rows = list(read_jsonl(run_dir / "eval" / "results.jsonl"))
    n = len(rows)
    solved = {}
    for b in BUDGETS:
        k = sum(1 for r in rows if r.get("status") == "proved" and r["first_proof_at"]["expansions"] <= b)
        solved[b] = k
    log = [json.loads(x) for x in (run_dir / "policy" / "train_log.jsonl").read_text().splitlines()]
    train_rows = [x for x in log if "loss" in x]
    val = [x for x in log if "val_loss" in x]
    k = sum(1 for r in rows if r.get("status") == "proved")
    ci = wilson_interval(k, n)
    statuses: dict[str, int] = {}
    for r in rows:
        statuses[r["status"]] = statuses.get(r["status"], 0) + 1
    return {
        "label": label, "config": str(cfg_path), "split": split, "theorems": n, "solved": k,
        "ci95": [round(100 * ci.low, 1), round(100 * ci.high, 1)], "solved_at": solved,
        "statuses": statuses,
        "env_calls": sum(int(r.get("env_calls", 0)) for r in rows),
        "expansions": sum(int(r.get("expansions", 0)) for r in rows),
        "env_calls_solved": sorted(int(r["first_proof_at"]["env_calls"]) for r in rows if r.get("status") == "proved"),
        "train_seconds": train_rows[-1]["seconds"] if train_rows else None,
        "train_loss": train_rows[-1]["loss"] if train_rows else None,
        "val_loss": val[-1]["val_loss"] if val else None,
        "examples": sum(1 for _ in read_jsonl(run_dir / "examples.jsonl")),
        "parameters": max((int(r.get("policy_parameters", 0)) for r in rows), default=0),
        "wall_seconds": round(wall, 1),
        "read_at": time.strftime("%Y-%m-%d %H:%M"),
        **({"search_seconds": round(sum(float(r.get("wall_seconds", 0)) for r in rows), 1)}),
        "train_config": read_json(run_dir / "policy" / "final" / "train_config.json", "train config"),
    }


def run(cfg_path: Path, out: Path, split: str, cache: Path, label: str | None) -> int:
    from core.jsonl import append_jsonl
    from prover.cli import main as cli_main
    from prover.commands.demo import DemoConfig

    cfg = DemoConfig.load(cfg_path)
    label = label or cfg_path.stem
    run_dir = out / (label if split == "valid" else f"{label}-{split}")
    stage(cfg, cache, run_dir)
    t0 = time.perf_counter()
    code = cli_main(["demo", "--config", str(cfg_path), "--out", str(run_dir), "--split", split, "--no-progress"])
    if code:
        return code
    row = summarise(label, cfg_path, run_dir, split, time.perf_counter() - t0)
    append_jsonl(out / "levers.jsonl", row)
    print(json.dumps({k: row[k] for k in ("label", "split", "solved", "theorems", "ci95", "solved_at", "val_loss",
                                          "train_seconds", "env_calls")}))
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("prepare")
    p.add_argument("--out", type=Path, default=Path("runs/learn/cache"))
    r = sub.add_parser("run")
    r.add_argument("config", type=Path)
    r.add_argument("--out", type=Path, default=Path("runs/learn"))
    r.add_argument("--cache", type=Path, default=None, help="default: OUT/cache")
    r.add_argument("--split", default="valid", choices=("valid", "test"))
    r.add_argument("--label", default=None)
    args = ap.parse_args()
    import torch

    torch.set_num_threads(1)
    if args.cmd == "prepare":
        prepare(args.out)
        return 0
    return run(args.config, args.out, args.split, args.cache or args.out / "cache", args.label)


if __name__ == "__main__":
    sys.exit(main())
