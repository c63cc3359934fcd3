"""Training data for the learned evaluator: proof states labelled by the search trees that visited them.

Lean gives the labels for free.  In a search tree (`search.tree.SearchTree`, written out by
`search.export.to_data`) a node is PROVED only when it lies on a path to a proof the whole-proof
check accepted (the engine adds the proof's last edge only after `env.check` said yes), FAILED
when it was expanded and every child failed (or it had none): a dead end for this policy, and
OPEN otherwise, which means the budget (or `max_depth`) cut it off.  So:

    label 1   a PROVED node (the proof's end, the empty goals node, is not a state and is left out)
    label 0   a FAILED node
    left out  an OPEN node: nothing is known about it (no Monte-Carlo estimate is made)

Rows are {"state", "label", "theorem", "difficulty", "source", "run"}, one per distinct state
text over all the trees read: a state proved in any tree has label 1 (a checked proof is a fact;
a dead end only says that one search, with its samples, found nothing), else 0.  The row keeps
the first theorem (in reading order) whose tree had the state, so every state lies in exactly one
theorem and a split by theorem (`split_by_theorem`) never puts one state, or one theorem, on
both sides.

Tree files are JSONL, one search a line: {"name", "attempt", "tree": {"nodes", "edges"}} or the
same with the `to_data` fields at top level ({"name", "attempt", "nodes", "edges"}).
"""

from __future__ import annotations

import logging
import math
import random
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.jsonl import read_jsonl_numbered

log = logging.getLogger(__name__)

ROW_FIELDS = ("state", "label", "theorem", "difficulty", "source", "run")
_STATUSES = ("proved", "failed", "open")


def tree_of(row: dict[str, Any], where: str) -> dict[str, Any]:
    """The tree data of a trees-file row, in either layout; ValueError naming `where` otherwise."""
    tree = row.get("tree", row)
    if not isinstance(tree, dict) or not isinstance(tree.get("nodes"), list):
        raise ValueError(f"{where}: expected a search tree ('nodes' list at top level or under 'tree')")
    return tree


def tree_labels(tree: dict[str, Any], where: str = "tree") -> list[tuple[str, float]]:
    """(state text, label) of every labelled node of one tree, in node order: 1.0 for proved nodes,
    0.0 for failed ones; open nodes and the empty-goals end node are left out."""
    out: list[tuple[str, float]] = []
    for i, node in enumerate(tree.get("nodes", [])):
        if not isinstance(node, dict):
            raise ValueError(f"{where}: node {i} is not an object")
        goals, status = node.get("goals"), node.get("status")
        if not isinstance(goals, str) or status not in _STATUSES:
            raise ValueError(f"{where}: node {i} needs a string 'goals' and a 'status' in {_STATUSES}")
        if node.get("no_goals") or not goals:
            continue
        if status == "proved":
            out.append((goals, 1.0))
        elif status == "failed":
            out.append((goals, 0.0))
    return out


def read_trees(path: str | Path) -> Iterator[tuple[str, int, dict[str, Any]]]:
    """(theorem name, attempt, tree data) of every row of a trees file; errors name file and line."""
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"trees file not found: {p}")
    for line, row in read_jsonl_numbered(p):
        where = f"{p}:{line}"
        name = row.get("name")
        if not isinstance(name, str) or not name:
            raise ValueError(f"{where}: a tree row needs the theorem's 'name'")
        attempt = row.get("attempt", 0)
        if isinstance(attempt, bool) or not isinstance(attempt, int):
            raise ValueError(f"{where}: 'attempt' must be an integer")
        yield name, attempt, tree_of(row, where)


@dataclass
class DataStats:
    """What `rows_from_trees` saw: trees, labelled node occurrences, distinct states by label, and
    states that were a dead end in one tree and proved in another (their label is 1)."""

    trees: int = 0
    occurrences: Counter = field(default_factory=Counter)  # "proved" / "failed" / "open" node counts
    rows: Counter = field(default_factory=Counter)  # label -> distinct states
    conflicts: int = 0
    theorems: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {"trees": self.trees, "theorems": self.theorems, "nodes": dict(self.occurrences),
                "rows": {str(k): v for k, v in sorted(self.rows.items())}, "conflicts": self.conflicts}


def rows_from_trees(trees: Iterable[tuple[str, dict[str, Any], str]], difficulty: dict[str, int] | None = None,
                    source: str = "search", stats: DataStats | None = None) -> list[dict[str, Any]]:
    """Labelled rows from (theorem name, tree data, run) triples, deduplicated by state text (see the
    module docstring); `difficulty` maps theorem names to their difficulty (missing: None)."""
    difficulty = difficulty or {}
    stats = stats if stats is not None else DataStats()
    by_state: dict[str, dict[str, Any]] = {}
    seen_failed: set[str] = set()
    names: set[str] = set()
    for name, tree, run in trees:
        stats.trees += 1
        names.add(name)
        for node in tree.get("nodes", []):
            if isinstance(node, dict) and not node.get("no_goals"):
                stats.occurrences[str(node.get("status"))] += 1
        for state, label in tree_labels(tree, f"tree of {name}"):
            if label == 0.0:
                seen_failed.add(state)
            row = by_state.get(state)
            if row is None:
                by_state[state] = {"state": state, "label": label, "theorem": name,
                                   "difficulty": difficulty.get(name), "source": source, "run": run}
            elif label > row["label"]:
                row["label"] = label
    rows = list(by_state.values())
    stats.conflicts += sum(1 for r in rows if r["label"] == 1.0 and r["state"] in seen_failed)
    stats.rows.update(r["label"] for r in rows)
    stats.theorems += len(names)
    return rows


def rows_from_tree_files(paths: Sequence[str | Path], difficulty: dict[str, int] | None = None,
                         source: str = "search", stats: DataStats | None = None) -> list[dict[str, Any]]:
    """`rows_from_trees` over the trees files `paths`, merged as one; a row's `run` is the folder of
    the file its state first came from."""
    trees = ((name, tree, str(Path(path).parent)) for path in paths for name, _, tree in read_trees(path))
    return rows_from_trees(trees, difficulty, source, stats)


def check_row(row: Any, where: str) -> dict[str, Any]:
    """A data row, checked: a non-empty string 'state', a number 'label' in [0, 1] (0/1, or a
    Monte-Carlo share), a string 'theorem', an integer or null 'difficulty'."""
    if not isinstance(row, dict):
        raise ValueError(f"{where}: expected a JSON object")
    state, label, theorem = row.get("state"), row.get("label"), row.get("theorem")
    if not isinstance(state, str) or not state.strip():
        raise ValueError(f"{where}: 'state' must be a non-empty string")
    if isinstance(label, bool) or not isinstance(label, int | float) or not math.isfinite(label) \
            or not 0 <= label <= 1:
        raise ValueError(f"{where}: 'label' must be a number in [0, 1], got {label!r}")
    if not isinstance(theorem, str) or not theorem:
        raise ValueError(f"{where}: 'theorem' must be a non-empty string")
    d = row.get("difficulty")
    if d is not None and (isinstance(d, bool) or not isinstance(d, int)):
        raise ValueError(f"{where}: 'difficulty' must be an integer or null, got {d!r}")
    for key in ("source", "run"):
        if row.get(key) is not None and not isinstance(row[key], str):
            raise ValueError(f"{where}: {key!r} must be a string")
    return row


def load_value_rows(path: str | Path) -> list[dict[str, Any]]:
    """The rows of a data file, each checked (`check_row`); an error names the file and line."""
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"evaluator data not found: {p}")
    rows = [check_row(row, f"{p}:{line}") for line, row in read_jsonl_numbered(p)]
    if not rows:
        raise ValueError(f"{p}: no rows")
    return rows


def select(rows: Iterable[dict[str, Any]], min_difficulty: int | None = None,
           max_difficulty: int | None = None) -> list[dict[str, Any]]:
    """Rows whose difficulty lies in [min, max]; with a bound given, rows without one are left out."""
    out = []
    for r in rows:
        d = r.get("difficulty")
        if (min_difficulty is not None or max_difficulty is not None) and d is None:
            continue
        if min_difficulty is not None and d < min_difficulty:
            continue
        if max_difficulty is not None and d > max_difficulty:
            continue
        out.append(r)
    return out


def split_by_theorem(rows: Sequence[dict[str, Any]], test_fraction: float,
                     seed: int = 0) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(train, test): the theorems shuffled with `seed`, the first round(fraction x count) of them
    (at least one when the fraction is positive and there are two or more) go to test."""
    if not 0 <= test_fraction < 1:
        raise ValueError(f"test fraction must be in [0, 1), got {test_fraction!r}")
    names = sorted({r["theorem"] for r in rows})
    random.Random(seed).shuffle(names)
    k = round(test_fraction * len(names))
    if test_fraction > 0 and len(names) > 1:
        k = min(max(k, 1), len(names) - 1)
    test = set(names[:k])
    return [r for r in rows if r["theorem"] not in test], [r for r in rows if r["theorem"] in test]


def difficulty_of(dataset_specs: Sequence[str]) -> dict[str, int]:
    """Theorem name -> `extra["difficulty"]` over the named datasets (eval.datasets specs)."""
    from eval.datasets import load_dataset

    out: dict[str, int] = {}
    for spec in dataset_specs:
        for t in load_dataset(spec):
            d = t.extra.get("difficulty")
            if isinstance(d, int) and not isinstance(d, bool):
                out[t.name] = d
    return out
