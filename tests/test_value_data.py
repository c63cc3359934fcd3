"""The learned evaluator's data: labels from search trees, deduplication, the split by theorem, and
errors naming the bad line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from doubles.scripted import ScriptedEnv, ScriptedWorld
from doubles.scripted_policy import ScriptedPolicy
from prover.value_data import (
    DataStats,
    check_row,
    load_value_rows,
    read_trees,
    rows_from_tree_files,
    rows_from_trees,
    select,
    split_by_theorem,
    tree_labels,
)
from search.budget import Budget
from search.export import to_data
from search.strategies import run_strategy

G, A, B, C, A1 = "⊢ g", "⊢ a", "⊢ b", "⊢ c", "⊢ a1"


def small_world() -> ScriptedWorld:
    """g -a-> A (likeliest), g -b-> B, g -c-> fails, g -d-> C (least likely); A -x-> A1 (no
    proposals: a dead end), A -y-> fails; B -z-> closes the goal."""
    return ScriptedWorld.from_dict({
        "theorems": [{"name": "t", "statement": "theorem t : g", "goal": G}],
        "transitions": {G: {"a": [A], "b": [B], "c": "unknown identifier", "d": [C]},
                        A: {"x": [A1], "y": "type mismatch"}, B: {"z": []}},
        "proposals": {G: [["a", -0.1], ["b", -0.5], ["c", -0.9], ["d", -2.0]],
                      A: [["x", -0.1], ["y", -0.2]], B: [["z", -0.1]]}})


def search_tree() -> dict:
    w = small_world()
    res = run_strategy("best-first", w.theorems[0].theorem(), ScriptedEnv(w), ScriptedPolicy(w), Budget(), n=4)
    assert res.status == "proved" and res.proof == ["b", "z"]
    return to_data(res.tree)


def test_labels_of_a_scripted_search_tree_equal_a_hand_made_list():
    # best-first expands g, then A (-0.1), then A1 (-0.2: no proposals, so it fails and so does A),
    # then B (-0.5), whose `z` closes the goal; C (-2.0) is never expanded: the budget of the
    # search (here: the proof ended it) cut it off, so it has no label
    assert tree_labels(search_tree()) == [(G, 1.0), (A, 0.0), (B, 1.0), (A1, 0.0)]


def test_rows_deduplicate_by_state_and_a_proof_anywhere_wins():
    proved = search_tree()
    other = {"nodes": [{"goals": B, "status": "failed"}, {"goals": "⊢ new", "status": "failed"},
                       {"goals": "", "status": "proved", "no_goals": True}]}
    stats = DataStats()
    rows = rows_from_trees([("u", other, "run-u"), ("t", proved, "run-t")], {"t": 3}, "eval", stats)
    by_state = {r["state"]: r for r in rows}
    assert set(by_state) == {G, A, B, A1, "⊢ new"}
    assert by_state[B] == {"state": B, "label": 1.0, "theorem": "u", "difficulty": None, "source": "eval",
                           "run": "run-u"}  # first seen in u's tree, proved in t's
    assert by_state[G]["difficulty"] == 3 and by_state[G]["run"] == "run-t"
    assert stats.conflicts == 1 and stats.trees == 2 and stats.rows == {1.0: 2, 0.0: 3}


def test_tree_files_in_both_layouts(tmp_path: Path):
    tree = search_tree()
    nested, flat = tmp_path / "a" / "trees.jsonl", tmp_path / "b" / "trees.jsonl"
    for p, row in ((nested, {"name": "t", "attempt": 0, "tree": tree}),
                   (flat, {"name": "t2", "attempt": 1, **tree})):
        p.parent.mkdir()
        p.write_text(json.dumps(row) + "\n", encoding="utf-8")
    assert [(n, a) for n, a, _ in read_trees(flat)] == [("t2", 1)]
    rows = rows_from_tree_files([nested, flat])
    assert len(rows) == 4 and {r["theorem"] for r in rows} == {"t"} and rows[0]["run"] == str(nested.parent)


def test_split_by_theorem_never_shares_a_theorem():
    rows = [{"state": f"⊢ s{i}", "label": float(i % 2), "theorem": f"t{i % 7}", "difficulty": i % 7} for i in range(70)]
    train, test = split_by_theorem(rows, 0.3, seed=1)
    assert {r["theorem"] for r in train}.isdisjoint({r["theorem"] for r in test})
    assert len(train) + len(test) == 70 and len({r["theorem"] for r in test}) == 2
    assert split_by_theorem(rows, 0.3, seed=1) == (train, test)  # a function of the seed
    assert [r["difficulty"] for r in select(rows, 2, 3)] == [d for d in (r["difficulty"] for r in rows) if 2 <= d <= 3]
    with pytest.raises(ValueError, match="fraction"):
        split_by_theorem(rows, 1.0)


def test_malformed_rows_name_the_line(tmp_path: Path):
    good = {"state": "⊢ p", "label": 1, "theorem": "t", "difficulty": 2, "source": "eval", "run": "r"}
    f = tmp_path / "rows.jsonl"
    bad_rows = [({**good, "label": 2}, "'label'"), ({**good, "state": ""}, "'state'"),
                ({**good, "difficulty": "hard"}, "'difficulty'"), ({**good, "label": True}, "'label'"),
                ({k: v for k, v in good.items() if k != "theorem"}, "'theorem'")]
    for bad, field in bad_rows:
        f.write_text("\n".join(json.dumps(r) for r in (good, good, bad, good)) + "\n", encoding="utf-8")
        with pytest.raises(ValueError, match=rf"rows.jsonl:3: {field}"):
            load_value_rows(f)
    f.write_text(json.dumps(good) + "\n{not json\n" + json.dumps(good) + "\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"rows.jsonl:2: not valid JSON"):
        load_value_rows(f)
    assert check_row(good, "x") is good and load_value_rows(_write(tmp_path / "ok.jsonl", [good, good])) == [good, good]
    trees = _write(tmp_path / "trees.jsonl", [{"name": "t", "tree": search_tree()}, {"name": "t", "tree": {"edges": []}}])
    with pytest.raises(ValueError, match=r"trees.jsonl:2: expected a search tree"):
        list(read_trees(trees))
    bad_node = _write(tmp_path / "t2.jsonl", [{"name": "t", "nodes": [{"goals": "⊢ p", "status": "maybe"}]}])
    with pytest.raises(ValueError, match="node 0 needs"):
        rows_from_tree_files([bad_node])
    with pytest.raises(FileNotFoundError, match="evaluator data not found"):
        load_value_rows(tmp_path / "missing.jsonl")


def _write(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path
