"""ReplEnv (the ProofEnv seam over the REPL) against the scripted double: outcomes, check(), faults."""

from __future__ import annotations

import os
from collections import deque
from dataclasses import dataclass
from pathlib import Path

import pytest

from core.proof_text import render_tactic_proof as tactics_text
from core.types import Failed, Open, ProofEnv, Proved, State, Theorem
from doubles.repl_double import double_command
from doubles.scripted import ScriptedEnv, ScriptedWorld
from lean_env.errors import LeanCrashed, LeanNotFound
from lean_env.repl import ReplCommandError
from lean_env.repl_env import ReplEnv, ReplHandle, decl_name, find_repl
from lean_env.toolchain import LeanToolchain

REPO = Path(__file__).resolve().parent.parent
WORLDS = Path(__file__).resolve().parent / "data" / "worlds"
BACKOFF = WORLDS / "backoff.json"
FAULTS = WORLDS / "faults.json"

WORLD = ScriptedWorld.load(BACKOFF)
THMS = {t.name: t.theorem() for t in WORLD.theorems}


def _env(world: Path = BACKOFF, *extra: str, **kw: object) -> ReplEnv:
    kw.setdefault("timeout", 10.0)
    return ReplEnv(double_command("--world", str(world), *extra), cwd=REPO, **kw)  # type: ignore[arg-type]


def test_is_a_proof_env_and_walks_the_backoff_world() -> None:
    with _env() as env:
        assert isinstance(env, ProofEnv)
        root = env.start(THMS["and_swap"])
        assert root.goals == ("p q : Prop\nh : p ∧ q\n⊢ q ∧ p",) and isinstance(root.handle, ReplHandle)
        split = env.apply(root, "constructor")
        assert isinstance(split, Open) and len(split.state.goals) == 2
        assert split.state.goals[0].startswith("case left")
        dead = env.apply(split.state, "exact h.1")
        assert isinstance(dead, Failed) and dead.message.startswith("type mismatch")
        unknown = env.apply(root, "frobnicate")
        assert isinstance(unknown, Failed) and unknown.message == "<input>:1:1: unknown tactic"
        other = env.apply(root, "obtain ⟨hp, hq⟩ := h")       # backing off to the root still works
        assert isinstance(other, Open)
        done = env.apply(other.state, "exact ⟨hq, hp⟩")
        assert isinstance(done, Proved) and done.handle.tactics == ("obtain ⟨hp, hq⟩ := h", "exact ⟨hq, hp⟩")
        assert env.apply_batch([(root, "simp"), (root, "exact ⟨h.2, h.1⟩")])[1] == Proved()
        assert env.env_calls >= 7 and env.lean_seconds > 0


def _reachable(world: ScriptedWorld, goal: str) -> list[tuple[tuple[str, ...], list[str]]]:
    """Every state reachable from `goal` with the world's tactics, with the tactics that reach it."""
    seen, out, todo = set(), [], deque([((goal,), [])])
    while todo:
        goals, path = todo.popleft()
        if goals in seen or not goals:
            continue
        seen.add(goals)
        out.append((goals, path))
        for tac in world.transitions.get(goals[0], {}):
            res = world.step(goals, tac)
            if isinstance(res, tuple):
                todo.append((res, [*path, tac]))
    return out


def test_agrees_with_the_in_process_scripted_env_everywhere() -> None:
    ref = ScriptedEnv(WORLD)
    with _env() as env:
        for t in WORLD.theorems:
            thm = t.theorem()
            for goals, path in _reachable(WORLD, t.goal):
                state, ref_state = env.start(thm), ref.start(thm)
                for tac in path:
                    o, r = env.apply(state, tac), ref.apply(ref_state, tac)
                    assert isinstance(o, Open) and isinstance(r, Open)
                    state, ref_state = o.state, r.state
                assert state.goals == goals == ref_state.goals
                for tac in [*WORLD.transitions.get(goals[0], {}), "no_such_tactic"]:
                    o, r = env.apply(state, tac), ref.apply(ref_state, tac)
                    assert type(o) is type(r), (goals, tac, o, r)
                    if isinstance(o, Open):
                        assert o.state.goals == r.state.goals
                    if isinstance(o, Failed):
                        assert r.message.endswith(o.message) or o.message.endswith(r.message)


def test_sorry_and_unknown_theorems() -> None:
    with _env() as env:
        root = env.start(THMS["imp_self'"])
        assert env.apply(root, "sorry") == Failed("the tactic leaves `sorry`")
        script = env.apply(root, "intro hp\nexact hp")          # a whole script in tactic mode
        assert isinstance(script, Proved)
        with pytest.raises(ReplCommandError, match="not_here"):
            env.start(Theorem("not_here", "", "theorem not_here : True := by"))


def test_check_replays_the_whole_proof_in_a_fresh_env() -> None:
    thm = THMS["and_swap"]
    with _env() as env:
        ok = env.check(thm, tactics_text(["obtain ⟨hp, hq⟩ := h", "exact ⟨hq, hp⟩"], ["split the hypothesis", "swap"]))
        assert ok.ok, ok.reason
        assert "-- split the hypothesis" in ok.proof
        short = env.check(thm, tactics_text(["obtain ⟨hp, hq⟩ := h"]))
        assert not short.ok and "unsolved goals" in short.reason
        wrong = env.check(thm, tactics_text(["constructor", "exact h.1", "exact h.1"]))
        assert not wrong.ok and "type mismatch" in wrong.reason
        sorry = env.check(thm, tactics_text(["constructor", "sorry", "exact h.1"]))
        assert not sorry.ok and "sorry" in sorry.reason


def test_check_uses_the_verifier_when_given() -> None:
    @dataclass
    class Verdict:
        proved: bool
        reason: str

    class FakeVerifier:
        def __init__(self) -> None:
            self.items: list = []

        def verify(self, items: list) -> list[Verdict]:
            self.items.extend(items)
            return [Verdict(False, "verifier says no") for _ in items]

    v = FakeVerifier()
    with _env(verifier=v) as env:
        res = env.check(THMS["imp_self'"], tactics_text(["intro hp", "exact hp"]))
    assert not res.ok and res.reason == "verifier says no"
    assert v.items[0].formal_statement == THMS["imp_self'"].formal_statement
    assert v.items[0].proof == "\n  intro hp\n  exact hp"


def test_faults_become_failures_and_old_states_survive_the_restart() -> None:
    two = ScriptedWorld.load(FAULTS).theorems[0].theorem()
    with _env(FAULTS, timeout=5.0, header="import Mathlib") as env:
        root = env.start(two)
        gen = env.client.generation
        crash = env.apply(root, "crash_now")
        assert isinstance(crash, Failed) and crash.message.startswith("LeanCrashed") and crash.kind == "crash"
        after = env.apply(root, "rw [h]")               # a state from the dead process, rebuilt by replay
        assert isinstance(after, Open) and env.client.generation == gen + 1
        garbage = env.apply(after.state, "babble")
        assert isinstance(garbage, Failed) and garbage.message.startswith("LeanProtocolError") and garbage.kind == "crash"
        assert isinstance(env.apply(after.state, "rfl"), Proved)   # rebuilt again, two tactics deep
        env.client.timeout = 0.5
        hang = env.apply(after.state, "spin")
        assert isinstance(hang, Failed) and hang.message.startswith("LeanTimeout") and hang.kind == "timeout"
        env.client.timeout = 5.0
        assert isinstance(env.apply(root, "omega"), Proved)
        assert env.check(two, tactics_text(["rw [h]", "rfl"])).ok


def test_faults_can_be_raised_instead() -> None:
    two = ScriptedWorld.load(FAULTS).theorems[0].theorem()
    with _env(FAULTS, faults_as_failures=False) as env:
        root = env.start(two)
        with pytest.raises(LeanCrashed):
            env.apply(root, "crash_now")
        assert isinstance(env.apply(root, "omega"), Proved)


def _record_requests(client) -> list[dict]:
    sent: list[dict] = []
    real = client.send

    def send(req, timeout=None):
        sent.append(req)
        return real(req, timeout)

    client.send = send
    return sent


def test_header_reused_or_resent() -> None:
    """With reuse the header is elaborated once per process and every theorem runs in its env; without,
    every theorem's command carries the header and starts a fresh env.  (The time this saves:
    bench/bench_repl.py, "header reused vs re-sent".)"""
    thms = [THMS["imp_self'"]] * 3
    for reuse in (True, False):
        with _env(BACKOFF, header="import Mathlib", reuse_header=reuse) as env:
            sent = _record_requests(env.client)
            env.client.start()
            for t in thms:
                state = env.start(t)
                assert isinstance(env.apply(state, "intro hp"), Open)
            fresh = [r["cmd"] for r in sent if "cmd" in r and "env" not in r]
            in_env = [r for r in sent if "cmd" in r and "env" in r]
            if reuse:
                assert fresh == ["import Mathlib"] and len(in_env) == 3 and env.client.header_env == 0
            else:
                assert len(fresh) == 3 and all(c.startswith("import Mathlib\n\n") for c in fresh) and not in_env
                assert env.client.header_env is None


def test_apply_refuses_foreign_states() -> None:
    with _env() as env, pytest.raises(ValueError, match="not made by a ReplEnv"):
        env.apply(State(("⊢ True",), handle=None), "trivial")


def test_decl_name() -> None:
    assert decl_name("theorem mathd_algebra_10 : abs ((-1 : ℝ)) = 1 := by") == "mathd_algebra_10"
    assert decl_name("lemma foo.bar (x : Nat) : x = x := by") == "foo.bar"
    assert decl_name("example : True := by") is None


def test_find_repl_and_for_toolchain(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LEAN_REPL", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(LeanNotFound, match="no Lean REPL binary"):
        find_repl(LeanToolchain(lean=Path("/bin/true")))
    proj = tmp_path / "ws"
    binary = proj / ".lake/packages/REPL/.lake/build/bin/repl"
    binary.parent.mkdir(parents=True)
    binary.write_text("#!/bin/sh\nexit 0\n")
    binary.chmod(0o755)
    tc = LeanToolchain(lean=Path("lean"), lake=Path("/usr/bin/lake"), project=proj)
    assert find_repl(tc) == binary
    env = ReplEnv.for_toolchain(tc, timeout=3)
    assert env.client.argv == ["/usr/bin/lake", "env", str(binary)] and env.client.cwd == str(proj)
    monkeypatch.setenv("LEAN_REPL", str(tmp_path / "nope"))
    with pytest.raises(LeanNotFound, match="LEAN_REPL"):
        find_repl(tc)
    assert os.environ["LEAN_REPL"]
