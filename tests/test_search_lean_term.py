"""The engine against the real Lean: the term-refinement env over the logic benchmark's prelude.

Lean (the embedded 4.35 elaborator and kernel) decides every step and the verifier re-checks every
proof; the policies here are fixed lists, so what is tested is the engine's search and its gate.
"""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from core.proof_text import render_proof
from core.types import Candidate, ProofCheck, State, Theorem
from search.budget import Budget
from search.strategies import run_strategy

term_env = pytest.importorskip("lean_env.term_env")
logic = pytest.importorskip("eval.logic")


def theorem(name: str) -> Theorem:
    [t] = [t for t in logic.load_split("valid") if t.name == name]
    return t


class FixedTerms:
    """The same ranked fillings for every state (likeliest first) and whole terms for whole-proof."""

    def __init__(self, fillings: Sequence[tuple[str, float]], proofs: Sequence[tuple[str, float]] = ()) -> None:
        self.fillings, self.proofs = list(fillings), list(proofs)

    def propose(self, states: Sequence[State], n: int) -> list[list[Candidate]]:
        return [[Candidate(t, "", lp, 1) for t, lp in self.fillings[:n]] for _ in states]

    def propose_proofs(self, theorems: Sequence[Theorem], n: int) -> list[list[Candidate]]:
        return [[Candidate(t, "", lp, 1) for t, lp in self.proofs[:n]] for _ in theorems]


# eq_trans_example (α : Type) (a b c : α) (h1 : Eq a b) (h2 : Eq b c) : Eq a c
#   reference: Eq.trans h1 ?_ ; h2.  The likeliest fillings are wrong at the root.
EQ_TRANS = [("h1", -0.1), ("Eq.trans h2 ?_", -0.2), ("Eq.symm h1", -0.3), ("Eq.trans h1 ?_", -0.5), ("h2", -0.6)]


@pytest.fixture(scope="module")
def env(lean_toolchain):
    with term_env.LeanTermEnv(lean_toolchain, timeout=60, memory_mb=2048) as e:
        yield e


def test_best_first_backs_off_and_lean_accepts_the_proof(env):
    res = run_strategy("best-first", theorem("eq_trans_example"), env, FixedTerms(EQ_TRANS), Budget(expansions=6),
                       n=5)
    assert res.status == "proved", res.to_row()
    assert res.proof == ["Eq.trans h1 ?_", "h2"] and res.proof_text.strip() == "(Eq.trans h1 h2)"
    failed = {f.tactic: f.message for f in res.tree.root.failures}
    assert {f.kind for f in res.tree.root.failures} == {"tactic_error"}
    assert res.failures == {"tactic_error": sum(len(n.failures) for n in res.tree.nodes.values())}
    assert set(failed) == {"h1", "Eq.trans h2 ?_", "Eq.symm h1", "h2"}
    assert "mismatch" in failed["h1"]  # Lean's own message
    assert res.accounting.expansions == 2 and res.accounting.checks == 1 and res.accounting.lean_seconds > 0


def test_greedy_fails_where_search_succeeds(env):
    greedy = run_strategy("sample", theorem("eq_trans_example"), env, FixedTerms(EQ_TRANS), Budget(), samples=1,
                          retries=2)
    assert greedy.status == "failed" and greedy.accounting.env_calls == 3
    beam = run_strategy("beam", theorem("eq_trans_example"), env, FixedTerms(EQ_TRANS), Budget(), n=5, width=2)
    assert beam.status == "proved" and beam.proof == ["Eq.trans h1 ?_", "h2"]


def test_whole_proof_terms_checked_by_lean(env):
    pol = FixedTerms([], proofs=[("Eq.trans h2 h1", -0.1), ("Eq.trans h1 h2", -0.4)])
    res = run_strategy("whole", theorem("eq_trans_example"), env, pol, Budget(), samples=2, proof_batch=2)
    assert res.status == "proved" and res.proof == ["Eq.trans h1 h2"] and res.extra["successes"] == 1
    assert res.accounting.env_calls == 2


def test_lean_verifier_gate(env):
    """The env says Proved but its check (here: forced to say no) decides."""

    class Rejecting:
        def __getattr__(self, name):
            return getattr(env, name)

        def check(self, theorem: Theorem, proof: str) -> ProofCheck:
            real = env.check(theorem, proof)
            assert real.ok  # Lean accepts it ...
            return ProofCheck(False, real.proof, "rejected by the test")  # ... the gate still rules

    res = run_strategy("best-first", theorem("eq_trans_example"), Rejecting(), FixedTerms(EQ_TRANS), Budget(), n=5)
    assert res.status == "failed" and res.proof == [] and res.extra["rejected_proofs"] == 1


def test_vocabulary_policy_through_the_factories(lean_toolchain):
    from prover.factory import make_env, make_policy

    env = make_env("lean-term", lean="embedded", timeout=60, memory_mb=2048)
    try:
        pol = make_policy("vocab")
        res = run_strategy("best-first", theorem("congr_fun_app"), env, pol, Budget(expansions=8), n=32)
        assert res.status == "proved", res.to_row()
        assert res.proof == ["congrArg f ?_", "congrArg f ?_", "h"]
        assert env.check(theorem("congr_fun_app"), res.proof_text).ok
        assert res.proof_text == render_proof("term", res.proof)
    finally:
        env.close()


def test_search_command_on_the_logic_benchmark(lean_toolchain, tmp_path, capsys):
    pytest.importorskip("eval.datasets")
    from core.jsonl import read_jsonl
    from prover.cli import main

    out = tmp_path / "r.jsonl"
    argv = ["search", "--theorems", "logic:valid", "--limit", "4", "--env", "lean-term", "--lean", "embedded",
            "--policy", "vocab", "--budget", "expansions=3", "--n", "32", "--out", str(out), "--no-progress"]
    assert main(argv) == 0
    rows = {r["name"]: r for r in read_jsonl(out)}
    assert list(rows) == [t.name for t in logic.load_split("valid")[:4]]
    assert rows["eq_refl_example"]["status"] == "proved" and rows["eq_refl_example"]["proof"] == ["Eq.refl _"]
    assert rows["eq_refl_example"]["proof_text"].strip() == "(Eq.refl _)"  # as the env rebuilt the term
    assert all(r["status"] in ("proved", "failed", "budget") and r["lean_seconds"] > 0 for r in rows.values())
    assert "proved" in capsys.readouterr().out
