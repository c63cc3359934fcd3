"""Solve rate against budget, from one run's result rows.

Every result row carries the attempt's `accounting` (what it spent) and `first_proof_at` (the
accounting at the moment its proof was found).  A strategy stops when its budget runs out and
otherwise does not look at the budget, so a run at a large budget B contains every smaller
budget b <= B: the smaller run would have done exactly the same work up to b.  Hence:

  * one attempt: solved at budget b  iff  it was proved and first_proof_at[metric] <= b;
  * several attempts of a theorem, run one after another (sampling, pass@K): the theorem costs
    the full spend of the attempts that failed before the first success plus that success's
    first_proof_at; solved at total budget b iff that cumulative cost <= b.

A point is exact only up to the *horizon*: the smallest total spend of a theorem that stopped on
its budget without a proof (it might have been proved with more).  Theorems whose attempts all
ended `failed` (the search space ran out) stay unsolved at any budget.  Curves stop at the horizon.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from eval.metrics import pass_at_k

# metric name -> accounting field
METRICS: dict[str, str] = {
    "expansions": "expansions",
    "tokens": "tokens",
    "seconds": "wall_seconds",
    "env_calls": "env_calls",
    "flops": "flops",
}
ACCOUNTING_FIELDS = ("expansions", "env_calls", "tokens", "model_seconds", "lean_seconds", "wall_seconds", "flops")


def accounting_of(row: dict[str, Any]) -> dict[str, float]:
    """The attempt's total accounting: `row["accounting"]` or, in flat rows, the top-level fields."""
    acc = row.get("accounting")
    src = acc if isinstance(acc, dict) else row
    return {k: float(src.get(k) or 0) for k in ACCOUNTING_FIELDS}


def first_proof_of(row: dict[str, Any]) -> dict[str, float] | None:
    """The accounting when the proof was found, None for an unproved attempt.  A proved row
    without `first_proof_at` (an older log) counts its whole spend."""
    if not is_proved(row):
        return None
    fp = row.get("first_proof_at")
    return {k: float(fp.get(k) or 0) for k in ACCOUNTING_FIELDS} if isinstance(fp, dict) else accounting_of(row)


def is_proved(row: dict[str, Any]) -> bool:
    return row.get("status") == "proved"


def metric_field(metric: str) -> str:
    try:
        return METRICS[metric]
    except KeyError:
        raise ValueError(f"unknown budget metric {metric!r}; choose from {', '.join(METRICS)}") from None


def by_theorem(rows: Iterable[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """Rows grouped by theorem name, each theorem's attempts in attempt order (duplicates dropped)."""
    out: dict[str, dict[int, dict[str, Any]]] = defaultdict(dict)
    for i, row in enumerate(rows):
        name = row.get("name")
        if not isinstance(name, str):
            raise ValueError(f"result row {i}: missing string field 'name'")
        out[name].setdefault(int(row.get("attempt", 0) or 0), row)
    return {name: [att[a] for a in sorted(att)] for name, att in out.items()}


def cost_to_solve(attempts: Sequence[dict[str, Any]], metric: str) -> float | None:
    """Cumulative `metric` spent until the first proof, attempts taken in order; None if none proved."""
    f = metric_field(metric)
    total = 0.0
    for row in attempts:
        fp = first_proof_of(row)
        if fp is not None:
            return total + fp[f]
        total += accounting_of(row)[f]
    return None


def total_spent(attempts: Sequence[dict[str, Any]], metric: str) -> float:
    f = metric_field(metric)
    return sum(accounting_of(r)[f] for r in attempts)


def horizon(per_theorem: dict[str, list[dict[str, Any]]], metric: str) -> float:
    """The largest total budget at which every point of the curve is exact (see module docstring)."""
    limits = [total_spent(att, metric) for att in per_theorem.values()
              if cost_to_solve(att, metric) is None and any(r.get("status") == "budget" for r in att)]
    return min(limits) if limits else math.inf


@dataclass
class Curve:
    """Theorems solved at each budget (in `metric` units), for one configuration."""

    label: str
    metric: str
    budgets: list[float]
    solved: list[int]
    total: int
    horizon: float
    costs: list[float] = field(default_factory=list)  # each solved theorem's cost to solve, sorted
    top: float = 0.0  # where the curve ends: the horizon, else the largest total spend of a theorem

    @property
    def rates(self) -> list[float]:
        return [s / self.total if self.total else 0.0 for s in self.solved]

    def solved_at(self, budget: float) -> int:
        """Theorems solved within `budget` (exact only for budget <= horizon)."""
        return sum(1 for c in self.costs if c <= budget)

    def to_dict(self) -> dict[str, Any]:
        return {"label": self.label, "metric": self.metric, "budgets": self.budgets, "solved": self.solved,
                "rates": self.rates, "total": self.total,
                "horizon": None if math.isinf(self.horizon) else self.horizon, "costs": self.costs,
                "top": self.top}


def solve_curve(rows: Iterable[dict[str, Any]], metric: str, budgets: Sequence[float] | None = None,
                label: str = "", theorems: int | None = None) -> Curve:
    """Solve rate against total per-theorem budget in `metric`.  `budgets` defaults to a grid up to the
    horizon (or the largest cost seen); budgets past the horizon are dropped.  `theorems` is the
    dataset size when some theorems have no rows yet (they count as unsolved)."""
    per = by_theorem(rows)
    costs = sorted(c for att in per.values() if (c := cost_to_solve(att, metric)) is not None)
    hz = horizon(per, metric)
    top = hz if not math.isinf(hz) else max(costs + [total_spent(a, metric) for a in per.values()], default=0.0)
    grid = list(budgets) if budgets is not None else budget_grid(top, metric)
    grid = [b for b in grid if b <= hz]
    total = max(theorems or 0, len(per))
    solved = [sum(1 for c in costs if c <= b) for b in grid]
    return Curve(label, metric, grid, solved, total, hz, costs, top)


def pass_curve(rows: Iterable[dict[str, Any]], metric: str, k: int, budgets: Sequence[float] | None = None,
               label: str = "") -> Curve:
    """pass@k (unbiased, from all n attempts) against the *per-attempt* budget in `metric`:
    an attempt counts as a success at budget b iff first_proof_at[metric] <= b.  `solved` holds
    pass@k * theorems (a float count), so `rates` is pass@k."""
    f = metric_field(metric)
    per = by_theorem(rows)
    limits = [accounting_of(r)[f] for att in per.values() for r in att
              if r.get("status") == "budget" and not is_proved(r)]
    hz = min(limits) if limits else math.inf
    firsts = {name: [fp[f] for r in att if (fp := first_proof_of(r)) is not None] for name, att in per.items()}
    top = hz if not math.isinf(hz) else max([v for fs in firsts.values() for v in fs]
                                             + [accounting_of(r)[f] for a in per.values() for r in a], default=0.0)
    grid = [b for b in (list(budgets) if budgets is not None else budget_grid(top, metric)) if b <= hz]
    solved = []
    for b in grid:
        solved.append(sum(pass_at_k(len(per[name]), sum(1 for v in fs if v <= b), k)
                          for name, fs in firsts.items() if len(per[name]) >= k))
    total = sum(1 for att in per.values() if len(att) >= k)
    return Curve(label, metric, grid, solved, total, hz)


def budget_grid(top: float, metric: str, points: int = 8) -> list[float]:
    """Budgets to tabulate: the last `points` powers of two below `top` for counts, a geometric grid
    of at most 8 points for seconds; always ending at `top`."""
    if top <= 0:
        return [0.0]
    if metric == "seconds":
        points = min(points, 8)
        lo = top / 2 ** (points - 1)
        return [round(lo * 2 ** i, 6) for i in range(points)]
    grid: list[float] = []
    b = 1.0
    while b < top:
        grid.append(b)
        b *= 2
    grid.append(float(top))
    return grid[-points:]


def sweep(rows: Iterable[dict[str, Any]], key: Callable[[dict[str, Any]], str] | None = None,
          metrics: Sequence[str] = ("expansions", "tokens", "seconds"),
          theorems: int | None = None) -> dict[str, dict[str, Curve]]:
    """Curves for every configuration in `rows` (grouped by `key`, default: the row's `label`, else
    its `strategy`) and every metric: {label: {metric: Curve}}."""
    key = key or (lambda r: str(r.get("label") or r.get("strategy") or "run"))
    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        groups[key(r)].append(r)
    return {label: {m: solve_curve(rs, m, label=label, theorems=theorems) for m in metrics}
            for label, rs in groups.items()}
