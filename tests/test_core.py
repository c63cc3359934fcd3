"""The shared bottom layer: configs from dicts, proof texts, failure kinds."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from core.config import check_fields, from_dict, parse_assignments
from core.proof_text import build_term, render_proof, render_tactic_proof, tactic_blocks
from core.types import Failed, FailureKind


@dataclass(frozen=True)
class Cfg:
    n: int = 1
    lr: float = 0.1
    name: str = "x"
    flag: bool = False
    stop: tuple[str, ...] = ()
    limit: int | None = None


def test_from_dict_names_the_input_the_field_and_the_type():
    assert from_dict(Cfg, {"n": 3, "lr": 2, "stop": ["a"]}, "c.json") == Cfg(n=3, lr=2, stop=("a",))
    for bad, msg in [({"n": 2.5}, "c.json: n=2.5 must be an integer"), ({"lr": "fast"}, "c.json: lr='fast' must be a number"),
                     ({"flag": 1}, "flag=1 must be true or false"), ({"lr": float("nan")}, "lr=nan"),
                     ({"limit": "3"}, "limit='3' must be an integer or null"), ({"nn": 1}, "unknown field(s) nn; known: n")]:
        with pytest.raises(ValueError, match=msg.replace("(", r"\(").replace(")", r"\)")):
            from_dict(Cfg, bad, "c.json")
    with pytest.raises(ValueError, match="expected an object"):
        from_dict(Cfg, [1], "c.json")
    with pytest.raises(ValueError, match="n='2' must be an integer"):
        check_fields(Cfg(n="2"), "code")  # type: ignore[arg-type]


def test_parse_assignments():
    assert parse_assignments("n=8, length_normalize=true,c=1.5,name=x,z=null", "--config") == {
        "n": 8, "length_normalize": True, "c": 1.5, "name": "x", "z": None}
    for bad in ("n", "=3", "n=1,n=2"):
        with pytest.raises(ValueError, match="--config part"):
            parse_assignments(bad, "--config")


def test_tactic_blocks_inverts_render_tactic_proof():
    tactics = ["constructor", "cases h with\n  | inl a => exact a\n  | inr b => exact b", "exact hq"]
    text = render_tactic_proof(tactics, ["split the goal\nin two", "", "the right side"])
    assert "  -- split the goal\n  -- in two\n  constructor" in text
    assert tactic_blocks(text) == tactics
    assert tactic_blocks("\n  -- nothing but a comment\n") == []


def test_term_proofs_fill_the_first_hole():
    assert build_term(["fun h => ?_", "And.intro ?_ ?_", "h.2", "h.1"]) == "(fun h => (And.intro h.2 h.1))"
    assert render_proof("term", ["h"], ["a thought has no place in a term"]) == " h"
    with pytest.raises(ValueError, match="no open hole"):
        build_term(["h", "h"])
    with pytest.raises(ValueError, match="unknown proof style"):
        render_proof("mixed", ["h"])


def test_failure_kinds():
    assert Failed("boom").kind is FailureKind.TACTIC
    assert Failed("slow", "timeout").kind is FailureKind.TIMEOUT  # a kind's value is accepted too
    with pytest.raises(ValueError):
        Failed("?", "weird")
