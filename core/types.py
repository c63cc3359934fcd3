"""The values and protocols that cross the two seams: `ProofEnv` (where tactics meet Lean) and
`Policy` (where a model proposes them).

These are plain values: no processes, no models.  Every environment (`ReplEnv`, `LeanTermEnv`,
the test doubles) produces `State` and `Outcome`; every policy returns `Candidate`s; the engine
(`search/`) consumes both.  See docs/architecture.md.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
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


class FailureKind(StrEnum):
    """Why a step (or a found proof) failed; every result row counts its failures by kind."""

    TACTIC = "tactic_error"       # Lean rejected the tactic (its own message)
    TIMEOUT = "timeout"           # the Lean call ran past its time limit
    CRASH = "crash"               # the Lean process died or answered outside its protocol
    MEMORY = "memory"             # the Lean process went over its memory cap
    REJECTED = "rejected"         # refused before Lean saw it (unsafe text, no open goal, ...)
    NO_PROGRESS = "no_progress"   # the tactic worked but the goals did not change
    CHECK = "check_rejected"      # the step closed the goals, the whole-proof check refused the proof


@dataclass(frozen=True)
class Failed:
    """The tactic was rejected: `message` is Lean's (or the double's) own wording, `kind` says why."""

    message: str
    kind: FailureKind = FailureKind.TACTIC

    def __post_init__(self) -> None:
        if not isinstance(self.kind, FailureKind):
            object.__setattr__(self, "kind", FailureKind(self.kind))


Outcome = Proved | Open | Failed


@dataclass(frozen=True)
class ProofCheck:
    """The whole-proof check of a finished search: `ok` only if the verifier accepted `proof`."""

    ok: bool
    proof: str
    reason: str = ""


PROOF_STYLES = ("tactic", "term")


@runtime_checkable
class ProofEnv(Protocol):
    """Where tactics meet Lean.

    `proof_style` says how a list of steps becomes the proof text that `check` judges: "tactic"
    (one tactic a line after `:= by`, thoughts as `--` comments above them) or "term" (each step
    fills the first `?_` hole of the term after `:=`); the engine renders it with
    `core.proof_text.render_proof`.  `apply_batch` takes many candidates at once: an env that can
    check them together (several in one Lean file, several REPL processes) does so.
    """

    proof_style: str

    def start(self, theorem: Theorem) -> State: ...

    def apply(self, state: State, tactic: str) -> Outcome: ...

    def apply_batch(self, steps: Sequence[tuple[State, str]]) -> list[Outcome]: ...

    def check(self, theorem: Theorem, proof: str) -> ProofCheck:
        """Re-check `proof` (the text after the statement's `:=`/`:= by`) from scratch: the only
        judge of 'proved'."""
        ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class Candidate:
    """One proposed step: a tactic, the thought that led to it (may be empty), its log-probability
    (sum over generated tokens) and how many tokens generating it cost."""

    tactic: str
    thought: str = ""
    logprob: float = 0.0
    tokens: int = 0


@runtime_checkable
class Policy(Protocol):
    """Proposes steps for a batch of states; batching is where model throughput comes from."""

    def propose(self, states: Sequence[State], n: int) -> list[list[Candidate]]: ...


@runtime_checkable
class WholeProofPolicy(Protocol):
    """Writes complete proofs: for each theorem, `n` candidates whose `tactic` is the whole script
    (tactic envs) or the whole term (the term env).  Used by the whole-proof strategy."""

    def propose_proofs(self, theorems: Sequence[Theorem], n: int) -> list[list[Candidate]]: ...


@runtime_checkable
class SeedablePolicy(Protocol):
    """Optional: a policy that samples exposes `reseed`; every strategy calls it with its seed before
    the first proposal, so a search is reproducible whatever ran on the same policy before."""

    def reseed(self, seed: int) -> None: ...


@dataclass(frozen=True)
class StepContext:
    """Where a state sits in a search, for prompt formats that show more than the state (the theorem's
    name, the tactics already applied on the path to it, root first)."""

    theorem: Theorem
    proof_before: tuple[str, ...] = ()


@runtime_checkable
class ContextPolicy(Protocol):
    """Optional: a policy whose prompts read the context of each state; the engine then calls
    `propose_in_context` instead of `propose`, with one `StepContext` per state."""

    def propose_in_context(self, states: Sequence[State], contexts: Sequence[StepContext],
                           n: int) -> list[list[Candidate]]: ...


@dataclass(frozen=True)
class ProofPrefix:
    """An accepted start of a whole proof: its steps as the env ran them (each with the thought written
    before it) and the goals after them ("" to leave them out of the prompt)."""

    tactics: tuple[str, ...] = ()
    thoughts: tuple[str, ...] = ()
    state: str = ""

    def steps(self) -> list[tuple[str, str]]:
        """(thought, tactic) pairs, a missing thought as ""."""
        thoughts = list(self.thoughts[: len(self.tactics)]) + [""] * (len(self.tactics) - len(self.thoughts))
        return list(zip(thoughts, self.tactics, strict=True))


@runtime_checkable
class ResumablePolicy(Protocol):
    """Optional: a whole-proof policy that continues a proof from an accepted prefix (DeepSeek-Prover's
    truncate and resume).  Each candidate's `tactic` is the continuation: the steps after the prefix."""

    def resume_proofs(self, theorems: Sequence[Theorem], prefixes: Sequence[ProofPrefix],
                      n: int) -> list[list[Candidate]]: ...


@dataclass(frozen=True)
class Usage:
    """What one model call computed: tokens read (prompts; a prompt expanded for several samples or
    beams counts each time it is processed), tokens written (every generated position of every
    row, also those a batch generated past a row's stop), and the model's parameter count.
    FLOPs follow the usual estimate of 2 x parameters x tokens processed."""

    prompt_tokens: int = 0
    generated_tokens: int = 0
    parameters: int = 0

    @property
    def flops(self) -> float:
        return 2.0 * self.parameters * (self.prompt_tokens + self.generated_tokens)


class Costed(list):  # type: ignore[type-arg]
    """A list returned by a model call (a policy's proposals, an evaluator's scores) that also says
    what the call cost (`usage`).  It pickles with its usage, so it crosses Ray unchanged."""

    usage: Usage

    def __init__(self, items: Sequence[Any] = (), usage: Usage | None = None) -> None:
        super().__init__(items)
        self.usage = usage or Usage()


def usage_of(result: object) -> Usage | None:
    """The usage a model call reported, or None when it returned a plain list."""
    return result.usage if isinstance(result, Costed) else None


@runtime_checkable
class Evaluator(Protocol):
    """Judges proof states: for each, an estimate in [0, 1] of the probability that it can still be
    proved.  Value-guided strategies rank nodes with it; it may return a `Costed` list to report
    its compute."""

    def score(self, states: Sequence[State]) -> list[float]: ...
