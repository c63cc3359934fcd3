"""What every strategy's config shares.  Each strategy declares its own frozen dataclass that
extends `StrategyConfig` (floats, bools, ints and strings are all fine) and registers it with
its function (`search.registry.register`); `from_dict` reads it from a JSON object or from
`--config k=v,...`, naming any unknown key or wrongly typed value."""

from __future__ import annotations

from dataclasses import dataclass

from core.config import check_fields


@dataclass(frozen=True)
class StrategyConfig:
    max_depth: int = 64           # longest proof (steps) the strategy builds
    keep_graph: bool = True       # return the search tree on the result

    def __post_init__(self) -> None:
        check_fields(self, f"{type(self).__name__}")
        self.validate()

    def validate(self) -> None:
        """Range checks of a subclass (raise ValueError naming the field); types are checked already."""
        at_least(self, 1, "max_depth")

    def needs_evaluator(self) -> str | None:
        """Why this config cannot run without an evaluator (None when it can); checked before any work."""
        return None


def at_least(cfg: object, low: float, *names: str) -> None:
    for name in names:
        v = getattr(cfg, name)
        if v < low:
            raise ValueError(f"{type(cfg).__name__}: {name}={v!r} must be at least {low}")
