"""The strategies by name: the built-in modules register themselves on import (one line each in
`BUILTIN`), and `run_strategy` runs any registered one.

    result = run_strategy("best-first", theorem, env, policy, Budget(expansions=64), {"n": 8})

`config` is a dict of the strategy's config fields (unknown keys and wrong types raise ValueError
naming them) or an instance of its config class; `overrides` are more fields.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import asdict
from typing import Any

from core.config import from_dict
from core.types import Evaluator, ProofEnv, Theorem
from search.budget import Budget
from search.config import StrategyConfig
from search.engine import Run
from search.registry import STRATEGIES, Strategy
from search.result import SearchResult

BUILTIN = (
    "search.best_first",
    "search.beam",
    "search.sampling",
    "search.rebase",
    "search.mcts",
    "search.truncate_resume",
)
for _module in BUILTIN:
    importlib.import_module(_module)


def get_strategy(name: str) -> Strategy:
    spec = STRATEGIES.get(name)
    if spec is None:
        raise ValueError(f"unknown search strategy {name!r}; choose one of {', '.join(STRATEGIES)}")
    return spec


def make_config(name: str, config: StrategyConfig | Mapping[str, Any] | None = None,
                **overrides: Any) -> StrategyConfig:
    """Strategy `name`'s config from None, a dict or a config instance, with `overrides` applied."""
    spec = get_strategy(name)
    if config is None:
        base: dict[str, Any] = {}
    elif isinstance(config, StrategyConfig):
        if not isinstance(config, spec.config):
            raise ValueError(f"strategy {name!r} takes a {spec.config.__name__}, got a {type(config).__name__}")
        base = asdict(config)
    elif isinstance(config, Mapping):
        base = dict(config)
    else:
        raise ValueError(f"strategy config must be a dict or a {spec.config.__name__}, got {type(config).__name__}")
    base.update(overrides)
    return from_dict(spec.config, base, where=f"strategy {name!r} config")


def check_evaluator(cfg: StrategyConfig, have: bool) -> None:
    """ValueError, before any work, when `cfg` needs an evaluator and there is none."""
    why = cfg.needs_evaluator()
    if why and not have:
        raise ValueError(f"{why} needs an evaluator (--evaluator oracle:WORLD.json or evaluator:DIR)")


def run_strategy(name: str, theorem: Theorem, env: ProofEnv, policy: object, budget: Budget,
                 config: StrategyConfig | Mapping[str, Any] | None = None, *, seed: int = 0, attempt: int = 0,
                 evaluator: Evaluator | None = None, **overrides: Any) -> SearchResult:
    """Run strategy `name` on one theorem: the same result rows, budgets and verifier gate for all.
    `evaluator` (optional) values states for the strategies that use one."""
    spec = get_strategy(name)
    cfg = make_config(name, config, **overrides)
    check_evaluator(cfg, evaluator is not None)
    run = Run(theorem, env, policy, budget, name, seed, attempt, cfg.keep_graph, evaluator)
    extra = spec.fn(run, cfg) or {}
    return run.result(run.stop_status(), **extra)


__all__ = ["BUILTIN", "STRATEGIES", "check_evaluator", "get_strategy", "make_config", "run_strategy"]
