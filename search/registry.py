"""The strategy registry: a name, the function that searches, and the config dataclass it reads.

    @register("greedy", GreedyConfig)
    def greedy(run: Run, cfg: GreedyConfig) -> dict:
        ...                  # expand nodes with run.expand / run.take; return extra result facts

A strategy function gets the `Run` (tree, meter, seams, the verifier gate) and its config, does
its search, and returns a dict of strategy-specific facts for the result row (or None).  It never
builds the result itself: `search.strategies.run_strategy` makes the Run, calls it and returns
`run.result(...)`, so every strategy writes the same rows and honours the same budgets.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from search.config import StrategyConfig

if TYPE_CHECKING:
    from search.engine import Run

C = TypeVar("C", bound=StrategyConfig)
StrategyFn = Callable[["Run", Any], "dict[str, Any] | None"]


@dataclass(frozen=True)
class Strategy:
    name: str
    fn: StrategyFn
    config: type[StrategyConfig]

    @property
    def summary(self) -> str:
        doc = (self.fn.__doc__ or "").strip()
        return doc.splitlines()[0] if doc else ""


STRATEGIES: dict[str, Strategy] = {}


def register(name: str, config: type[C]) -> Callable[[StrategyFn], StrategyFn]:
    """Register the decorated function as strategy `name`, configured by `config`."""
    if not (isinstance(config, type) and issubclass(config, StrategyConfig)):
        raise TypeError(f"strategy {name!r}: config must be a StrategyConfig subclass, got {config!r}")

    def deco(fn: StrategyFn) -> StrategyFn:
        old = STRATEGIES.get(name)
        if old is not None and old.fn.__qualname__ != fn.__qualname__:
            raise ValueError(f"strategy {name!r} is registered twice ({old.fn.__module__} and {fn.__module__})")
        STRATEGIES[name] = Strategy(name, fn, config)
        return fn

    return deco
