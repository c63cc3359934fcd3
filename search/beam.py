"""Beam search: level by level, keep the `width` best new states by cumulative logprob.

Each level is one model call for the whole beam and one `apply_batch` for all its candidates.  A state
seen at an earlier level is not kept again (the graph dedups it), so the beam never cycles.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from lean_env.types import Failed, Open, ProofEnv, Proved, Theorem
from search.best_first import priority
from search.budget import Budget
from search.config import SearchConfig
from search.engine import Run
from search.graph import Step
from search.result import SearchResult
from search.types import Policy


def beam(theorem: Theorem, env: ProofEnv, policy: Policy, budget: Budget,
         config: SearchConfig | Mapping[str, Any] | None = None, seed: int = 0,
         attempt: int = 0) -> SearchResult:
    cfg = SearchConfig.from_any(config)
    run = Run(theorem, env, policy, budget, "beam", seed, attempt, cfg.keep_graph)
    g = run.graph
    level = [g.root]
    depth = 0
    while level and depth < cfg.max_depth:
        keys = level[: run.meter.allow_expansions(len(level))]
        if not keys:
            break
        exp0, env0 = run.meter.acc.expansions, run.meter.acc.env_calls
        proposals = run.propose([g.state(k) for k in keys], cfg.n)
        full = [(i, key, c) for i, (key, cands) in enumerate(zip(keys, proposals, strict=True)) for c in cands]
        todo = full[: run.meter.allow_env_calls(len(full))]
        outcomes = run.apply([(g.state(key), c.tactic) for _, key, c in todo])
        done, proving = len(todo), -1
        children: list[tuple[float, int, str]] = []
        for j, ((i, key, cand), out) in enumerate(zip(todo, outcomes, strict=True)):
            if isinstance(out, Proved):
                steps = [*g.path_to(key), Step(cand.tactic, cand.thought, cand.logprob)]
                at = run.meter.snapshot(expansions=exp0 + i + 1, env_calls=env0 + j + 1)
                if run.try_proof(steps, at):
                    g.add_proof(key, cand)
                    done, proving = j + 1, i
                    break
                g.add_failure(key, cand, "proof rejected by the whole-proof check")
            elif isinstance(out, Open) and out.state.text != key:
                score = priority(g.node(key)["logprob"] + cand.logprob, depth + 1, cfg.length_normalize)
                if g.add_child(key, cand, out.state, score):
                    children.append((-score, g.node(out.state.text)["order"], out.state.text))
            else:
                g.add_failure(key, cand, out.message if isinstance(out, Failed) else "no progress: goals unchanged")
        cut = {i for i, _, _ in full[done:]} - {proving}
        for i, key in enumerate(keys):
            if i not in cut:
                g.mark_expanded(key, exp0 + i + 1)
        if run.proof is not None:
            break
        level = [key for _, _, key in sorted(children)[: cfg.width]]
        depth += 1
    return run.result(run.stop_status(), depth=depth)
