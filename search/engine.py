"""What every strategy shares: one `Run` per search holds the meter, the graph and the found proof,
times the model and the env separately, and gates "proved" on `env.check`; `Run.expand` is the
expansion round of the tree searches (best-first and beam)."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence

from lean_env.types import Failed, Open, Outcome, ProofEnv, Proved, State, Theorem
from search.budget import Budget, Meter
from search.graph import SearchGraph, Step
from search.result import Accounting, SearchResult
from search.types import Candidate, Policy

log = logging.getLogger(__name__)

NO_PROGRESS = "no progress: the goals did not change"


def priority(logprob: float, depth: int, length_normalize: bool) -> float:
    return logprob / max(depth, 1) if length_normalize else logprob


def clean_candidates(cands: Sequence[Candidate], n: int, where: str = "policy") -> list[Candidate]:
    """Best first by logprob (stable), one per distinct tactic, no empty tactics, at most `n`."""
    out: list[Candidate] = []
    seen: set[str] = set()
    for c in sorted(cands, key=lambda c: -c.logprob):
        if not isinstance(c, Candidate):
            raise TypeError(f"{where} returned {type(c).__name__}, expected search.types.Candidate")
        key = c.tactic.strip()
        if key and key not in seen:
            seen.add(key)
            out.append(c)
    return out[:n]


class Run:
    """The state of one search (never kept on the policy, the env or a strategy object)."""

    def __init__(self, theorem: Theorem, env: ProofEnv, policy: Policy | object, budget: Budget,
                 strategy: str, seed: int = 0, attempt: int = 0, keep_graph: bool = True) -> None:
        if not isinstance(budget, Budget):
            raise ValueError(f"budget must be a search.budget.Budget, got {type(budget).__name__}")
        self.theorem, self.env, self.policy = theorem, env, policy
        self.strategy, self.seed, self.attempt, self.keep_graph = strategy, seed, attempt, keep_graph
        self.meter = Meter(budget)
        reseed = getattr(policy, "reseed", None)
        if callable(reseed):
            reseed(seed)
        t = time.perf_counter()
        root = env.start(theorem)
        self.meter.charge_lean_time(time.perf_counter() - t)
        self.root = root
        self.graph = SearchGraph(root)
        self.proof: list[Step] | None = None
        self.proof_text = ""
        self.first_proof_at: Accounting | None = None
        self.rejected = 0

    # --- the two seams, timed -------------------------------------------------------------------
    def propose(self, states: Sequence[State], n: int) -> list[list[Candidate]]:
        """One model call for `states` (each one expansion), candidates cleaned (see clean_candidates)."""
        t = time.perf_counter()
        raw = self.policy.propose(list(states), n)  # type: ignore[union-attr]
        dt = time.perf_counter() - t
        if not isinstance(raw, list) or len(raw) != len(states):
            got = len(raw) if isinstance(raw, list) else type(raw).__name__
            raise ValueError(f"policy.propose returned {got} lists for {len(states)} states")
        self.meter.charge_model(dt, [sum(c.tokens for c in cs) for cs in raw])
        return [clean_candidates(cs, n) for cs in raw]

    def apply(self, steps: Sequence[tuple[State, str]]) -> list[Outcome]:
        if not steps:
            return []
        t = time.perf_counter()
        outs = self.env.apply_batch(list(steps))
        self.meter.charge_env(time.perf_counter() - t, len(steps))
        if len(outs) != len(steps):
            raise ValueError(f"env.apply_batch returned {len(outs)} outcomes for {len(steps)} steps")
        for o in outs:
            if not isinstance(o, Proved | Open | Failed):
                raise TypeError(f"env.apply_batch returned {type(o).__name__}, expected Proved | Open | Failed")
        return outs

    # --- the verifier gate ------------------------------------------------------------------------
    def try_proof(self, steps: list[Step], found_at: Accounting) -> bool:
        """Check the whole proof with `env.check`; the first accepted one becomes the result's proof."""
        tactics = [s.tactic for s in steps]
        thoughts = [s.thought for s in steps]
        t = time.perf_counter()
        chk = self.env.check(self.theorem, tactics, thoughts)
        self.meter.charge_check(time.perf_counter() - t)
        if not chk.ok:
            self.rejected += 1
            log.warning("%s: proof found by search was rejected by the check (%s); searching on",
                        self.theorem.name, chk.reason or "no reason given")
            return False
        if self.proof is None:  # the first accepted proof is the result's; later ones only count
            self.proof, self.proof_text, self.first_proof_at = steps, chk.proof, found_at
            found_at.checks = self.meter.acc.checks
        return True

    # --- one expansion round of a tree search ----------------------------------------------------
    def expand(self, keys: Sequence[str], n: int, length_normalize: bool) -> list[tuple[float, int, str]]:
        """Expand the nodes `keys` (already allowed by the expansion budget): one model call for all,
        the candidates cut to the env-call allowance, one `apply_batch`, a proof checked as soon as it
        closes the goals (the round stops at the first accepted one).  Returns the new child nodes as
        `(-priority, discovery order, key)`.  Nodes whose candidates were left untried (env-call
        budget) or unread (the proof came first) stay unexpanded."""
        g = self.graph
        exp0, env0 = self.meter.acc.expansions, self.meter.acc.env_calls
        proposals = self.propose([g.state(key) for key in keys], n)
        full = [(i, key, c) for i, (key, cands) in enumerate(zip(keys, proposals, strict=True)) for c in cands]
        todo = full[: self.meter.allow_env_calls(len(full))]
        outcomes = self.apply([(g.state(key), c.tactic) for _, key, c in todo])
        done, proving = len(todo), -1
        children: list[tuple[float, int, str]] = []
        for j, ((i, key, cand), out) in enumerate(zip(todo, outcomes, strict=True)):
            if isinstance(out, Proved):
                steps = [*g.path_to(key), Step(cand.tactic, cand.thought, cand.logprob)]
                at = self.meter.snapshot(expansions=exp0 + i + 1, env_calls=env0 + j + 1)
                if self.try_proof(steps, at):
                    g.add_proof(key, cand)
                    done, proving = j + 1, i
                    break
                g.add_failure(key, cand, "proof rejected by the whole-proof check")
            elif isinstance(out, Open) and out.state.text != key:
                parent = g.node(key)
                pr = priority(parent["logprob"] + cand.logprob, parent["depth"] + 1, length_normalize)
                if g.add_child(key, cand, out.state, pr):
                    children.append((-pr, g.node(out.state.text)["order"], out.state.text))
            else:
                g.add_failure(key, cand, out.message if isinstance(out, Failed) else NO_PROGRESS)
        cut = {i for i, _, _ in full[done:]} - {proving}
        for i, key in enumerate(keys):
            if i not in cut:
                g.mark_expanded(key, exp0 + i + 1)
        return children

    # --- the result -------------------------------------------------------------------------------
    def result(self, status: str, **extra: object) -> SearchResult:
        if self.proof is not None:
            status = "proved"
        steps = self.proof or []
        extra = {"nodes": len(self.graph), "rejected_proofs": self.rejected, **extra}
        return SearchResult(
            name=self.theorem.name, status=status, proof=[s.tactic for s in steps],
            thoughts=[s.thought for s in steps], proof_text=self.proof_text,
            accounting=self.meter.snapshot(), first_proof_at=self.first_proof_at, strategy=self.strategy,
            graph=self.graph.g if self.keep_graph else None, attempt=self.attempt, seed=self.seed, extra=extra,
        )

    def stop_status(self) -> str:
        """Why a search without a proof ended: the budget refused work, or the space ran out."""
        return "budget" if self.meter.exhausted else "failed"
