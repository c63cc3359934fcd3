"""The strategies by name.  Each is `(theorem, env, policy, budget, config=None, seed=0, attempt=0)
-> SearchResult`; `config` is a `SearchConfig` or a dict of its fields."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from lean_env.types import ProofEnv, Theorem
from search.beam import beam
from search.best_first import best_first
from search.budget import Budget
from search.config import SearchConfig
from search.result import SearchResult
from search.sampling import sample, whole_proof
from search.types import Policy

STRATEGIES: dict[str, Callable[..., SearchResult]] = {
    "best-first": best_first,
    "sample": sample,
    "whole": whole_proof,
    "beam": beam,
}


def run_strategy(name: str, theorem: Theorem, env: ProofEnv, policy: Policy, budget: Budget, seed: int = 0,
                 attempt: int = 0, config: SearchConfig | dict[str, Any] | None = None,
                 **overrides: Any) -> SearchResult:
    """Run strategy `name`; `overrides` are SearchConfig fields (unknown ones raise ValueError)."""
    fn = STRATEGIES.get(name)
    if fn is None:
        raise ValueError(f"unknown search strategy {name!r}; choose one of {', '.join(STRATEGIES)}")
    return fn(theorem, env, policy, budget, SearchConfig.from_any(config, **overrides), seed=seed, attempt=attempt)


__all__ = ["STRATEGIES", "run_strategy", "best_first", "sample", "whole_proof", "beam"]
