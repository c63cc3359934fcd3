"""A strategy added the way a newcomer would: this one module and its registry line (the decorator).
Greedy: expand the root, then always only the best new child (by logprob), until a proof or a
dead end."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from search.config import StrategyConfig, at_least
from search.engine import Run, logprob_score
from search.registry import register


@dataclass(frozen=True)
class GreedyConfig(StrategyConfig):
    n: int = 4

    def validate(self) -> None:
        at_least(self, 1, "max_depth", "n")


@register("greedy", GreedyConfig)
def greedy(run: Run, cfg: GreedyConfig) -> dict[str, Any]:
    """Always expand the best child only."""
    node, depth = run.tree.root, 0
    while depth < cfg.max_depth and run.meter.allow_expansions(1):
        children = run.expand([node], cfg.n, logprob_score())
        if run.proof is not None or not children:
            break
        node = max(children, key=lambda c: (c.priority, -c.order))
        depth += 1
    return {"depth": depth}
