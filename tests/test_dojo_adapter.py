"""The LeanDojo adapter against a stand-in with lean_dojo's documented `run_tac` behaviour
(lean_dojo itself is not installed here; see lean_env/dojo.py)."""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import pytest

from core.proof_text import render_tactic_proof as tactics_text
from core.types import Failed, Open, ProofEnv, Proved, Theorem
from lean_env.dojo import DojoEnv, lean_dojo_factory, split_pp
from lean_env.errors import LeanNotFound


# --- the documented result and error types (LeanDojo 2.x, lean_dojo.interaction.dojo) -------------
@dataclass(frozen=True)
class TacticState:
    pp: str
    id: int = field(compare=False)
    message: str | None = field(default=None, compare=False)


@dataclass(frozen=True)
class ProofFinished:
    tactic_state_id: int
    message: str | None = field(default=None, compare=False)


@dataclass(frozen=True)
class ProofGivenUp:
    pass


@dataclass(frozen=True)
class LeanError:
    error: str


class DojoTacticTimeoutError(Exception):
    pass


class DojoCrashError(Exception):
    @property
    def is_out_of_memory(self) -> bool:
        return str(self) == "OOM"


G0 = "p q : Prop\nh : p ∧ q\n⊢ q ∧ p"
G1 = "case left\np q : Prop\nh : p ∧ q\n⊢ q"
G2 = "case right\np q : Prop\nh : p ∧ q\n⊢ p"


class FakeDojo:
    """Tactic states by pp text; ids count up like LeanDojo's tsid."""

    def __init__(self, log: list[str]) -> None:
        self.log = log
        self.next_id = 1
        self.crashed = False

    def _state(self, pp: str) -> TacticState:
        self.next_id += 1
        return TacticState(pp, self.next_id - 1)

    def run_tac(self, state: TacticState, tactic: str) -> Any:
        if self.crashed:
            raise DojoCrashError("EOF")
        self.log.append(tactic)
        if tactic == "spin":
            raise DojoTacticTimeoutError()
        if tactic == "boom":
            self.crashed = True
            raise DojoCrashError("OOM")
        if tactic == "sorry":
            return ProofGivenUp()
        table = {(G0, "constructor"): G1 + "\n\n" + G2, (G1 + "\n\n" + G2, "exact h.2"): G2}
        if (state.pp, tactic) in table:
            return self._state(table[(state.pp, tactic)])
        if (state.pp, tactic) in ((G2, "exact h.1"), (G0, "exact ⟨h.2, h.1⟩")):
            return ProofFinished(self.next_id)
        return LeanError(f"unknown tactic {tactic}")


def make_factory(opened: list[str], log: list[str]):
    @contextmanager
    def factory(theorem: Theorem):
        opened.append(theorem.name)
        yield FakeDojo(log), TacticState(G0, 0)
        opened.append("closed " + theorem.name)
    return factory


THM = Theorem("and_swap", "", "theorem and_swap (p q : Prop) (h : p ∧ q) : q ∧ p := by")


def test_outcomes_follow_run_tac_results() -> None:
    opened: list[str] = []
    env = DojoEnv(make_factory(opened, []))
    assert isinstance(env, ProofEnv)
    root = env.start(THM)
    assert root.goals == (G0,)
    split = env.apply(root, "constructor")
    assert isinstance(split, Open) and split.state.goals == (G1, G2)
    one = env.apply(split.state, "exact h.2")
    assert isinstance(one, Open) and one.state.goals == (G2,)
    assert isinstance(env.apply(one.state, "exact h.1"), Proved)
    assert env.apply(root, "simp") == Failed("unknown tactic simp")
    assert env.apply(root, "sorry") == Failed("the tactic leaves `sorry` (ProofGivenUp)")
    assert env.apply(root, "spin").message.startswith("timeout")
    env.close()
    assert opened == ["and_swap", "closed and_swap"]


def test_a_crashed_session_is_reopened_and_states_rebuilt() -> None:
    opened: list[str] = []
    log: list[str] = []
    env = DojoEnv(make_factory(opened, log))
    root = env.start(THM)
    split = env.apply(root, "constructor")
    assert isinstance(split, Open)
    boom = env.apply(split.state, "boom")
    assert isinstance(boom, Failed) and boom.message.startswith("LeanMemoryExceeded")
    again = env.apply(split.state, "exact h.2")          # new session, `constructor` replayed first
    assert isinstance(again, Open) and again.state.goals == (G2,)
    assert opened.count("and_swap") == 2 and log[-2:] == ["constructor", "exact h.2"]
    env.close()


def test_check_replays_in_a_fresh_session() -> None:
    opened: list[str] = []
    env = DojoEnv(make_factory(opened, []))
    assert env.check(THM, tactics_text(["constructor", "exact h.2", "exact h.1"])).ok
    left = env.check(THM, tactics_text(["constructor", "exact h.2"]))
    assert not left.ok and "1 goal(s) left" in left.reason
    assert "failed on replay" in env.check(THM, tactics_text(["constructor", "simp"])).reason
    assert "finished at step 1" in env.check(THM, tactics_text(["exact ⟨h.2, h.1⟩", "simp"])).reason
    assert opened.count("and_swap") == opened.count("closed and_swap") == 4


def test_default_factory_needs_lean_dojo() -> None:
    try:
        import lean_dojo  # noqa: F401
    except ImportError:
        with pytest.raises(LeanNotFound, match=r"\[dojo\]"):
            lean_dojo_factory()(THM)
    else:
        pytest.skip("lean_dojo is installed; the missing-package path cannot be exercised")


def test_split_pp() -> None:
    assert split_pp(G1 + "\n\n" + G2) == (G1, G2)
    assert split_pp("") == ()
