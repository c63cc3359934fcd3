"""The search tree: typed nodes keyed by their goals text, tactics as edges, failed tactics kept.

The same goals reached twice are one `Node` (so the "tree" is a graph: merges and loops back are
edges too).  A node is PROVED when one of its children is proved (a tactic acts on the whole state,
so one proved child proves the parent), FAILED once it has been expanded and every child is failed
(or it has none), OPEN otherwise; a change propagates to the parents, up to the root.  A proof ends
in the node `NO_GOALS` (empty goals text).

Tactics that gave no new state are not nodes: each is a `FailedStep` on its node's `failures`,
with its `FailureKind`, so counts, pictures and exports still show them.  `to_networkx` gives the
same tree as a `networkx.DiGraph` (for GraphML, analysis and drawing).
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from core.types import Candidate, FailureKind, State

if TYPE_CHECKING:
    import networkx as nx

NO_GOALS = ""  # State(()).text: the node every proof ends in


class Status(StrEnum):
    OPEN = "open"
    PROVED = "proved"
    FAILED = "failed"


@dataclass(frozen=True)
class Step:
    """One step of a proof: the tactic (and the thought before it), its log-probability, and the
    state it was applied to (what the model saw there: training examples need no replay)."""

    tactic: str
    thought: str
    logprob: float
    state: State


@dataclass(frozen=True)
class FailedStep:
    """A proposed tactic that gave no new node: why (`kind`) and Lean's (or the check's) message."""

    tactic: str
    thought: str
    logprob: float
    tokens: int
    kind: FailureKind
    message: str


@dataclass(eq=False)
class Edge:
    parent: Node
    child: Node
    tactic: str
    thought: str
    logprob: float
    tokens: int


@dataclass(eq=False)
class Node:
    """A proof state in the tree.  `logprob` is the cumulative log-probability of the path that first
    reached it, `priority` what its strategy ranked it by, `value` the evaluator's estimate (if any)."""

    state: State
    depth: int
    logprob: float
    priority: float
    order: int
    status: Status = Status.OPEN
    expanded: bool = False
    expanded_at: int | None = None
    value: float | None = None
    children: list[Edge] = field(default_factory=list)
    parents: list[Edge] = field(default_factory=list)
    failures: list[FailedStep] = field(default_factory=list)

    @property
    def key(self) -> str:
        return self.state.text

    def __repr__(self) -> str:
        return f"Node(#{self.order}, depth {self.depth}, {self.status}, {self.key[:40]!r})"


class SearchTree:
    """The nodes of one search and the status invariants.  One per search."""

    def __init__(self, root: State) -> None:
        self.nodes: dict[str, Node] = {}
        self.root = self._add_node(root, depth=0, logprob=0.0, priority=0.0)

    # --- building -----------------------------------------------------------------------------
    def _add_node(self, state: State, depth: int, logprob: float, priority: float) -> Node:
        node = Node(state, depth, logprob, priority, order=len(self.nodes))
        self.nodes[node.key] = node
        return node

    def __contains__(self, key: str) -> bool:
        return key in self.nodes

    def __len__(self) -> int:
        return len(self.nodes)

    def __getitem__(self, key: str) -> Node:
        return self.nodes[key]

    def _link(self, parent: Node, child: Node, cand: Candidate) -> bool:
        if any(e.child is child for e in parent.children):
            return False
        edge = Edge(parent, child, cand.tactic, cand.thought, cand.logprob, cand.tokens)
        parent.children.append(edge)
        child.parents.append(edge)
        return True

    def add_child(self, parent: Node, cand: Candidate, state: State, priority: float) -> Node | None:
        """Record `parent --cand--> state`; the child node when it is new (so it needs expanding),
        None when the state was already in the tree (the edge is still recorded)."""
        old = self.nodes.get(state.text)
        if old is None:
            child = self._add_node(state, parent.depth + 1, parent.logprob + cand.logprob, priority)
            self._link(parent, child, cand)
            return child
        if self._link(parent, old, cand):
            self._update(parent)  # an existing child may already be proved or failed
        return None

    def add_failure(self, parent: Node, cand: Candidate, kind: FailureKind, message: str) -> None:
        parent.failures.append(FailedStep(cand.tactic, cand.thought, cand.logprob, cand.tokens, kind, message))

    def add_proof(self, parent: Node, cand: Candidate) -> None:
        """`cand` closed every goal of `parent` (and the whole proof passed the check)."""
        end = self.nodes.get(NO_GOALS)
        if end is None:
            end = self._add_node(State(()), parent.depth + 1, parent.logprob + cand.logprob, 0.0)
            end.status, end.expanded = Status.PROVED, True
        self._link(parent, end, cand)
        self._update(parent)

    def mark_expanded(self, node: Node, at: int) -> None:
        node.expanded, node.expanded_at = True, at
        self._update(node)

    # --- status -------------------------------------------------------------------------------
    def _status(self, node: Node) -> Status:
        if node.key == NO_GOALS:
            return Status.PROVED
        statuses = [e.child.status for e in node.children if e.child is not node]
        if Status.PROVED in statuses:
            return Status.PROVED
        if node.expanded and all(s == Status.FAILED for s in statuses):
            return Status.FAILED
        return Status.OPEN

    def _update(self, node: Node) -> None:
        """Recompute `node`'s status and propagate changes to its ancestors (a worklist, cycle safe)."""
        work = [node]
        while work:
            n = work.pop()
            new = self._status(n)
            if new != n.status:
                n.status = new
                work.extend(e.parent for e in n.parents)

    @property
    def status(self) -> Status:
        return self.root.status

    # --- reading ------------------------------------------------------------------------------
    def edges(self) -> Iterator[Edge]:
        for node in self.nodes.values():
            yield from node.children

    def failure_counts(self) -> dict[str, int]:
        """Failed tactics by kind (`FailureKind` values), over the whole tree."""
        c = Counter(f.kind.value for node in self.nodes.values() for f in node.failures)
        return {k.value: c[k.value] for k in FailureKind if c[k.value]}

    def path_to(self, node: Node) -> list[Step]:
        """The steps of a shortest path root -> `node` (breadth first, ties broken by the order in
        which edges were added, so it is deterministic)."""
        back: dict[int, Edge | None] = {id(self.root): None}
        queue = deque([self.root])
        while queue and id(node) not in back:
            n = queue.popleft()
            for e in n.children:
                if id(e.child) not in back:
                    back[id(e.child)] = e
                    queue.append(e.child)
        if id(node) not in back:
            raise ValueError(f"{node!r} is not reachable from the root")
        steps: list[Step] = []
        e = back[id(node)]
        while e is not None:
            steps.append(Step(e.tactic, e.thought, e.logprob, e.parent.state))
            e = back[id(e.parent)]
        return steps[::-1]

    def proof(self) -> list[Step]:
        """A shortest proof through proved nodes to `NO_GOALS`; empty when there is none."""
        end = self.nodes.get(NO_GOALS)
        if end is None or self.status != Status.PROVED:
            return []
        back: dict[int, Edge | None] = {id(self.root): None}
        queue = deque([self.root])
        while queue:
            n = queue.popleft()
            for e in n.children:
                if e.child.status == Status.PROVED and id(e.child) not in back:
                    back[id(e.child)] = e
                    queue.append(e.child)
        steps: list[Step] = []
        edge = back.get(id(end))
        while edge is not None:
            steps.append(Step(edge.tactic, edge.thought, edge.logprob, edge.parent.state))
            edge = back[id(edge.parent)]
        return steps[::-1]

    def to_networkx(self) -> nx.DiGraph:
        """The tree as a DiGraph keyed by goals text: node attributes status, depth, logprob,
        priority, value, order, expanded, expanded_at, failures (a list of dicts); edge attributes
        tactic, thought, logprob, tokens."""
        import networkx as nx

        g = nx.DiGraph()
        for n in self.nodes.values():
            g.add_node(n.key, **node_attributes(n))
        for e in self.edges():
            g.add_edge(e.parent.key, e.child.key, tactic=e.tactic, thought=e.thought, logprob=e.logprob,
                       tokens=e.tokens)
        return g


def node_attributes(n: Node) -> dict[str, Any]:
    return {
        "status": n.status.value, "depth": n.depth, "logprob": n.logprob, "priority": n.priority,
        "value": n.value, "order": n.order, "expanded": n.expanded, "expanded_at": n.expanded_at,
        "failures": [{"tactic": f.tactic, "thought": f.thought, "logprob": f.logprob, "kind": f.kind.value,
                      "message": f.message} for f in n.failures],
    }
