"""`prover search` end to end (resume included) and the graph export."""

from __future__ import annotations

import json
from pathlib import Path

import networkx as nx
import pytest

from core.jsonl import read_jsonl
from doubles.scripted import ScriptedEnv, ScriptedWorld
from doubles.scripted_policy import ScriptedPolicy
from prover.cli import main
from search.budget import Budget
from search.export import draw_png, export_graph, to_data, write_graphml, write_json
from search.strategies import run_strategy

WORLD = Path(__file__).resolve().parent / "data" / "worlds" / "search_backoff.json"
ROW_KEYS = {"name", "status", "proof", "thoughts", "proof_text", "expansions", "env_calls", "tokens",
            "model_seconds", "lean_seconds", "wall_seconds", "first_proof_at", "strategy", "attempt", "seed"}


def search(tmp_path: Path, *extra: str, out: str = "results.jsonl") -> int:
    return main(["search", "--theorems", str(WORLD), "--env", f"scripted:{WORLD}", "--policy", f"scripted:{WORLD}",
                 "--out", str(tmp_path / out), "--no-progress", *extra])


def test_search_command_writes_one_row_per_theorem_and_resumes(tmp_path, capsys):
    assert search(tmp_path, "--budget", "expansions=20", "--n", "3") == 0
    rows = list(read_jsonl(tmp_path / "results.jsonl"))
    assert [r["name"] for r in rows] == ["and_intro", "em_stuck"]
    assert all(ROW_KEYS <= set(r) for r in rows)
    by = {r["name"]: r for r in rows}
    assert by["and_intro"]["status"] == "proved" and by["and_intro"]["proof"] == ["constructor", "exact hp", "exact hq"]
    assert by["and_intro"]["thoughts"][0].startswith("A conjunction")
    assert by["em_stuck"]["status"] == "failed" and by["em_stuck"]["first_proof_at"] is None
    assert "proved 1, failed 1" in capsys.readouterr().out
    # a rerun skips what is done; more attempts add only the new ones (seed S + attempt)
    assert search(tmp_path, "--budget", "expansions=20", "--n", "3") == 0
    assert "skipped 2 already done" in capsys.readouterr().out
    assert len(list(read_jsonl(tmp_path / "results.jsonl"))) == 2
    # other settings into the same file are refused, naming them (issue 12, item 4)
    assert search(tmp_path, "--strategy", "sample", "--attempts", "3", "--seed", "10", "--budget", "expansions=40") == 2
    assert "holds a different run" in capsys.readouterr().err
    assert len(list(read_jsonl(tmp_path / "results.jsonl"))) == 2
    args = ("--strategy", "sample", "--seed", "10", "--budget", "expansions=40")
    assert search(tmp_path, *args, out="sample.jsonl") == 0
    assert search(tmp_path, *args, "--attempts", "3", out="sample.jsonl") == 0
    rows = list(read_jsonl(tmp_path / "sample.jsonl"))
    assert len(rows) == 6
    assert sorted((r["name"], r["attempt"], r["seed"]) for r in rows[2:]) == [
        ("and_intro", a, 10 + a) for a in (1, 2)] + [("em_stuck", a, 10 + a) for a in (1, 2)]
    assert all(r["strategy"] == "sample" and "successes" in r for r in rows[2:])


def test_search_command_budget_status_and_graph_export(tmp_path, capsys):
    graphs = tmp_path / "graphs"
    assert search(tmp_path, "--strategy", "best-first", "--budget", "expansions=2", "--n", "3",
                  "--export-graph", str(graphs)) == 0
    rows = list(read_jsonl(tmp_path / "results.jsonl"))
    assert {r["name"]: r["status"] for r in rows} == {"and_intro": "budget", "em_stuck": "budget"}
    assert all(r["expansions"] == 2 for r in rows)
    for name in ("and_intro", "em_stuck"):
        for ext in ("json", "graphml", "png"):
            assert (graphs / f"{name}.{ext}").stat().st_size > 0


def test_search_command_errors(tmp_path, capsys):
    assert search(tmp_path, "--budget", "expansion=3") == 2
    assert "expansion=3" in capsys.readouterr().err
    assert search(tmp_path, "--n", "0") == 2
    assert "n=0" in capsys.readouterr().err
    bad = tmp_path / "thms.jsonl"
    bad.write_text('{"name": "x"}\n', encoding="utf-8")
    assert main(["search", "--theorems", str(bad), "--env", f"scripted:{WORLD}", "--policy", f"scripted:{WORLD}",
                 "--out", str(tmp_path / "r.jsonl"), "--no-progress"]) == 2
    assert "thms.jsonl:1" in capsys.readouterr().err
    assert search(tmp_path, "--strategy", "whole", "--policy", "vocab-nope") == 2


def test_search_command_reads_a_theorem_jsonl(tmp_path):
    w = ScriptedWorld.load(WORLD)
    thms = tmp_path / "thms.jsonl"
    thms.write_text(json.dumps(w.find("and_intro").theorem().to_dict()) + "\n", encoding="utf-8")
    out = tmp_path / "r.jsonl"
    assert main(["search", "--theorems", str(thms), "--env", f"scripted:{WORLD}", "--policy", f"scripted:{WORLD}",
                 "--strategy", "whole", "--samples", "3", "--proof-batch", "3", "--out", str(out),
                 "--no-progress"]) == 0
    [row] = read_jsonl(out)
    assert row["status"] == "proved" and row["proof"] == ["constructor\nexact hp\nexact hq"]


def test_graph_export_files(tmp_path):
    w = ScriptedWorld.load(WORLD)
    res = run_strategy("best-first", w.find("and_intro").theorem(), ScriptedEnv(w), ScriptedPolicy(w),
                       Budget(expansions=20), n=5)
    data = to_data(res.tree)
    assert [n["id"] for n in data["nodes"]] == [f"n{i}" for i in range(len(res.tree))]
    root = data["nodes"][0]
    assert root["goals"] == w.find("and_intro").goal and root["status"] == "proved"
    assert {f["tactic"] for f in root["failures"]} >= {"skip", "exact hp"}
    assert {f["kind"] for f in root["failures"]} <= {"tactic_error", "no_progress"}
    assert any(n["no_goals"] for n in data["nodes"])
    assert {(e["tactic"]) for e in data["edges"]} >= {"constructor", "simp", "exact hq"}
    j = write_json(res.tree, tmp_path / "g.json")
    assert json.loads(j.read_text(encoding="utf-8")) == json.loads(json.dumps(data))
    h = nx.read_graphml(write_graphml(res.tree, tmp_path / "g.graphml"))
    assert h.number_of_nodes() == len(res.tree) and h.number_of_edges() == len(list(res.tree.edges()))
    assert h.number_of_edges() == res.tree.to_networkx().number_of_edges() == len(data["edges"])
    assert h.nodes["n0"]["status"] == "proved" and json.loads(h.nodes["n0"]["failures"])
    png = draw_png(res.tree, tmp_path / "g.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(ValueError, match="pictures are drawn up to 3"):
        draw_png(res.tree, tmp_path / "big.png", max_nodes=3)
    paths = export_graph(res.tree, tmp_path / "out", "and/intro", max_picture_nodes=3)
    assert [p.name for p in paths] == ["and_intro.json", "and_intro.graphml"]


def test_a_theorem_that_errors_is_reported_and_not_recorded(tmp_path, capsys):
    w = ScriptedWorld.load(WORLD)
    thms = tmp_path / "thms.jsonl"
    rows = [w.find("and_intro").theorem().to_dict(), {"name": "stranger", "formal_statement": "theorem s : P := by"}]
    thms.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    out = tmp_path / "r.jsonl"
    argv = ["search", "--theorems", str(thms), "--env", f"scripted:{WORLD}", "--policy", f"scripted:{WORLD}",
            "--n", "3", "--out", str(out), "--no-progress"]
    assert main(argv) == 1
    assert "stranger" in capsys.readouterr().err
    assert [r["name"] for r in read_jsonl(out)] == ["and_intro"]
    assert main(argv) == 1  # the rerun retries only the failed one
    assert [r["name"] for r in read_jsonl(out)] == ["and_intro"]
