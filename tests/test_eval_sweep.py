"""eval.sweep and eval.report on hand-made result rows (exact expected numbers)."""

from __future__ import annotations

import json
import math

import pytest

from eval.report import load_run, summarize, write_report
from eval.sweep import budget_grid, cost_to_solve, horizon, pass_curve, solve_curve, sweep


def row(name, status, exp, fp=None, attempt=0, tokens=None, secs=None, strategy="best_first", **kw):
    acc = {"expansions": exp, "env_calls": 2 * exp, "tokens": tokens if tokens is not None else 10 * exp,
           "model_seconds": 0.0, "lean_seconds": 0.0, "wall_seconds": secs if secs is not None else 0.1 * exp}
    first = None
    if fp is not None:
        first = dict(acc, expansions=fp, env_calls=2 * fp, tokens=10 * fp, wall_seconds=0.1 * fp)
    return {"name": name, "attempt": attempt, "status": status, "strategy": strategy, **acc,
            "first_proof_at": first, **kw}


ONE_RUN = [
    row("a", "proved", 5, fp=3),      # solved at budget >= 3 (the search went on to 5: still 3)
    row("b", "proved", 10, fp=10),
    row("c", "budget", 16),           # stopped on budget unsolved at 16: the horizon
    row("d", "failed", 5),            # ran out of search space: never solved
]


def test_best_first_sweep_from_one_run():
    c = solve_curve(ONE_RUN, "expansions", budgets=[1, 2, 3, 4, 8, 10, 16, 32])
    assert c.horizon == 16
    assert c.budgets == [1, 2, 3, 4, 8, 10, 16]  # 32 is past the horizon
    assert c.solved == [0, 0, 1, 1, 1, 2, 2]
    assert c.total == 4 and c.rates[-1] == 0.5
    assert solve_curve(ONE_RUN, "tokens").costs == [30.0, 100.0]
    # default grid: powers of two up to the horizon
    assert solve_curve(ONE_RUN, "expansions").budgets == [1, 2, 4, 8, 16]
    # unfinished theorems count as unsolved
    assert solve_curve(ONE_RUN, "expansions", theorems=10).total == 10


def test_sampling_attempts_are_cumulative():
    rows = [
        row("x", "failed", 4, attempt=0, strategy="sample"),
        row("x", "proved", 6, fp=2, attempt=1, strategy="sample"),   # costs 4 + 2
        row("x", "proved", 3, fp=1, attempt=2, strategy="sample"),   # after the first success: ignored
        row("y", "failed", 5, attempt=1, strategy="sample"),
        row("y", "failed", 5, attempt=0, strategy="sample"),
    ]
    assert cost_to_solve([rows[0], rows[1], rows[2]], "expansions") == 6
    c = solve_curve(rows, "expansions", budgets=[2, 5, 6, 100])
    assert c.solved == [0, 0, 1, 1] and math.isinf(c.horizon)  # all unsolved ended "failed"
    # per-attempt budget: pass@1 over 3 attempts of x (2 succeed by budget 2, one by budget 1)
    p = pass_curve(rows[:3], "expansions", k=1, budgets=[1, 2])
    assert p.rates == pytest.approx([1 / 3, 2 / 3])


def test_sweep_groups_by_label_then_strategy():
    rows = [dict(r, label="bf") for r in ONE_RUN] + [row("a", "proved", 1, fp=1, strategy="sample")]
    curves = sweep(rows)
    assert set(curves) == {"bf", "sample"}
    assert set(curves["bf"]) == {"expansions", "tokens", "seconds"}
    assert horizon({"c": [ONE_RUN[2]]}, "seconds") == pytest.approx(1.6)


def test_budget_grid():
    assert budget_grid(10, "expansions") == [1, 2, 4, 8, 10]
    g = budget_grid(3.0, "seconds", points=4)
    assert g[-1] == pytest.approx(3.0) and g[0] == pytest.approx(3.0 / 8)
    with pytest.raises(ValueError, match="unknown budget metric"):
        solve_curve(ONE_RUN, "joules")


def _write_run(d, rows, **meta):
    d.mkdir()
    (d / "results.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (d / "run.json").write_text(json.dumps(meta))


def test_report_files_side_by_side(tmp_path):
    _write_run(tmp_path / "bf", ONE_RUN, label="best-first", strategy="best_first", attempts=1, theorems=4,
               dataset="logic:valid", budget="expansions=16")
    sample_rows = [row(n, "proved" if n == "a" else "failed", 2, fp=1 if n == "a" else None,
                       attempt=a, strategy="sample") for n in "abcd" for a in range(4)]
    _write_run(tmp_path / "sp", sample_rows, label="sampling", strategy="sample", attempts=4, theorems=4)
    runs = [load_run(tmp_path / "bf"), load_run(tmp_path / "sp")]
    paths = write_report(runs, tmp_path / "cmp")
    rep = json.loads(paths["json"].read_text())
    bf, sp = rep["runs"]
    assert bf["solved"] == 2 and bf["complete"] and bf["pass_at_k"]["1"]["value"] == 0.5
    assert sp["attempts_per_theorem"] == 4 and set(sp["pass_at_k"]) == {"1", "2", "4"}
    assert sp["pass_at_k"]["4"]["value"] == 0.25
    assert bf["sweep"]["expansions"]["horizon"] == 16 and sp["sweep"]["expansions"]["horizon"] is None
    md = paths["md"].read_text()
    assert "| best-first | logic:valid | best_first | expansions=16 | 4 | 1 | 1 | 2 (50.0%)" in md
    assert "## Solved against budget (expansions per theorem)" in md
    assert "| 16 | 2/4 (50.0%) | 1/4 (25.0%) |" in md
    assert paths["plot"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and paths["plot"].stat().st_size > 5000


def test_report_categories_and_bad_rows(tmp_path):
    rows = [row("mathd_algebra_1", "proved", 1, fp=1), row("aime_1983_p1", "budget", 4),
            row("amc12a_2020_p1", "proved", 2, fp=2)]
    _write_run(tmp_path / "m", rows, label="m", attempts=1, theorems=5)
    s = summarize(load_run(tmp_path / "m"))
    assert s["theorems"] == 5 and s["solved"] == 2 and not s["complete"]
    assert s["categories"]["mathd_algebra"] == {"theorems": 1, "solved": 1, "rate": 1.0}
    assert s["categories"]["aime"]["solved"] == 0
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "results.jsonl").write_text('{"name": "x"}\n{"status": "proved"}\n')
    with pytest.raises(ValueError, match=r"results\.jsonl:1: a result row needs 'name' and 'status'"):
        load_run(tmp_path / "bad")
    with pytest.raises(FileNotFoundError, match="no results.jsonl"):
        load_run(tmp_path)


def test_sample_counts_use_trajectories():
    from eval.report import sample_counts

    att = [row("x", "proved", 8, fp=3, strategy="sample", samples=8, successes=3),
           row("x", "failed", 8, strategy="sample", samples=8, successes=0)]
    assert sample_counts(att) == (16, 3)
    assert sample_counts([row("y", "proved", 1, fp=1), row("y", "failed", 1, attempt=1)]) == (2, 1)


def test_minif2f_report_from_recorded_rows(shared_dir, monkeypatch, tmp_path):
    """miniF2F loads from the shared JSONL and its report breaks down by category.  The rows are
    recorded-style rows written here (no Mathlib on these machines: nothing was proved by Lean)."""
    from collections import Counter

    from eval.datasets import load_dataset
    from eval.metrics import category

    monkeypatch.delenv("MINIF2F_DIR", raising=False)
    monkeypatch.setenv("PROVER_SHARED", str(shared_dir))
    theorems = load_dataset("minif2f:valid")
    rows = [row(t.name, "proved" if i % 3 == 0 else "budget", 8, fp=1 + i % 7 if i % 3 == 0 else None)
            for i, t in enumerate(theorems)]
    _write_run(tmp_path / "m", rows, label="minif2f-valid", attempts=1, theorems=len(theorems))
    s = summarize(load_run(tmp_path / "m"))
    want = Counter(category(t.name) for t in theorems)
    assert {c: v["theorems"] for c, v in s["categories"].items()} == dict(want)
    assert set(want) == {"aime", "amc", "imo", "mathd_algebra", "mathd_numbertheory", "induction", "algebra",
                         "numbertheory"}
    assert s["solved"] == sum(1 for i in range(len(theorems)) if i % 3 == 0)
    assert sum(v["solved"] for v in s["categories"].values()) == s["solved"]
    paths = write_report([load_run(tmp_path / "m")], tmp_path / "m")
    md = paths["md"].read_text()
    assert "## Solved by category" in md and "| mathd_numbertheory |" in md
