"""Truncate and resume (DeepSeek-Prover-V1.5): write a whole proof, keep the part Lean accepts, and
let the model continue from there.

Each of `samples` attempts asks the policy for a proof continuing its accepted prefix
(`policy.resume_proofs`, core.types.ResumablePolicy; the first time the prefix is empty, which is
the plain whole-proof prompt).  The continuation is split into its top-level steps
(`thoughts.prompts.proof_steps`), which the env runs one after another from the attempt's state:
the steps up to the first one Lean refuses are kept (they become nodes of the search tree) and the
rest is thrown away; a run that closes every goal is checked as a whole proof (`Run.try_proof`).
An attempt that is not proved is resumed from its new prefix, with the goals after it shown as
DeepSeek's `/- tactic state: ... -/` comment when `state_comment`, up to `resumes` times.

DeepSeek cuts at the first error's position as the REPL reports it, line by line, and picks the
prefix to resume from with RMaxTS; here the cut is at the first refused top-level step (what any
`ProofEnv` can tell), and each attempt resumes from its own latest prefix.  One generated
continuation is one expansion; each step run is one env call.  The attempts advance in lockstep:
each round is one model call for all of them and one `apply_batch` per step index.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from core.types import Candidate, ProofPrefix, usage_of
from search.config import StrategyConfig, at_least
from search.engine import Run
from search.registry import register
from search.tree import Node, Step
from thoughts.prompts import proof_steps


@dataclass(frozen=True)
class TruncateResumeConfig(StrategyConfig):
    samples: int = 8             # attempts (independent proofs)
    resumes: int = 4             # continuations per attempt after its first proof
    state_comment: bool = True   # show the goals after the prefix (DeepSeek's tactic_state_comment)
    stop_at_first: bool = False  # stop at the first accepted proof

    def validate(self) -> None:
        at_least(self, 1, "max_depth", "samples")
        at_least(self, 0, "resumes")


@dataclass
class _Attempt:
    node: Node
    steps: list[Step] = field(default_factory=list)
    generations: int = 0
    done: bool = False
    proved: bool = False


def _resume(run: Run, prefixes: list[ProofPrefix]) -> list[Candidate | None]:
    """One model call: a continuation for each prefix (None where the policy gave none)."""
    t = time.perf_counter()
    raw = run.policy.resume_proofs([run.theorem] * len(prefixes), prefixes, 1)  # type: ignore[attr-defined]
    dt = time.perf_counter() - t
    if not isinstance(raw, list) or len(raw) != len(prefixes) or not all(isinstance(r, list) for r in raw):
        raise ValueError("policy.resume_proofs must return one list of candidates per prefix")
    cands = [r[0] if r else None for r in raw]
    for c in cands:
        if c is not None and not isinstance(c, Candidate):
            raise TypeError(f"policy.resume_proofs returned {type(c).__name__}, expected core.types.Candidate")
    run.meter.charge_model(dt, [c.tokens if c is not None else 0 for c in cands], usage_of(raw))
    return cands


@register("truncate-resume", TruncateResumeConfig)
def truncate_resume(run: Run, cfg: TruncateResumeConfig) -> dict[str, Any]:
    """Whole proofs, each truncated to the steps Lean accepts and resumed from there (see the module
    docstring)."""
    if not callable(getattr(run.policy, "resume_proofs", None)):
        raise TypeError(f"truncate-resume needs a policy with resume_proofs(theorems, prefixes, n) "
                        f"(core.types.ResumablePolicy, e.g. a whole-proof prompt format); "
                        f"{type(run.policy).__name__} has none")
    attempts = [_Attempt(run.tree.root) for _ in range(cfg.samples)]
    resumed = 0
    while not (cfg.stop_at_first and run.proof is not None):
        active = [a for a in attempts if not a.done]
        active = active[: run.meter.allow_expansions(len(active))]
        if not active:
            break
        exp0 = run.meter.acc.expansions
        prefixes = [ProofPrefix(tuple(s.tactic for s in a.steps), tuple(s.thought for s in a.steps),
                                a.node.state.text if cfg.state_comment and a.steps else "") for a in active]
        resumed += sum(1 for a in active if a.generations)
        conts = _resume(run, prefixes)
        pending: list[tuple[int, _Attempt, list[tuple[str, str]], Candidate]] = []
        for i, (a, cand) in enumerate(zip(active, conts, strict=True)):
            a.generations += 1
            steps = proof_steps(cand.tactic) if cand is not None else []
            if steps and cand is not None:
                pending.append((exp0 + i + 1, a, steps, cand))
        j = 0
        while pending:  # step j of every continuation still running, as one batch
            pending = pending[: run.meter.allow_env_calls(len(pending))]
            if not pending:
                break
            env0 = run.meter.acc.env_calls
            moves = []
            for _, _, steps, cand in pending:
                thought, tactic = steps[j]
                # the continuation's logprob and tokens go on its first step
                moves.append(Candidate(tactic, thought, cand.logprob if j == 0 else 0.0, cand.tokens if j == 0 else 0))
            outcomes = run.apply([(a.node.state, m.tactic) for (_, a, _, _), m in zip(pending, moves, strict=True)])
            still = []
            for k, ((exp, a, steps, cand), move, out) in enumerate(zip(pending, moves, outcomes, strict=True)):
                taken = run.take(a.node, move, out, lambda a=a: a.steps, exp, env0 + k + 1)
                if taken.proved:
                    a.done = a.proved = True
                elif taken.child is not None:
                    if taken.new:
                        taken.child.priority = taken.child.logprob
                    a.steps.append(Step(move.tactic, move.thought, move.logprob, a.node.state))
                    a.node = taken.child
                    if len(a.steps) >= cfg.max_depth:
                        a.done = True
                    elif j + 1 < len(steps):
                        still.append((exp, a, steps, cand))
                # a refused step: the rest of this continuation is dropped (truncated)
            pending, j = still, j + 1
        for a in active:
            if not a.done and a.generations > cfg.resumes:
                a.done = True
    return {"samples": cfg.samples, "successes": sum(a.proved for a in attempts),
            "generations": sum(a.generations for a in attempts), "resumed": resumed}


__all__ = ["TruncateResumeConfig", "truncate_resume"]
