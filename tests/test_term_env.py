"""LeanTermEnv against the real embedded Lean (prelude files), plus its pure text helpers."""

from __future__ import annotations

import pytest

from core.proof_text import render_proof
from core.types import Failed, Open, ProofEnv, Proved, State, Theorem
from eval.logic import prelude_text
from lean_env.term_env import (
    LeanTermEnv,
    TermHandle,
    count_holes,
    fill_first_hole,
    filling_problem,
    statement_with_name,
    term_from_fillings,
)

AND_SWAP = "theorem and_swap (p q : Prop) : And p q → And q p :="


@pytest.fixture(scope="module")
def header() -> str:
    return prelude_text()


@pytest.fixture()
def env(lean_toolchain):
    with LeanTermEnv(lean_toolchain, timeout=30) as e:
        yield e


def thm(header: str, stmt: str = AND_SWAP, name: str = "and_swap") -> Theorem:
    return Theorem(name, header, stmt)


# -- pure helpers -------------------------------------------------------------------------

def test_holes_are_found_as_tokens_only():
    assert count_holes("And.intro ?_ (f ?_)") == 2
    assert count_holes("h?_ ?_x get?_") == 0
    assert fill_first_hole("And.intro ?_ ?_", "h.1") == "And.intro h.1 ?_"
    assert fill_first_hole("And.intro ?_ ?_", "fun h => ?_") == "And.intro (fun h => ?_) ?_"
    assert term_from_fillings(["fun h => ?_", "And.intro ?_ ?_", "h.2", "h.1"]) == "(fun h => (And.intro h.2 h.1))"


@pytest.mark.parametrize("bad", [
    "h := 1", "h\ntheorem x : False", "#exit", "h -- c", "/- c -/ h", "h)", "(h", "?x", "sorry",
    "h) theorem bad : False (h", "set_option maxHeartbeats 0 in h", "TermEnvCandidate_0_1", "", "  ",
    'h "s"', "axiom", "⟨h, ?_", "by exact h\n#print axioms",
])
def test_fillings_that_could_escape_the_term_are_rejected(bad):
    assert filling_problem(bad) is not None


@pytest.mark.parametrize("good", ["h.1", "fun h => ?_", "Or.elim h (fun a => ?_) (fun b => ?_)", "⟨h.2, ?_⟩",
                                  "Exists.elim h (fun x hx => ?_)", "h₁ ?_", "end_h", "h.theorem_x"])
def test_ordinary_fillings_pass(good):
    assert filling_problem(good) is None


def test_statement_renaming():
    assert statement_with_name(AND_SWAP, "T1") == "theorem T1 (p q : Prop) : And p q → And q p :="
    assert statement_with_name("example : True :=", "T2") == "theorem T2 : True :="
    with pytest.raises(ValueError):
        statement_with_name("def x : True :=", "T3")


# -- against the embedded Lean -------------------------------------------------------------

def test_goals_come_from_real_holes_in_textual_order(env, header):
    s = env.start(thm(header))
    assert isinstance(env, ProofEnv)
    assert s.goals == ("p q : Prop\n⊢ And p q → And q p",)
    out = env.apply(s, "fun h => And.intro ?_ ?_")
    assert isinstance(out, Open)
    # Lean reports the second hole first; the env orders goals by hole position
    assert out.state.goals == ("p q : Prop\nh : And p q\n⊢ q", "p q : Prop\nh : And p q\n⊢ p")
    assert out.state.handle.term == "(fun h => And.intro ?_ ?_)"


def test_wrong_filling_fails_with_leans_message(env, header):
    s = env.apply(env.start(thm(header)), "fun h => And.intro ?_ ?_")
    wrong = env.apply(s.state, "h.1")
    assert isinstance(wrong, Failed)
    assert "mismatch" in wrong.message and "h.left" in wrong.message
    unknown = env.apply(s.state, "nope")
    assert isinstance(unknown, Failed) and "Unknown identifier" in unknown.message
    assert "internal exception" not in unknown.message


def test_rejected_filling_never_reaches_lean(env, header):
    s = env.start(thm(header))
    runs = env.lean_runs
    out = env.apply(s, "fun h => h) theorem bad : False := (x")
    assert isinstance(out, Failed) and out.message.startswith("rejected before Lean")
    assert env.lean_runs == runs


def test_complete_proof_is_proved_and_reverified(env, header):
    t = thm(header)
    s = env.start(t)
    steps = ["fun h => ?_", "And.intro ?_ ?_", "h.2", "h.1"]
    out: object = s
    for f in steps:
        assert isinstance(out, State | Open)
        out = env.apply(out if isinstance(out, State) else out.state, f)
    assert isinstance(out, Proved)
    assert isinstance(out.handle, TermHandle) and out.handle.fillings == tuple(steps)
    ok = env.check(t, render_proof("term", steps))
    assert ok.ok, ok.reason
    assert ok.proof == " (fun h => (And.intro h.2 h.1))"
    assert not env.check(t, render_proof("term", ["fun h => ?_", "And.intro ?_ ?_", "h.2"])).ok  # a hole left
    assert not env.check(t, render_proof("term", ["fun h => ?_", "And.intro ?_ ?_", "h.1", "h.2"])).ok  # wrong
    assert not env.check(t, render_proof("term", ["fun h => h := x"])).ok


def test_batching_gives_the_same_verdicts_as_one_by_one(lean_toolchain, header):
    t1 = thm(header)
    t2 = thm(header, "theorem ex_mono (α : Type) (P Q : α → Prop) (h : ∀ x : α, P x → Q x) "
                     "(he : Exists fun x => P x) : Exists fun x => Q x :=", "ex_mono")
    with LeanTermEnv(lean_toolchain) as e0:
        s1 = e0.apply(e0.start(t1), "fun h => And.intro ?_ ?_").state
        s2 = e0.apply(e0.start(t2), "Exists.elim he (fun x hx => ?_)").state
    steps = [(s1, "h.2"), (s1, "h.1"), (s1, "h"), (s1, "h.right"), (s2, "Exists.intro x ?_"), (s2, "Exists.intro ?_ ?_"),
             (s2, "Exists.intro x (h x hx)"), (s2, "hx"), (s1, "h.2"), (s2, "fun y => ?_")]
    with LeanTermEnv(lean_toolchain) as batched, LeanTermEnv(lean_toolchain, workers=2, batch_size=3) as par:
        many = batched.apply_batch(steps)
        assert batched.lean_runs == 1
        spread = par.apply_batch(steps)
        assert par.lean_runs >= 2
    with LeanTermEnv(lean_toolchain) as single:
        one = [single.apply(s, f) for s, f in steps]
    for a, b, c in zip(many, spread, one, strict=True):
        assert type(a) is type(b) is type(c)
        if isinstance(a, Open):
            assert a.state.goals == b.state.goals == c.state.goals
        if isinstance(a, Failed):
            assert a.message == b.message == c.message
    assert [type(o).__name__ for o in many] == ["Open", "Failed", "Failed", "Open", "Open", "Open", "Proved",
                                                "Failed", "Open", "Failed"]


def test_many_holes_in_one_file_are_all_reported(env, header):
    # Lean stops after 100 errors by default; the env lifts that limit
    s = env.start(thm(header))
    outs = env.apply_batch([(s, f"fun h{i} => And.intro ?_ ?_") for i in range(60)])
    assert all(isinstance(o, Open) and len(o.state.goals) == 2 for o in outs)


def test_timeouts_are_isolated_by_splitting_the_batch(lean_toolchain, header):
    with LeanTermEnv(lean_toolchain) as ok_env:
        s = ok_env.start(thm(header))
    with LeanTermEnv(lean_toolchain, timeout=0.0) as env:
        outs = env.apply_batch([(s, "fun h => ?_"), (s, "fun g => ?_"), (s, "fun k => ?_")])
        assert all(isinstance(o, Failed) and "LeanTimeout" in o.message for o in outs)
        assert env.lean_runs == 0  # killed runs are not counted as finished
    # a good batch after a bad one still works in the same process
    with LeanTermEnv(lean_toolchain) as env2:
        assert isinstance(env2.apply(s, "fun h => ?_"), Open)


def test_bad_statements_and_headers_are_clear_errors(env, header):
    with pytest.raises(ValueError, match="must end in"):
        env.start(Theorem("x", header, "theorem x : True := by"))
    with pytest.raises(ValueError, match="does not elaborate"):
        env.start(Theorem("x", header, "theorem x : Foo :="))
    broken = Theorem("y", header + "\ntheorem oops : True := nope\n", "theorem y : True :=")
    with pytest.raises(ValueError, match="outside the proof term"):
        env.start(broken)
    with pytest.raises(ValueError, match="not made by LeanTermEnv"):
        env.apply(State(("⊢ True",), handle=7), "trivial")
