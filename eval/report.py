"""Reports of evaluation runs: report.json, report.md (tables) and PNG plots of solve rate against
budget, for one run or several side by side.

A run directory (what `prover eval --out DIR` writes) holds:
    run.json       what was run: label, dataset, env, policy, strategy, attempts, budget, seed, theorems
    results.jsonl  one result row per attempt, appended as each finished
"""

from __future__ import annotations

import json
import logging
import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.jsonl import read_jsonl
from eval.metrics import CATEGORIES, OTHER, category, pass_at_k_ci, wilson_interval
from eval.sweep import ACCOUNTING_FIELDS, Curve, accounting_of, budget_grid, by_theorem, solve_curve

log = logging.getLogger(__name__)

RUN_FILE = "run.json"
RESULTS_FILE = "results.jsonl"
PLOT_FILE = "solve_rate_vs_budget.png"
SWEEP_METRICS = ("expansions", "env_calls", "tokens", "seconds")


@dataclass
class Run:
    """One evaluation run: its description and its result rows."""

    dir: Path
    meta: dict[str, Any]
    rows: list[dict[str, Any]]

    @property
    def label(self) -> str:
        return str(self.meta.get("label") or self.dir.name)

    @property
    def theorems(self) -> int:
        """The dataset size (theorems without any finished attempt count as unsolved)."""
        return max(int(self.meta.get("theorems") or 0), len({r["name"] for r in self.rows}))


def load_run(path: str | Path) -> Run:
    """A run directory, or a bare results JSONL file (then the label is the file's stem)."""
    p = Path(path)
    if p.is_file():
        return Run(p.parent, {"label": p.stem}, list(read_jsonl(p)))
    if not p.is_dir():
        raise FileNotFoundError(f"run directory not found: {p}")
    meta: dict[str, Any] = {}
    if (p / RUN_FILE).is_file():
        try:
            meta = json.loads((p / RUN_FILE).read_text(encoding="utf-8"))
        except json.JSONDecodeError as e:
            raise ValueError(f"{p / RUN_FILE}: not valid JSON ({e.msg})") from None
    if not (p / RESULTS_FILE).is_file():
        raise FileNotFoundError(f"{p}: no {RESULTS_FILE} (is this a `prover eval --out` directory?)")
    rows = list(read_jsonl(p / RESULTS_FILE))
    for i, r in enumerate(rows, 1):
        if not isinstance(r.get("name"), str) or "status" not in r:
            raise ValueError(f"{p / RESULTS_FILE}:{i}: a result row needs 'name' and 'status'")
    return Run(p, meta, rows)


def default_ks(attempts: int) -> list[int]:
    ks = [k for k in (1, 2, 4, 8, 16, 32, 64, 128, 256) if k <= attempts]
    if attempts not in ks:
        ks.append(attempts)
    return ks


def summarize(run: Run, ks: Sequence[int] | None = None, seed: int = 0) -> dict[str, Any]:
    """Everything report.json says about one run."""
    per = by_theorem(run.rows)
    n_theorems = run.theorems
    attempts = [len(a) for a in per.values()]
    n_min = min(attempts, default=0)
    counts = [sample_counts(a) for a in per.values()]
    n_samples = min((n for n, _ in counts), default=0)
    # theorems with no finished attempt yet count as (n, 0)
    counts += [(max(n_samples, 1), 0)] * (n_theorems - len(per))
    solved = sum(1 for att in per.values() if any(r.get("status") == "proved" for r in att))
    ks = [k for k in (ks or default_ks(n_samples)) if 1 <= k <= n_samples]
    out: dict[str, Any] = {
        "label": run.label,
        "dir": str(run.dir),
        "meta": run.meta,
        "theorems": n_theorems,
        "attempts_per_theorem": n_min,
        "samples_per_theorem": n_samples,
        "rows": len(run.rows),
        "complete": bool(run.meta.get("attempts")) and len(per) == n_theorems
        and all(n >= int(run.meta["attempts"]) for n in attempts),
        "missing_theorems": n_theorems - len(per),
        "missing_attempts": _missing_attempts(run, per),
        "solved": solved,
        "solve_rate": wilson_interval(solved, n_theorems).to_dict() if n_theorems else None,
        "pass_at_k": {str(k): pass_at_k_ci(counts, k, seed=seed).to_dict() for k in ks} if counts else {},
        "categories": _categories(per),
        "mean_cost_per_attempt": {f: _mean(accounting_of(r)[f] for r in run.rows) for f in ACCOUNTING_FIELDS},
        "sweep": {m: solve_curve(run.rows, m, label=run.label, theorems=n_theorems).to_dict()
                  for m in SWEEP_METRICS},
    }
    return out


def _missing_attempts(run: Run, per: dict[str, list[dict[str, Any]]]) -> int | None:
    """Attempts the run asked for that have no row yet (None when the run does not say how many)."""
    want = run.meta.get("attempts")
    if not isinstance(want, int) or isinstance(want, bool):
        return None
    return sum(max(0, want - len(a)) for a in per.values()) + want * (run.theorems - len(per))


def incompleteness(summary: dict[str, Any]) -> str | None:
    """A sentence saying what an incomplete run lacks (missing results count as unsolved), or None."""
    if summary["complete"]:
        return None
    n, missing = summary["theorems"], summary["missing_theorems"]
    parts = []
    if missing:
        parts.append(f"{missing} of {n} theorems have no result yet")
    if summary.get("missing_attempts"):
        parts.append(f"{summary['missing_attempts']} attempt(s) are missing")
    if not parts:  # no run.json saying what was asked for: nothing known to be missing
        return None
    return f"{summary['label']} is incomplete: {'; '.join(parts)} (counted as unsolved)"


def sample_counts(attempts: Sequence[dict[str, Any]]) -> tuple[int, int]:
    """(n, c) of a theorem for pass@k: each attempt is one sample, except a sampling attempt whose row
    says how many independent samples it drew and how many were accepted (`samples`, `successes`)."""
    n = c = 0
    for r in attempts:
        if isinstance(r.get("samples"), int) and isinstance(r.get("successes"), int) and r["samples"] > 0:
            n += r["samples"]
            c += min(r["successes"], r["samples"])
        else:
            n += 1
            c += r.get("status") == "proved"
    return n, c


def _mean(xs: Any) -> float:
    xs = list(xs)
    return sum(xs) / len(xs) if xs else 0.0


def _categories(per: dict[str, list[dict[str, Any]]]) -> dict[str, dict[str, Any]]:
    cats: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for name, att in per.items():
        c = cats[category(name)]
        c[0] += 1
        c[1] += any(r.get("status") == "proved" for r in att)
    order = [*CATEGORIES, OTHER]
    return {k: {"theorems": v[0], "solved": v[1], "rate": v[1] / v[0] if v[0] else 0.0}
            for k, v in sorted(cats.items(), key=lambda kv: order.index(kv[0]))}


# ---------------------------------------------------------------- writing

def write_report(runs: Sequence[Run], out_dir: str | Path, ks: Sequence[int] | None = None,
                 seed: int = 0) -> dict[str, Path]:
    """report.json, report.md and the solve-rate plot for `runs` (side by side) into `out_dir`."""
    if not runs:
        raise ValueError("no runs to report")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    labels = _unique_labels(runs)
    summaries = [summarize(r, ks, seed) | {"label": lab} for r, lab in zip(runs, labels, strict=True)]
    report = {"runs": summaries}
    paths = {"json": out / "report.json", "md": out / "report.md", "plot": out / PLOT_FILE}
    paths["json"].write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    curves = {s["label"]: {m: solve_curve(r.rows, m, label=s["label"], theorems=r.theorems) for m in SWEEP_METRICS}
              for s, r in zip(summaries, runs, strict=True)}
    plot_curves(curves, paths["plot"])
    paths["md"].write_text(render_markdown(summaries, curves, plot=paths["plot"].name), encoding="utf-8")
    return paths


def _unique_labels(runs: Sequence[Run]) -> list[str]:
    seen: dict[str, int] = defaultdict(int)
    out = []
    for r in runs:
        seen[r.label] += 1
        out.append(r.label if seen[r.label] == 1 else f"{r.label} ({seen[r.label]})")
    return out


def _pct(x: float) -> str:
    return f"{100 * x:.1f}%"


def render_markdown(summaries: Sequence[dict[str, Any]], curves: dict[str, dict[str, Curve]],
                    plot: str | None = None) -> str:
    """The tables of report.md."""
    lines = ["# Evaluation report", ""]
    ks = sorted({int(k) for s in summaries for k in s["pass_at_k"]})
    head = ["run", "dataset", "strategy", "budget", "theorems", "attempts", "samples", "solved"] + [f"pass@{k}" for k in ks]
    head += ["expansions/attempt", "tokens/attempt", "seconds/attempt"]
    lines += ["## Runs", "", _row(head), _row(["---"] * len(head))]
    for s in summaries:
        m = s["meta"]
        cells = [s["label"], str(m.get("dataset", "")), str(m.get("strategy", "")), str(m.get("budget", "")),
                 str(s["theorems"]), str(s["attempts_per_theorem"]), str(s["samples_per_theorem"]),
                 f"{s['solved']} ({_pct(s['solved'] / s['theorems']) if s['theorems'] else '-'})"]
        for k in ks:
            e = s["pass_at_k"].get(str(k))
            cells.append(f"{_pct(e['value'])} [{_pct(e['low'])}, {_pct(e['high'])}]" if e else "-")
        c = s["mean_cost_per_attempt"]
        cells += [f"{c['expansions']:.1f}", f"{c['tokens']:.0f}", f"{c['wall_seconds']:.2f}"]
        lines.append(_row(cells))
    lines += ["", "samples: attempts, or for a sampling strategy its independent trajectories/proofs over all "
              "attempts. pass@k: unbiased estimator over those samples; [95% bootstrap interval over theorems].", ""]
    gaps = [g for g in (incompleteness(s) for s in summaries) if g]
    if gaps:
        lines += ["**Incomplete runs:** " + " ".join(f"{g}." for g in gaps)
                  + " Rerun the same `prover eval` command to finish them.", ""]
    cats = [c for c in [*CATEGORIES, OTHER] if any(c in s["categories"] for s in summaries)]
    if cats and cats != [OTHER]:
        lines += ["## Solved by category", "", _row(["category"] + [s["label"] for s in summaries]),
                  _row(["---"] * (len(summaries) + 1))]
        for c in cats:
            cells = [c]
            for s in summaries:
                v = s["categories"].get(c)
                cells.append(f"{v['solved']}/{v['theorems']}" if v else "-")
            lines.append(_row(cells))
        lines.append("")
    for metric in SWEEP_METRICS:
        lines += _sweep_table(summaries, metric)
    if plot:
        lines += [f"![solve rate against budget]({plot})", ""]
    return "\n".join(lines)


def _sweep_table(summaries: Sequence[dict[str, Any]], metric: str) -> list[str]:
    tops = []
    for s in summaries:
        sw = s["sweep"][metric]
        tops.append(sw["top"])
    budgets = budget_grid(max(tops, default=0.0), metric)
    if max(tops, default=0.0) <= 0:
        return []
    unit = {"seconds": "s"}.get(metric, "")
    lines = [f"## Solved against budget ({metric} per theorem)", "",
             _row([f"budget ({metric})"] + [s["label"] for s in summaries]), _row(["---"] * (len(summaries) + 1))]
    for b in budgets:
        cells = [f"{b:.3g}{unit}"]
        for s in summaries:
            sw = s["sweep"][metric]
            if sw["horizon"] is not None and b > sw["horizon"]:
                cells.append("n/a")
            else:
                solved = sum(1 for c in sw["costs"] if c <= b)
                cells.append(f"{solved}/{sw['total']} ({_pct(solved / sw['total']) if sw['total'] else '-'})")
        lines.append(_row(cells))
    lines += ["", "n/a: past that run's horizon (a theorem stopped on its budget unsolved at a smaller spend).", ""]
    return lines


def _row(cells: Sequence[str]) -> str:
    return "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"


def plot_curves(curves: dict[str, dict[str, Curve]], path: str | Path,
                metrics: Sequence[str] = SWEEP_METRICS) -> Path:
    """One panel per metric, one step line per configuration: solve rate against budget."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cols = 2 if len(metrics) == 4 else len(metrics)
    rows = math.ceil(len(metrics) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(5.5 * cols, 4 * rows), squeeze=False)
    flat = [ax for row in axes for ax in row]
    top_rate = max((c.solved_at(c.top) / c.total for by in curves.values() for c in by.values() if c.total),
                   default=0.0)
    for ax, metric in zip(flat, metrics, strict=False):
        counts = metric != "seconds"  # expansions, env calls, tokens: >= 1 each, on a log axis
        for label, by_metric in curves.items():
            c = by_metric[metric]
            xs, ys = _steps(c, start=1.0 if counts else 0.0)
            ax.step(xs, ys, where="post", label=label)
        ax.set_xlabel({"seconds": "wall seconds per theorem", "env_calls": "Lean calls (env_calls) per theorem"}
                      .get(metric, f"{metric} per theorem"))
        ax.set_ylabel("solve rate")
        ax.set_ylim(0, min(1.02, max(0.1, 1.15 * top_rate)))
        if counts:
            ax.set_xscale("log")
            ax.set_xlim(left=1)
        else:
            ax.set_xlim(left=0)
        ax.grid(alpha=0.3)
    for ax in flat[len(metrics):]:
        ax.set_visible(False)
    flat[0].legend(fontsize=8, loc="upper left")
    fig.suptitle("solve rate against budget")
    fig.tight_layout()
    p = Path(path)
    fig.savefig(p, dpi=100)
    plt.close(fig)
    return p


def _steps(c: Curve, start: float = 0.0) -> tuple[list[float], list[float]]:
    """x, y of the exact step curve: +1 solved at every cost-to-solve, drawn from `start` up to
    where the curve ends (its horizon, or the largest spend)."""
    total = c.total or 1
    top = max(c.top, start)
    xs, ys = [min(start, c.costs[0]) if c.costs else start], [0.0]
    n = 0
    for cost in c.costs:
        if cost > top:
            break
        n += 1
        xs.append(cost)
        ys.append(n / total)
    xs.append(top)
    ys.append(n / total)
    return xs, ys
