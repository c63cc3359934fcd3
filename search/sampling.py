"""Sampling strategies: step-by-step trajectories (Lean-STaR) and whole proofs (DeepSeek-Prover).

Both count how many of their K samples ended in an accepted proof (`successes` on the result), so a
run gives pass@K for the theorem and the numbers an unbiased pass@k estimate needs.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from lean_env.types import Failed, Open, ProofEnv, Proved, Theorem
from search.budget import Budget
from search.config import SearchConfig
from search.engine import Run, clean_candidates
from search.graph import Step
from search.result import SearchResult
from search.types import Candidate, Policy


@dataclass
class _Trajectory:
    key: str                       # the node it stands on
    steps: list[Step] = field(default_factory=list)
    fails: int = 0                 # failed tries at the current step
    done: bool = False
    proved: bool = False


def sample(theorem: Theorem, env: ProofEnv, policy: Policy, budget: Budget,
           config: SearchConfig | Mapping[str, Any] | None = None, seed: int = 0,
           attempt: int = 0) -> SearchResult:
    """K = `samples` independent trajectories; each step samples one candidate (`propose([s], 1)` of a
    sampling policy) and applies it; a failed step is resampled up to `retries` times, then the
    trajectory stops.  The trajectories advance in lockstep so that each round is one batched model
    call and one `apply_batch` (they stay independent: none sees another's result)."""
    cfg = SearchConfig.from_any(config)
    run = Run(theorem, env, policy, budget, "sample", seed, attempt, cfg.keep_graph)
    g = run.graph
    trajs = [_Trajectory(g.root) for _ in range(cfg.samples)]

    def fail(t: _Trajectory) -> None:
        t.fails += 1
        if t.fails > cfg.retries:
            t.done = True

    while not (cfg.stop_at_first and run.proof is not None):
        active = [t for t in trajs if not t.done]
        if not active:
            break
        active = active[: run.meter.allow_expansions(len(active))]
        if not active:
            break
        exp0, env0 = run.meter.acc.expansions, run.meter.acc.env_calls
        proposals = run.propose([g.state(t.key) for t in active], 1)
        full = [(i, t, cands[0]) for i, (t, cands) in enumerate(zip(active, proposals, strict=True)) if cands]
        for t, cands in zip(active, proposals, strict=True):
            if not cands:
                fail(t)  # the policy proposed nothing: a failed try
        todo = full[: run.meter.allow_env_calls(len(full))]
        outcomes = run.apply([(g.state(t.key), c.tactic) for _, t, c in todo])
        for j, ((i, t, cand), out) in enumerate(zip(todo, outcomes, strict=True)):
            if isinstance(out, Proved):
                steps = [*t.steps, Step(cand.tactic, cand.thought, cand.logprob)]
                at = run.meter.snapshot(expansions=exp0 + i + 1, env_calls=env0 + j + 1)
                if run.try_proof(steps, at):
                    g.add_proof(t.key, cand)
                    t.done = t.proved = True
                else:
                    g.add_failure(t.key, cand, "proof rejected by the whole-proof check")
                    fail(t)
            elif isinstance(out, Open) and out.state.text != t.key:
                lp = g.node(t.key)["logprob"] + cand.logprob
                g.add_child(t.key, cand, out.state, lp)
                t.key, t.fails = out.state.text, 0
                t.steps.append(Step(cand.tactic, cand.thought, cand.logprob))
                if len(t.steps) >= cfg.max_depth:
                    t.done = True
            else:
                g.add_failure(t.key, cand, out.message if isinstance(out, Failed) else "no progress")
                fail(t)
    successes = sum(t.proved for t in trajs)
    return run.result(run.stop_status(), samples=cfg.samples, successes=successes,
                      finished=sum(t.done for t in trajs))


def whole_proof(theorem: Theorem, env: ProofEnv, policy: Policy, budget: Budget,
                config: SearchConfig | Mapping[str, Any] | None = None, seed: int = 0,
                attempt: int = 0) -> SearchResult:
    """`samples` complete proofs from `policy.propose_proofs`, `proof_batch` per model call; each is
    applied to the root state in one go (`env.apply(root, script)`) and, if it closes every goal,
    checked with `env.check`.  One generated proof is one expansion; identical scripts are tried once."""
    propose_proofs = getattr(policy, "propose_proofs", None)
    if not callable(propose_proofs):
        raise TypeError(f"whole-proof sampling needs a policy with propose_proofs(theorems, n) "
                        f"(search.types.WholeProofPolicy); {type(policy).__name__} has none")
    cfg = SearchConfig.from_any(config)
    run = Run(theorem, env, policy, budget, "whole", seed, attempt, cfg.keep_graph)
    g, root = run.graph, run.root
    verdicts: dict[str, bool] = {}  # script -> accepted
    generated = successes = 0
    while generated < cfg.samples and not (cfg.stop_at_first and run.proof is not None):
        k = run.meter.allow_expansions(min(cfg.proof_batch, cfg.samples - generated))
        if k == 0:
            break
        exp0, env0 = run.meter.acc.expansions, run.meter.acc.env_calls
        t0 = time.perf_counter()
        raw = propose_proofs([theorem], k)
        dt = time.perf_counter() - t0
        if not isinstance(raw, list) or len(raw) != 1 or not isinstance(raw[0], list):
            raise ValueError("policy.propose_proofs must return one list of candidates per theorem")
        cands: list[Candidate] = list(raw[0][:k])
        clean_candidates(cands, k, "policy.propose_proofs")  # type check only
        tokens = [c.tokens for c in cands] + [0] * (k - len(cands))
        run.meter.charge_model(dt, tokens)
        generated += k
        new = list(dict.fromkeys(c.tactic for c in cands if c.tactic.strip() and c.tactic not in verdicts))
        new = new[: run.meter.allow_env_calls(len(new))]
        outcomes = dict(zip(new, run.apply([(root, s) for s in new]), strict=True))
        for i, cand in enumerate(cands):
            if cand.tactic not in verdicts and cand.tactic in outcomes:
                out = outcomes[cand.tactic]
                ok = False
                if isinstance(out, Proved):
                    at = run.meter.snapshot(expansions=exp0 + i + 1, env_calls=env0 + new.index(cand.tactic) + 1)
                    ok = run.try_proof([Step(cand.tactic, cand.thought, cand.logprob)], at)
                    if ok:
                        g.add_proof(g.root, cand)
                    else:
                        g.add_failure(g.root, cand, "proof rejected by the whole-proof check")
                elif isinstance(out, Open) and out.state.text != g.root:
                    g.add_child(g.root, cand, out.state, cand.logprob)  # goals left: not a proof
                else:
                    g.add_failure(g.root, cand, out.message if isinstance(out, Failed) else "no progress")
                verdicts[cand.tactic] = ok
            successes += verdicts.get(cand.tactic, False)
    return run.result(run.stop_status(), samples=generated, successes=successes)
