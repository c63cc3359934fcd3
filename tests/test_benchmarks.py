"""Benchmarks by path (ProofNet in DeepSeek's JSONL form, PutnamBench checkouts, miniF2F files and
.lean checkouts), each with its version and a content hash of its theorems (eval/dataset_identity.py),
and the refusal to compare runs made on different statements."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from core.types import Theorem
from eval.dataset_identity import (
    DatasetMismatch,
    check_same_dataset,
    dataset_hash,
    dataset_identity,
    git_commit,
)
from eval.datasets import as_tactic_statement, load_dataset

PROOFNET_ROWS = [
    {"name": "exercise_1_13a", "split": "valid", "informal_prefix": "/-- Re f constant. -/\n",
     "formal_statement": "theorem exercise_1_13a {f : ℂ → ℂ} (Ω : Set ℂ) :\n  f = f :=", "goal": "⊢ f = f",
     "header": "import Mathlib\n\nopen Complex Filter Function Metric Finset\n\n"},
    {"name": "exercise_1_13b", "split": "test", "informal_prefix": "/-- Im f constant. -/\n",
     "formal_statement": "theorem exercise_1_13b (x : ℝ) : x = x :=", "goal": "x : ℝ\n⊢ x = x",
     "header": "import Mathlib\n\n"},
]

PUTNAM = """import Mathlib

open MeasureTheory Set

abbrev putnam_1962_a2_solution : Set (ℝ → ℝ) := sorry
-- {f : ℝ → ℝ | ∃ a c : ℝ, a ≥ 0 ∧ f = fun x ↦ a / (1 - c * x) ^ 2}
/--
Find every real-valued function.
-/
theorem putnam_1962_a2 (P : (ℝ → ℝ) → Prop) :
    ∀ f ∈ putnam_1962_a2_solution, P f :=
  sorry
"""
PUTNAM_NO_ANSWER = """import Mathlib

/-- Show that 1 + 1 = 2. -/
theorem putnam_1970_a1 : (1 : ℕ) + 1 = 2 :=
sorry
"""


def _proofnet(tmp_path: Path) -> Path:
    f = tmp_path / "proofnet.jsonl"
    f.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in PROOFNET_ROWS), encoding="utf-8")
    return f


def _putnam(tmp_path: Path) -> Path:
    src = tmp_path / "PutnamBench" / "lean4" / "src"
    src.mkdir(parents=True)
    (src / "putnam_1962_a2.lean").write_text(PUTNAM, encoding="utf-8")
    (src / "putnam_1970_a1.lean").write_text(PUTNAM_NO_ANSWER, encoding="utf-8")
    return tmp_path / "PutnamBench"


def test_proofnet_rows_become_tactic_statements_and_splits_filter(tmp_path: Path) -> None:
    f = _proofnet(tmp_path)
    every = load_dataset(f"proofnet:{f}")
    assert [t.name for t in every] == ["exercise_1_13a", "exercise_1_13b"]
    t = every[0]
    assert t.formal_statement == "theorem exercise_1_13a {f : ℂ → ℂ} (Ω : Set ℂ) :\n  f = f := by"
    assert t.extra["statement_as_given"].endswith("f = f :=")
    assert t.extra["informal_prefix"] == "/-- Re f constant. -/\n" and t.header.startswith("import Mathlib\n\nopen")
    assert [t.name for t in load_dataset(f"proofnet:{f}:test")] == ["exercise_1_13b"]
    only_test = tmp_path / "only_test.jsonl"
    only_test.write_text(json.dumps(PROOFNET_ROWS[1]) + "\n", encoding="utf-8")
    with pytest.raises(ValueError, match="no theorem has split 'valid'"):
        load_dataset(f"proofnet:{only_test}:valid")


def test_putnambench_checkout_marks_problems_whose_answer_is_a_sorry(tmp_path: Path) -> None:
    ths = {t.name: t for t in load_dataset(f"putnambench:{_putnam(tmp_path)}")}
    assert set(ths) == {"putnam_1962_a2", "putnam_1970_a1"}
    a2, a1 = ths["putnam_1962_a2"], ths["putnam_1970_a1"]
    assert a2.formal_statement.endswith("P f := by") and a2.extra["needs_answer"] is True
    assert "abbrev putnam_1962_a2_solution" in a2.header
    assert a1.formal_statement == "theorem putnam_1970_a1 : (1 : ℕ) + 1 = 2 := by" and a1.extra["needs_answer"] is False
    with pytest.raises(FileNotFoundError, match="PutnamBench folder not found"):
        load_dataset(f"putnambench:{tmp_path / 'nowhere'}")


def test_the_leandojo_jsonl_of_internlm_and_lean_star_keeps_what_a_dojo_needs(tmp_path: Path) -> None:
    rows = [{"full_name": "mathd_algebra_182", "statement": "theorem mathd_algebra_182 (y : ℂ) : 7 * (3 * y + 2) = 21 * y + 14",
             "url": "https://github.com/wzj423/lean-dojo-mew", "commit": "1ef4e4cac9dd370b7be6d648ce135a06aa6fce5f",
             "file_path": "MiniF2F/Validation.lean", "split": "valid"},
            {"full_name": "mathd_numbertheory_132", "statement": "theorem mathd_numbertheory_132 : 2004 % 12 = 0",
             "url": "https://github.com/wzj423/lean-dojo-mew", "commit": "1ef4e4cac9dd370b7be6d648ce135a06aa6fce5f",
             "file_path": "MiniF2F/Test.lean", "split": "test"}]
    f = tmp_path / "minif2f-lean4.7.0.jsonl"
    f.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    (t,) = load_dataset(f"leandojo:{f}:test")
    assert t.name == "mathd_numbertheory_132" and t.formal_statement == "theorem mathd_numbertheory_132 : 2004 % 12 = 0 := by"
    assert (t.extra["commit"], t.extra["file_path"], t.extra["split"]) == (rows[1]["commit"], "MiniF2F/Test.lean", "test")
    assert len(load_dataset(f"leandojo:{f}")) == 2
    assert dataset_identity(f"leandojo:{f}:test", [t])["source"]["path"] == str(f.resolve())


def test_a_deepseek_style_minif2f_jsonl_is_read_one_split_at_a_time(tmp_path: Path) -> None:
    rows = [{"name": "mathd_algebra_10", "split": "test", "informal_prefix": "/-- x = 2 -/\n",
             "formal_statement": "theorem mathd_algebra_10 (x : ℝ) (h₀ : 2 * x = 4) : x = 2 := by\n",
             "goal": "x : ℝ\nh₀ : 2 * x = 4\n⊢ x = 2", "header": "import Mathlib\nimport Aesop\n\n"},
            {"name": "amc12_2000_p1", "split": "valid", "informal_prefix": "", "formal_statement": "theorem amc12_2000_p1 : True := by\n",
             "goal": "⊢ True", "header": "import Mathlib\n"}]
    f = tmp_path / "minif2f.jsonl"
    f.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    (t,) = load_dataset(f"jsonl:{f}:test")
    assert t.name == "mathd_algebra_10" and t.formal_statement.endswith(":= by\n")
    assert t.extra["informal_prefix"] == "/-- x = 2 -/\n" and t.header == "import Mathlib\nimport Aesop\n\n"
    assert len(load_dataset(f"jsonl:{f}")) == 2


def test_as_tactic_statement_leaves_tactic_statements_alone() -> None:
    t = Theorem("x", "", "theorem x : True := by")
    assert as_tactic_statement(t) is t


def test_content_hash_follows_the_statements_not_the_file_or_the_order() -> None:
    a, b = Theorem("a", "import Mathlib\n", "theorem a : 1 = 1 := by"), Theorem("b", "", "theorem b : 2 = 2 := by")
    assert dataset_hash([a, b]) == dataset_hash([b, a])
    fixed = Theorem("b", "", "theorem b : 2 = 2 ∧ True := by")
    assert dataset_hash([a, fixed]) != dataset_hash([a, b])
    assert dataset_hash([a]) != dataset_hash([a, b])


def test_the_shared_minif2f_and_a_lean_checkout_are_identified_with_their_versions(tmp_path: Path) -> None:
    test = load_dataset("minif2f:test")
    ident = dataset_identity("minif2f:test", test)
    assert ident["theorems"] == 244 and len(ident["content_hash"]) == 64
    assert ident["source"]["path"].endswith("minif2f/test.jsonl") and len(ident["source"]["sha256"]) == 64
    assert "5746b7d" in ident["source"]["readme"]  # the upstream commit, from the data's README

    repo = tmp_path / "miniF2F-lean4"
    (repo / "MiniF2F" / "Test").mkdir(parents=True)
    (repo / "lean-toolchain").write_text("leanprover/lean4:v4.24.0\n")
    (repo / "MiniF2F" / "Test" / "t1.lean").write_text("import Mathlib\n\ntheorem t1 : (2 : ℕ) + 2 = 4 := by\n  sorry\n")
    git = repo / ".git"
    (git / "refs" / "heads").mkdir(parents=True)
    (git / "HEAD").write_text("ref: refs/heads/main\n")
    (git / "refs" / "heads" / "main").write_text("5746b7d0123456789abcdef0123456789abcdef0\n")
    spec = f"minif2f-lean:{repo}:test"
    ident = dataset_identity(spec, load_dataset(spec))
    assert ident["source"]["git_commit"] == "5746b7d0123456789abcdef0123456789abcdef0"
    assert ident["source"]["lean_toolchain"] == "leanprover/lean4:v4.24.0"
    assert ident["theorems"] == 1 and ident["spec"] == spec
    assert "url" not in load_dataset(spec)[0].extra  # no origin remote: nothing for LeanDojo
    (git / "config").write_text('[core]\n\tbare = false\n[remote "origin"]\n\turl = https://github.com/yangky11/miniF2F-lean4.git\n')
    (t1,) = load_dataset(spec)
    assert (t1.extra["url"], t1.extra["commit"], t1.extra["file_path"], t1.extra["full_name"]) == (
        "https://github.com/yangky11/miniF2F-lean4", "5746b7d0123456789abcdef0123456789abcdef0",
        "MiniF2F/Test/t1.lean", "t1")  # what `--env dojo` opens the theorem by
    (git / "refs" / "heads" / "main").unlink()
    (git / "packed-refs").write_text("# pack-refs with: peeled\n1be24b7aaaa refs/heads/main\n")
    assert git_commit(repo / "MiniF2F") == "1be24b7aaaa"


def test_runs_on_different_datasets_are_not_compared_unless_allowed() -> None:
    same = {"dataset_id": {"spec": "minif2f:test", "theorems": 244, "content_hash": "a" * 64}}
    other = {"dataset_id": {"spec": "minif2f-lean:/x:test", "theorems": 244, "content_hash": "b" * 64}}
    assert check_same_dataset([("r1", same), ("r2", same)]) == []
    with pytest.raises(DatasetMismatch, match="different datasets.*r1.*r2.*--allow-different-datasets"):
        check_same_dataset([("r1", same), ("r2", other)])
    warnings = check_same_dataset([("r1", same), ("r2", other), ("old", {})], allow=True)
    assert any("different datasets" in w for w in warnings) and any("old" in w for w in warnings)
