"""Beam search: level by level, keep the `width` best new states by cumulative logprob.

Each level is one model call for the whole beam and one `apply_batch` for all its candidates.  A state
seen at an earlier level is not kept again (the tree dedups it), so the beam never cycles.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from search.config import StrategyConfig, at_least
from search.engine import Run, logprob_score
from search.registry import register


@dataclass(frozen=True)
class BeamConfig(StrategyConfig):
    n: int = 8                      # candidates proposed per state
    width: int = 4                  # states kept per level
    length_normalize: bool = False  # rank by cumulative logprob / depth

    def validate(self) -> None:
        at_least(self, 1, "max_depth", "n", "width")


@register("beam", BeamConfig)
def beam(run: Run, cfg: BeamConfig) -> dict[str, Any]:
    """Level by level, the `width` best new states."""
    score = logprob_score(cfg.length_normalize)
    level = [run.tree.root]
    depth = 0
    while level and depth < cfg.max_depth:
        nodes = level[: run.meter.allow_expansions(len(level))]
        if not nodes:
            break
        children = run.expand(nodes, cfg.n, score)
        if run.proof is not None:
            break
        level = sorted(children, key=lambda c: (-c.priority, c.order))[: cfg.width]
        depth += 1
    return {"depth": depth}
