"""Predictable names for the binders of a reference proof.

The benchmark's small prover (`formula.py`) names every new hypothesis from one counter that runs
over the whole proof search, failed branches included: `Or.elim h2 (fun h13 => ?_) (fun h14 => ?_)`.
A model that reads only the goals cannot know that 13, so it spreads its probability over `h3`,
`h4`, `h5`, ..., and a beam search spends most of its beams on one step under several names (all
valid, all leading to the same state up to renaming).  `canonical_binders` renames every binder a
proof introduces to the smallest index not in scope there (`h3` when `h1` and `h2` are visible,
keeping the letter: `h` for hypotheses, `x` for individuals), which the goals do show.

A proof is its hole fillings in the order the term env takes them: each filling fills the first
`?_` of the term, so the fillings are a preorder walk of the proof tree (a filling with k holes is
followed by the fillings of its holes, first hole first).  A binder scopes over the holes of its
own `fun ... => ?_`.  The renamed proof is Lean's to judge, like every reference proof (the
replay that turns it into training rows runs it).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

IDENT = re.compile(r"(?<![\w.'])[A-Za-z_][\w']*")
HOLE_BINDERS = re.compile(r"fun\s+([^=()]*?)\s*=>\s*\?_|\?_")
NAMED = re.compile(r"^([A-Za-z_]+)(\d*)$")


def statement_names(statement: str) -> set[str]:
    """Every identifier of the statement text (a safe superset of its binder names)."""
    return set(IDENT.findall(statement))


def _holes(filling: str) -> list[list[str]]:
    """For each `?_` of a filling, in textual order, the names its `fun ... =>` binds (maybe none)."""
    return [m.group(1).split() if m.group(1) else [] for m in HOLE_BINDERS.finditer(filling)]


def _fresh(old: str, taken: set[str]) -> str:
    m = NAMED.match(old)
    prefix = m.group(1) if m else "h"
    i = 1
    while f"{prefix}{i}" in taken:
        i += 1
    return f"{prefix}{i}"


def canonical_binders(statement: str, fillings: Sequence[str]) -> list[str]:
    """The proof with each binder renamed to the smallest free index of its letter in its scope
    (see the module docstring).  A proof whose holes do not add up (more fillings than holes, or
    holes left), or one filling binding one name twice with different new names, is returned
    unchanged."""
    base = statement_names(statement)
    out: list[str] = []
    # the open holes, the next to be filled last: (old -> new names in scope, new names in scope)
    stack: list[tuple[dict[str, str], frozenset[str]]] = [({}, frozenset())]
    for filling in fillings:
        if not stack:
            return list(fillings)
        mapping, scope = stack.pop()
        introduced: dict[str, str] = {}
        per_hole: list[tuple[dict[str, str], frozenset[str]]] = []
        for names in _holes(filling):
            taken = base | scope
            hole_map, new_names = dict(mapping), []
            for old in names:
                new = _fresh(old, taken | set(new_names))
                if introduced.setdefault(old, new) != new:
                    return list(fillings)
                hole_map[old] = new
                new_names.append(new)
            per_hole.append((hole_map, scope | frozenset(new_names)))

        def rename(m: re.Match[str], introduced: dict[str, str] = introduced, mapping: dict[str, str] = mapping) -> str:
            w = m.group(0)
            return introduced.get(w, mapping.get(w, w))

        out.append(IDENT.sub(rename, filling))
        stack.extend(reversed(per_hole))
    return out if not stack else list(fillings)
