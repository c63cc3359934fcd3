"""Best-first search (ReProver, InternLM-StepProver, BFS-Prover).

One priority queue of unexpanded nodes, highest priority first; a node's priority is the cumulative
logprob of the path that first reached it (divided by its depth with `length_normalize`); ties go to
the node discovered first.  Each round pops `expand_batch` nodes, asks the policy for `n` candidates
for all of them in one call, and applies every candidate in one `apply_batch`.

The run is deterministic for a deterministic policy and *prefix-monotone*: with a smaller expansion
(or env-call) budget it does exactly the first part of the larger run, so `first_proof_at` of a run
at a large budget says whether every smaller budget would have found the proof.
"""

from __future__ import annotations

import heapq
from collections.abc import Mapping
from typing import Any

from lean_env.types import ProofEnv, Theorem
from search.budget import Budget
from search.config import SearchConfig
from search.engine import Run, priority
from search.result import SearchResult
from search.types import Policy

__all__ = ["best_first", "priority"]


def best_first(theorem: Theorem, env: ProofEnv, policy: Policy, budget: Budget,
               config: SearchConfig | Mapping[str, Any] | None = None, seed: int = 0,
               attempt: int = 0) -> SearchResult:
    cfg = SearchConfig.from_any(config)
    run = Run(theorem, env, policy, budget, "best-first", seed, attempt, cfg.keep_graph)
    g = run.graph
    queue: list[tuple[float, int, str]] = [(-0.0, 0, g.root)]  # (-priority, discovery order, key)
    while queue:
        k = run.meter.allow_expansions(min(cfg.expand_batch, len(queue)))
        if k == 0:
            break
        keys = [heapq.heappop(queue)[2] for _ in range(k)]
        for child in run.expand(keys, cfg.n, cfg.length_normalize):
            if g.node(child[2])["depth"] < cfg.max_depth:
                heapq.heappush(queue, child)
        if run.proof is not None:
            break
    return run.result(run.stop_status(), queue_left=len(queue))
