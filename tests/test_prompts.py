"""Golden strings for every named prompt format (thoughts/prompts.py): the prompt each published
checkpoint family's eval code builds, its stop strings, and the authors' reading of its output.
The expected strings are written out by hand from the sources listed in docs/generator.md."""

from __future__ import annotations

import pytest

from core.types import ProofPrefix, Theorem
from thoughts.format import Dropped, ParsedProof, ParsedStep
from thoughts.prompts import (
    LEAN4_DEFAULT_HEADER,
    PROMPTS,
    SEQ2SEQ,
    STEP,
    WHOLE,
    StepInput,
    get_prompt,
    normal_body,
    proof_steps,
)

STATE = "x : ℝ\nh₀ : 2 * x = 4\n⊢ x = 2"
TWO_GOALS = "case left\np q : Prop\nh : p ∧ q\n⊢ q\n\ncase right\np q : Prop\nh : p ∧ q\n⊢ p"
X = StepInput(STATE, name="mathd_algebra_10", proof_before=("have h : x * 2 = 4 := by linarith", "norm_num at h"))
THM = Theorem("mathd_algebra_10", LEAN4_DEFAULT_HEADER, "theorem mathd_algebra_10 (x : ℝ) (h₀ : 2 * x = 4) : x = 2 := by",
              {"informal_prefix": "/-- Solve 2x = 4. Show that x = 2.-/\n"})

STEP_GOLDEN = {
    "tactic": "[GOALS]\nx : ℝ\nh₀ : 2 * x = 4\n⊢ x = 2\n[TACTIC]\n",
    "thought": "[GOALS]\nx : ℝ\nh₀ : 2 * x = 4\n⊢ x = 2\n[THOUGHT]\n",
    "lean-star": (
        "<|im_start|>user\nMy LEAN 4 state is:\n```lean\nx : ℝ\nh₀ : 2 * x = 4\n⊢ x = 2```\n"
        "Please write down the reasoning that leads to the possible next tactic and then predict the tactic to help "
        "me prove the theorem.<|im_end|>\n<|im_start|>assistant\n"),
    "internlm2-math-plus": (
        "<|im_start|>user\nMy LEAN 4 state is:\n```lean\nx : ℝ\nh₀ : 2 * x = 4\n⊢ x = 2```\n"
        "Please predict a possible tactic to help me prove the theorem.<|im_end|>\n<|im_start|>assistant\n"),
    "internlm2-step-prover": (
        "<|im_start|>user\nDECL mathd_algebra_10\nGOAL x : ℝ\nh₀ : 2 * x = 4\n⊢ x = 2\n<|im_end|>\n"
        "<|im_start|>assistant\n"),
    "internlm2.5-step-prover": (
        "<|im_start|>user\n---\nNAME: mathd_algebra_10\n\n---\nPROOF_BEFORE: have h : x * 2 = 4 := by linarith\n"
        "norm_num at h\n\n---\nSTATE_BEFORE: x : ℝ\nh₀ : 2 * x = 4\n⊢ x = 2\n\n---\nTACTIC: <|im_end|>\n"
        "<|im_start|>assistant\n"),
    "bfs-prover": "x : ℝ\nh₀ : 2 * x = 4\n⊢ x = 2:::",
    "reprover": "x : ℝ\nh₀ : 2 * x = 4\n⊢ x = 2",
}

WHOLE_GOLDEN = {
    "deepseek-prover-v1.5": (
        "Complete the following Lean 4 code:\n\n```lean4\nimport Mathlib\nimport Aesop\n\nset_option maxHeartbeats 0"
        "\n\nopen BigOperators Real Nat Topology Rat\n\n/-- Solve 2x = 4. Show that x = 2.-/\n"
        "theorem mathd_algebra_10 (x : ℝ) (h₀ : 2 * x = 4) : x = 2 := by\n"),
    "deepseek-prover-v1.5-cot": (
        "Complete the following Lean 4 code with explanatory comments preceding each line of code:\n\n```lean4\n"
        "import Mathlib\nimport Aesop\n\nset_option maxHeartbeats 0\n\nopen BigOperators Real Nat Topology Rat\n\n"
        "/-- Solve 2x = 4. Show that x = 2.-/\ntheorem mathd_algebra_10 (x : ℝ) (h₀ : 2 * x = 4) : x = 2 := by\n"),
    "goedel-prover": (
        "Complete the following Lean 4 code with explanatory comments preceding each line of code:\n\n```lean4\n"
        "import Mathlib\nimport Aesop\n\nset_option maxHeartbeats 0\n\nopen BigOperators Real Nat Topology Rat\n\n"
        "/-- Solve 2x = 4. Show that x = 2.-/\ntheorem mathd_algebra_10 (x : ℝ) (h₀ : 2 * x = 4) : x = 2 := by\n"),
    "proof": "[THEOREM]\ntheorem mathd_algebra_10 (x : ℝ) (h₀ : 2 * x = 4) : x = 2 := by\n[PROOF]\n",
}

STOPS = {"tactic": ("[END]",), "thought": ("[END]",), "proof": ("[END]",), "lean-star": ("<|im_end|>",),
         "internlm2-math-plus": ("<|im_end|>",), "internlm2-step-prover": ("<|im_end|>",),
         "internlm2.5-step-prover": ("<|im_end|>",), "bfs-prover": (), "reprover": (),
         "deepseek-prover-v1.5": ("```",), "deepseek-prover-v1.5-cot": ("```",), "goedel-prover": ()}


def test_every_format_has_a_golden_prompt_and_stop_strings() -> None:
    assert set(PROMPTS) == set(STEP_GOLDEN) | set(WHOLE_GOLDEN) == set(STOPS)
    assert LEAN4_DEFAULT_HEADER == ("import Mathlib\nimport Aesop\n\nset_option maxHeartbeats 0\n\n"
                                    "open BigOperators Real Nat Topology Rat\n\n")


@pytest.mark.parametrize("name", sorted(STEP_GOLDEN))
def test_step_prompt_golden(name: str) -> None:
    fmt = get_prompt(name)
    assert fmt.kind == STEP
    assert fmt.prompt(X) == STEP_GOLDEN[name]
    assert fmt.stop == STOPS[name]


@pytest.mark.parametrize("name", sorted(WHOLE_GOLDEN))
def test_whole_prompt_golden(name: str) -> None:
    fmt = get_prompt(name)
    assert fmt.kind == WHOLE
    assert fmt.prompt(THM) == WHOLE_GOLDEN[name]
    assert fmt.stop == STOPS[name]


def test_internlm25_root_prompt_has_an_empty_proof_before() -> None:
    assert get_prompt("internlm2.5-step-prover").prompt(StepInput("⊢ True", name="t")) == (
        "<|im_start|>user\n---\nNAME: t\n\n---\nPROOF_BEFORE: \n\n---\nSTATE_BEFORE: ⊢ True\n\n---\nTACTIC: "
        "<|im_end|>\n<|im_start|>assistant\n")


def test_several_goals_are_shown_as_lean_prints_them() -> None:
    assert get_prompt("bfs-prover").prompt(StepInput(TWO_GOALS)) == TWO_GOALS + ":::"


# ---------------------------------------------------------------- outputs, read the authors' way

@pytest.mark.parametrize("name,output,expected", [
    ("lean-star", "# Reasoning\nHalve both sides.\n# Next Tactic\n```lean\nlinarith\n```<|im_end|>ignored",
     ParsedStep("# Reasoning\nHalve both sides.\n# Next Tactic", "linarith")),
    ("lean-star", "think\n```lean\nnlinarith [h₀]\n---\nmore```", ParsedStep("think", "nlinarith [h₀]")),
    ("lean-star", "no code block at all", ParsedStep("", "no code block at all")),  # split(..)[-1]: the text
    ("internlm2-math-plus", "Here is the predicted next tactic:\n```lean\nlinarith\n```<|im_end|>",
     ParsedStep("", "linarith")),
    ("internlm2-step-prover", "PROOFSTEP linarith [h₀]<|im_end|>", ParsedStep("", "linarith [h₀]")),
    ("internlm2-step-prover", "linarith", ParsedStep("", "linarith")),
    ("internlm2.5-step-prover", " linarith\n<|im_end|>", ParsedStep("", "linarith")),
    ("bfs-prover", "  nlinarith [sq_nonneg x]\n", ParsedStep("", "nlinarith [sq_nonneg x]")),
    ("bfs-prover", "sorry", Dropped("tactic uses sorry (refused, as BFS-Prover's search does)")),
    ("bfs-prover", "exact by native_decide", Dropped("tactic uses native_decide (refused, as BFS-Prover's search does)")),
    ("reprover", "rw [<a>Nat.gcd_rec</a>]", ParsedStep("", "rw [Nat.gcd_rec]")),
    ("tactic", "linarith\n[END]", ParsedStep("", "linarith")),
    ("thought", "halve\n[TACTIC]\nlinarith\n[END]", ParsedStep("halve", "linarith")),
    ("tactic", "linarith", Dropped("no [END] marker (output cut off at the length limit?)")),
    ("internlm2.5-step-prover", "<|im_end|>", Dropped("empty tactic")),
])
def test_step_outputs_are_read_as_the_authors_read_them(name: str, output: str, expected: object) -> None:
    assert get_prompt(name).parse(output) == expected


@pytest.mark.parametrize("name,output,expected", [
    ("deepseek-prover-v1.5", "  linarith\n```\n\nextra text", ParsedProof("linarith")),
    ("deepseek-prover-v1.5", "  have h : x = 2 := by\n    linarith\n  exact h",  # unclosed: still read (post_process_output)
     ParsedProof("have h : x = 2 := by\n  linarith\nexact h")),
    ("deepseek-prover-v1.5-cot", "  /- Halve both sides. -/\n  linarith\n```", ParsedProof("-- Halve both sides.\nlinarith")),
    ("goedel-prover", "  -- halve\n  linarith\n```\n", ParsedProof("-- halve\nlinarith")),
    ("goedel-prover", "  linarith", Dropped("no closing ``` (the code block is unfinished)")),
    ("goedel-prover", "```", Dropped("empty proof")),
    ("proof", "linarith\n[END]", ParsedProof("linarith")),
])
def test_whole_outputs_are_read_as_the_authors_read_them(name: str, output: str, expected: object) -> None:
    assert get_prompt(name).parse(output) == expected


def test_parsing_never_raises_on_junk() -> None:
    for fmt in PROMPTS.values():
        for junk in ("", "```", "\ufffd\ufffd", "<|im_end|>" * 3, None, 17):
            assert isinstance(fmt.parse(junk), ParsedStep | ParsedProof | Dropped)


# ---------------------------------------------------------------- resumption and proof steps

def test_deepseek_resume_prompt_is_the_prompt_then_the_prefix_then_the_state_comment() -> None:
    fmt = get_prompt("deepseek-prover-v1.5")
    prefix = ProofPrefix(("have h : x * 2 = 4 := by\n  linarith", "norm_num at h"), ("", "simplify"),
                         "x : ℝ\nh₀ : 2 * x = 4\nh : x = 2\n⊢ x = 2")
    assert fmt.resume_prompt(THM, prefix) == WHOLE_GOLDEN["deepseek-prover-v1.5"] + (
        "  have h : x * 2 = 4 := by\n    linarith\n  -- simplify\n  norm_num at h\n"
        "  /- tactic state:\n    x : ℝ\n    h₀ : 2 * x = 4\n    h : x = 2\n    ⊢ x = 2\n  -/\n")
    assert fmt.resume_prompt(THM, ProofPrefix()) == fmt.prompt(THM)  # the root: no code, no comment
    no_state = fmt.resume_prompt(THM, ProofPrefix(("norm_num",)))
    assert no_state == WHOLE_GOLDEN["deepseek-prover-v1.5"] + "  norm_num\n"


def test_proof_steps_split_at_the_base_indentation_and_keep_comments_as_thoughts() -> None:
    body = ("  /- Split the goal. -/\n  constructor\n  -- the left part\n  · exact h.2\n    simp\n"
            "  /- the right\n     part -/\n  exact h.1  -- done\n")
    assert proof_steps(body) == [("Split the goal.", "constructor"), ("the left part", "· exact h.2\n  simp"),
                                 ("the right part", "exact h.1  -- done")]
    assert normal_body(body) == ("-- Split the goal.\nconstructor\n-- the left part\n· exact h.2\n  simp\n"
                                 "-- the right part\nexact h.1  -- done")
    assert proof_steps("   \n") == []


def test_targets_parse_back_to_what_they_render() -> None:
    for fmt in PROMPTS.values():
        if fmt.kind == STEP:
            out = fmt.target("halve both sides" if fmt.thought else "", "linarith")
            assert fmt.parse(out) == ParsedStep("halve both sides" if fmt.thought else "", "linarith"), fmt.name
        else:
            out = fmt.target("constructor\nexact h.2\nexact h.1")
            assert fmt.parse(out) == ParsedProof("constructor\nexact h.2\nexact h.1"), fmt.name


def test_reprover_is_the_seq2seq_format_and_unknown_names_are_refused() -> None:
    assert [n for n, f in PROMPTS.items() if f.arch == SEQ2SEQ] == ["reprover"]
    with pytest.raises(ValueError, match="unknown prompt format 'lean-star-2'.*internlm2.5-step-prover"):
        get_prompt("lean-star-2")
    assert get_prompt("internlm2.5-step-prover").describe()["decoding"] == {
        "num_beams": 32, "max_new_tokens": 256, "length_normalize": True}
