"""The scripted double's world server, in process (fast), and its command line."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from doubles.repl_double import (
    WorldServer,
    double_command,
    load_transcript,
    parse_tactic_block,
    read_queries,
    serve,
)
from doubles.scripted import UNKNOWN_STEP, ScriptedWorld

REPO = Path(__file__).resolve().parent.parent
WORLDS = Path(__file__).resolve().parent / "data" / "worlds"
BACKOFF = WORLDS / "backoff.json"
FAULTS = WORLDS / "faults.json"

AND = "theorem and_swap (p q : Prop) (h : p ∧ q) : q ∧ p"
G0 = "p q : Prop\nh : p ∧ q\n⊢ q ∧ p"


@pytest.fixture()
def server() -> WorldServer:
    return WorldServer(ScriptedWorld.load(BACKOFF))


def test_worlds_load_and_have_the_backoff_shape() -> None:
    w = ScriptedWorld.load(BACKOFF)
    assert {t.name for t in w.theorems} == {"and_swap", "imp_self'", "em_hard"}
    # the greedy first proposal at the root leads to a state whose proposals all fail
    first = max(w.proposals[G0], key=lambda p: p[1])[0]
    after = w.step((G0,), first)
    assert isinstance(after, tuple)
    assert all(isinstance(w.step(after, t), str) for t, _ in w.proposals[after[0]])
    # ... while the second proposal leads to a proof
    second = sorted(w.proposals[G0], key=lambda p: -p[1])[1][0]
    g3 = w.step((G0,), second)
    assert isinstance(g3, tuple) and w.step(g3, "exact ⟨hq, hp⟩") == ()
    f = ScriptedWorld.load(FAULTS)
    assert set(f.faults.values()) == {"crash", "hang", "garbage", "memory"}


def test_parse_tactic_block_handles_comments_continuations_and_next_command() -> None:
    text = "X := by\n  -- thought\n  calc a = b := p\n    _ = c := q\n  exact h\n#print axioms X"
    tactics, end = parse_tactic_block(text, text.index("by") + 2)
    assert [t.text for t in tactics] == ["calc a = b := p\n  _ = c := q", "exact h"]
    assert text[end:] == "#print axioms X"
    assert text[tactics[1].offset:].startswith("exact h")
    one, _ = parse_tactic_block("by sorry", 2)
    assert [t.text for t in one] == ["sorry"]


def test_command_replays_proofs_like_lean(server: WorldServer) -> None:
    r = server.command(AND + " := by\n  obtain ⟨hp, hq⟩ := h\n  exact ⟨hq, hp⟩", None)
    assert r == {"env": 0}
    r = server.command(AND + " := by\n  constructor\n  exact h.2\n  exact h.1", 0)
    assert r == {"env": 1}
    r = server.command(AND + " := by\n  constructor\n  exact h.2", 0)
    assert r["messages"][0]["data"] == "unsolved goals\ncase right\np q : Prop\nh : p ∧ q\n⊢ p"
    r = server.command(AND + " := by\n  constructor\n  frobnicate", 0)
    assert r["messages"][0]["data"] == UNKNOWN_STEP and r["messages"][0]["pos"] == {"line": 3, "column": 2}
    r = server.command(AND + " := by\n  exact ⟨h.2, h.1⟩\n  simp", 0)
    assert r["messages"][0]["data"] == "no goals to be proved"
    r = server.command("theorem other : True := by trivial", 0)
    assert "not in the scripted world" in r["messages"][0]["data"]
    assert server.command("import Mathlib\nopen Real", None) == {"env": 6}


def test_tactic_mode_sorry_and_status(server: WorldServer) -> None:
    r = server.command(AND + " := by sorry", None)
    assert r["sorries"][0]["goal"] == G0 and r["sorries"][0]["proofState"] == 0
    t = server.tactic("constructor", 0)
    assert t["proofState"] == 1 and len(t["goals"]) == 2
    s = server.tactic("sorry", 1)
    assert s["sorries"] == [{"proofState": 2, "goal": t["goals"][0]}] and s["proofState"] == 3
    done = server.tactic("exact h.1", 3)
    assert done["goals"] == [] and done["proofStatus"] == "Incomplete: contains sorry"
    clean = server.tactic("exact ⟨h.2, h.1⟩", 0)
    assert clean["proofStatus"] == "Completed"
    assert server.tactic("bogus", 0) == {"message": "Lean error:\n" + UNKNOWN_STEP}
    assert server.tactic("intro", 99) == {"message": "Unknown proof state."}


def test_header_cost_is_paid_only_without_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """The double sleeps `--header-cost-ms` for a command without `env` (a fresh header) and not in an
    existing env.  (The time it saves a client: bench/bench_repl.py, "header reused vs re-sent".)"""
    import doubles.repl_double as double

    slept: list[float] = []
    monkeypatch.setattr(double.time, "sleep", slept.append)
    s = WorldServer(ScriptedWorld.load(BACKOFF), header_cost_ms=60)
    s.command("import Mathlib", None)
    assert slept == [0.06]
    s.command(AND + " := by sorry", 0)
    s.tactic("intro", 0)
    assert slept == [0.06]
    s.command("import Mathlib", None)
    assert slept == [0.06, 0.06]
    assert WorldServer(ScriptedWorld.load(BACKOFF)).command("import Mathlib", None) and slept == [0.06, 0.06]


def test_tactic_cost_is_paid_per_tactic(monkeypatch: pytest.MonkeyPatch) -> None:
    """`--tactic-cost-ms` stands in for Lean's time per tactic (bench/bench_repl.py's pool figure)."""
    import doubles.repl_double as double

    slept: list[float] = []
    monkeypatch.setattr(double.time, "sleep", slept.append)
    s = WorldServer(ScriptedWorld.load(BACKOFF), tactic_cost_ms=20)
    s.command(AND + " := by sorry", None)
    assert slept == []
    s.tactic("constructor", 0)
    s.tactic("bogus", 0)
    assert slept == [0.02, 0.02]


def test_bad_fault_kind_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown fault kind"):
        WorldServer(ScriptedWorld.load(BACKOFF), {"simp": "explode"})


def test_serve_loop_frames_like_the_repl(server: WorldServer) -> None:
    inp = io.StringIO('{"cmd": ""}\n\n-- a comment\n\n{"cmd": "' + AND.replace('"', '\\"') + ' := by sorry", "env": 0}\n\n')
    out = io.StringIO()
    assert serve(server.handle, inp, out, raw_text=False) == 0
    blocks = out.getvalue().split("\n\n")
    assert [json.loads(b)["env"] for b in blocks if b.strip()] == [0, 1]
    assert list(read_queries(io.StringIO("{\n}\n\n\n{}\n"))) == ["{\n}\n", "{}\n"]


def test_unparsable_request_kills_the_double_like_the_repl() -> None:
    p = subprocess.run(double_command("--world", str(BACKOFF)), input="{oops\n\n", capture_output=True, text=True,
                       cwd=REPO, timeout=30)
    assert p.returncode == 1 and "uncaught exception" in p.stderr


def test_cli_rejects_bad_inputs(tmp_path: Path) -> None:
    bad = tmp_path / "w.json"
    bad.write_text("{not json")
    p = subprocess.run(double_command("--world", str(bad)), input="", capture_output=True, text=True, cwd=REPO, timeout=30)
    assert p.returncode == 2 and str(bad) in p.stderr
    lone = tmp_path / "x.in"
    lone.write_text('{"cmd": "1"}\n')
    p = subprocess.run(double_command("--replay", str(lone)), input="", capture_output=True, text=True, cwd=REPO, timeout=30)
    assert p.returncode == 2 and "x.expected.out" in p.stderr
    with pytest.raises(FileNotFoundError):
        load_transcript(tmp_path / "nope.in")
    (tmp_path / "x.expected.out").write_text('{"env": 0}\n\n{"env": 1}\n')
    with pytest.raises(ValueError, match="1 requests but 2 recorded responses"):
        load_transcript(lone)
    assert sys.executable


def _shape(v: object) -> object:
    if isinstance(v, dict):
        return {k: _shape(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_shape(v[0])] if v else []
    return type(v).__name__


def test_world_answers_have_the_recorded_repl_shapes(server: WorldServer) -> None:
    """The double's answers to the same kinds of request match real REPL answers key for key."""
    import os
    tdir = Path(os.environ.get("PROVER_SHARED", REPO.parent / "shared")) / "data" / "lean-repl-transcripts"
    if not (tdir / "readme.in").is_file():
        pytest.skip(f"no transcripts at {tdir}")

    def recorded(name: str) -> list[dict]:
        return [json.loads(r, strict=False) for r in load_transcript(tdir / f"{name}.in")[1]]

    readme, msorry = recorded("readme"), recorded("tactic_mode_sorry")
    cmd = server.command("theorem imp_self' (p : Prop) : p → p := by sorry", None)
    assert _shape(cmd) == _shape(readme[0])
    assert _shape(server.tactic("intro hp", 0)) == _shape(readme[1])
    assert _shape(server.tactic("exact hp", 1)) == _shape(readme[2])
    assert _shape(server.tactic("sorry", 0)) == _shape(msorry[1])
    assert server.tactic("exat 42", 0) == recorded("unknown_tactic")[1]
    assert server.command("def f : Nat := by sorry", 5) == recorded("unknown_environment")[0]
