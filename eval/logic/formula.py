"""Formulas of the logic benchmark, their Lean text, and a small prover that writes reference proofs.

A formula is a tuple:
    ("atom", "p")           a propositional variable           p
    ("pred", "P", "x")      a predicate on an individual        P x
    ("eq", "a", "b")        equality of individuals             Eq a b
    ("true",) ("false",)    True / False
    ("not", A)  ("and", A, B)  ("or", A, B)  ("imp", A, B)  ("iff", A, B)
    ("ex", "x", A)  ("all", "x", A)   quantifiers over the type `α`

`prove` is a depth-limited, goal-directed intuitionistic prover whose steps are exactly
the term-refinement steps of `LeanTermEnv`: each step fills the first `?_` with one
term (`fun h => ?_`, `And.intro ?_ ?_`, `Or.elim h (fun h1 => ?_) (fun h2 => ?_)`, `h.1`, ...).
The proof it returns is that list of fillings; Lean, not this module, judges it.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

Formula = tuple


def lean(f: Formula) -> str:
    """The Lean text of a formula (prefix form: the prelude has no notation)."""
    tag = f[0]
    if tag == "atom":
        return f[1]
    if tag == "pred":
        return f"{f[1]} {f[2]}"
    if tag == "eq":
        return f"Eq {f[1]} {f[2]}"
    if tag == "true":
        return "True"
    if tag == "false":
        return "False"
    if tag == "not":
        return f"Not {_arg(f[1])}"
    if tag in ("and", "or", "iff"):
        return f"{tag.capitalize()} {_arg(f[1])} {_arg(f[2])}"
    if tag == "imp":
        left = f"({lean(f[1])})" if f[1][0] in ("imp", "all", "ex") else lean(f[1])
        return f"{left} → {lean(f[2])}"
    if tag == "ex":
        return f"Exists fun ({f[1]} : α) => {lean(f[2])}"
    if tag == "all":
        return f"∀ {f[1]} : α, {lean(f[2])}"
    raise ValueError(f"unknown formula tag {tag!r}")


def _arg(f: Formula) -> str:
    return lean(f) if f[0] in ("atom", "true", "false") else f"({lean(f)})"


def subst(f: Formula, var: str, term: str) -> Formula:
    tag = f[0]
    if tag == "pred":
        return ("pred", f[1], term if f[2] == var else f[2])
    if tag == "eq":
        return ("eq", term if f[1] == var else f[1], term if f[2] == var else f[2])
    if tag in ("ex", "all"):
        return f if f[1] == var else (tag, f[1], subst(f[2], var, term))
    if tag in ("not",):
        return (tag, subst(f[1], var, term))
    if tag in ("and", "or", "imp", "iff"):
        return (tag, subst(f[1], var, term), subst(f[2], var, term))
    return f


def size(f: Formula) -> int:
    return 1 + sum(size(x) for x in f[1:] if isinstance(x, tuple))


@dataclass
class Node:
    """One refinement step: `filling` has one `?_` per child, in textual order."""

    filling: str
    children: list[Node] = field(default_factory=list)

    def fillings(self) -> list[str]:
        out = [self.filling]
        for c in self.children:
            out += c.fillings()
        return out


@dataclass
class _Ctx:
    hyps: list[tuple[str, Formula]]
    individuals: list[str]
    used: frozenset[str] = frozenset()  # hypotheses already case-split
    counter: list[int] = field(default_factory=lambda: [0])

    def fresh(self, base: str) -> str:
        taken = {n for n, _ in self.hyps} | set(self.individuals)
        while True:
            self.counter[0] += 1
            name = f"{base}{self.counter[0]}"
            if name not in taken:
                return name

    def with_hyp(self, name: str, f: Formula) -> _Ctx:
        return _Ctx([*self.hyps, (name, f)], self.individuals, self.used, self.counter)


def _facts(ctx: _Ctx) -> Iterator[tuple[str, Formula]]:
    """Hypotheses and their conjunction projections (`h`, `h.1`, `h.2.1`, ...)."""
    def walk(term: str, f: Formula) -> Iterator[tuple[str, Formula]]:
        yield term, f
        if f[0] == "and":
            yield from walk(f"{term}.1", f[1])
            yield from walk(f"{term}.2", f[2])
    for name, f in reversed(ctx.hyps):
        yield from walk(name, f)


def _premises(f: Formula, goal: Formula) -> list[Formula] | None:
    """If f is A1 → ... → Ak → goal (Not A counts as A → False), the premises A1..Ak."""
    prem: list[Formula] = []
    while True:
        if f == goal:
            return prem
        if f[0] == "imp":
            prem.append(f[1])
            f = f[2]
        elif f[0] == "not":
            prem.append(f[1])
            f = ("false",)
        else:
            return None


def prove(hyps: list[tuple[str, Formula]], goal: Formula, individuals: list[str] = (), depth: int = 8,
          max_nodes: int = 20000) -> list[str] | None:
    """A reference proof (fillings in order) of `goal` from `hyps`, or None within the limits."""
    budget = [max_nodes]
    for d in range(1, depth + 1):  # iterative deepening: short proofs first
        node = _prove(_Ctx(list(hyps), list(individuals)), goal, d, budget)
        if node is not None:
            return node.fillings()
        if budget[0] <= 0:
            return None
    return None


def _all(ctx: _Ctx, goals: list[tuple[_Ctx, Formula]], d: int, budget: list[int]) -> list[Node] | None:
    out = []
    for c, g in goals:
        n = _prove(c, g, d, budget)
        if n is None:
            return None
        out.append(n)
    return out


def _prove(ctx: _Ctx, goal: Formula, d: int, budget: list[int]) -> Node | None:
    budget[0] -= 1
    if d <= 0 or budget[0] <= 0:
        return None
    facts = list(_facts(ctx))
    for term, f in facts:
        if f == goal:
            return Node(term)
    tag = goal[0]
    if tag == "true":
        return Node("trivial")
    if tag == "eq" and goal[1] == goal[2]:
        return Node(f"Eq.refl {goal[1]}")
    if tag in ("imp", "not"):
        h = ctx.fresh("h")
        body = goal[2] if tag == "imp" else ("false",)
        sub = _prove(ctx.with_hyp(h, goal[1]), body, d - 1, budget)
        return None if sub is None else Node(f"fun {h} => ?_", [sub])
    if tag == "all":
        x = ctx.fresh("x")
        c2 = _Ctx(ctx.hyps, [*ctx.individuals, x], ctx.used, ctx.counter)
        sub = _prove(c2, subst(goal[2], goal[1], x), d - 1, budget)
        return None if sub is None else Node(f"fun {x} => ?_", [sub])
    if tag == "and":
        kids = _all(ctx, [(ctx, goal[1]), (ctx, goal[2])], d - 1, budget)
        return None if kids is None else Node("And.intro ?_ ?_", kids)
    if tag == "iff":
        kids = _all(ctx, [(ctx, ("imp", goal[1], goal[2])), (ctx, ("imp", goal[2], goal[1]))], d - 1, budget)
        return None if kids is None else Node("Iff.intro ?_ ?_", kids)
    for term, f in facts:
        if f[0] == "false":
            return Node(f"False.elim {term}")
    direct = _prove_choice(ctx, facts, goal, d, budget)
    if direct is not None:
        return direct
    for term, f in facts:  # case splits are invertible: do the first one available
        if term in ctx.used:
            continue
        used = ctx.used | {term}
        if f[0] == "or":
            a, b = ctx.fresh("h"), ctx.fresh("h")
            base = _Ctx(ctx.hyps, ctx.individuals, used, ctx.counter)
            kids = _all(ctx, [(base.with_hyp(a, f[1]), goal), (base.with_hyp(b, f[2]), goal)], d - 1, budget)
            return None if kids is None else Node(f"Or.elim {term} (fun {a} => ?_) (fun {b} => ?_)", kids)
        if f[0] == "ex":
            x, h = ctx.fresh("x"), ctx.fresh("h")
            base = _Ctx(ctx.hyps, [*ctx.individuals, x], used, ctx.counter)
            sub = _prove(base.with_hyp(h, subst(f[2], f[1], x)), goal, d - 1, budget)
            return None if sub is None else Node(f"Exists.elim {term} (fun {x} {h} => ?_)", [sub])
    return None


def _prove_choice(ctx: _Ctx, facts: list[tuple[str, Formula]], goal: Formula, d: int,
                  budget: list[int]) -> Node | None:
    """The steps that may fail and need backtracking."""
    for term, f in facts:
        cands: list[tuple[str, list[Formula]]] = []
        prem = _premises(f, goal)
        if prem:
            cands.append((term, prem))
        if f[0] == "iff":
            if f[2] == goal:
                cands.append((f"{term}.mp", [f[1]]))
            if f[1] == goal:
                cands.append((f"{term}.mpr", [f[2]]))
        if f[0] == "all":
            for c in ctx.individuals:
                p = _premises(subst(f[2], f[1], c), goal)
                if p is not None:
                    cands.append((f"{term} {c}", p))
        for head, prem in cands:
            kids = _all(ctx, [(ctx, p) for p in prem], d - 1, budget)
            if kids is not None:
                return Node(head + " ?_" * len(prem), kids) if prem else Node(head)
    tag = goal[0]
    if tag == "or":
        for which, part in (("inl", goal[1]), ("inr", goal[2])):
            sub = _prove(ctx, part, d - 1, budget)
            if sub is not None:
                return Node(f"Or.{which} ?_", [sub])
    if tag == "ex":
        for c in ctx.individuals:
            sub = _prove(ctx, subst(goal[2], goal[1], c), d - 1, budget)
            if sub is not None:
                return Node(f"Exists.intro {c} ?_", [sub])
    if tag == "eq":
        for term, f in facts:
            if f[0] == "eq" and f[1] == goal[2] and f[2] == goal[1]:
                return Node(f"Eq.symm {term}")
        for term, f in facts:
            if f[0] != "eq":
                continue
            if f[1] == goal[1] and f[2] != goal[1]:
                sub = _prove(ctx, ("eq", f[2], goal[2]), d - 1, budget)
                if sub is not None:
                    return Node(f"Eq.trans {term} ?_", [sub])
            if f[2] == goal[1] and f[1] != goal[1]:
                sub = _prove(ctx, ("eq", f[1], goal[2]), d - 1, budget)
                if sub is not None:
                    return Node(f"Eq.trans (Eq.symm {term}) ?_", [sub])
    if tag == "pred":
        for term, f in facts:
            if f[0] == "eq" and f[2] == goal[2] and f[1] != goal[2]:
                sub = _prove(ctx, ("pred", goal[1], f[1]), d - 1, budget)
                if sub is not None:
                    return Node(f"Eq.subst {term} ?_", [sub])
    if tag != "false":
        for term, f in facts:
            if f[0] == "not":
                sub = _prove(ctx, f[1], d - 1, budget)
                if sub is not None:
                    return Node(f"False.elim ({term} ?_)", [sub])
    return None
