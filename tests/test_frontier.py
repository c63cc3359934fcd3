"""Solve rate along one compute axis and the compute-optimal frontier (`prover report --axis`)."""

from __future__ import annotations

import json

import pytest

from eval.frontier import axis_grid, frontier
from eval.sweep import solve_curve


def rows(costs: list[float | None], spent: float, status_unsolved: str = "failed") -> list[dict]:
    """One attempt per theorem: proved at FLOPs cost c, or unsolved (None) after spending `spent`."""
    out = []
    for i, c in enumerate(costs):
        if c is None:
            out.append({"name": f"t{i}", "attempt": 0, "status": status_unsolved, "flops": spent,
                        "first_proof_at": None})
        else:
            out.append({"name": f"t{i}", "attempt": 0, "status": "proved", "flops": c + 1.0,
                        "first_proof_at": {"flops": c}})
    return out


def test_the_frontier_names_the_run_that_solves_most_at_each_budget():
    cheap = rows([1e3, 2e3, None, None], 5e3, "budget")  # solves 2 early, stops on its budget at 5e3
    costly = rows([3e4, 5e4, 8e4, None], 1e5, "budget")  # solves 3, but only with 10x the compute
    fr = frontier([("small/best-first", cheap, 4), ("large/mcts", costly, 4)], "flops")
    grid = fr["budgets"]
    assert grid[0] <= 1e3 and all(b2 / b1 == pytest.approx(10 ** 0.5) for b1, b2 in zip(grid, grid[1:], strict=False))
    at = dict(zip(grid, zip(fr["runs"]["small/best-first"], fr["runs"]["large/mcts"], fr["best"], strict=True),
                  strict=False))
    b = min(x for x in grid if x >= 2e3)
    assert at[b][:2] == (2, 0) and at[b][2] == ["small/best-first"]
    b = min(x for x in grid if x >= 8e4)
    assert at[b][1] == 3 and at[b][2] == ["large/mcts"]
    past = [x for x in grid if x > 5e3]  # past the cheap run's horizon: what it would solve is unknown
    assert past and all(at[x][0] is None for x in past) and grid[-1] == pytest.approx(1e5)
    assert solve_curve(costly, "flops").horizon == 1e5


def test_axis_grid_in_powers_of_two_for_counts():
    c = solve_curve([{"name": "a", "attempt": 0, "status": "proved", "env_calls": 9,
                      "first_proof_at": {"env_calls": 5}}], "env_calls")
    assert axis_grid([c], "env_calls") == [1, 2, 4, 8, 9]


def test_report_axis_flops_from_the_cli(tmp_path, capsys):
    from prover.cli import main

    for name, rs in (("a", rows([1e3, None], 2e3)), ("b", rows([5e3, 6e3], 0))):
        d = tmp_path / name
        d.mkdir()
        (d / "results.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rs))
    assert main(["report", str(tmp_path / "a"), str(tmp_path / "b"), "--out", str(tmp_path / "cmp"),
                 "--axis", "flops"]) == 0
    md = (tmp_path / "cmp" / "frontier_flops.md").read_text()
    assert "Compute-optimal frontier (flops per theorem)" in md and (tmp_path / "cmp" / "solve_rate_vs_flops.png").stat().st_size
    assert main(["report", str(tmp_path / "a"), "--axis", "watts"]) == 2
    assert "choose from" in capsys.readouterr().err
