"""Monte-Carlo tree search over proof states: PUCT (AlphaZero-style) and RMaxTS (DeepSeek-Prover-V1.5).

One iteration = select, expand, evaluate, back up:
- select: from the root, follow the edge with the best score until a node not yet expanded
  (edges into failed or exhausted nodes, and back into the path, are never taken);
- expand: the node's `n` candidates in one model call and one `apply_batch` (one expansion);
  its children's priors are softmax(logprob / prior_temperature) over the node's edges;
- evaluate: the leaf's value from the evaluator (`value="evaluator"`) or from a greedy rollout of
  at most `rollout_depth` steps (`value="rollout"`: 1 if it closes the goals, else 0; its steps
  are real Lean calls and count in the budget);
- back up: every edge on the path gets one visit and the value.

PUCT picks argmax Q(e) + c_puct x P(e) x sqrt(N(node)) / (1 + N(e)), Q = mean backed-up value (0
while unvisited).  RMaxTS needs no evaluator: the reward of an iteration is 1 when its expansion
added a state the tree had not seen, else 0; selection is the discounted UCB
Q_g(e) + c x sqrt(2 ln(sum_b N_g(b)) / N_g(e)), unvisited edges first (by prior), where at each
back-up every edge of a node on the path is discounted by gamma before the taken one gets its
visit and reward.  Ties go to the larger prior, then the earlier edge, so a run is deterministic
under its seed.  A proof the check accepts ends the search.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from search.config import StrategyConfig, at_least
from search.engine import Run
from search.registry import register
from search.tree import Edge, Node, Status


@dataclass(frozen=True)
class MctsConfig(StrategyConfig):
    n: int = 8                           # candidates proposed when a node is expanded
    c_puct: float = 1.0                  # exploration weight
    value: Literal["evaluator", "rollout"] = "evaluator"
    rollout_depth: int = 8               # value="rollout": greedy steps tried from the leaf
    prior_temperature: float = 1.0       # priors = softmax(logprob / T) over a node's edges

    def validate(self) -> None:
        at_least(self, 1, "max_depth", "n", "rollout_depth")
        at_least(self, 0, "c_puct")
        if not self.prior_temperature > 0:
            raise ValueError(f"MctsConfig: prior_temperature={self.prior_temperature!r} must be positive")

    def needs_evaluator(self) -> str | None:
        return 'mcts with value="evaluator" (or use value="rollout")' if self.value == "evaluator" else None


@dataclass(frozen=True)
class RmaxConfig(StrategyConfig):
    n: int = 8                           # candidates proposed when a node is expanded
    c: float = 1.0                       # exploration weight of the discounted UCB
    gamma: float = 0.99                  # discount of past visits and rewards
    prior_temperature: float = 1.0       # orders unvisited edges (softmax of logprobs)

    def validate(self) -> None:
        at_least(self, 1, "max_depth", "n")
        at_least(self, 0, "c")
        if not 0 < self.gamma <= 1:
            raise ValueError(f"RmaxConfig: gamma={self.gamma!r} must be in (0, 1]")
        if not self.prior_temperature > 0:
            raise ValueError(f"RmaxConfig: prior_temperature={self.prior_temperature!r} must be positive")


@dataclass
class EdgeStats:
    prior: float
    visits: float = 0.0
    value_sum: float = 0.0

    @property
    def q(self) -> float:
        return self.value_sum / self.visits if self.visits else 0.0


@dataclass
class Stats:
    """The statistics of one MCTS run: per edge (keyed by identity) and per node visit counts."""

    edges: dict[int, EdgeStats] = field(default_factory=dict)
    node_visits: dict[int, float] = field(default_factory=dict)
    exhausted: set[int] = field(default_factory=set)  # nodes with nothing left to select below them

    def edge(self, e: Edge) -> EdgeStats:
        return self.edges[id(e)]

    def visits(self, node: Node) -> float:
        return self.node_visits.get(id(node), 0.0)


def set_priors(stats: Stats, node: Node, temperature: float) -> None:
    """Priors of `node`'s edges: softmax of their logprobs / temperature (edges added later, e.g. by
    a rollout, are included the next time this runs)."""
    if not node.children:
        return
    top = max(e.logprob for e in node.children)
    w = [math.exp((e.logprob - top) / temperature) for e in node.children]
    total = sum(w)
    for e, x in zip(node.children, w, strict=True):
        old = stats.edges.get(id(e))
        if old is None:
            stats.edges[id(e)] = EdgeStats(prior=x / total)
        else:
            old.prior = x / total


def puct(stats: Stats, node: Node, e: Edge, c_puct: float) -> float:
    s = stats.edge(e)
    return s.q + c_puct * s.prior * math.sqrt(stats.visits(node)) / (1 + s.visits)


def ducb(stats: Stats, node: Node, e: Edge, c: float) -> float:
    s = stats.edge(e)
    if s.visits <= 0:
        return math.inf
    total = sum(stats.edge(b).visits for b in node.children if id(b) in stats.edges)
    return s.q + c * math.sqrt(2 * math.log(max(total, 1.0)) / s.visits)


def selectable(stats: Stats, node: Node, on_path: set[int], max_depth: int, depth: int) -> list[Edge]:
    return [e for e in node.children if id(e) in stats.edges and e.child.status != Status.FAILED
            and id(e.child) not in stats.exhausted and id(e.child) not in on_path and depth < max_depth]


def select(stats: Stats, root: Node, rule: Any, max_depth: int) -> tuple[list[Edge], Node | None]:
    """The path from the root to a node to expand; None at the end when no such node is reachable
    (the dead branch is marked exhausted on the way back, so the next selection avoids it)."""
    path: list[Edge] = []
    node = root
    on_path = {id(root)}
    while node.expanded:
        edges = selectable(stats, node, on_path, max_depth, len(path))
        if not edges:
            stats.exhausted.add(id(node))
            return path, None
        best = max(enumerate(edges), key=lambda ie: (rule(node, ie[1]), stats.edge(ie[1]).prior, -ie[0]))[1]
        path.append(best)
        node = best.child
        on_path.add(id(node))
    return path, node


def backup(stats: Stats, root: Node, path: Sequence[Edge], value: float, gamma: float = 1.0) -> None:
    """One visit and `value` for every edge of `path` (and its nodes); with gamma < 1 each node's edges
    are discounted first (the discounted UCB of RMaxTS)."""
    stats.node_visits[id(root)] = stats.visits(root) + 1
    for e in path:
        if gamma < 1.0:
            for b in e.parent.children:
                s = stats.edges.get(id(b))
                if s is not None:
                    s.visits *= gamma
                    s.value_sum *= gamma
        s = stats.edge(e)
        s.visits += 1
        s.value_sum += value
        stats.node_visits[id(e.child)] = stats.visits(e.child) + 1


def rollout(run: Run, leaf: Node, stats: Stats, depth: int) -> float:
    """A greedy trajectory from the just-expanded `leaf`'s most likely child (then the policy's best
    candidate each step): 1.0 if it closes the goals with a proof the check accepts, else 0.0.  Its
    steps are real expansions and Lean calls; their nodes join the tree but stay unexpanded."""
    edges = [e for e in leaf.children if id(e) in stats.edges and e.child.status != Status.FAILED]
    if not edges:
        return 0.0
    node = max(edges, key=lambda e: stats.edge(e).prior).child
    for _ in range(depth - 1):
        if run.meter.allow_expansions(1) == 0:
            return 0.0
        exp0, env0 = run.meter.acc.expansions, run.meter.acc.env_calls
        cands = run.propose([node.state], 1)[0]
        if not cands or run.meter.allow_env_calls(1) == 0:
            return 0.0
        out = run.apply([(node.state, cands[0].tactic)])[0]
        taken = run.take(node, cands[0], out, lambda node=node: run.tree.path_to(node), exp0 + 1, env0 + 1)
        if taken.proved:
            return 1.0
        if taken.child is None:
            return 0.0
        node = taken.child
    return 0.0


def search_tree(run: Run, n: int, max_depth: int, temperature: float, rule: str, c: float,
                leaf_value: Any, gamma: float = 1.0, stats: Stats | None = None) -> dict[str, Any]:
    """The MCTS loop: `rule` "puct" or "ducb" with weight `c`; `leaf_value(leaf, new)` values an
    expanded leaf (`new`: its expansion added a state the tree had not seen).  The extra facts:
    iterations, the value backed up by each, and the root's edge visits."""
    stats = stats if stats is not None else Stats()
    root = run.tree.root

    def score(node: Node, e: Edge) -> float:
        return puct(stats, node, e, c) if rule == "puct" else ducb(stats, node, e, c)

    values: list[float] = []
    while run.proof is None:
        path, leaf = select(stats, root, score, max_depth)
        if leaf is None:
            if id(root) in stats.exhausted:
                break  # nothing left anywhere: the search space ran out
            continue  # that branch is marked exhausted now; select again
        if run.meter.allow_expansions(1) == 0:
            break
        before = len(run.tree)
        run.expand([leaf], n)
        if run.proof is not None or not leaf.expanded:  # a proof, or the env-call budget cut it short
            break
        set_priors(stats, leaf, temperature)
        value = leaf_value(leaf, len(run.tree) > before)
        if run.proof is not None:
            break
        backup(stats, root, path, value, gamma)
        values.append(round(value, 6))
    visits = {e.tactic: round(stats.edge(e).visits, 6) for e in root.children if id(e) in stats.edges}
    return {"iterations": len(values), "values": values, "root_visits": visits}


@register("mcts", MctsConfig)
def mcts(run: Run, cfg: MctsConfig) -> dict[str, Any]:
    """PUCT over proof states with the policy's priors and the evaluator's values (or rollouts)."""
    stats = Stats()

    def leaf_value(leaf: Node, _new: bool) -> float:
        if leaf.status == Status.FAILED:
            return 0.0
        if cfg.value == "rollout":
            return rollout(run, leaf, stats, cfg.rollout_depth)
        run.evaluate([leaf])
        return float(leaf.value or 0.0)

    return search_tree(run, cfg.n, cfg.max_depth, cfg.prior_temperature, "puct", cfg.c_puct, leaf_value,
                       stats=stats)


@register("rmaxts", RmaxConfig)
def rmaxts(run: Run, cfg: RmaxConfig) -> dict[str, Any]:
    """RMaxTS (DeepSeek-Prover-V1.5): reward 1 for reaching a new state, discounted UCB, no evaluator."""

    def leaf_value(_leaf: Node, new: bool) -> float:
        return 1.0 if new else 0.0

    return search_tree(run, cfg.n, cfg.max_depth, cfg.prior_temperature, "ducb", cfg.c, leaf_value, cfg.gamma)
