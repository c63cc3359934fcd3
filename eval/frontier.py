"""Solve rate along one compute axis for several runs, and the compute-optimal frontier.

    paths = axis_report(runs, "flops", out_dir)   # solve_rate_vs_flops.png, frontier_flops.md/.json

For each budget b on a geometric grid of the axis (half-decades for FLOPs and tokens, powers of two
for counts), every run's solved count at b (from its rows' `first_proof_at`, exact up to the run's
horizon; past it "n/a"), and the run that solves most there: which configuration (model size x
strategy x settings) to pick for that much compute, as in Wu et al. 2024, measured on our rows.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from eval.sweep import Curve, solve_curve

LOG_GRID_METRICS = ("flops", "tokens")


def axis_grid(curves: Sequence[Curve], metric: str) -> list[float]:
    """Budgets from the cheapest proof to the furthest curve end: half-decades for FLOPs and tokens,
    powers of two for other counts."""
    lows = [c.costs[0] for c in curves if c.costs and c.costs[0] > 0]
    top = max((c.top for c in curves), default=0.0)
    if not lows or top <= 0:
        return []
    if metric in LOG_GRID_METRICS:
        k, stop = math.floor(2 * math.log10(min(lows))), math.ceil(2 * math.log10(top))
        return [10 ** (i / 2) for i in range(k, stop + 1)]
    b, grid = 1.0, []
    while b < top:
        grid.append(b)
        b *= 2
    return [*grid, top]


def frontier(runs: Sequence[tuple[str, Sequence[dict[str, Any]], int]], metric: str) -> dict[str, Any]:
    """{"metric", "budgets", "runs": {label: [solved or None past its horizon]}, "best": [labels]} for
    `runs` = (label, rows, theorems)."""
    curves = [solve_curve(rows, metric, label=label, theorems=n) for label, rows, n in runs]
    grid = axis_grid(curves, metric)
    table: dict[str, list[int | None]] = {}
    for c in curves:
        table[c.label] = [c.solved_at(b) if b <= c.horizon else None for b in grid]
    best: list[list[str]] = []
    for i in range(len(grid)):
        known = {lab: v[i] for lab, v in table.items() if v[i] is not None}
        top = max(known.values(), default=None)
        best.append(sorted(lab for lab, v in known.items() if v == top and top is not None and top > 0))
    totals = {c.label: c.total for c in curves}
    return {"metric": metric, "budgets": grid, "runs": table, "totals": totals, "best": best,
            "curves": [c.to_dict() for c in curves]}


def render_frontier(fr: dict[str, Any]) -> str:
    labels = list(fr["runs"])
    metric = fr["metric"]
    lines = [f"## Compute-optimal frontier ({metric} per theorem)", "",
             "| " + " | ".join([f"budget ({metric})", *labels, "solves most"]) + " |",
             "| " + " | ".join(["---"] * (len(labels) + 2)) + " |"]
    for i, b in enumerate(fr["budgets"]):
        cells = [f"{b:.3g}"]
        for lab in labels:
            v = fr["runs"][lab][i]
            cells.append("n/a" if v is None else f"{v}/{fr['totals'][lab]}")
        cells.append(", ".join(fr["best"][i]) or "-")
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    lines += ["", "n/a: past that run's horizon (one of its theorems stopped on its budget unsolved at a smaller "
              "spend). solves most: among the runs whose curve reaches that budget, the one(s) with the most theorems solved "
              "within it (ties listed).", ""]
    return "\n".join(lines)


def plot_axis(fr: dict[str, Any], path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for c in fr["curves"]:
        total = c["total"] or 1
        xs, ys, n = [], [], 0
        for cost in c["costs"]:
            if cost > c["top"]:
                break
            n += 1
            xs.append(cost)
            ys.append(n / total)
        if xs:
            ax.step([xs[0], *xs, c["top"]], [0.0, *ys, ys[-1]], where="post", label=c["label"])
    ax.set_xscale("log")
    ax.set_xlabel({"flops": "FLOPs per theorem (policy + evaluator)", "env_calls": "Lean calls per theorem"}
                  .get(fr["metric"], f"{fr['metric']} per theorem"))
    ax.set_ylabel("solve rate")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="upper left")
    ax.set_title(f"solve rate against {fr['metric']}")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def axis_report(runs: Sequence[tuple[str, Sequence[dict[str, Any]], int]], metric: str,
                out_dir: str | Path) -> dict[str, Path]:
    """Write solve_rate_vs_METRIC.png, frontier_METRIC.md and frontier_METRIC.json into `out_dir`."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    fr = frontier(runs, metric)
    if not fr["budgets"]:
        raise ValueError(f"no run has a proof with a positive {metric} cost: nothing to plot on that axis")
    paths = {"plot": out / f"solve_rate_vs_{metric}.png", "md": out / f"frontier_{metric}.md",
             "json": out / f"frontier_{metric}.json"}
    plot_axis(fr, paths["plot"])
    paths["md"].write_text(render_frontier(fr) + f"\n![solve rate against {metric}]({paths['plot'].name})\n",
                           encoding="utf-8")
    paths["json"].write_text(json.dumps({k: v for k, v in fr.items() if k != "curves"}, indent=1) + "\n",
                             encoding="utf-8")
    return paths
