"""The scripted world: a tiny, explicit proof world in JSON, and an in-process `ProofEnv` over it.

A world file looks like this (see README and tests/data/worlds/):

    {"theorems": [{"name": "t1", "statement": "theorem t1 (p q : Prop) (hp : p) (hq : q) : p ∧ q",
                   "goal": "p q : Prop\\nhp : p\\nhq : q\\n⊢ p ∧ q"}],
     "transitions": {"<goal>": {"constructor": ["<goal 1>", "<goal 2>"], "simp": "error: simp made no progress"}},
     "proposals": {"<goal>": [["constructor", -0.2], ["simp", -1.1]]}}

A state is the list of open goals; a tactic acts on the first goal and the goals it
lists replace it (an empty list closes it); a string is a failure with that message;
a tactic not listed fails with Lean's wording for an unknown step.  `proposals` is
read by the scripted policy, never by the env.  The REPL double (`doubles.repl_double`)
serves the same world over the REPL protocol.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.jsonl import read_json
from core.proof_text import TACTIC_STYLE
from core.types import Failed, Open, Outcome, ProofCheck, Proved, State, Theorem

UNKNOWN_STEP = "<input>:1:1: unknown tactic"


@dataclass(frozen=True)
class ScriptedTheorem:
    name: str
    statement: str
    goal: str

    def theorem(self) -> Theorem:
        return Theorem(self.name, "", self.statement.rstrip() + " := by")


@dataclass
class ScriptedWorld:
    theorems: list[ScriptedTheorem]
    transitions: dict[str, dict[str, list[str] | str]]
    proposals: dict[str, list[tuple[str, float]]] = field(default_factory=dict)
    faults: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, d: dict[str, Any], where: str = "world") -> ScriptedWorld:
        if not isinstance(d, dict) or not isinstance(d.get("theorems"), list):
            raise ValueError(f"{where}: a scripted world needs a 'theorems' list")
        ths = []
        for i, t in enumerate(d["theorems"]):
            if not isinstance(t, dict) or not all(isinstance(t.get(k), str) for k in ("name", "statement", "goal")):
                raise ValueError(f"{where}: theorems[{i}] needs string fields name, statement, goal")
            ths.append(ScriptedTheorem(t["name"], t["statement"], t["goal"]))
        trans = d.get("transitions", {})
        if not isinstance(trans, dict):
            raise ValueError(f"{where}: 'transitions' must be an object")
        for goal, steps in trans.items():
            if not isinstance(steps, dict):
                raise ValueError(f"{where}: transitions[{goal!r}] must be an object of tactic -> goals|error")
            for tac, res in steps.items():
                if not (isinstance(res, str) or (isinstance(res, list) and all(isinstance(g, str) for g in res))):
                    raise ValueError(f"{where}: transitions[{goal!r}][{tac!r}] must be a list of goals or a string")
        props: dict[str, list[tuple[str, float]]] = {}
        for goal, lst in d.get("proposals", {}).items():
            try:
                props[goal] = [(str(t), float(lp)) for t, lp in lst]
            except (TypeError, ValueError):
                raise ValueError(f"{where}: proposals[{goal!r}] must be a list of [tactic, logprob]") from None
        faults = d.get("faults", {})
        if not isinstance(faults, dict):
            raise ValueError(f"{where}: 'faults' must be an object of tactic -> crash|hang|garbage")
        return cls(ths, trans, props, {str(k): str(v) for k, v in faults.items()})

    @classmethod
    def load(cls, path: str | Path) -> ScriptedWorld:
        return cls.from_dict(read_json(path, "scripted world"), where=str(Path(path)))

    def find(self, name_or_statement: str) -> ScriptedTheorem:
        for t in self.theorems:
            if name_or_statement in (t.name, t.statement):
                return t
        raise KeyError(f"theorem {name_or_statement!r} is not in the scripted world")

    def theorem_for(self, theorem: Theorem) -> ScriptedTheorem:
        stmt = theorem.formal_statement.strip().removesuffix(":= by").removesuffix(":=").strip()
        for t in self.theorems:
            if t.statement.strip() == stmt or t.name == theorem.name:
                return t
        raise KeyError(f"theorem {theorem.name!r} is not in the scripted world")

    def step(self, goals: Sequence[str], tactic: str) -> tuple[str, ...] | str:
        """New goals after `tactic` on the first goal, or the failure message (a str)."""
        lines = script_lines(tactic)
        if len(lines) > 1:  # a whole script: its tactics one after another, as Lean runs a block
            for ln in lines:
                res_ln = self.step(goals, ln)
                if isinstance(res_ln, str):
                    return res_ln
                goals = res_ln
            return tuple(goals)
        if not goals:
            return "no goals to be proved"
        res = self.transitions.get(goals[0], {}).get(lines[0] if lines else tactic.strip())
        if res is None:
            return UNKNOWN_STEP
        if isinstance(res, str):
            return res
        return (*res, *goals[1:])


def script_lines(text: str) -> list[str]:
    """The tactic lines of a script: stripped, blank lines and `--` comments left out."""
    return [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.strip().startswith("--")]


class ScriptedEnv:
    """An in-process `ProofEnv` over a `ScriptedWorld`: no processes, exact and instant."""

    proof_style = TACTIC_STYLE

    def __init__(self, world: ScriptedWorld) -> None:
        self.world = world

    def start(self, theorem: Theorem) -> State:
        t = self.world.theorem_for(theorem)
        return State((t.goal,), handle=(t.goal,))

    def apply(self, state: State, tactic: str) -> Outcome:
        res = self.world.step(state.goals, tactic)
        if isinstance(res, str):
            return Failed(res)
        if not res:
            return Proved()
        return Open(State(res, handle=res))

    def apply_batch(self, steps: Sequence[tuple[State, str]]) -> list[Outcome]:
        return [self.apply(s, t) for s, t in steps]

    def check(self, theorem: Theorem, proof: str) -> ProofCheck:
        """A fresh replay of the proof text (its tactic lines, comments skipped) from the theorem's goal."""
        try:
            goals: tuple[str, ...] = (self.world.theorem_for(theorem).goal,)
        except KeyError as e:
            return ProofCheck(False, proof, str(e))
        if not script_lines(proof):
            return ProofCheck(False, proof, "empty proof")
        res = self.world.step(goals, proof)
        if isinstance(res, str):
            return ProofCheck(False, proof, f"the proof failed on replay: {res}")
        if res:
            return ProofCheck(False, proof, f"{len(res)} goal(s) left after the last step")
        return ProofCheck(True, proof)

    def close(self) -> None:
        return None

