"""Sampling strategies: step-by-step trajectories (Lean-STaR) and whole proofs (DeepSeek-Prover).

Both count how many of their K samples ended in an accepted proof (`successes` on the result), so a
run gives pass@K for the theorem and the numbers an unbiased pass@k estimate needs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from core.types import Candidate
from search.config import StrategyConfig, at_least
from search.engine import Run, clean_candidates
from search.registry import register
from search.tree import Node, Step


@dataclass(frozen=True)
class SampleConfig(StrategyConfig):
    samples: int = 8              # trajectories K
    retries: int = 2              # a failed step is resampled up to R times
    stop_at_first: bool = False   # stop at the first accepted proof

    def validate(self) -> None:
        at_least(self, 1, "max_depth", "samples")
        at_least(self, 0, "retries")


@dataclass(frozen=True)
class WholeConfig(StrategyConfig):
    samples: int = 8              # proofs generated
    proof_batch: int = 8          # proofs per model call
    stop_at_first: bool = False   # stop at the first accepted proof

    def validate(self) -> None:
        at_least(self, 1, "max_depth", "samples", "proof_batch")


@dataclass
class _Trajectory:
    node: Node                     # the node it stands on
    steps: list[Step] = field(default_factory=list)
    fails: int = 0                 # failed tries at the current step
    done: bool = False
    proved: bool = False


@register("sample", SampleConfig)
def sample(run: Run, cfg: SampleConfig) -> dict[str, Any]:
    """K = `samples` independent trajectories; each step samples one candidate (`propose([s], 1)` of a
    sampling policy) and applies it; a failed step is resampled up to `retries` times, then the
    trajectory stops.  The trajectories advance in lockstep so that each round is one batched model
    call and one `apply_batch` (they stay independent: none sees another's result)."""
    trajs = [_Trajectory(run.tree.root) for _ in range(cfg.samples)]

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
        proposals = run.propose([t.node.state for t in active], 1)
        full = [(i, t, cands[0]) for i, (t, cands) in enumerate(zip(active, proposals, strict=True)) if cands]
        for t, cands in zip(active, proposals, strict=True):
            if not cands:
                fail(t)  # the policy proposed nothing: a failed try
        todo = full[: run.meter.allow_env_calls(len(full))]
        outcomes = run.apply([(t.node.state, c.tactic) for _, t, c in todo])
        for j, ((i, t, cand), out) in enumerate(zip(todo, outcomes, strict=True)):
            taken = run.take(t.node, cand, out, lambda t=t: t.steps, exp0 + i + 1, env0 + j + 1)
            if taken.proved:
                t.done = t.proved = True
            elif taken.child is not None:
                if taken.new:
                    taken.child.priority = taken.child.logprob
                t.steps.append(Step(cand.tactic, cand.thought, cand.logprob, t.node.state))
                t.node, t.fails = taken.child, 0
                if len(t.steps) >= cfg.max_depth:
                    t.done = True
            else:
                fail(t)
    return {"samples": cfg.samples, "successes": sum(t.proved for t in trajs),
            "finished": sum(t.done for t in trajs)}


@register("whole", WholeConfig)
def whole_proof(run: Run, cfg: WholeConfig) -> dict[str, Any]:
    """`samples` complete proofs from `policy.propose_proofs`, `proof_batch` per model call; each is
    applied to the root state in one go (`env.apply(root, script)`) and, if it closes every goal,
    checked with `env.check`.  One generated proof is one expansion; identical scripts are tried once."""
    if not callable(getattr(run.policy, "propose_proofs", None)):
        raise TypeError(f"whole-proof sampling needs a policy with propose_proofs(theorems, n) "
                        f"(core.types.WholeProofPolicy); {type(run.policy).__name__} has none")
    root = run.tree.root
    verdicts: dict[str, bool] = {}  # script -> accepted
    generated = successes = 0
    while generated < cfg.samples and not (cfg.stop_at_first and run.proof is not None):
        k = run.meter.allow_expansions(min(cfg.proof_batch, cfg.samples - generated))
        if k == 0:
            break
        exp0, env0 = run.meter.acc.expansions, run.meter.acc.env_calls
        cands: list[Candidate] = run.propose_proofs(k)
        generated += k
        new = list(dict.fromkeys(c.tactic for c in cands if c.tactic.strip() and c.tactic not in verdicts))
        new = new[: run.meter.allow_env_calls(len(new))]
        outcomes = dict(zip(new, run.apply([(root.state, s) for s in new]), strict=True))
        for i, cand in enumerate(cands):
            if cand.tactic not in verdicts and cand.tactic in outcomes:
                taken = run.take(root, cand, outcomes[cand.tactic], lambda: [], exp0 + i + 1,
                                 env0 + new.index(cand.tactic) + 1)
                if taken.new and taken.child is not None:
                    taken.child.priority = taken.child.logprob  # goals left: not a proof
                verdicts[cand.tactic] = taken.proved
            successes += verdicts.get(cand.tactic, False)
    return {"samples": generated, "successes": successes}


__all__ = ["SampleConfig", "WholeConfig", "clean_candidates", "sample", "whole_proof"]
