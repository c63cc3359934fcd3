"""Prompt/target formats: round trips, and parsing that never crashes on malformed output."""

from __future__ import annotations

import random

import pytest

from thoughts.format import (
    END,
    FORMATS,
    TACTIC,
    Dropped,
    ParsedProof,
    ParsedStep,
    build_prompt,
    build_proof_prompt,
    format_proof_target,
    format_target,
    parse_output,
    parse_proof_output,
)

STEPS = [
    ("Assume p and prove q.", "fun hp => ?_"),
    ("", "And.intro ?_ ?_"),
    ("The goal ¬p means p → False.\nSo assume p.", "intro h"),
    ("Use h's left part: p ∧ q gives p.", "exact h.1"),
    ("multi-line tactic", "constructor\n· exact hp\n· exact hq"),
]


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("thought,tactic", STEPS)
def test_round_trip(fmt: str, thought: str, tactic: str) -> None:
    prompt = build_prompt("p q : Prop\nh : And p q\n⊢ And q p", fmt)
    target = format_target(thought, tactic, fmt)
    full = prompt + target + " trailing junk after the end marker"
    parsed = parse_output(full[len(prompt):], fmt)
    assert parsed == ParsedStep(thought.strip() if fmt == "thought" else "", tactic)


def test_prompt_shapes() -> None:
    assert build_prompt("⊢ p", "tactic") == "[GOALS]\n⊢ p\n[TACTIC]\n"
    assert build_prompt("  ⊢ p\n", "thought") == "[GOALS]\n⊢ p\n[THOUGHT]\n"
    with pytest.raises(ValueError, match="unknown step format"):
        build_prompt("⊢ p", "lean-star")


def test_format_target_rejects_unparseable_rows() -> None:
    with pytest.raises(ValueError, match="empty tactic"):
        format_target("why", "  ", "tactic")
    with pytest.raises(ValueError, match=r"thought contains the delimiter \[TACTIC\]"):
        format_target("see [TACTIC] here", "rfl", "thought")
    with pytest.raises(ValueError, match="tactic contains"):
        format_target("", "exact h [END]", "tactic")


@pytest.mark.parametrize("text,fmt,reason", [
    ("fun h => ?_", "tactic", "no [END] marker"),
    ("just thinking, no tactic\n[END]", "thought", "no [TACTIC] delimiter"),
    ("thinking\n[TACTIC]\n   \n[END]", "thought", "empty tactic"),
    ("\n[END]", "tactic", "empty tactic"),
    ("exact h\n[GOALS]\n⊢ p\n[END]", "tactic", "tactic contains the delimiter [GOALS]"),
    ("a [THOUGHT] b\n[TACTIC]\nrfl\n[END]", "thought", "thought contains the delimiter [THOUGHT]"),
    ("exact \ufffd\n[END]", "tactic", "undecodable"),
    ("", "thought", "no [END] marker"),
])
def test_malformed_outputs_are_dropped_with_a_reason(text: str, fmt: str, reason: str) -> None:
    out = parse_output(text, fmt)
    assert isinstance(out, Dropped)
    assert reason in out.reason


def test_missing_end_accepted_when_generation_ended_on_eos() -> None:
    assert parse_output("why\n[TACTIC]\nrfl", "thought", require_end=False) == ParsedStep("why", "rfl")
    assert parse_output("rfl", "tactic", require_end=False) == ParsedStep("", "rfl")


def test_parser_never_raises_on_random_text() -> None:
    rng = random.Random(0)
    alphabet = ["[TACTIC]", "[END]", "[THOUGHT]", "[GOALS]", "\n", " ", "a", "⊢", "?_", "\ufffd", "[", "]"]
    for _ in range(2000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 12)))
        for fmt in FORMATS:
            out = parse_output(text, fmt)
            assert isinstance(out, ParsedStep | Dropped)
            if isinstance(out, ParsedStep):
                assert out.tactic and TACTIC not in out.tactic and END not in out.tactic
        assert isinstance(parse_proof_output(text), ParsedProof | Dropped)
    assert isinstance(parse_output(None, "tactic"), Dropped)  # type: ignore[arg-type]


def test_whole_proof_round_trip() -> None:
    stmt = "theorem t (p q : Prop) (hp : p) (hq : q) : And p q := by"
    prompt = build_proof_prompt(stmt)
    assert prompt == f"[THEOREM]\n{stmt}\n[PROOF]\n"
    body = "\n  constructor\n  · exact hp\n  · exact hq"
    target = format_proof_target(body)
    assert parse_proof_output(target) == ParsedProof("constructor\n· exact hp\n· exact hq")
    assert isinstance(parse_proof_output("constructor"), Dropped)  # cut off
    assert parse_proof_output("And.intro hp hq", require_end=False) == ParsedProof("And.intro hp hq")
    assert parse_proof_output("\n[END]") == Dropped("empty proof")
    with pytest.raises(ValueError):
        format_proof_target("  ")


def test_prompt_fitting_drops_trailing_goals_never_the_first() -> None:
    from thoughts.format import build_prompt_fitting

    state = "h : p\n⊢ p\n\nh : q\n⊢ q\n\nh : r\n⊢ r"
    assert build_prompt_fitting(state, "tactic", lambda p: True) == build_prompt(state, "tactic")
    short = build_prompt_fitting(state, "thought", lambda p: len(p) <= len(build_prompt("h : p\n⊢ p\n\nh : q\n⊢ q",
                                                                                          "thought")))
    assert short == build_prompt("h : p\n⊢ p\n\nh : q\n⊢ q", "thought")
    # nothing fits: the first goal alone is left for the caller to cut
    assert build_prompt_fitting(state, "tactic", lambda p: False) == build_prompt("h : p\n⊢ p", "tactic")
