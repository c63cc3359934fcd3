"""The rule teacher: explains a proof step from the shape of the goal and of the hypotheses it uses,
with no model.

Written for the logic benchmark's term fillings (`fun h => ?_`, `And.intro ?_ ?_`, `Or.elim h ?_ ?_`,
`h.1`, `False.elim ?_`, `Exists.intro x ?_`, ...) and the matching Lean tactics (`intro`,
`constructor`, `cases`, `exact`, `left`, `exfalso`, `use`, ...).  Each rule below is a function of
the step that returns a sentence or None (does not apply); `RuleTeacher.explain` tries them in order
and falls back to a sentence about the goal's shape.  Nothing is caught: the parsers never raise
(thoughts/props.py), and a rule that did would be a bug to see, not to hide.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from thoughts.props import (
    SHAPE_WORDS,
    Expr,
    Goal,
    hyp_with_type,
    norm,
    parse_goal,
    parse_prop,
    split_atoms,
    strip_parens,
    term_type,
)


@dataclass(frozen=True)
class Step:
    """One step to explain: the goal, its target's shape, the step text, its head word and arguments."""

    goal: Goal
    target: Expr
    tactic: str
    head: str
    args: tuple[str, ...]

    @classmethod
    def of(cls, state: str, tactic: str) -> Step:
        goal = parse_goal(state)
        target = parse_prop(goal.target) if goal.target else Expr("atom", "")
        tac = tactic.strip()
        a = split_atoms(tac) or [""]
        return cls(goal, target, tac, a[0], tuple(a[1:]))


Rule = Callable[[Step], "str | None"]


def fallback(s: Step) -> str:
    t = s.target
    if not t.text:
        return f"Make progress on the goal with the step `{s.tactic}`."
    return f"The goal {t.text} is {SHAPE_WORDS[t.kind]}; the step `{s.tactic}` makes progress on it."


_INTRO = re.compile(r"^(?:fun|λ|intro|intros)\s+(.+?)(?:\s*=>.*)?$", re.S)


def introduction(s: Step) -> str | None:
    m = _INTRO.match(s.tactic)
    if not (m and s.head in ("fun", "λ", "intro", "intros")):
        return None
    t, names = s.target, m.group(1).strip()
    if names.startswith("⟨"):
        return (f"The goal starts with an assumption that is a compound: "
                f"take it apart as {names} and continue with what it provides.")
    first = names.split()[0]
    if t.kind == "imp":
        return f"The goal is an implication: assume {t.args[0].text} as {first}, then prove {t.args[1].text}."
    if t.kind == "not":
        return (f"The goal is the negation ¬{t.args[0].text}, which means {t.args[0].text} → False: "
                f"assume {t.args[0].text} as {first} and derive False.")
    if t.kind == "forall":
        return f"The goal is universal over {t.var}: take an arbitrary {first} and prove {t.args[0].text} for it."
    return f"The goal {t.text} is {SHAPE_WORDS[t.kind]}; introduce {first} to expose what must be proved."


def construction(s: Step) -> str | None:
    t = s.target
    if not (s.head in ("And.intro", "constructor", "⟨?_,", "Iff.intro")
            or (s.tactic.startswith("⟨") and t.kind in ("and", "iff"))):
        return None
    if t.kind == "and":
        return (f"The goal is a conjunction: prove the left part {t.args[0].text} and the right part "
                f"{t.args[1].text} separately.")
    if t.kind == "iff":
        lhs, rhs = t.args[0].text, t.args[1].text
        return f"The goal is an equivalence: prove both directions, {lhs} → {rhs} and {rhs} → {lhs}."
    return None


def disjunct(s: Step) -> str | None:
    t = s.target
    if not (s.head in ("Or.inl", "left", "Or.inr", "right") and t.kind == "or"):
        return None
    left = s.head in ("Or.inl", "left")
    side, other = (t.args[0], t.args[1]) if left else (t.args[1], t.args[0])
    h = hyp_with_type(s.goal, side.text)
    why = f"hypothesis {h} gives it directly" if h else f"it can be proved from the hypotheses, unlike {other.text}"
    return f"The goal is a disjunction: prove its {'left' if left else 'right'} side {side.text}, since {why}."


def witness(s: Step) -> str | None:
    t, tac = s.target, s.tactic
    if not (s.head in ("Exists.intro", "use", "exists") or (tac.startswith("⟨") and t.kind == "exists")):
        return None
    w = s.args[0] if s.head != "⟨" and s.args else tac.strip("⟨⟩").split(",")[0].strip()
    if tac.startswith("⟨"):
        w = tac.strip("⟨⟩").split(",")[0].strip()
    return (f"The goal is an existential statement over {t.var or 'a witness'}: take {w} as the witness "
            "and prove the property for it.")


def truth(s: Step) -> str | None:
    if s.head in ("True.intro", "trivial") and s.target.kind == "true":
        return "The goal is True, which holds trivially."
    return None


def contradiction(s: Step) -> str | None:
    if s.head not in ("False.elim", "exfalso", "absurd", "False.rec"):
        return None
    hyp = s.goal.hyps
    neg = next((h for h, ty in hyp.items() if parse_prop(ty).kind == "not"), None)
    extra = f" The negation {neg} : {hyp[neg]} makes that possible." if neg else ""
    return (f"The goal {s.target.text} does not follow directly, but the hypotheses are contradictory: "
            f"prove False instead.{extra}")


def equation(s: Step) -> str | None:
    t, head, args = s.target, s.head, s.args
    if head in ("Eq.refl", "rfl") and t.kind == "eq":
        return f"Both sides of the equation {t.text} are the same term."
    if head == "Eq.symm" and args:
        ht = term_type(s.goal, args[0])
        if ht is not None:
            return f"The goal {t.text} is {strip_parens(args[0])} : {ht.text} read backwards."
    if head == "Eq.trans" and args and t.kind == "eq":
        ht = term_type(s.goal, args[0])
        if ht is not None and ht.kind == "eq":
            mid, rhs = ht.args[1].text, t.args[1].text
            return (f"The goal is the equation {t.text}: go through {mid}. {strip_parens(args[0])} gives "
                    f"{ht.text}, so it remains to prove that {mid} equals {rhs}.")
    if head in ("Eq.subst", "Eq.mpr", "Eq.mp") and args:
        ht = term_type(s.goal, args[0])
        if ht is not None and ht.kind == "eq":
            return (f"Rewrite along {strip_parens(args[0])} : {ht.text}: the goal {t.text} follows from the "
                    f"same statement about {ht.args[0].text} instead of {ht.args[1].text}.")
    return None


def cases_on_a_part(s: Step) -> str | None:
    """Case analysis on a part of a hypothesis (`Or.elim h.2 ?_ ?_`)."""
    if not (s.head in ("Or.elim", "Exists.elim", "cases", "rcases", "obtain") and s.args and "." in s.args[0]):
        return None
    ht, name = term_type(s.goal, s.args[0]), strip_parens(s.args[0])
    if ht is not None and ht.kind == "or":
        return (f"{name} is the disjunction {ht.text}: prove the goal {s.target.text} in each case, "
                f"once assuming {ht.args[0].text} and once assuming {ht.args[1].text}.")
    if ht is not None and ht.kind == "exists":
        return f"{name} is the existential {ht.text}: unpack its witness and the property it has."
    return None


def deep_projection(s: Step) -> str | None:
    """A part of a hypothesis, several projections deep (`h.2.1`)."""
    hyp, head = s.goal.hyps, s.head
    if s.args or head.count(".") < 2 or head.split(".")[0] not in hyp:
        return None
    ht, base = term_type(s.goal, head), head.split(".")[0]
    if ht is None:
        return None
    exact = ", exactly the goal" if norm(ht.text) == norm(s.target.text) else ""
    return f"Hypothesis {base} : {hyp[base]} is built from conjunctions; its part {head[len(base):]} is {ht.text}{exact}."


_ELIMINATORS = ("Or.elim", "Or.rec", "cases", "rcases", "Exists.elim", "And.elim", "Iff.mp", "Iff.mpr",
                "And.left", "And.right")


def elimination(s: Step) -> str | None:
    """Taking a hypothesis apart (`Or.elim h`, `h.1`, `h.mp`, `cases h`, ...), by the hypothesis' shape."""
    hyp, head, t = s.goal.hyps, s.head, s.target
    h = None
    if head in _ELIMINATORS and s.args:
        h = s.args[0]
    elif "." in head and head.split(".")[0] in hyp:
        h = head.split(".")[0]
    if h is None or h not in hyp:
        return None
    ht = parse_prop(hyp[h])
    field_ = head.split(".", 1)[1] if head.startswith(h + ".") else head
    if ht.kind == "or":
        return (f"Hypothesis {h} is the disjunction {ht.text}: prove the goal {t.text} in each case, "
                f"once assuming {ht.args[0].text} and once assuming {ht.args[1].text}.")
    if ht.kind == "and":
        if field_ in ("1", "left", "And.left"):
            return f"Hypothesis {h} : {ht.text} contains the goal {t.text} as its left part."
        if field_ in ("2", "right", "And.right"):
            return f"Hypothesis {h} : {ht.text} contains the goal {t.text} as its right part."
        return f"Hypothesis {h} is the conjunction {ht.text}: use both of its parts."
    if ht.kind == "iff":
        if field_ in ("mp", "1", "Iff.mp"):
            return (f"Hypothesis {h} : {ht.text} turns {ht.args[0].text} into {ht.args[1].text}: "
                    "use its forward direction.")
        if field_ in ("mpr", "2", "Iff.mpr"):
            return (f"Hypothesis {h} : {ht.text} turns {ht.args[1].text} into {ht.args[0].text}: "
                    "use its backward direction.")
        return None
    if ht.kind == "exists":
        return f"Hypothesis {h} is the existential {ht.text}: unpack its witness {ht.var} and the property it has."
    if ht.kind == "false":
        return f"Hypothesis {h} is False, from which anything follows."
    return None


def use_hypothesis(s: Step) -> str | None:
    """A hypothesis used directly or as a function (`h`, `h ?_`, `exact h`, `apply h`)."""
    head, args = s.head, s.args
    if head in ("exact", "apply") and args:
        head, args = args[0], args[1:]
    hyp, t = s.goal.hyps, s.target
    if head not in hyp:
        return None
    ht = parse_prop(hyp[head])
    if not args:
        if norm(hyp[head]) == norm(t.text):
            return f"Hypothesis {head} states exactly the goal {t.text}."
        return f"Hypothesis {head} : {hyp[head]} closes the goal {t.text}."
    if ht.kind == "imp":
        return f"Hypothesis {head} : {ht.text} concludes {ht.args[1].text}; to use it, supply {ht.args[0].text}."
    if ht.kind == "not":
        return f"Hypothesis {head} : {ht.text} refutes {ht.args[0].text}, so proving {ht.args[0].text} gives False."
    if ht.kind == "forall":
        return f"Hypothesis {head} holds for every {ht.var}; instantiate it to get the goal."
    return f"Hypothesis {head} : {hyp[head]} applies here."


RULES: tuple[Rule, ...] = (introduction, construction, disjunct, witness, truth, contradiction, equation,
                           cases_on_a_part, deep_projection, elimination, use_hypothesis)


class RuleTeacher:
    """A `Teacher` that writes each rationale with the first rule of `RULES` that applies."""

    name = "rule"

    def explain_batch(self, items: Sequence[tuple[str, str]]) -> list[str]:
        return [self.explain(state, tactic) for state, tactic in items]

    def explain(self, state: str, tactic: str) -> str:
        step = Step.of(state, tactic)
        for rule in RULES:
            text = rule(step)
            if text is not None:
                return text
        return fallback(step)
