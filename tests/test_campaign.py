"""The campaign runner (eval.campaign) and the run-identity helper (eval.identity): resume, rows tied
to their theorem and run, stale rows refused or set aside, trees, graphs, errors, other outputs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from core.jsonl import read_jsonl
from core.types import Theorem
from doubles.scripted import ScriptedEnv, ScriptedWorld
from doubles.scripted_policy import ScriptedPolicy
from eval.campaign import Campaign, run_campaign
from eval.identity import RunMismatch, StaleRows, bind_run, differences, require_rows, set_aside, sibling
from prover.cli import main
from search.budget import Budget

WORLD = Path(__file__).resolve().parent / "data" / "eval" / "world.json"


def world() -> ScriptedWorld:
    return ScriptedWorld.load(WORLD)


def theorems(**changed: str) -> list[Theorem]:
    out = []
    for t in world().theorems:
        th = t.theorem()
        if t.name in changed:
            th = Theorem(th.name, th.header, changed[t.name], {"difficulty": len(t.name)})
        else:
            th = Theorem(th.name, th.header, th.formal_statement, {"difficulty": len(t.name)})
        out.append(th)
    return out


def campaign(out: Path, ths: list[Theorem] | None = None, **kw) -> Campaign:
    kw.setdefault("progress", False)
    return Campaign(ths or theorems(), lambda: ScriptedEnv(world()), lambda: ScriptedPolicy(world()),
                    kw.pop("strategy", "best-first"), kw.pop("config", {"n": 2}), kw.pop("budget", Budget(expansions=8)),
                    out=out, **kw)


def test_rows_carry_their_theorem_and_run_and_a_rerun_skips_them(tmp_path):
    out = tmp_path / "r.jsonl"
    first = run_campaign(campaign(out, identity={"env": "scripted"}, row_fields=("difficulty",)))
    assert len(first.new) == 5 and first.skipped == 0 and first.solved == {"one_step", "two_goals", "backoff", "chain5"}
    rows = list(read_jsonl(out))
    assert all(r["content_hash"] and r["run_hash"] == rows[0]["run_hash"] for r in rows)
    assert len({r["content_hash"] for r in rows}) == 5 and rows[0]["difficulty"] == len(rows[0]["name"])
    record = json.loads(sibling(out, "run", ".json").read_text())
    assert record["env"] == "scripted" and record["budget"] == "expansions=8" and "keep_graph" not in record["config"]
    again = run_campaign(campaign(out, identity={"env": "scripted"}))
    assert again.new == [] and again.skipped == 5 and [r["name"] for r in again.rows] == [r["name"] for r in rows]
    more = run_campaign(campaign(out, identity={"env": "scripted"}, attempts=2, seed=0))
    assert len(more.new) == 5 and {r["attempt"] for r in more.new} == {1} and {r["seed"] for r in more.new} == {1}


def test_other_settings_are_refused_and_a_failed_start_binds_nothing(tmp_path):
    out = tmp_path / "r.jsonl"
    bind_run(sibling(out, "run", ".json"), {"env": "x"}, bound=False)  # a start that never wrote a row
    run_campaign(campaign(out))  # takes over the record
    with pytest.raises(RunMismatch, match=r"budget: was 'expansions=8', now 'expansions=4'"):
        run_campaign(campaign(out, budget=Budget(expansions=4)))
    with pytest.raises(RunMismatch, match="config"):
        run_campaign(campaign(out, config={"n": 3}))
    run_campaign(campaign(out, save_trees=True))  # trees change nothing in a result: the same run


def test_changed_statements_are_refused_or_set_aside_with_their_trees(tmp_path):
    out = tmp_path / "r.jsonl"
    run_campaign(campaign(out, save_trees=True))
    changed = theorems(chain5="theorem chain5 : D0 := by ")  # the text differs: another question
    with pytest.raises(StaleRows, match=r"chain5 attempt 0 \(its statement or header changed"):
        run_campaign(campaign(out, changed, save_trees=True))
    fewer = [t for t in theorems() if t.name != "impossible"]
    with pytest.raises(StaleRows, match="impossible attempt 0 .no longer among the theorems"):
        run_campaign(campaign(out, fewer))
    res = run_campaign(campaign(out, changed, save_trees=True, rerun_stale=True))
    assert res.set_aside == 1 and [r["name"] for r in res.new] == ["chain5"]
    assert [r["name"] for r in read_jsonl(sibling(out, "stale"))] == ["chain5"]
    trees = list(read_jsonl(sibling(out, "trees")))
    assert sorted(t["name"] for t in trees) == sorted(t.name for t in theorems())  # one tree per current row
    assert [t["name"] for t in read_jsonl(sibling(sibling(out, "trees"), "stale"))] == ["chain5"]
    assert len(list(read_jsonl(out))) == 5


def test_trees_are_written_only_when_asked_and_hold_the_search(tmp_path):
    out = tmp_path / "r.jsonl"
    run_campaign(campaign(out))
    assert not sibling(out, "trees").exists()
    out2 = tmp_path / "t.jsonl"
    graphs = tmp_path / "graphs"
    run_campaign(campaign(out2, save_trees=True, export_graphs=graphs))
    trees = {t["name"]: t for t in read_jsonl(sibling(out2, "trees"))}
    rows = {r["name"]: r for r in read_jsonl(out2)}
    assert set(trees) == set(rows)
    t = trees["backoff"]
    assert t["attempt"] == 0 and t["content_hash"] == rows["backoff"]["content_hash"]
    assert t["nodes"][0]["id"] == "n0" and t["edges"] and {"source", "target", "tactic"} <= set(t["edges"][0])
    assert any(n["no_goals"] for n in t["nodes"])  # the proof's end
    assert (graphs / "backoff.json").is_file() and (graphs / "backoff.graphml").is_file()


def test_error_rows_are_reported_not_written_and_retried(tmp_path):
    out = tmp_path / "r.jsonl"
    stranger = Theorem("stranger", "", "theorem stranger : Q := by")
    res = run_campaign(campaign(out, [*theorems(), stranger]))
    assert [r["name"] for r in res.errors] == ["stranger"] and "KeyError" in res.errors[0]["error"]
    assert "stranger" not in {r["name"] for r in read_jsonl(out)}
    again = run_campaign(campaign(out, [*theorems(), stranger]))
    assert again.skipped == 5 and [r["name"] for r in again.errors] == ["stranger"]


def test_an_output_of_another_kind_is_refused_untouched(tmp_path):
    out = tmp_path / "verdicts.jsonl"
    out.write_text(json.dumps({"name": "x", "verdict": "proved", "line": 1}) + "\n")
    before = out.read_text()
    with pytest.raises(ValueError, match=r"verdicts.jsonl:1: holds rows that are not search results"):
        run_campaign(campaign(out))
    assert out.read_text() == before and not sibling(out, "run", ".json").exists()
    with pytest.raises(ValueError, match="is a directory"):
        run_campaign(campaign(tmp_path))


def test_identity_helpers():
    assert differences({"a": 1, "c": {"x": 1, "device": "cpu"}}, {"a": 2, "c": {"x": 1, "device": "cuda"}},
                       ignore={"c.device"}) == ["a: was 1, now 2"]
    assert sibling("runs/o.jsonl", "stale") == Path("runs/o.stale.jsonl")
    assert sibling("runs/o.jsonl", "run", ".json") == Path("runs/o.run.json")


def test_bind_run_set_aside_and_require_rows(tmp_path):
    rec = tmp_path / "run.json"
    bind_run(rec, {"a": 1, "label": "x"}, ignore={"label"})
    bind_run(rec, {"a": 1, "label": "y"}, ignore={"label"})  # a runtime field may change
    assert json.loads(rec.read_text())["label"] == "y"
    with pytest.raises(RunMismatch, match=r"holds a different run \(a: was 1, now 2\); use another output"):
        bind_run(rec, {"a": 2, "label": "y"}, ignore={"label"})
    rows = tmp_path / "rows.jsonl"
    rows.write_text("".join(json.dumps({"k": i}) + "\n" for i in range(4)) + '{"k": 4')  # a torn last line
    assert [r["k"] for r in require_rows(rows, ("k",), "rows")] == [0, 1, 2, 3]
    assert set_aside(rows, lambda r: r["k"] % 2 == 1, tmp_path / "odd.jsonl") == 2
    assert [r["k"] for r in read_jsonl(rows)] == [0, 2] and [r["k"] for r in read_jsonl(tmp_path / "odd.jsonl")] == [1, 3]


def test_eval_and_search_save_trees_on_request(tmp_path):
    run = tmp_path / "run"
    assert main(["eval", f"--dataset=scripted:{WORLD}", f"--env=scripted:{WORLD}", f"--policy=scripted:{WORLD}",
                 "--strategy=best-first", "--budget=expansions=8", "--save-trees", "--no-progress",
                 "--out", str(run)]) == 0
    assert len(list(read_jsonl(run / "trees.jsonl"))) == 5
    out = tmp_path / "s.jsonl"
    assert main(["search", "--theorems", str(WORLD), f"--env=scripted:{WORLD}", f"--policy=scripted:{WORLD}",
                 "--budget=expansions=8", "--save-trees", "--no-progress", "--out", str(out)]) == 0
    assert len(list(read_jsonl(tmp_path / "s.trees.jsonl"))) == 5
