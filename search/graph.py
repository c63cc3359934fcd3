"""The search graph: states as nodes keyed by their goals text, tactics as edges.

The same goals reached twice are one node.  A node is `proved` when one of its children is proved
(a tactic acts on the whole state, so one proved child proves the parent), `failed` once it has been
expanded and every child is failed (or it has none), `open` otherwise; a change propagates to the
parents, up to the root.  The proved end of a proof is the node `NO_GOALS` (empty goals text).

Tactics that failed are not nodes: they are kept on their node's `failures` list (tactic, thought,
logprob, message), so the picture and the export can still show them.
"""

from __future__ import annotations

from dataclasses import dataclass

import networkx as nx

from lean_env.types import State
from search.types import Candidate

NO_GOALS = ""  # State(()).text: the node every proof ends in
OPEN, PROVED, FAILED = "open", "proved", "failed"


@dataclass(frozen=True)
class Step:
    """One edge of an extracted proof."""

    tactic: str
    thought: str
    logprob: float


class SearchGraph:
    """A thin layer over `nx.DiGraph` that keeps the status invariants.  One per search."""

    def __init__(self, root: State) -> None:
        self.g = nx.DiGraph()
        self.root = root.text
        self._order = 0
        self._attrs: dict[str, dict] = {}  # key -> the node's attribute dict in `g` (fast access)
        self._add_node(root, depth=0, logprob=0.0, priority=0.0)

    # --- building -----------------------------------------------------------------------------
    def _add_node(self, state: State, depth: int, logprob: float, priority: float) -> None:
        key = state.text
        self.g.add_node(
            key, state=state, status=OPEN, expanded=False, depth=depth, logprob=logprob,
            priority=priority, order=self._order, expanded_at=None, failures=[],
        )
        self._attrs[key] = self.g.nodes[key]
        self._order += 1

    def __contains__(self, key: str) -> bool:
        return key in self._attrs

    def __len__(self) -> int:
        return self.g.number_of_nodes()

    def node(self, key: str) -> dict:
        return self._attrs[key]

    def state(self, key: str) -> State:
        return self._attrs[key]["state"]

    def add_child(self, parent: str, cand: Candidate, child: State, priority: float) -> bool:
        """Record `parent --cand--> child`; True when `child` is a new node (so it needs expanding)."""
        key = child.text
        new = key not in self._attrs
        if new:
            p = self._attrs[parent]
            self._add_node(child, p["depth"] + 1, p["logprob"] + cand.logprob, priority)
        if new or not self.g.has_edge(parent, key):
            self.g.add_edge(parent, key, tactic=cand.tactic, thought=cand.thought, logprob=cand.logprob,
                            tokens=cand.tokens)
            if not new:
                self._update(parent)  # an existing child may already be proved or failed
        return new

    def add_failure(self, parent: str, cand: Candidate, message: str) -> None:
        self._attrs[parent]["failures"].append((cand.tactic, cand.thought, cand.logprob, message))

    def add_proof(self, parent: str, cand: Candidate) -> None:
        """`cand` closed every goal of `parent` (and the whole proof passed the check)."""
        if NO_GOALS not in self._attrs:
            p = self._attrs[parent]
            self._add_node(State(()), p["depth"] + 1, p["logprob"] + cand.logprob, 0.0)
            self._attrs[NO_GOALS].update(status=PROVED, expanded=True)
        if not self.g.has_edge(parent, NO_GOALS):
            self.g.add_edge(parent, NO_GOALS, tactic=cand.tactic, thought=cand.thought, logprob=cand.logprob,
                            tokens=cand.tokens)
        self._update(parent)

    def mark_expanded(self, key: str, at: int) -> None:
        n = self._attrs[key]
        n["expanded"], n["expanded_at"] = True, at
        self._update(key)

    # --- status -------------------------------------------------------------------------------
    def _status(self, key: str) -> str:
        n = self._attrs[key]
        if key == NO_GOALS:
            return PROVED
        statuses = [self._attrs[c]["status"] for c in self.g.successors(key) if c != key]
        if PROVED in statuses:
            return PROVED
        if n["expanded"] and all(s == FAILED for s in statuses):
            return FAILED
        return OPEN

    def _update(self, key: str) -> None:
        """Recompute `key`'s status and propagate changes to its ancestors (a worklist, cycle safe)."""
        work = [key]
        while work:
            k = work.pop()
            new = self._status(k)
            if new != self._attrs[k]["status"]:
                self._attrs[k]["status"] = new
                work.extend(self.g.predecessors(k))

    def status(self, key: str | None = None) -> str:
        return self._attrs[self.root if key is None else key]["status"]

    # --- proofs -------------------------------------------------------------------------------
    def path_to(self, key: str) -> list[Step]:
        """The edges of a shortest path root -> `key` (deterministic: insertion order breaks ties)."""
        nodes = nx.shortest_path(self.g, self.root, key)
        return [Step(**{k: self.g.edges[a, b][k] for k in ("tactic", "thought", "logprob")})
                for a, b in zip(nodes, nodes[1:], strict=False)]

    def proof(self) -> list[Step]:
        """The proof found (a path through proved nodes to `NO_GOALS`); empty when there is none."""
        if NO_GOALS not in self.g or self.status() != PROVED:
            return []
        proved = self.g.subgraph([k for k, d in self.g.nodes(data=True) if d["status"] == PROVED])
        nodes = nx.shortest_path(proved, self.root, NO_GOALS)
        return [Step(**{k: self.g.edges[a, b][k] for k in ("tactic", "thought", "logprob")})
                for a, b in zip(nodes, nodes[1:], strict=False)]
