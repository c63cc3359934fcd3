"""`prover eval` and `prover report` end to end on a scripted world: rows, reports, plots,
the budget sweep against real smaller-budget runs, and resume after an interruption."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from eval.report import load_run
from eval.sweep import solve_curve
from prover.cli import main

WORLD = Path(__file__).resolve().parent / "data" / "eval" / "world.json"
SCRIPTED = [f"--dataset=scripted:{WORLD}", f"--env=scripted:{WORLD}", f"--policy=scripted:{WORLD}", "--no-progress"]


def _eval(out: Path, *extra: str) -> int:
    return main(["eval", *SCRIPTED, "--out", str(out), *extra])


def _rows(d: Path) -> list[dict]:
    return [json.loads(line) for line in (d / "results.jsonl").read_text().splitlines()]


def test_eval_writes_rows_report_and_plot(tmp_path, capsys):
    out = tmp_path / "bf"
    assert _eval(out, "--strategy", "best-first", "--budget", "expansions=8", "--config", "n=2") == 0
    rows = {r["name"]: r for r in _rows(out)}
    assert {n: r["status"] for n, r in rows.items()} == {
        "one_step": "proved", "two_goals": "proved", "backoff": "proved", "chain5": "proved", "impossible": "failed"}
    assert rows["backoff"]["proof"] == ["apply lem", "exact e"]  # greedy `intro x` dead-ends: search backed off
    assert rows["chain5"]["first_proof_at"]["expansions"] == 5
    rep = json.loads((out / "report.json").read_text())["runs"][0]
    assert rep["solved"] == 4 and rep["pass_at_k"]["1"]["value"] == pytest.approx(0.8)
    assert rep["sweep"]["expansions"]["costs"] == [1, 3, 3, 5]
    assert (out / "solve_rate_vs_budget.png").stat().st_size > 5000
    assert "| best-first/scripted |" in (out / "report.md").read_text()
    assert "solved 4/5 (80.0%)" in capsys.readouterr().out


def test_sweep_from_one_run_equals_smaller_runs(tmp_path):
    """The points a run at budget 8 predicts for budgets 1..7 are what runs at those budgets give."""
    assert _eval(tmp_path / "b8", "--strategy", "best-first", "--budget", "expansions=8", "--config", "n=2") == 0
    curve = solve_curve(load_run(tmp_path / "b8").rows, "expansions")
    for b in (2, 3, 4):
        d = tmp_path / f"b{b}"
        assert _eval(d, "--strategy", "best-first", "--budget", f"expansions={b}", "--config", "n=2") == 0
        small = _rows(d)
        assert sum(r["status"] == "proved" for r in small) == curve.solved_at(b), f"budget {b}"
        # and the smaller run's own horizon-limited curve agrees at its budget
        assert solve_curve(small, "expansions", budgets=[b]).solved == [curve.solved_at(b)]
    assert solve_curve(_rows(tmp_path / "b4"), "expansions").horizon == 4  # chain5 stopped on budget


def test_sampling_attempts_pass_at_k_and_side_by_side_report(tmp_path, capsys):
    sp = tmp_path / "sp"
    assert _eval(sp, "--strategy", "sample", "--sample", "--attempts", "3", "--budget", "expansions=12",
                 "--config", "samples=2,retries=1", "--label", "sampling", "--seed", "5") == 0
    rows = _rows(sp)
    assert len(rows) == 15 and {r["seed"] for r in rows} == {5, 6, 7}
    assert all(r["samples"] == 2 for r in rows)
    rep = json.loads((sp / "report.json").read_text())["runs"][0]
    assert rep["attempts_per_theorem"] == 3 and rep["samples_per_theorem"] == 6
    assert set(rep["pass_at_k"]) == {"1", "2", "4", "6"}
    assert rep["pass_at_k"]["1"]["value"] <= rep["pass_at_k"]["6"]["value"]
    bf = tmp_path / "bf"
    assert _eval(bf, "--strategy", "best-first", "--budget", "expansions=8", "--label", "best-first") == 0
    cmp_dir = tmp_path / "cmp"
    capsys.readouterr()
    assert main(["report", str(bf), str(sp), "--out", str(cmp_dir)]) == 0
    md = (cmp_dir / "report.md").read_text()
    assert "| budget (expansions) | best-first | sampling |" in md
    assert [r["label"] for r in json.loads((cmp_dir / "report.json").read_text())["runs"]] == ["best-first", "sampling"]
    assert (cmp_dir / "solve_rate_vs_budget.png").is_file()
    assert main(["report", str(bf), str(sp)]) == 2  # several runs need --out
    assert "--out" in capsys.readouterr().err


def test_resume_after_interruption(tmp_path, monkeypatch):
    """Interrupted after 4 attempts (and a torn half-written line): the rerun keeps those rows, skips
    them, and finishes with every (theorem, attempt) exactly once."""
    import prover.factory as factory

    real = factory.make_policy
    calls = {"n": 0}

    def dying_policy(spec, **kw):
        pol = real(spec, **kw)
        inner = pol.propose

        def propose(states, n):
            calls["n"] += 1
            if calls["n"] > 6:
                raise KeyboardInterrupt  # Ctrl-C in the middle of a search
            return inner(states, n)

        pol.propose = propose
        return pol

    out = tmp_path / "run"
    args = ("--strategy", "best-first", "--budget", "expansions=8", "--config", "n=2", "--attempts", "2")
    monkeypatch.setattr(factory, "make_policy", dying_policy)
    assert _eval(out, *args) == 130
    before = (out / "results.jsonl").read_text()
    assert 0 < len(before.splitlines()) < 10
    with (out / "results.jsonl").open("a") as fh:
        fh.write('{"name": "chain5", "attem')  # killed mid-write
    monkeypatch.setattr(factory, "make_policy", real)
    assert _eval(out, *args) == 0
    after = (out / "results.jsonl").read_text()
    assert after.startswith(before)
    keys = [(r["name"], r["attempt"]) for r in _rows(out)]
    assert len(keys) == 10 and len(set(keys)) == 10
    # more attempts later: only the new ones run
    n_before = len(keys)
    assert _eval(out, *args[:-1], "3") == 0
    assert len(_rows(out)) == n_before + 5


def test_rerun_with_other_settings_is_refused(tmp_path, capsys):
    out = tmp_path / "run"
    assert _eval(out, "--strategy", "best-first", "--budget", "expansions=2") == 0
    assert _eval(out, "--strategy", "best-first", "--budget", "expansions=3") == 2
    assert "holds a different run (budget: was 'expansions=2', now 'expansions=3')" in capsys.readouterr().err
    assert _eval(tmp_path / "x", "--strategy", "best-first", "--config", "n") == 2
    assert _eval(tmp_path / "y", "--strategy", "nope") == 2


def test_logic_sweep_recipe_commands_parse():
    """scripts/logic_sweep.py's steps are valid `prover` command lines (the recipe cannot drift)."""
    import importlib.util

    from prover.cli import build_parser

    spec = importlib.util.spec_from_file_location("logic_sweep", WORLD.parents[3] / "scripts" / "logic_sweep.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    import argparse

    a = argparse.Namespace(out="runs/x", dataset="logic:valid", limit=5, budget="env_calls=16", n=4, samples=4,
                           retries=1, temperature=1.0, seed=0, train_config="configs/train_tiny.json",
                           train_steps=10, lean=None, max_new_tokens=64)
    cmds = mod.commands(a)
    assert [c[0] for c in cmds] == ["rationales", "train", "train", "eval", "eval", "eval", "eval", "report"]
    parser = build_parser()
    parsed = [parser.parse_args(c) for c in cmds]
    evals = [p for p in parsed if p.command == "eval"]
    assert {(p.strategy, p.fmt) for p in evals} == {(s, f) for s in ("best-first", "sample") for f in ("thought", "tactic")}
    assert all(p.budget == "env_calls=16" and p.limit == 5 for p in evals)
