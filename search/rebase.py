"""REBASE: reward-balanced search (Wu et al. 2024, "An Empirical Analysis of Compute-Optimal Inference
for Problem-Solving with Language Models").

Level by level, the open nodes of a level share the width B: node i gets
    w_i = round(B x exp(R_i / beta) / sum_j exp(R_j / beta))
children (the policy is asked for w_i candidates), the rounding done so that the widths sum to B
exactly (largest remainders; ties to the better-ranked node).  R is the evaluator's value of the
node, or without an evaluator its log-probability score.  Every new child of a level joins the next
level; a child that failed is not a node, so its share of B goes back to the surviving ones.  A
proof the check accepts ends the search (Lean is the verifier, so there is no answer to vote on).
beta -> infinity spreads B evenly (a beam), beta -> 0 gives it all to the best node (greedy).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from search.config import StrategyConfig, at_least
from search.engine import Run, logprob_score
from search.registry import register


@dataclass(frozen=True)
class RebaseConfig(StrategyConfig):
    width: int = 8                  # B: the children a level's nodes share
    beta: float = 1.0               # softmax temperature of the rewards
    length_normalize: bool = False  # reward without an evaluator: cumulative logprob / depth

    def validate(self) -> None:
        at_least(self, 1, "max_depth", "width")
        if not self.beta > 0:
            raise ValueError(f"RebaseConfig: beta={self.beta!r} must be positive")


def rebase_widths(rewards: Sequence[float], beta: float, width: int) -> list[int]:
    """The children each node gets: B x softmax(R / beta), rounded by largest remainders so that they
    sum to B (ties go to the earlier node)."""
    if not rewards:
        return []
    if not beta > 0:
        raise ValueError(f"beta must be positive, got {beta!r}")
    top = max(rewards)
    weights = [math.exp((r - top) / beta) for r in rewards]
    total = sum(weights)
    quotas = [width * w / total for w in weights]
    widths = [math.floor(q) for q in quotas]
    order = sorted(range(len(quotas)), key=lambda i: (-(quotas[i] - widths[i]), i))
    for i in order[: width - sum(widths)]:
        widths[i] += 1
    return widths


@register("rebase", RebaseConfig)
def rebase(run: Run, cfg: RebaseConfig) -> dict[str, Any]:
    """Level by level, width B shared by the open nodes in proportion to exp(reward / beta)."""
    valued = run.evaluator is not None
    lp = logprob_score(cfg.length_normalize)

    def reward(node: Any) -> float:
        return node.value if valued and node.value is not None else lp(node.logprob, node.depth, None)

    level = [run.tree.root]
    depth = 0
    while level and depth < cfg.max_depth:
        ranked = sorted(level, key=lambda n: (-reward(n), n.order))
        widths = rebase_widths([reward(n) for n in ranked], cfg.beta, cfg.width)
        keep = [(n, w) for n, w in zip(ranked, widths, strict=True) if w > 0]
        keep = keep[: run.meter.allow_expansions(len(keep))]
        if not keep:
            break
        level = run.expand([n for n, _ in keep], [w for _, w in keep], value=valued)
        if run.proof is not None:
            break
        depth += 1
    return {"depth": depth}
