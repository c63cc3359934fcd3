"""Best-first search (ReProver, InternLM-StepProver, BFS-Prover).

One priority queue of unexpanded nodes, highest priority first; a node's priority is the cumulative
logprob of the path that first reached it (divided by its depth with `length_normalize`); ties go to
the node discovered first.  With `value_weight` w > 0 (value-guided best-first, as the critic-guided
search of InternLM2.5-StepProver) the evaluator scores every new node and the priority is
(1 - w) x that logprob score + w x log(value); w = 1 ranks by the evaluator alone.  Each round pops `expand_batch` nodes, asks the policy for `n` candidates
for all of them in one call, and applies every candidate in one `apply_batch`.

The run is deterministic for a deterministic policy and *prefix-monotone*: with a smaller expansion
(or env-call) budget it does exactly the first part of the larger run, so `first_proof_at` of a run
at a large budget says whether every smaller budget would have found the proof.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass
from typing import Any

from search.config import StrategyConfig, at_least
from search.engine import Run, Score, mixed_score
from search.registry import register
from search.tree import Node


@dataclass(frozen=True)
class BestFirstConfig(StrategyConfig):
    n: int = 8                      # candidates proposed per expansion
    expand_batch: int = 1           # frontier nodes proposed for in one model call
    length_normalize: bool = False  # priority = cumulative logprob / depth instead of the sum
    value_weight: float = 0.0       # weight of log(evaluator value) in the priority (needs an evaluator)

    def validate(self) -> None:
        at_least(self, 1, "max_depth", "n", "expand_batch")
        at_least(self, 0, "value_weight")
        if self.value_weight > 1:
            raise ValueError(f"BestFirstConfig: value_weight={self.value_weight!r} must be at most 1")

    def needs_evaluator(self) -> str | None:
        return "best-first with value_weight > 0" if self.value_weight > 0 else None


def search_queue(run: Run, n: int, expand_batch: int, max_depth: int, score: Score, value: bool = False) -> int:
    """The best-first loop over `run.tree` with node priorities from `score` (new nodes valued by the
    evaluator first when `value`); the number of nodes left queued."""
    queue: list[tuple[float, int, Node]] = [(-run.tree.root.priority, run.tree.root.order, run.tree.root)]
    while queue:
        k = run.meter.allow_expansions(min(expand_batch, len(queue)))
        if k == 0:
            break
        nodes = [heapq.heappop(queue)[2] for _ in range(k)]
        for child in run.expand(nodes, n, score, value=value):
            if child.depth < max_depth:
                heapq.heappush(queue, (-child.priority, child.order, child))
        if run.proof is not None:
            break
    return len(queue)


@register("best-first", BestFirstConfig)
def best_first(run: Run, cfg: BestFirstConfig) -> dict[str, Any]:
    """One priority queue by cumulative logprob (ReProver), optionally mixed with the evaluator's value."""
    value = cfg.value_weight > 0
    left = search_queue(run, cfg.n, cfg.expand_batch, cfg.max_depth,
                        mixed_score(cfg.value_weight, cfg.length_normalize), value=value)
    return {"queue_left": left}
