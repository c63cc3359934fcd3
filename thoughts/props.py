"""Reading Lean goals without Lean: the hypotheses and target of a goal as Lean prints it, and the
shape of a proposition (in notation `p ∧ q` or prefix form `And p q`).  Used by the rule teacher.

    parse_goal("p q : Prop\\nh : p ∧ q\\n⊢ q ∧ p")  -> Goal(hyps={"p": "Prop", "q": "Prop", "h": "p ∧ q"}, target="q ∧ p")
    parse_prop("p ∧ q").kind                          -> "and"
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Expr:
    """A proposition's shape: kind in and/or/iff/imp/not/forall/exists/false/true/atom."""

    kind: str
    text: str
    args: tuple[Expr, ...] = ()
    var: str = ""


@dataclass(frozen=True)
class Goal:
    hyps: dict[str, str] = field(default_factory=dict)  # name -> type text
    target: str = ""


def parse_goal(goal_text: str) -> Goal:
    """Hypotheses and target of the FIRST goal in a state text (goals are separated by blank lines)."""
    first = goal_text.strip().split("\n\n")[0]
    hyps: dict[str, str] = {}
    target: list[str] = []
    names: list[str] = []  # the hypotheses (or the target) a continuation line belongs to
    in_target = False
    for line in first.splitlines():
        if line.startswith("⊢"):
            target, in_target, names = [line[1:].strip()], True, []
        elif line[:1].isspace() and (in_target or names):  # continuation of a long type
            if in_target:
                target.append(line.strip())
            for n in names:
                hyps[n] = f"{hyps[n]} {line.strip()}"
        elif " : " in line and not in_target:
            left, typ = line.split(" : ", 1)
            names = left.split()
            for n in names:
                hyps[n] = typ.strip()
        else:
            names = []
    return Goal(hyps, " ".join(target).strip())


_BINDERS = ("∀", "∃", "fun ", "λ")
_INFIX = (("↔", "iff"), ("→", "imp"), ("∨", "or"), ("∧", "and"), ("=", "eq"))  # lowest precedence first


def strip_parens(s: str) -> str:
    """`s` without the parentheses that enclose all of it (`((p ∧ q))` -> `p ∧ q`)."""
    s = s.strip()
    while s.startswith("(") and s.endswith(")"):
        depth = 0
        for i, ch in enumerate(s):
            depth += ch == "("
            depth -= ch == ")"
            if depth == 0 and i < len(s) - 1:
                return s
        s = s[1:-1].strip()
    return s


def top_level_split(s: str, op: str) -> tuple[str, str] | None:
    """Split at the first `op` outside parentheses and before any binder (binders extend right)."""
    depth = 0
    i = 0
    while i < len(s):
        ch = s[i]
        if ch in "([{⟨":
            depth += 1
        elif ch in ")]}⟩":
            depth -= 1
        elif depth == 0:
            if any(s.startswith(b, i) and (i == 0 or s[i - 1] in " (") for b in _BINDERS):
                return None
            if s.startswith(op, i):
                return s[:i].strip(), s[i + len(op):].strip()
        i += 1
    return None


def split_atoms(s: str) -> list[str]:
    """Whitespace-separated top-level pieces of an application `f a (b c)`."""
    out, depth, cur = [], 0, ""
    for ch in s:
        if ch in "([{⟨":
            depth += 1
        elif ch in ")]}⟩":
            depth -= 1
        if ch.isspace() and depth == 0:
            if cur:
                out.append(cur)
            cur = ""
        else:
            cur += ch
    if cur:
        out.append(cur)
    return out


def binder(s: str, kind: str, depth: int = 0) -> Expr:
    """`∀ x, body` / `∃ x, body` / `fun x => body` (with optional type ascriptions)."""
    m = re.match(r"^(?:∀|∃|fun|λ)\s*\(?\s*([^\s,:()=]+)[^,=]*?(?:,|=>)\s*(.*)$", s, re.S)
    if not m:
        return Expr("atom", s)
    return Expr(kind, s, (parse_prop(m.group(2), depth + 1),), var=m.group(1))


MAX_DEPTH = 200  # a proposition nested deeper is read as an atom (no RecursionError)


def parse_prop(text: str, depth: int = 0) -> Expr:
    """The shape of a proposition; anything unrecognised (or nested deeper than MAX_DEPTH) is an
    `atom`.  Never raises."""
    s = strip_parens(text)
    if not s or depth > MAX_DEPTH:
        return Expr("atom", s or text)
    for op, kind in _INFIX:
        parts = top_level_split(s, f" {op} ")
        if parts:
            return Expr(kind, s, (parse_prop(parts[0], depth + 1), parse_prop(parts[1], depth + 1)))
    if s.startswith("¬"):
        return Expr("not", s, (parse_prop(s[1:], depth + 1),))
    if s.startswith("∀"):
        return binder(s, "forall", depth)
    if s.startswith("∃"):
        return binder(s, "exists", depth)
    atoms = split_atoms(s)
    head, args = atoms[0], atoms[1:]
    if head == "Exists" and args:
        inner = strip_parens(s[len("Exists"):])
        lam = binder(inner, "exists", depth)
        return Expr("exists", s, lam.args, var=lam.var) if lam.kind == "exists" else Expr("atom", s)
    arity = {"And": ("and", 2), "Or": ("or", 2), "Iff": ("iff", 2), "Not": ("not", 1), "Eq": ("eq", 2)}
    if head in arity and len(args) == arity[head][1]:
        return Expr(arity[head][0], s, tuple(parse_prop(a, depth + 1) for a in args))
    if s == "False":
        return Expr("false", s)
    if s == "True":
        return Expr("true", s)
    return Expr("atom", s)


SHAPE_WORDS = {
    "and": "a conjunction", "or": "a disjunction", "iff": "an equivalence", "imp": "an implication",
    "not": "a negation", "forall": "a universal statement", "exists": "an existential statement",
    "false": "False", "true": "True", "atom": "an atomic proposition", "eq": "an equation",
}


def norm(s: str) -> str:
    return re.sub(r"\s+", " ", strip_parens(s)).strip()


def hyp_with_type(goal: Goal, typ: str) -> str | None:
    want = norm(typ)
    return next((h for h, t in goal.hyps.items() if norm(t) == want), None)


def term_type(goal: Goal, term: str) -> Expr | None:
    """The proposition a proof term built from hypotheses proves: `h`, `h.1.2`, `h.mp`,
    `Eq.symm h`, `(h.2)`; None when it is not one of these."""
    term = strip_parens(term)
    atoms = split_atoms(term)
    if len(atoms) == 2 and atoms[0] == "Eq.symm":
        inner = term_type(goal, atoms[1])
        if inner is None or inner.kind != "eq":
            return None
        a, b = inner.args
        return Expr("eq", f"Eq {paren(b.text)} {paren(a.text)}", (b, a))
    if len(atoms) != 1:
        return None
    base, *fields = term.split(".")
    if base not in goal.hyps:
        return None
    e = parse_prop(goal.hyps[base])
    for f in fields:
        if e.kind == "and" and f in ("1", "left"):
            e = e.args[0]
        elif e.kind == "and" and f in ("2", "right"):
            e = e.args[1]
        elif e.kind == "iff" and f in ("1", "mp", "2", "mpr"):
            a, b = e.args if f in ("1", "mp") else e.args[::-1]
            e = Expr("imp", f"{a.text} → {b.text}", (a, b))
        else:
            return None
    return e


def paren(text: str) -> str:
    return f"({text})" if " " in text.strip() else text
