"""The rule teacher split into small rules (thoughts/rule_teacher.py) with nothing caught: the one
input that could raise inside the old catch-all (a proposition nested deep enough for a
RecursionError) is read as an atom, each rule answers only for its own steps, and teacher specs are
checked before anything is built."""

from __future__ import annotations

import pytest

from thoughts.props import MAX_DEPTH, parse_prop
from thoughts.rationale import check_teacher_spec, make_teacher
from thoughts.rule_teacher import RULES, RuleTeacher, Step


def test_deep_propositions_are_atoms_not_recursion_errors():
    deep = "¬" * 2000 + "p"  # deeper than Python's recursion limit
    e = parse_prop(deep)
    depth = 0
    while e.kind == "not":
        e, depth = e.args[0], depth + 1
    assert e.kind == "atom" and depth == MAX_DEPTH + 1  # the rest is one atom
    assert RuleTeacher().explain(f"p : Prop\nh : {deep}\n⊢ False", "h ?_").startswith("Hypothesis h")


def test_each_rule_declines_what_is_not_its_own():
    step = Step.of("p q : Prop\nhp : p\n⊢ Or q p", "Or.inr ?_")
    answers = {rule.__name__: rule(step) for rule in RULES}
    assert answers["disjunct"] and "right side p" in answers["disjunct"]
    assert [name for name, text in answers.items() if text is not None] == ["disjunct"]


def test_teacher_specs_are_checked_without_building_anything():
    for good in ("rule", "hf:some/model", "openai:gpt-x"):
        check_teacher_spec(good)
    for bad in ("rules", "hf:", "openai: ", "gpt", 3):
        with pytest.raises(ValueError, match="unknown teacher"):
            check_teacher_spec(bad, "cfg: teacher")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="unknown teacher 'rules'"):
        make_teacher("rules")
