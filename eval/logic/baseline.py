"""The vocabulary baseline on the logic benchmark: best-first search with `VocabularyPolicy`, real Lean.

    python -m eval.logic.baseline --split valid --max-expansions 64 --out runs/logic_baseline

One search per theorem at the largest budget; best-first search is prefix-monotone (a smaller
expansion budget runs exactly the first part of a larger run), so the expansions at which the
proof was first found (`first_proof_at`) give the solved count at every smaller budget.
Rows are appended to `OUT/results.jsonl` as each search ends, through the campaign runner
(`eval.campaign`): a rerun resumes, and refuses rows of other settings or of changed theorems.
The table is printed and `OUT/solved.png` plots solved counts against the budget.
"""

from __future__ import annotations

import argparse
import functools
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from core.logs import quiet_output
from eval.campaign import Campaign, run_campaign
from eval.logic import load_split
from eval.logic.vocab_policy import VocabularyPolicy
from lean_env.term_env import LeanTermEnv
from lean_env.toolchain import find_toolchain
from lean_env.verify_cache import toolchain_identity
from search.budget import Budget

log = logging.getLogger(__name__)


def solved_at(rows: Sequence[dict], budgets: Sequence[int]) -> dict[int, int]:
    """How many rows were proved within each expansion budget (from `first_proof_at`)."""
    out = {}
    for b in budgets:
        out[b] = sum(1 for r in rows if r.get("status") == "proved" and r.get("first_proof_at")
                     and r["first_proof_at"]["expansions"] <= b)
    return out


def _env(lean: str | None, workers: int) -> LeanTermEnv:
    return LeanTermEnv(find_toolchain(lean=lean), workers=workers, timeout=120)


def run(split: str, max_expansions: int, out_dir: Path, n: int = 64, expand_batch: int = 8,
        workers: int = 2, lean: str | None = None, progress: bool = True) -> list[dict]:
    """The baseline's rows, one per theorem of `split`, through the campaign runner (resumable, tied to
    the theorems and to these settings in OUT/run.json)."""
    theorems = load_split(split)
    campaign = Campaign(
        theorems=theorems, env_factory=functools.partial(_env, lean, workers),
        policy_factory=VocabularyPolicy, strategy="best-first", config={"n": n, "expand_batch": expand_batch},
        budget=Budget(expansions=max_expansions), out=out_dir / "results.jsonl", identity_file=out_dir / "run.json",
        identity={"dataset": f"logic:{split}", "env": "lean-term", "policy": "vocab",
                  "env_id": {"lean": toolchain_identity(find_toolchain(lean=lean))}},
        runtime={"label": f"vocab best-first/{split}", "attempts": 1, "theorems": len(theorems), "workers": workers},
        row_fields=("difficulty",), label=f"vocab best-first on {split}", progress=progress,
        hint="use another --out",
    )
    return run_campaign(campaign).rows


def plot(table: dict[int, int], total: int, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 3.5))
    xs = sorted(table)
    ax.plot(xs, [table[x] for x in xs], marker="o")
    ax.set_xscale("log", base=2)
    ax.set_xlabel("expansion budget")
    ax.set_ylabel(f"solved (of {total})")
    ax.set_title("vocabulary best-first on the logic benchmark")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="Vocabulary best-first baseline on the logic benchmark.")
    ap.add_argument("--split", default="valid")
    ap.add_argument("--max-expansions", type=int, default=64)
    ap.add_argument("--out", type=Path, default=Path("runs/logic_baseline"))
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--lean", default=None)
    ap.add_argument("--no-progress", action="store_true", help="no progress bar (logs of a job not on a terminal)")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    try:
        with quiet_output():  # a log file or pipe gets the progress bar as a few lines, not every redraw
            rows = run(args.split, args.max_expansions, args.out, workers=args.workers, lean=args.lean,
                       progress=not args.no_progress)
    except (ValueError, FileNotFoundError) as e:  # another run in --out, stale rows, bad settings
        print(f"logic baseline: error: {e}", file=sys.stderr)
        return 2
    budgets = [b for b in (1, 2, 4, 8, 16, 32, 64, 128, 256, 512) if b <= args.max_expansions]
    table = solved_at(rows, budgets)
    print(f"split {args.split}: {len(rows)} theorems")
    print("| expansions | solved | % |\n| ---: | ---: | ---: |")
    for b, s in table.items():
        print(f"| {b} | {s} | {100 * s / max(len(rows), 1):.0f}% |")
    by_diff: dict[int, list[int]] = {}
    for r in rows:
        by_diff.setdefault(r.get("difficulty") or 0, [0, 0])
        by_diff[r.get("difficulty") or 0][1] += 1
        by_diff[r.get("difficulty") or 0][0] += r["status"] == "proved"
    print("solved by reference proof size: " + ", ".join(f"{d}: {s}/{n}" for d, (s, n) in sorted(by_diff.items())))
    plot(table, len(rows), args.out / "solved.png")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
