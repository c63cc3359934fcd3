"""The experiment script of issue 15: its tree statistics, levers rows and expert-iteration table."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def _script():
    spec = importlib.util.spec_from_file_location("learn_sweep", REPO / "scripts" / "learn_sweep.py")
    mod = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    spec.loader.exec_module(mod)
    return mod


def _tree(proved: bool) -> dict:
    fail = {"tactic": "bad", "thought": "", "logprob": -1.0, "kind": "tactic_error", "message": "x"}
    nodes = [{"id": "n0", "goals": "⊢ p", "status": "proved" if proved else "failed", "expanded": True,
              "failures": [fail, dict(fail, kind="no_progress")]},
             {"id": "n1", "goals": "⊢ q", "status": "open", "expanded": not proved, "failures": []}]
    edges = [{"source": "n0", "target": "n1", "tactic": "t", "thought": ""},
             {"source": "n0", "target": "n1", "tactic": "t2", "thought": ""}]
    return {"nodes": nodes, "edges": edges}


def test_tree_shape_counts_new_and_seen_children_failures_and_how_searches_end(tmp_path: Path) -> None:
    f = tmp_path / "trees.jsonl"
    f.write_text("".join(json.dumps({"name": f"t{i}", "attempt": 0, **_tree(i == 0)}) + "\n" for i in range(2)))
    shape = _script().tree_shape(f)
    assert shape["searches"] == 2 and shape["ends"] == {"proved": 1, "dry": 1, "budget": 0}
    assert shape["expanded"] == 3  # n0 twice, n1 once
    assert shape["new_children_per_expansion"] == round(2 / 3, 2)  # n1 first reached from n0, per tree
    assert shape["seen_children_per_expansion"] == round(2 / 3, 2)  # the second edge to n1
    assert shape["failures_per_expansion"] == {"no_progress": round(2 / 3, 2), "tactic_error": round(2 / 3, 2)}
    assert shape["expansions_with_no_new_child"] == round(1 / 3, 3)


def test_ei_summary_gives_every_round_with_its_interval_and_a_plot(tmp_path: Path) -> None:
    run = tmp_path / "ei_s0"
    run.mkdir()
    rows = [{"round": r, "train_searched": 10, "train_solved": r, "train_solved_cum": r * 2, "valid_solved": 20 + r,
             "valid_total": 58, "examples_trained_on": 100 + r, "round_seconds": 60.0} for r in range(3)]
    (run / "metrics.jsonl").write_text("".join(json.dumps(m) + "\n" for m in rows))
    table = _script().ei_summary([run], tmp_path / "ei.png")
    lines = table.strip().splitlines()
    assert len(lines) == 2 + 3 and "| ei_s0 | 2 | 10 | 2 (4) | 22/58 |" in lines[-1]
    assert "[26.6, 50.8]%" in lines[-1]  # Wilson 95% for 22/58
    assert (tmp_path / "ei.png").stat().st_size > 0


def test_run_trains_on_the_threads_asked_for(monkeypatch, tmp_path: Path) -> None:
    """`run` sets torch's CPU threads from --threads (default one per core) before the recipe runs
    and records them; 0 is refused."""
    import os

    import pytest
    import torch

    mod = _script()
    seen: list[tuple[int, int]] = []
    monkeypatch.setattr(mod, "run", lambda *a: seen.append((a[-1], torch.get_num_threads())) or 0)
    before = torch.get_num_threads()
    try:
        for extra, want in (([], os.cpu_count() or 1), (["--threads", "1"], 1)):
            monkeypatch.setattr("sys.argv", ["learn_sweep.py", "run", "cfg.json", "--out", str(tmp_path), *extra])
            assert mod.main() == 0
            assert seen[-1] == (want, want)
        monkeypatch.setattr("sys.argv", ["learn_sweep.py", "run", "cfg.json", "--threads", "0"])
        with pytest.raises(SystemExit, match="--threads"):
            mod.main()
    finally:
        torch.set_num_threads(before)


def test_calls_table_gives_the_kth_solve_lean_calls_and_the_ratio_to_the_first_run(tmp_path: Path) -> None:
    def rows(calls: list[int | None]) -> str:
        out = [{"name": f"t{i}", "status": "proved" if c else "failed",
                "first_proof_at": {"env_calls": c} if c else None} for i, c in enumerate(calls)]
        return "".join(json.dumps(r) + "\n" for r in out)

    ref, other = tmp_path / "ref.jsonl", tmp_path / "other.jsonl"
    ref.write_text(rows([40, 10, None, 90]))
    other.write_text(rows([None, 5, 8, None]))
    mod = _script()
    assert mod.kth_solve_calls([json.loads(x) for x in ref.read_text().splitlines()], 2) == 40
    lines = mod.calls_table([("enum", ref), ("model", other)], [1, 2, 3]).strip().splitlines()
    assert lines[2:] == ["| 1 | 10 | 5 (2.0x fewer) |", "| 2 | 40 | 8 (5.0x fewer) |", "| 3 | 90 | - |"]
