"""Best-first search (ReProver, InternLM-StepProver, BFS-Prover).

One priority queue of unexpanded nodes, highest priority first; a node's priority is the cumulative
logprob of the path that first reached it (divided by its depth with `length_normalize`); ties go to
the node discovered first.  Each round pops `expand_batch` nodes, asks the policy for `n` candidates
for all of them in one call, and applies every candidate in one `apply_batch`.

The run is deterministic for a deterministic policy and *prefix-monotone*: with a smaller expansion
(or env-call) budget it does exactly the first part of the larger run, so `first_proof_at` of a run
at a large budget says whether every smaller budget would have found the proof.
"""

from __future__ import annotations

import heapq
from collections.abc import Mapping
from typing import Any

from lean_env.types import Open, ProofEnv, Proved, Theorem
from search.budget import Budget
from search.config import SearchConfig
from search.engine import Run
from search.graph import Step
from search.result import SearchResult
from search.types import Policy


def priority(logprob: float, depth: int, length_normalize: bool) -> float:
    return logprob / max(depth, 1) if length_normalize else logprob


def best_first(theorem: Theorem, env: ProofEnv, policy: Policy, budget: Budget,
               config: SearchConfig | Mapping[str, Any] | None = None, seed: int = 0,
               attempt: int = 0) -> SearchResult:
    cfg = SearchConfig.from_any(config)
    run = Run(theorem, env, policy, budget, "best-first", seed, attempt, cfg.keep_graph)
    g = run.graph
    queue: list[tuple[float, int, str]] = [(-0.0, 0, g.root)]  # (-priority, discovery order, key)
    while queue:
        k = run.meter.allow_expansions(min(cfg.expand_batch, len(queue)))
        if k == 0:
            break
        keys = [heapq.heappop(queue)[2] for _ in range(k)]
        exp0, env0 = run.meter.acc.expansions, run.meter.acc.env_calls
        proposals = run.propose([g.state(key) for key in keys], cfg.n)
        full = [(i, key, c) for i, (key, cands) in enumerate(zip(keys, proposals, strict=True)) for c in cands]
        todo = full[: run.meter.allow_env_calls(len(full))]
        outcomes = run.apply([(g.state(key), c.tactic) for _, key, c in todo])
        done, proving = len(todo), -1
        for j, ((i, key, cand), out) in enumerate(zip(todo, outcomes, strict=True)):
            if isinstance(out, Proved):
                steps = [*g.path_to(key), Step(cand.tactic, cand.thought, cand.logprob)]
                at = run.meter.snapshot(expansions=exp0 + i + 1, env_calls=env0 + j + 1)
                if run.try_proof(steps, at):
                    g.add_proof(key, cand)
                    done, proving = j + 1, i
                    break
                g.add_failure(key, cand, "proof rejected by the whole-proof check")
            elif isinstance(out, Open):
                child = out.state.text
                if child == key:
                    g.add_failure(key, cand, "no progress: the goals did not change")
                    continue
                parent = g.node(key)
                depth = parent["depth"] + 1
                pr = priority(parent["logprob"] + cand.logprob, depth, cfg.length_normalize)
                if g.add_child(key, cand, out.state, pr) and depth < cfg.max_depth:
                    heapq.heappush(queue, (-pr, g.node(child)["order"], child))
            else:
                g.add_failure(key, cand, out.message)
        # nodes with candidates left untried (env-call budget) or unread (the proof came first) stay unexpanded
        cut = {i for i, _, _ in full[done:]} - {proving}
        for i, key in enumerate(keys):
            if i not in cut:
                g.mark_expanded(key, exp0 + i + 1)
        if run.proof is not None:
            break
    return run.result(run.stop_status(), queue_left=len(queue))
