"""The seam types, the JSONL results files, the scripted world and proof rendering."""

from __future__ import annotations

import json

import pytest

from core.jsonl import append_jsonl, done_keys, load_theorems, read_jsonl, write_jsonl_atomic
from core.proof_text import render_tactic_proof
from core.proof_text import render_tactic_proof as tactics_text
from core.types import Failed, Open, Proved, State
from doubles.scripted import UNKNOWN_STEP, ScriptedEnv, ScriptedWorld

G = "p q : Prop\nhp : p\nhq : q\n⊢ p ∧ q"
WORLD = {
    "theorems": [{"name": "t1", "statement": "theorem t1 (p q : Prop) (hp : p) (hq : q) : p ∧ q", "goal": G}],
    "transitions": {
        G: {"constructor": ["p q : Prop\nhp : p\nhq : q\n⊢ p", "p q : Prop\nhp : p\nhq : q\n⊢ q"],
            "simp": "error: simp made no progress"},
        "p q : Prop\nhp : p\nhq : q\n⊢ p": {"exact hp": []},
        "p q : Prop\nhp : p\nhq : q\n⊢ q": {"exact hq": []},
    },
    "proposals": {G: [["constructor", -0.2], ["simp", -1.1]]},
}


def test_state_identity_is_goals_only():
    a = State(("⊢ p",), handle=1)
    b = State(("⊢ p",), handle=2)
    assert a == b and hash(a) == hash(b)
    assert State(("⊢ p", "⊢ q")).text == "⊢ p\n\n⊢ q"
    assert State(()).is_solved


def test_theorem_rows_and_bad_rows(tmp_path):
    f = tmp_path / "t.jsonl"
    f.write_text(json.dumps({"name": "a", "header": "", "formal_statement": "theorem a : True := by",
                             "split": "valid"}) + "\n\n")
    [t] = load_theorems(f)
    assert t.extra == {"split": "valid"} and t.to_dict()["split"] == "valid"
    f.write_text('{"name": "a", "header": ""}\n')
    with pytest.raises(ValueError, match=r"t.jsonl:1: missing or empty field\(s\) formal_statement"):
        load_theorems(f)
    f.write_text("{not json\n")
    with pytest.raises(ValueError, match="t.jsonl:1: not valid JSON"):
        load_theorems(f)
    with pytest.raises(FileNotFoundError, match="nope.jsonl"):
        load_theorems(tmp_path / "nope.jsonl")


def test_scripted_world_semantics():
    w = ScriptedWorld.from_dict(WORLD)
    env = ScriptedEnv(w)
    th = w.theorems[0].theorem()
    root = env.start(th)
    assert root.goals == (G,)
    assert env.apply(root, "simp") == Failed("error: simp made no progress")
    assert env.apply(root, "ring") == Failed(UNKNOWN_STEP)
    out = env.apply(root, "constructor")
    assert isinstance(out, Open) and len(out.state.goals) == 2
    out2 = env.apply(out.state, "exact hp")
    assert isinstance(out2, Open) and out2.state.goals == ("p q : Prop\nhp : p\nhq : q\n⊢ q",)
    assert isinstance(env.apply(out2.state, "exact hq"), Proved)
    assert env.check(th, tactics_text(["constructor", "exact hp", "exact hq"], ["split it", ""])).ok
    bad = env.check(th, tactics_text(["constructor", "exact hq"]))
    assert not bad.ok and "failed on replay" in bad.reason
    assert not env.check(th, tactics_text(["constructor", "exact hp"])).ok
    assert not env.check(th, "\n  -- only a comment").ok


def test_scripted_world_errors_name_the_input(tmp_path):
    with pytest.raises(ValueError, match="theorems"):
        ScriptedWorld.from_dict({})
    with pytest.raises(ValueError, match=r"transitions\['g'\]\['t'\]"):
        ScriptedWorld.from_dict({"theorems": [], "transitions": {"g": {"t": 3}}})
    p = tmp_path / "w.json"
    p.write_text("{")
    with pytest.raises(ValueError, match="w.json: not valid JSON"):
        ScriptedWorld.load(p)


def test_jsonl_append_resume_and_torn_line(tmp_path):
    f = tmp_path / "r.jsonl"
    append_jsonl(f, {"name": "a", "attempt": 0})
    append_jsonl(f, {"name": "b", "attempt": 0})
    with f.open("a") as fh:
        fh.write('{"name": "c", "att')  # a run killed mid-write
    assert [r["name"] for r in read_jsonl(f)] == ["a", "b"]
    assert done_keys(f, "name", "attempt") == {("a", 0), ("b", 0)}
    append_jsonl(f, {"name": "c", "attempt": 0})
    assert [r["name"] for r in read_jsonl(f)] == ["a", "b", "c"]
    f.write_text('{"a": 1}\nbroken\n{"b": 2}\n')
    with pytest.raises(ValueError, match="r.jsonl:2"):
        list(read_jsonl(f))


def test_render_puts_thoughts_as_comments():
    text = render_tactic_proof(["constructor", "exact hp"], ["split the conjunction\ninto two goals", ""])
    assert text == "\n  -- split the conjunction\n  -- into two goals\n  constructor\n  exact hp"


def test_write_jsonl_atomic_replaces_the_whole_file(tmp_path):
    f = tmp_path / "rows.jsonl"
    f.write_text('{"old": 1}\n')
    write_jsonl_atomic(f, [{"a": "∧"}, {"b": 2}])
    assert list(read_jsonl(f)) == [{"a": "∧"}, {"b": 2}]
    assert not (tmp_path / "rows.jsonl.tmp").exists()
