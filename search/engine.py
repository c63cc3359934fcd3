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
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from core.proof_text import render_proof
from core.types import (
    Candidate,
    Evaluator,
    Failed,
    FailureKind,
    Open,
    Outcome,
    ProofEnv,
    Proved,
    State,
    StepContext,
    Theorem,
    usage_of,
)
from search.budget import Budget, Meter
from search.result import Accounting, SearchResult
from search.tree import Node, SearchTree, Step

log = logging.getLogger(__name__)

NO_PROGRESS = "no progress: the goals did not change"
CHECK_REJECTED = "proof rejected by the whole-proof check"

Score = Callable[[float, int, "float | None"], float]


MIN_VALUE = 1e-6  # log(value) of a state the evaluator calls hopeless stays finite


def logprob_score(length_normalize: bool = False) -> Score:
    """Priority = cumulative logprob, or logprob / depth with `length_normalize` (ReProver's)."""
    if length_normalize:
        return lambda logprob, depth, value: logprob / max(depth, 1)
    return lambda logprob, depth, value: logprob


def mixed_score(value_weight: float, length_normalize: bool = False) -> Score:
    """Priority = (1 - w) x the logprob score + w x log(value): w = 0 is log-probability best-first,
    w = 1 ranks by the evaluator alone (a critic-guided search); both terms are log-probabilities,
    of the policy's path and of the state being provable."""
    lp = logprob_score(length_normalize)
    if value_weight == 0:
        return lp

    def score(logprob: float, depth: int, value: float | None) -> float:
        if value is None:
            raise ValueError("a value-weighted priority needs the evaluator's value of every node")
        return (1 - value_weight) * lp(logprob, depth, value) + value_weight * math.log(max(value, MIN_VALUE))

    return score


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
                 strategy: str, seed: int = 0, attempt: int = 0, keep_graph: bool = True,
                 evaluator: Evaluator | None = None) -> None:
        if not isinstance(budget, Budget):
            raise ValueError(f"budget must be a search.budget.Budget, got {type(budget).__name__}")
        if evaluator is not None and not callable(getattr(evaluator, "score", None)):
            raise TypeError(f"evaluator {type(evaluator).__name__} has no score(states) method")
        self.theorem, self.env, self.policy, self.evaluator = theorem, env, policy, evaluator
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
        """One model call for `states` (each one expansion), candidates cleaned (see clean_candidates).
        A policy with `propose_in_context` (core.types.ContextPolicy) gets each state's `context` too."""
        t = time.perf_counter()
        in_context = getattr(self.policy, "propose_in_context", None)
        if callable(in_context):
            raw = in_context(list(states), [self.context(s) for s in states], n)
        else:
            raw = self.policy.propose(list(states), n)  # type: ignore[attr-defined]
        dt = time.perf_counter() - t
        if not isinstance(raw, list) or len(raw) != len(states):
            got = len(raw) if isinstance(raw, list) else type(raw).__name__
            raise ValueError(f"policy.propose returned {got} lists for {len(states)} states")
        self.meter.charge_model(dt, [sum(c.tokens for c in cs) for cs in raw], usage_of(raw))
        return [clean_candidates(cs, n) for cs in raw]

    def context(self, state: State) -> StepContext:
        """The theorem and the tactics of the path on which the search first reached `state` (each
        node's first parent edge made it; none when the state is not in the tree): what prompts that
        show the proof so far (InternLM2.5-StepProver's) are built from.  O(depth)."""
        tactics: list[str] = []
        node = self.tree.nodes.get(state.text)
        while node is not None and node.parents:
            edge = node.parents[0]
            tactics.append(edge.tactic)
            node = edge.parent
        return StepContext(self.theorem, tuple(reversed(tactics)))

    def evaluate(self, nodes: Sequence[Node], expansions: int = 1) -> None:
        """Set `value` on `nodes` with one evaluator call (timed and counted; `expansions` is how many
        expansions made these nodes, for the FLOPs prediction).  Without an evaluator: nothing."""
        todo = [n for n in nodes if n.value is None]
        if self.evaluator is None or not todo:
            return
        t = time.perf_counter()
        raw = self.evaluator.score([n.state for n in todo])
        dt = time.perf_counter() - t
        if not isinstance(raw, list) or len(raw) != len(todo):
            got = len(raw) if isinstance(raw, list) else type(raw).__name__
            raise ValueError(f"evaluator.score returned {got} values for {len(todo)} states")
        self.meter.charge_evaluator(dt, len(todo), usage_of(raw), expansions)
        for node, v in zip(todo, raw, strict=True):
            v = float(v)
            if not 0.0 <= v <= 1.0:
                raise ValueError(f"evaluator.score returned {v!r}; values must lie in [0, 1]")
            node.value = v

    def propose_proofs(self, k: int) -> list[Candidate]:
        """One whole-proof model call for this theorem: `k` proofs (each one expansion)."""
        t = time.perf_counter()
        raw = self.policy.propose_proofs([self.theorem], k)  # type: ignore[attr-defined]
        dt = time.perf_counter() - t
        if not isinstance(raw, list) or len(raw) != 1 or not isinstance(raw[0], list):
            raise ValueError("policy.propose_proofs must return one list of candidates per theorem")
        cands: list[Candidate] = list(raw[0][:k])
        clean_candidates(cands, k, "policy.propose_proofs")  # type check only
        self.meter.charge_model(dt, [c.tokens for c in cands] + [0] * (k - len(cands)), usage_of(raw))
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
    def propose_each(self, nodes: Sequence[Node], n: int | Sequence[int]) -> list[list[Candidate]]:
        """Candidates for each node: one model call, or one per distinct width when `n` gives each node
        its own (nodes keep their order, so expansion counters stay in node order)."""
        widths = [n] * len(nodes) if isinstance(n, int) else list(n)
        if len(widths) != len(nodes):
            raise ValueError(f"{len(widths)} widths for {len(nodes)} nodes")
        out: list[list[Candidate]] = [[] for _ in nodes]
        i = 0
        while i < len(nodes):  # runs of equal width: one call each (one call in all for a uniform n)
            j = i
            while j < len(nodes) and widths[j] == widths[i]:
                j += 1
            out[i:j] = self.propose([node.state for node in nodes[i:j]], widths[i])
            i = j
        return out

    def expand(self, nodes: Sequence[Node], n: int | Sequence[int], score: Score | None = None,
               value: bool = False) -> list[Node]:
        """Expand `nodes` (already allowed by the expansion budget): one model call for all (per
        distinct width, when `n` is a width per node), the candidates cut to the env-call allowance,
        one `apply_batch`, a proof checked as soon as it closes the goals (the round stops at the
        first accepted one).  Returns the new child nodes in discovery order; with `value` they are
        scored by the evaluator (one call), then `score` sets their `priority`.  Nodes whose
        candidates were left untried (env-call budget) or unread (the proof came first) stay
        unexpanded."""
        exp0, env0 = self.meter.acc.expansions, self.meter.acc.env_calls
        proposals = self.propose_each(nodes, n)
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
                children.append(taken.child)
        cut = {i for i, _, _ in full[done:]} - {proving}
        for i, node in enumerate(nodes):
            if i not in cut:
                self.tree.mark_expanded(node, exp0 + i + 1)
        if value and self.proof is None:
            self.evaluate(children, expansions=len(nodes))
        if score is not None:
            for c in children:
                c.priority = score(c.logprob, c.depth, c.value)
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
