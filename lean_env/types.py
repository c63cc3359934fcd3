"""The data that crosses the `ProofEnv` seam (see ARCHITECTURE.md).

These are plain values: no processes, no models.  `search/` imports them; every
environment (`ReplEnv`, `LeanTermEnv`, the scripted doubles) produces them.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

GOAL_SEPARATOR = "\n\n"


@dataclass(frozen=True)
class Theorem:
    """A theorem to prove, in the JSONL form of `../shared/data/minif2f/*.jsonl`.

    `formal_statement` ends in `:= by` (tactic proofs) or `:=` (term proofs).
    `extra` keeps any other field of the input row (split, reference proof, ...).
    """

    name: str
    header: str
    formal_statement: str
    extra: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)

    @classmethod
    def from_dict(cls, row: dict[str, Any], where: str = "theorem") -> Theorem:
        if not isinstance(row, dict):
            raise ValueError(f"{where}: expected a JSON object, got {type(row).__name__}")
        missing = [k for k in ("name", "formal_statement") if not isinstance(row.get(k), str) or not row.get(k)]
        if missing:
            raise ValueError(f"{where}: missing or empty field(s) {', '.join(missing)}")
        header = row.get("header", "")
        if not isinstance(header, str):
            raise ValueError(f"{where}: field 'header' must be a string")
        extra = {k: v for k, v in row.items() if k not in ("name", "header", "formal_statement")}
        return cls(row["name"], header, row["formal_statement"], extra)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "header": self.header, "formal_statement": self.formal_statement, **self.extra}


def read_json(path: str | Path, what: str) -> Any:
    """The JSON value in the file `path`; a missing file raises FileNotFoundError naming `what`
    ("scripted world", "train config", ...), bad JSON a ValueError naming the file and line."""
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"{what} not found: {p}")
    try:
        return json.loads(p.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise ValueError(f"{p}: not valid JSON ({e.msg} at line {e.lineno})") from None


def load_theorems(path: str | Path) -> list[Theorem]:
    """Read a JSONL file of theorems; a bad row raises ValueError naming file and line."""
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"theorem file not found: {p}")
    out: list[Theorem] = []
    with p.open(encoding="utf-8") as fh:
        for i, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as e:
                raise ValueError(f"{p}:{i}: not valid JSON ({e.msg})") from None
            out.append(Theorem.from_dict(row, where=f"{p}:{i}"))
    return out


@dataclass(frozen=True)
class State:
    """A proof state: the open goals as Lean prints them, plus an opaque handle.

    Two states with the same goals are the same search node: equality and hashing
    use `goals` only.  `handle` is whatever the environment needs to continue from
    here (a REPL proofState id, a partial proof term, ...).
    """

    goals: tuple[str, ...]
    handle: Any = field(default=None, compare=False, hash=False)

    @property
    def text(self) -> str:
        """The goals as one text: what the model sees and what keys a search node."""
        return GOAL_SEPARATOR.join(self.goals)

    @property
    def is_solved(self) -> bool:
        return not self.goals


@dataclass(frozen=True)
class Proved:
    """The tactic closed every goal.  `handle` lets the env rebuild the proof."""

    handle: Any = field(default=None, compare=False)


@dataclass(frozen=True)
class Open:
    """The tactic worked and goals remain."""

    state: State


@dataclass(frozen=True)
class Failed:
    """The tactic was rejected; `message` is Lean's (or the double's) own wording."""

    message: str


Outcome = Proved | Open | Failed


@dataclass(frozen=True)
class ProofCheck:
    """The whole-proof check of a finished search: `ok` only if the verifier accepted `proof`."""

    ok: bool
    proof: str
    reason: str = ""


@runtime_checkable
class ProofEnv(Protocol):
    """Where tactics meet Lean.  See ARCHITECTURE.md, 'The two seams'."""

    def start(self, theorem: Theorem) -> State: ...

    def apply(self, state: State, tactic: str) -> Outcome: ...

    def apply_batch(self, steps: Sequence[tuple[State, str]]) -> list[Outcome]: ...

    def check(self, theorem: Theorem, tactics: Sequence[str], thoughts: Sequence[str] = ()) -> ProofCheck:
        """Re-check the whole proof made of `tactics` from scratch (the only judge of 'proved')."""
        ...

    def close(self) -> None: ...
