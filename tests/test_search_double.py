"""The engine through the REPL client against the scripted REPL double (a separate process that speaks
the REPL protocol): the same results as the in-process ScriptedEnv on the same world."""

from __future__ import annotations

from pathlib import Path

import pytest

from doubles.scripted import ScriptedEnv, ScriptedWorld
from doubles.scripted_policy import ScriptedPolicy
from prover.factory import make_env
from search.budget import Budget
from search.strategies import run_strategy

pytest.importorskip("lean_env.repl_env")

WORLD = Path(__file__).resolve().parent / "data" / "worlds" / "search_backoff.json"
COSTS = ("model_seconds", "lean_seconds", "wall_seconds", "first_proof_at")


@pytest.fixture(scope="module")
def double():
    env = make_env(f"double:{WORLD}", timeout=30, memory_mb=1024)
    yield env
    env.close()


@pytest.mark.parametrize("strategy,cfg", [("best-first", {"n": 3}), ("beam", {"n": 3, "width": 2}),
                                          ("whole", {"samples": 3, "proof_batch": 3}),
                                          ("sample", {"samples": 6, "max_depth": 4})])
def test_double_gives_the_scripted_env_results(double, strategy, cfg):
    w = ScriptedWorld.load(WORLD)
    for t in w.theorems:
        rows = []
        for env in (double, ScriptedEnv(w)):
            pol = ScriptedPolicy.from_file(WORLD, sample=strategy == "sample")
            res = run_strategy(strategy, t.theorem(), env, pol, Budget(expansions=40), seed=2, **cfg)
            rows.append({k: v for k, v in res.to_row().items() if k not in COSTS})
        assert rows[0] == rows[1]
        if t.name == "and_intro" and strategy != "sample":
            assert rows[0]["status"] == "proved"
