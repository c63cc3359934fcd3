"""eval.datasets: miniF2F JSONL, miniF2F-lean4 .lean files, LeanDojo JSON, JSONL, errors naming the row."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from eval.datasets import load_dataset, parse_lean_source, statement_from_state

DATA = Path(__file__).resolve().parent / "data" / "eval"
LEAN_DIR = DATA / "minif2f-lean"


def test_minif2f_jsonl_from_shared(shared_dir, monkeypatch):
    monkeypatch.delenv("MINIF2F_DIR", raising=False)
    monkeypatch.setenv("PROVER_SHARED", str(shared_dir))
    valid = load_dataset("minif2f:valid")
    test = load_dataset("minif2f:test")
    assert len(valid) == 244 and len(test) == 244
    assert not {t.name for t in valid} & {t.name for t in test}
    assert all(t.formal_statement.endswith(":= by") and t.header.startswith("import Mathlib") for t in valid)
    assert all(t.extra["split"] == "valid" for t in valid)


def test_minif2f_dir_env_and_bad_split(tmp_path, monkeypatch):
    row = {"name": "mathd_algebra_1", "header": "import Mathlib\n", "formal_statement": "theorem x : True := by"}
    (tmp_path / "valid.jsonl").write_text(json.dumps(row) + "\n")
    monkeypatch.setenv("MINIF2F_DIR", str(tmp_path))
    assert [t.name for t in load_dataset("minif2f:valid")] == ["mathd_algebra_1"]
    with pytest.raises(FileNotFoundError, match="test split not found"):
        load_dataset("minif2f:test")
    with pytest.raises(ValueError, match="split must be one of"):
        load_dataset("minif2f:train")


def test_lean_checkout_parsing():
    ths = load_dataset(f"minif2f-lean:{LEAN_DIR}")
    by = {t.name: t for t in ths}
    assert set(by) == {"aime_1999_p0", "mathd_numbertheory_0", "mathd_algebra_7", "amc12a_2002_p1",
                       "induction_sum_odd", "imo_2000_p0", "numbertheory_easy", "mystery_term"}
    t = by["mathd_algebra_7"]
    assert t.formal_statement == "theorem mathd_algebra_7\n  (x : ℝ)\n  (h₀ : x / 2 = 3) :\n  x = 6 := by"
    assert t.header == ("import Mathlib\nimport Aesop\n\nset_option maxHeartbeats 400000\n\n"
                        "open BigOperators Real Nat Topology Rat\n")
    assert t.extra["split"] == "valid" and "proof" not in t.extra  # sorry is no proof
    # `:=` then `by` on the next line; `sorry` at column 0; proofs kept; lemma -> theorem; term proofs
    assert by["induction_sum_odd"].formal_statement.endswith("= n ^ 2 := by")
    assert by["imo_2000_p0"].formal_statement.endswith("a = 2 := by")
    assert by["imo_2000_p0"].header.endswith("open Real in\n")
    assert not by["mystery_term"].header.endswith("open Real in\n")  # `open ... in` scopes one theorem
    assert by["amc12a_2002_p1"].extra["proof"] == "simp [h₀]"
    assert by["numbertheory_easy"].formal_statement.startswith("theorem numbertheory_easy :")
    assert by["mystery_term"].formal_statement.endswith(": p :=") and by["mystery_term"].extra["proof"] == "hp"
    assert by["aime_1999_p0"].extra["split"] == "test"
    assert [t.name for t in load_dataset(f"minif2f-lean:{LEAN_DIR}:test")] == ["aime_1999_p0", "mathd_numbertheory_0"]
    assert len(load_dataset(str(LEAN_DIR / "MiniF2F" / "Valid.lean"))) == 6  # a single .lean file as a path


def test_lean_parsing_matches_the_jsonl_statements(shared_dir):
    """The same statements written as a miniF2F-lean4 file parse back to the JSONL's exact text."""
    rows = [json.loads(line) for line in (shared_dir / "data" / "minif2f" / "valid.jsonl").open()][:40]
    text = rows[0]["header"] + "\n" + "".join(r["formal_statement"] + " sorry\n\n" for r in rows)
    ths = parse_lean_source(text, "combined.lean")
    assert [t.name for t in ths] == [r["name"] for r in rows]
    assert [t.formal_statement for t in ths] == [r["formal_statement"] for r in rows]
    assert all(t.header == rows[0]["header"] for t in ths)


def test_lean_duplicates_and_errors(tmp_path):
    (tmp_path / "A.lean").write_text("theorem t1 : True := by sorry\n")
    (tmp_path / "B.lean").write_text("theorem t1 :  True := by\n  sorry\n")  # same statement: kept once
    assert [t.name for t in load_dataset(f"minif2f-lean:{tmp_path}")] == ["t1"]
    (tmp_path / "C.lean").write_text("-- comment\n\ntheorem t1 : False := by sorry\n")
    with pytest.raises(ValueError, match=r"C\.lean:3: theorem 't1' is also stated, differently"):
        load_dataset(f"minif2f-lean:{tmp_path}")
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "X.lean").write_text("import Mathlib\n\ntheorem weird : Nat → Nat\n  | 0 => 0\n  | n => n\n")
    with pytest.raises(ValueError, match=r"X\.lean:3: theorem 'weird' has no top-level ':='"):
        load_dataset(str(bad))
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ValueError, match="no theorems found"):
        load_dataset(f"minif2f-lean:{empty}")
    with pytest.raises(FileNotFoundError):
        load_dataset(f"minif2f-lean:{tmp_path / 'nope'}")


def test_leandojo_benchmark():
    ths = load_dataset(f"leandojo:{DATA / 'leandojo' / 'benchmark.json'}")
    a, b = ths
    assert a.name == "Demo.add_zero'" and a.formal_statement == "theorem add_zero' (n : Nat) : n + 0 = n := by"
    assert a.extra["file_path"] == "Demo/Basic.lean" and a.extra["reference_proof"] == ["rfl"]
    assert "statement_from" not in a.extra
    assert b.extra["statement_from"] == "state_before"
    assert b.formal_statement == "theorem Demo.le_of_lt' (α : Type u_1) [Preorder α] (a b : α) : a < b → a ≤ b := by"
    assert b.extra["reference_proof"] == ["intro h", "exact le_of_lt h"]
    assert load_dataset(str(DATA / "leandojo" / "benchmark.json")) == ths  # .json path = LeanDojo


def test_leandojo_errors(tmp_path):
    with pytest.raises(ValueError, match=r"bad\.json\[1\]: missing or empty string field 'full_name'"):
        load_dataset(f"leandojo:{DATA / 'leandojo' / 'bad.json'}")
    (tmp_path / "obj.json").write_text("{}")
    with pytest.raises(ValueError, match="JSON list"):
        load_dataset(f"leandojo:{tmp_path / 'obj.json'}")
    (tmp_path / "broken.json").write_text("[{")
    with pytest.raises(ValueError, match="not valid JSON"):
        load_dataset(f"leandojo:{tmp_path / 'broken.json'}")
    with pytest.raises(ValueError, match="several goals"):
        statement_from_state("x", "⊢ p\n\n⊢ q")


def test_jsonl_errors_name_file_and_line():
    with pytest.raises(ValueError, match=r"bad\.jsonl:2: missing or empty field\(s\) formal_statement"):
        load_dataset(f"jsonl:{DATA / 'bad.jsonl'}")
    with pytest.raises(ValueError, match=r"dup\.jsonl: theorem name 'a' appears more than once"):
        load_dataset(str(DATA / "dup.jsonl"))
    with pytest.raises(FileNotFoundError, match="neither a known spec"):
        load_dataset("no/such/file.jsonl")
    with pytest.raises(ValueError, match="nothing after"):
        load_dataset("logic:")
    with pytest.raises(ValueError, match="logic split must be one of"):
        load_dataset("logic:dev")


def test_lean_parsing_reads_literals_like_lean():
    """Comments end at literals the way Lean lexes them (lean_env.verify_text.mask): a `'('` char does
    not open a bracket, `--` inside a string is no comment, and header strings are kept."""
    src = ('set_option x "a -- b" -- a comment\n'
           "theorem t1 (c : Char) (h : c = '(') : f \"s := {x}\" = 1 := by\n  simp -- done\n"
           'theorem t2 : r#"raw " := "# = "" := rfl\n')
    t1, t2 = parse_lean_source(src, "x.lean")
    assert t1.header == t2.header == 'set_option x "a -- b"\n'
    assert t1.formal_statement == "theorem t1 (c : Char) (h : c = '(') : f \"s := {x}\" = 1 := by"
    assert t1.extra["proof"] == "simp -- done"
    assert t2.formal_statement == 'theorem t2 : r#"raw " := "# = "" :=' and t2.extra["proof"] == "rfl"
