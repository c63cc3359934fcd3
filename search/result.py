"""What a search returns: its status, the proof, and what it cost."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from search.tree import SearchTree, Step

STATUSES = ("proved", "failed", "budget")


@dataclass
class Accounting:
    """Costs of one search.  `model_seconds` is time inside `policy.propose*`, `lean_seconds` time
    inside the env (start, apply, check), `evaluator_seconds` time inside `evaluator.score`; the rest
    of `wall_seconds` is the engine's own.  `tokens` are the tokens of the candidates the policy
    returned (what the `tokens` budget counts); `generated_tokens` every token it generated (all
    samples or beams, also past a stop, when the policy reports its usage), `prompt_tokens` the
    tokens it read; `flops` = 2 x parameters x tokens processed, over the policy and the evaluator."""

    expansions: int = 0
    env_calls: int = 0
    tokens: int = 0
    model_seconds: float = 0.0
    lean_seconds: float = 0.0
    wall_seconds: float = 0.0
    checks: int = 0  # whole-proof checks run (not part of any budget)
    model_calls: int = 0  # policy calls (each may cover many states)
    prompt_tokens: int = 0
    generated_tokens: int = 0
    flops: float = 0.0
    policy_parameters: int = 0
    evaluator_calls: int = 0
    evaluator_states: int = 0
    evaluator_tokens: int = 0
    evaluator_seconds: float = 0.0
    evaluator_parameters: int = 0

    def copy(self) -> Accounting:
        return replace(self)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Accounting:
        return cls(**{k: d[k] for k in cls.__dataclass_fields__ if k in d})


@dataclass
class SearchResult:
    name: str
    status: str  # "proved" | "failed" (search space ran out) | "budget" (the budget did)
    steps: list[Step]  # the accepted proof (empty when there is none)
    proof_text: str
    accounting: Accounting
    first_proof_at: Accounting | None  # the accounting at the moment the (accepted) proof was found
    strategy: str
    failures: dict[str, int] = field(default_factory=dict)  # failed tactics by FailureKind value
    tree: SearchTree | None = None
    attempt: int = 0
    seed: int = 0
    extra: dict[str, Any] = field(default_factory=dict)  # strategy-specific facts (trajectories, ...)

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"search result {self.name!r}: status {self.status!r} is not one of {STATUSES}")

    @property
    def proved(self) -> bool:
        return self.status == "proved"

    @property
    def proof(self) -> list[str]:
        return [s.tactic for s in self.steps]

    @property
    def thoughts(self) -> list[str]:
        return [s.thought for s in self.steps]

    def to_row(self) -> dict[str, Any]:
        """One JSONL result line: name, attempt, seed, strategy, status, proof (tactics), thoughts,
        states (the goals text each proof step was applied to), proof_text, the accounting counters
        at top level, first_proof_at (a dict or null), failures by kind, and any extra facts."""
        row: dict[str, Any] = {
            "name": self.name,
            "attempt": self.attempt,
            "seed": self.seed,
            "strategy": self.strategy,
            "status": self.status,
            "proof": self.proof,
            "thoughts": self.thoughts,
            "states": [s.state.text for s in self.steps],
            "proof_text": self.proof_text,
            **self.accounting.to_dict(),
            "first_proof_at": self.first_proof_at.to_dict() if self.first_proof_at else None,
            "failures": dict(self.failures),
        }
        for k, v in self.extra.items():
            row.setdefault(k, v)
        return row
