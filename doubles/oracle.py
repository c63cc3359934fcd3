"""An oracle evaluator for scripted worlds: the value of a state is 1.0 when the world's transitions
can close all of its goals (within `depth` steps), else 0.0.  For tests of value-guided strategies:
a perfect evaluator shows what a learned one could at best do."""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from typing import Any

from core.types import State


class OracleEvaluator:
    def __init__(self, world: Any, depth: int = 16, solvable: float = 1.0, dead: float = 0.0) -> None:
        self.transitions: dict[str, dict[str, Any]] = world.transitions
        self.depth, self.solvable, self.dead = depth, solvable, dead
        self.calls = 0
        self.provable = lru_cache(maxsize=None)(self._provable)

    def _provable(self, goals: tuple[str, ...], depth: int) -> bool:
        if not goals:
            return True
        if depth == 0:
            return False
        for res in self.transitions.get(goals[0], {}).values():
            if isinstance(res, list) and self.provable((*res, *goals[1:]), depth - 1):
                return True
        return False

    def score(self, states: Sequence[State]) -> list[float]:
        self.calls += 1
        return [self.solvable if self.provable(tuple(s.goals), self.depth) else self.dead for s in states]


class TableEvaluator:
    """Values from a table {goals text: value}; states not in it get `default`."""

    def __init__(self, values: dict[str, float], default: float = 0.5) -> None:
        self.values, self.default = dict(values), default
        self.seen: list[str] = []

    def score(self, states: Sequence[State]) -> list[float]:
        self.seen += [s.text for s in states]
        return [self.values.get(s.text, self.default) for s in states]
