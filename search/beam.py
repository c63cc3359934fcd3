"""Beam search: level by level, keep the `width` best new states by cumulative logprob.

Each level is one model call for the whole beam and one `apply_batch` for all its candidates.  A state
seen at an earlier level is not kept again (the graph dedups it), so the beam never cycles.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from lean_env.types import ProofEnv, Theorem
from search.budget import Budget
from search.config import SearchConfig
from search.engine import Run
from search.result import SearchResult
from search.types import Policy


def beam(theorem: Theorem, env: ProofEnv, policy: Policy, budget: Budget,
         config: SearchConfig | Mapping[str, Any] | None = None, seed: int = 0,
         attempt: int = 0) -> SearchResult:
    cfg = SearchConfig.from_any(config)
    run = Run(theorem, env, policy, budget, "beam", seed, attempt, cfg.keep_graph)
    level = [run.graph.root]
    depth = 0
    while level and depth < cfg.max_depth:
        keys = level[: run.meter.allow_expansions(len(level))]
        if not keys:
            break
        children = run.expand(keys, cfg.n, cfg.length_normalize)
        if run.proof is not None:
            break
        level = [key for _, _, key in sorted(children)[: cfg.width]]
        depth += 1
    return run.result(run.stop_status(), depth=depth)
