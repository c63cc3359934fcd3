"""The vocabulary baseline: a fixed list of term templates, instantiated with the goal's names.

For the term-refinement env (`LeanTermEnv`) a step is a term for the first hole.  This policy
knows no model: for the first goal of a state it reads the hypothesis names (proofs) and
individual names (elements of a type) from Lean's context lines, fills every template with
every fitting name, and gives all resulting candidates the same log-probability
(-log of their number: the uniform distribution).  Best-first search with it is the
"enumerate a fixed vocabulary" baseline that learned policies must beat.

It lives with the logic benchmark (its templates are the benchmark's term steps) rather than in
`prover/`: the benchmark's baseline (`eval.logic.baseline`) uses it, and `eval` sits below `prover`
in the package layering (docs/architecture.md); `prover.factory` reaches it as the `vocab` spec.

Template placeholders: `{h}` a hypothesis, `{x}` an individual, `{f}` a function, `{new}`/`{new2}` fresh hypothesis
names, `{newx}` a fresh individual name.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import product

from core.types import Candidate, State

DEFAULT_VOCABULARY: tuple[str, ...] = (
    "{h}",
    "fun {new} => ?_",
    "And.intro ?_ ?_",
    "Iff.intro ?_ ?_",
    "Or.inl ?_",
    "Or.inr ?_",
    "trivial",
    "Eq.refl _",
    "{h}.1",
    "{h}.2",
    "{h} ?_",
    "{h} ?_ ?_",
    "{h}.mp ?_",
    "{h}.mpr ?_",
    "False.elim {h}",
    "False.elim ({h} ?_)",
    "absurd ?_ {h}",
    "Or.elim {h} (fun {new} => ?_) (fun {new2} => ?_)",
    "Exists.elim {h} (fun {newx} {new} => ?_)",
    "Exists.intro {x} ?_",
    "{h} {x}",
    "{h} {x} ?_",
    "Eq.symm {h}",
    "Eq.trans {h} ?_",
    "Eq.subst {h} ?_",
    "congrArg {f} ?_",
)

_SORTS = re.compile(r"^(Prop|Type|Sort)\b|→ (Prop|Type|Sort)\b")
_PLACEHOLDER = re.compile(r"\{(\w+)\}")


@dataclass(frozen=True)
class GoalNames:
    hypotheses: tuple[str, ...]  # names of proofs, nearest (latest) first
    individuals: tuple[str, ...]  # names of elements of a type such as `α`, `N`, `B`
    functions: tuple[str, ...]  # names of functions between such types
    taken: frozenset[str]


def parse_context(goal: str) -> GoalNames:
    """The names in a goal as Lean prints it ("a b : α\\nh : P a\\n⊢ target")."""
    entries: list[tuple[list[str], str]] = []
    for line in goal.split("\n"):
        if line.startswith("⊢"):
            break
        if line[:1].isspace() and entries:  # a long type wrapped onto the next line
            entries[-1] = (entries[-1][0], entries[-1][1] + " " + line.strip())
            continue
        names, sep, typ = line.partition(" : ")
        if sep:
            entries.append((names.split(), typ.strip()))
    hyps: list[str] = []
    inds: list[str] = []
    funs: list[str] = []
    taken: set[str] = set()
    types: set[str] = set()
    for names, typ in entries:
        taken.update(names)
        usable = [n for n in names if "✝" not in n]
        if _SORTS.search(typ):
            if typ == "Type" or typ.startswith(("Type ", "Sort")):
                types.update(usable)
            continue
        parts = [x.strip() for x in typ.split("→")]
        if typ in types or typ in ("N", "B"):
            inds += usable
        elif all(x in types or x in ("N", "B") for x in parts):
            funs += usable  # a function between types, not a proof
        else:
            hyps += usable
    return GoalNames(tuple(reversed(hyps)), tuple(reversed(inds)), tuple(reversed(funs)), frozenset(taken))


def _fresh(taken: set[str], base: str) -> str:
    k = 1
    while f"{base}{k}" in taken:
        k += 1
    taken.add(f"{base}{k}")
    return f"{base}{k}"


def instantiate(template: str, names: GoalNames) -> list[str]:
    """Every filling of `template` with the goal's names (fresh names are fresh for the goal)."""
    keys = set(_PLACEHOLDER.findall(template))
    taken = set(names.taken)
    fixed = {k: _fresh(taken, "x" if k == "newx" else "h") for k in ("newx", "new", "new2") if k in keys}
    pools = {"h": names.hypotheses, "x": names.individuals, "f": names.functions}
    choices = [(k, pools[k]) for k in ("h", "x", "f") if k in keys]
    out = []
    for combo in product(*(c for _, c in choices)):
        values = {**fixed, **{k: v for (k, _), v in zip(choices, combo, strict=True)}}
        out.append(_PLACEHOLDER.sub(lambda m, v=values: v.get(m.group(1), m.group(0)), template))
    return out


class VocabularyPolicy:
    """`Policy` that proposes every instantiation of a fixed term vocabulary, uniformly."""

    def __init__(self, vocabulary: Sequence[str] | None = None) -> None:
        vocab = tuple(DEFAULT_VOCABULARY if vocabulary is None else vocabulary)
        if not vocab or not all(isinstance(t, str) and t.strip() for t in vocab):
            raise ValueError("VocabularyPolicy: the vocabulary must be a non-empty list of non-empty templates")
        bad = sorted({k for t in vocab for k in _PLACEHOLDER.findall(t)} - {"h", "x", "f", "new", "new2", "newx"})
        if bad:
            raise ValueError(f"VocabularyPolicy: unknown placeholder(s) {', '.join('{' + b + '}' for b in bad)}")
        self.vocabulary = vocab

    def candidates(self, state: State) -> list[str]:
        if not state.goals:
            return []
        names = parse_context(state.goals[0])
        seen: set[str] = set()
        out = []
        for t in self.vocabulary:
            for filling in instantiate(t, names):
                if filling not in seen:
                    seen.add(filling)
                    out.append(filling)
        return out

    def propose(self, states: Sequence[State], n: int) -> list[list[Candidate]]:
        result = []
        for s in states:
            fills = self.candidates(s)
            lp = -math.log(len(fills)) if fills else 0.0
            result.append([Candidate(f, "", lp, 0) for f in fills[:n]])
        return result
