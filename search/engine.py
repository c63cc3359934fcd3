"""What every strategy shares: one `Run` per search holds the meter, the tree and the found proof,
times the model and the env separately, records every outcome in the tree (`take`), and gates
"proved" on the env's whole-proof check (`try_proof`).  `Run.expand` is the expansion round of the
tree searches: one model call for a batch of nodes, one `apply_batch` for all their candidates.

Node priorities come from a `Score` the strategy passes in: `score(logprob, depth, value)` of a new
child, where `logprob` is the cumulative log-probability of its path, `depth` its depth and `value`
the evaluator's estimate (None without an evaluator).  That is the one place a priority is made.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from core.proof_text import render_proof
from core.types import Candidate, Failed, FailureKind, Open, Outcome, ProofEnv, Proved, State, Theorem
from search.budget import Budget, Meter
from search.result import Accounting, SearchResult
from search.tree import Node, SearchTree, Step

log = logging.getLogger(__name__)

NO_PROGRESS = "no progress: the goals did not change"
CHECK_REJECTED = "proof rejected by the whole-proof check"

Score = Callable[[float, int, "float | None"], float]


def logprob_score(length_normalize: bool = False) -> Score:
    """Priority = cumulative logprob, or logprob / depth with `length_normalize` (ReProver's)."""
    if length_normalize:
        return lambda logprob, depth, value: logprob / max(depth, 1)
    return lambda logprob, depth, value: logprob


def clean_candidates(cands: Sequence[Candidate], n: int, where: str = "policy") -> list[Candidate]:
    """Best first by logprob (stable), one per distinct tactic, no empty tactics, at most `n`."""
    out: list[Candidate] = []
    seen: set[str] = set()
    for c in sorted(cands, key=lambda c: -c.logprob):
        if not isinstance(c, Candidate):
            raise TypeError(f"{where} returned {type(c).__name__}, expected core.types.Candidate")
        key = c.tactic.strip()
        if key and key not in seen:
            seen.add(key)
            out.append(c)
    return out[:n]


@dataclass(frozen=True)
class Taken:
    """What one candidate did (`Run.take`): closed the goals with an accepted proof (`proved`),
    reached a state (`child`, `new` if it was not in the tree), or failed."""

    proved: bool = False
    child: Node | None = None
    new: bool = False


FAILED = Taken()


class Run:
    """The state of one search (never kept on the policy, the env or a strategy object)."""

    def __init__(self, theorem: Theorem, env: ProofEnv, policy: object, budget: Budget,
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
        self.tree = SearchTree(root)
        self.proof: list[Step] | None = None
        self.proof_text = ""
        self.first_proof_at: Accounting | None = None
        self.rejected = 0

    # --- the two seams, timed -------------------------------------------------------------------
    def propose(self, states: Sequence[State], n: int) -> list[list[Candidate]]:
        """One model call for `states` (each one expansion), candidates cleaned (see clean_candidates)."""
        t = time.perf_counter()
        raw = self.policy.propose(list(states), n)  # type: ignore[attr-defined]
        dt = time.perf_counter() - t
        if not isinstance(raw, list) or len(raw) != len(states):
            got = len(raw) if isinstance(raw, list) else type(raw).__name__
            raise ValueError(f"policy.propose returned {got} lists for {len(states)} states")
        self.meter.charge_model(dt, [sum(c.tokens for c in cs) for cs in raw])
        return [clean_candidates(cs, n) for cs in raw]

    def propose_proofs(self, k: int) -> list[Candidate]:
        """One whole-proof model call for this theorem: `k` proofs (each one expansion)."""
        t = time.perf_counter()
        raw = self.policy.propose_proofs([self.theorem], k)  # type: ignore[attr-defined]
        dt = time.perf_counter() - t
        if not isinstance(raw, list) or len(raw) != 1 or not isinstance(raw[0], list):
            raise ValueError("policy.propose_proofs must return one list of candidates per theorem")
        cands: list[Candidate] = list(raw[0][:k])
        clean_candidates(cands, k, "policy.propose_proofs")  # type check only
        self.meter.charge_model(dt, [c.tokens for c in cands] + [0] * (k - len(cands)))
        return cands

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
        """Render the steps in the env's proof style and check the whole text with `env.check`; the
        first accepted proof becomes the result's."""
        try:
            text = render_proof(self.env.proof_style, [s.tactic for s in steps], [s.thought for s in steps])
        except ValueError as e:
            ok, reason, text = False, f"cannot render the proof: {e}", ""
        else:
            t = time.perf_counter()
            chk = self.env.check(self.theorem, text)
            self.meter.charge_check(time.perf_counter() - t)
            ok, reason = chk.ok, chk.reason
        if not ok:
            self.rejected += 1
            log.warning("%s: proof found by search was rejected by the check (%s); searching on",
                        self.theorem.name, reason or "no reason given")
            return False
        if self.proof is None:  # the first accepted proof is the result's; later ones only count
            self.proof, self.proof_text, self.first_proof_at = steps, text, found_at
            found_at.checks = self.meter.acc.checks
        return True

    # --- recording one outcome --------------------------------------------------------------------
    def take(self, node: Node, cand: Candidate, out: Outcome, path: Callable[[], list[Step]],
             expansions: int, env_calls: int) -> Taken:
        """Record in the tree what `cand` did at `node`; a closed goal is checked as a whole proof
        (`path()` gives the steps that led to `node`; `expansions`/`env_calls` are the counters at
        this candidate, for `first_proof_at`)."""
        if isinstance(out, Proved):
            steps = [*path(), Step(cand.tactic, cand.thought, cand.logprob, node.state)]
            if self.try_proof(steps, self.meter.snapshot(expansions=expansions, env_calls=env_calls)):
                self.tree.add_proof(node, cand)
                return Taken(proved=True)
            self.tree.add_failure(node, cand, FailureKind.CHECK, CHECK_REJECTED)
            return FAILED
        if isinstance(out, Open) and out.state.text != node.key:
            child = self.tree.add_child(node, cand, out.state, 0.0)
            return Taken(child=child or self.tree[out.state.text], new=child is not None)
        if isinstance(out, Failed):
            self.tree.add_failure(node, cand, out.kind, out.message)
        else:
            self.tree.add_failure(node, cand, FailureKind.NO_PROGRESS, NO_PROGRESS)
        return FAILED

    # --- one expansion round of a tree search ----------------------------------------------------
    def expand(self, nodes: Sequence[Node], n: int, score: Score) -> list[Node]:
        """Expand `nodes` (already allowed by the expansion budget): one model call for all, the
        candidates cut to the env-call allowance, one `apply_batch`, a proof checked as soon as it
        closes the goals (the round stops at the first accepted one).  Returns the new child nodes,
        in discovery order, their `priority` set by `score`.  Nodes whose candidates were left
        untried (env-call budget) or unread (the proof came first) stay unexpanded."""
        exp0, env0 = self.meter.acc.expansions, self.meter.acc.env_calls
        proposals = self.propose([node.state for node in nodes], n)
        full = [(i, node, c) for i, (node, cands) in enumerate(zip(nodes, proposals, strict=True)) for c in cands]
        todo = full[: self.meter.allow_env_calls(len(full))]
        outcomes = self.apply([(node.state, c.tactic) for _, node, c in todo])
        done, proving = len(todo), -1
        children: list[Node] = []
        for j, ((i, node, cand), out) in enumerate(zip(todo, outcomes, strict=True)):
            taken = self.take(node, cand, out, lambda node=node: self.tree.path_to(node), exp0 + i + 1, env0 + j + 1)
            if taken.proved:
                done, proving = j + 1, i
                break
            if taken.new and taken.child is not None:
                taken.child.priority = score(taken.child.logprob, taken.child.depth, taken.child.value)
                children.append(taken.child)
        cut = {i for i, _, _ in full[done:]} - {proving}
        for i, node in enumerate(nodes):
            if i not in cut:
                self.tree.mark_expanded(node, exp0 + i + 1)
        return children

    # --- the result -------------------------------------------------------------------------------
    def result(self, status: str, **extra: object) -> SearchResult:
        if self.proof is not None:
            status = "proved"
        extra = {"nodes": len(self.tree), "rejected_proofs": self.rejected, **extra}
        return SearchResult(
            name=self.theorem.name, status=status, steps=list(self.proof or []), proof_text=self.proof_text,
            accounting=self.meter.snapshot(), first_proof_at=self.first_proof_at, strategy=self.strategy,
            failures=self.tree.failure_counts(), tree=self.tree if self.keep_graph else None,
            attempt=self.attempt, seed=self.seed, extra=extra,
        )

    def stop_status(self) -> str:
        """Why a search without a proof ended: the budget refused work, or the space ran out."""
        return "budget" if self.meter.exhausted else "failed"
