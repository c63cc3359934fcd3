"""The `Policy` seam and the values the engine hands back (see ARCHITECTURE.md)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from lean_env.types import State, Theorem


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
