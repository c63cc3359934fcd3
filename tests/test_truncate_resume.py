"""Whole-proof provers in the engine: truncate and resume (search/truncate_resume.py) on the scripted
world and the real-Lean term env, and the prompts a whole-proof format resumes with."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest

from core.types import Candidate, ProofPrefix, Theorem
from doubles.scripted import ScriptedEnv, ScriptedWorld
from prover.policy import GenerationConfig, PolicyStats, Sample
from prover.prompted import PromptedPolicy
from search.budget import Budget
from search.strategies import run_strategy

WORLD = Path(__file__).parent / "data" / "worlds" / "backoff.json"
AND_SWAP = "case left\np q : Prop\nh : p ∧ q\n⊢ q\n\ncase right\np q : Prop\nh : p ∧ q\n⊢ p"


class ResumingPolicy:
    """Answers each prefix (by its tactics) with a scripted continuation; records what it was asked."""

    def __init__(self, script: dict[tuple[str, ...], str]) -> None:
        self.script = script
        self.asked: list[ProofPrefix] = []

    def resume_proofs(self, theorems: Sequence[Theorem], prefixes: Sequence[ProofPrefix], n: int) -> list[list[Candidate]]:
        self.asked.extend(prefixes)
        return [[Candidate(self.script[p.tactics], logprob=-1.0, tokens=5)] if p.tactics in self.script else []
                for p in prefixes]


def and_swap() -> tuple[Theorem, ScriptedEnv]:
    world = ScriptedWorld.load(WORLD)
    return world.find("and_swap").theorem(), ScriptedEnv(world)


def test_a_refused_step_truncates_the_proof_and_the_model_resumes_from_the_accepted_prefix() -> None:
    thm, env = and_swap()
    policy = ResumingPolicy({(): "constructor\nexact h.1\nexact h.2", ("constructor",): "exact h.2\nexact h.1"})
    r = run_strategy("truncate-resume", thm, env, policy, Budget(), {"samples": 1, "resumes": 2})
    assert r.status == "proved"
    assert [s.tactic for s in r.steps] == ["constructor", "exact h.2", "exact h.1"]
    assert r.proof_text == "\n  constructor\n  exact h.2\n  exact h.1"
    # the second request carried the accepted step and the goals after it (the state comment)
    assert policy.asked == [ProofPrefix(), ProofPrefix(("constructor",), ("",), AND_SWAP)]
    acc = r.accounting
    assert (acc.expansions, acc.env_calls) == (2, 4)  # two generations; 2 steps run (the rest cut), then 2
    assert r.extra["successes"] == 1 and r.extra["generations"] == 2 and r.extra["resumed"] == 1
    failures = r.failures
    assert failures == {"tactic_error": 1}


def test_without_state_comments_and_without_resumes() -> None:
    thm, env = and_swap()
    policy = ResumingPolicy({(): "constructor\nexact h.1", ("constructor",): "exact h.2\nexact h.1"})
    r = run_strategy("truncate-resume", thm, env, policy, Budget(), {"samples": 1, "state_comment": False})
    assert r.status == "proved" and policy.asked[1] == ProofPrefix(("constructor",), ("",), "")
    policy = ResumingPolicy({(): "constructor\nexact h.1", ("constructor",): "exact h.2\nexact h.1"})
    r = run_strategy("truncate-resume", thm, env, policy, Budget(), {"samples": 3, "resumes": 0})
    assert r.status == "failed" and r.extra["generations"] == 3 and len(policy.asked) == 3


def test_budgets_stop_generation_and_steps() -> None:
    thm, env = and_swap()
    policy = ResumingPolicy({(): "constructor\nexact h.1", ("constructor",): "exact h.2\nexact h.1"})
    r = run_strategy("truncate-resume", thm, env, policy, Budget(expansions=1), {"samples": 4, "resumes": 3})
    assert r.status == "budget" and r.accounting.expansions == 1 and len(policy.asked) == 1
    policy = ResumingPolicy({(): "constructor\nexact h.2\nexact h.1"})
    r = run_strategy("truncate-resume", thm, env, policy, Budget(env_calls=2), {"samples": 1})
    assert r.status == "budget" and r.accounting.env_calls == 2


def test_a_policy_without_resume_proofs_is_refused_clearly() -> None:
    thm, env = and_swap()
    with pytest.raises(TypeError, match="truncate-resume needs a policy with resume_proofs"):
        run_strategy("truncate-resume", thm, env, object(), Budget(), {})


class FakeBackend:
    """A generator backend that answers prompts from a table (the texts a model would write)."""

    def __init__(self, answers: dict[str, str]) -> None:
        self.answers = answers
        self.config = GenerationConfig(stop=("```",))
        self.stats = PolicyStats()
        self.prompts: list[str] = []

    def generate(self, prompts: Sequence[str], n: int) -> list[list[Sample]]:
        self.prompts.extend(prompts)
        out = []
        for p in prompts:
            hit = [v for k, v in self.answers.items() if p.endswith(k)]
            out.append([Sample(hit[0], tokens=4, logprob=-0.5, ended_by_stop=True)] if hit else [])
        return out


def test_deepseek_format_resumes_with_its_own_prompt_and_state_comment() -> None:
    thm, env = and_swap()
    backend = FakeBackend({
        ":= by\n": "  /- split the conjunction -/\n  constructor\n  exact h.1\n  exact h.2\n```",
        "  -/\n": "  exact h.2\n  exact h.1\n```",
    })
    policy = PromptedPolicy(backend, "deepseek-prover-v1.5-cot")
    r = run_strategy("truncate-resume", thm, env, policy, Budget(), {"samples": 1})
    assert r.status == "proved"
    assert r.proof_text == "\n  -- split the conjunction\n  constructor\n  exact h.2\n  exact h.1"
    assert backend.prompts[1] == backend.prompts[0] + (
        "  -- split the conjunction\n  constructor\n"
        "  /- tactic state:\n    case left\n    p q : Prop\n    h : p ∧ q\n    ⊢ q\n    \n"
        "    case right\n    p q : Prop\n    h : p ∧ q\n    ⊢ p\n  -/\n")
    assert backend.prompts[0].startswith("Complete the following Lean 4 code with explanatory comments")
    assert backend.prompts[0].endswith("theorem and_swap (p q : Prop) (h : p ∧ q) : q ∧ p := by\n")


def test_whole_proof_format_through_the_whole_strategy_checks_each_proof_once() -> None:
    thm, env = and_swap()
    backend = FakeBackend({":= by\n": "  exact ⟨h.2, h.1⟩\n```"})
    r = run_strategy("whole", thm, env, PromptedPolicy(backend, "deepseek-prover-v1.5"), Budget(), {"samples": 2})
    assert r.status == "proved" and r.proof_text == "\n  exact ⟨h.2, h.1⟩"
    assert r.accounting.env_calls == 1 and r.accounting.checks == 1  # the same text is tried once


@pytest.mark.slow
def test_truncate_resume_in_the_real_lean_term_env() -> None:
    from eval.logic import load_split
    from lean_env.term_env import LeanTermEnv
    from lean_env.toolchain import find_toolchain

    thm = next(t for t in load_split("valid") if t.name == "logic_fo_008")  # goal: And (Q a) (Q a)
    # term steps, one a line: each fills the first ?_ hole; the second line is wrong (h1.1 is a ∀)
    policy = ResumingPolicy({(): "And.intro ?_ ?_\nh1.1\nh1.2.1", ("And.intro ?_ ?_",): "h1.2.1\nh1.2.1"})
    with LeanTermEnv(find_toolchain(), timeout=60) as env:
        r = run_strategy("truncate-resume", thm, env, policy, Budget(), {"samples": 1, "resumes": 1})
    assert r.status == "proved", r.to_row()
    assert [s.tactic for s in r.steps] == ["And.intro ?_ ?_", "h1.2.1", "h1.2.1"]
    assert r.proof_text == " (And.intro h1.2.1 h1.2.1)"
    assert policy.asked[1].tactics == ("And.intro ?_ ?_",) and policy.asked[1].state.count("⊢ Q a") == 2
    assert r.failures == {"tactic_error": 1}


def test_the_scripted_policy_resumes_from_its_listed_proofs() -> None:
    from doubles.scripted_policy import ScriptedPolicy

    thm, env = and_swap()
    pol = ScriptedPolicy(env.world, proofs={"and_swap": [("constructor\nexact h.1\nexact h.2", -1.0),
                                                         ("constructor\nexact h.2\nexact h.1", -2.0)]})
    assert [c.tactic for c in pol.resume_proofs([thm], [ProofPrefix(("constructor",))], 2)[0]] == [
        "exact h.1\nexact h.2", "exact h.2\nexact h.1"]
    # greedy: the likelier, wrong proof first; cut after `constructor`; the resumption is greedy too,
    # so it writes the same wrong continuation again: no proof within 2 resumptions
    r = run_strategy("truncate-resume", thm, env, pol, Budget(), {"samples": 1, "resumes": 2})
    assert r.status == "failed" and r.extra["generations"] == 3
    sampled = ScriptedPolicy(env.world, sample=True, temperature=5.0, proofs=pol.proofs)
    r = run_strategy("truncate-resume", thm, env, sampled, Budget(), {"samples": 4, "resumes": 4}, seed=1)
    assert r.status == "proved" and [s.tactic for s in r.steps] == ["constructor", "exact h.2", "exact h.1"]
