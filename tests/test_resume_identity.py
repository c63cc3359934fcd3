"""Issue 12: nothing stale, nothing lost.  A rerun never keeps a result for input that changed,
never reuses rows of other settings, never writes into a file of another kind, and says when a
run is incomplete.  Each test here failed before the fix (see the report of that change)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from prover.cli import main

DATA = Path(__file__).resolve().parent / "data"
WORLD = DATA / "eval" / "world.json"
VERIFY = DATA / "verify"
HEADER = (VERIFY / "prelude.lean").read_text(encoding="utf-8")
AND_SWAP = "theorem and_swap (p q : Prop) (h : And p q) : And q p :="
SWAP = " And.rec (fun hp hq => And.intro hq hp) h"
SCRIPTED = [f"--env=scripted:{WORLD}", f"--policy=scripted:{WORLD}", "--no-progress"]


def _lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _theorem_file(tmp_path: Path, change: dict[str, str] | None = None) -> Path:
    """The scripted world's theorems as a `jsonl:` dataset, some statements replaced."""
    world = json.loads(WORLD.read_text(encoding="utf-8"))
    rows = []
    for t in world["theorems"]:
        stmt = (change or {}).get(t["name"], t["statement"])
        rows.append({"name": t["name"], "header": "", "formal_statement": stmt + " := by"})
    path = tmp_path / "thms.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def _verify(src: Path, out: Path | None, lean: str, *extra: str) -> int:
    argv = ["verify", str(src), "--lean", lean, "--no-cache", "--no-progress", *extra]
    return main(argv + (["--out", str(out)] if out is not None else []))


def _write(path: Path, rows: list) -> None:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows), encoding="utf-8")


# ------------------------------------------------------------------ 1. results tied to their content


def test_verify_rerun_refuses_then_rechecks_a_changed_line(lean_toolchain, tmp_path, capsys):
    src, out = tmp_path / "in.jsonl", tmp_path / "o.jsonl"
    honest = [{"name": "swap", "header": HEADER, "formal_statement": AND_SWAP, "proof": SWAP},
              {"name": "triv", "header": HEADER, "formal_statement": "theorem t2 : True :=", "proof": " True.intro"}]
    _write(src, honest)
    lean = str(lean_toolchain.lean)
    assert _verify(src, out, lean) == 0
    assert [r["verdict"] for r in _lines(out)] == ["proved", "proved"]
    _write(src, [dict(honest[0], proof=" sorry"), honest[1]])  # the first proof becomes `sorry`
    before = out.read_text(encoding="utf-8")
    capsys.readouterr()
    assert _verify(src, out, lean) == 2  # refused, saying why
    err = capsys.readouterr().err
    assert "line 1" in err and "changed" in err and "--rerun-stale" in err
    assert out.read_text(encoding="utf-8") == before
    assert _verify(src, out, lean, "--rerun-stale") == 0  # re-checked: now a rejection
    rows = {r["line"]: r for r in _lines(out)}
    assert len(_lines(out)) == 2 and rows[1]["verdict"] == "rejected" and rows[2]["verdict"] == "proved"
    [old] = _lines(tmp_path / "o.stale.jsonl")  # the old verdict is kept aside, not lost
    assert old["line"] == 1 and old["verdict"] == "proved"


def test_eval_refuses_then_reruns_rows_whose_statement_changed(tmp_path, capsys):
    out = tmp_path / "run"
    data = _theorem_file(tmp_path)
    args = ["eval", f"--dataset=jsonl:{data}", *SCRIPTED, "--strategy=best-first", "--budget=expansions=8",
            "--config=n=2", "--out", str(out)]
    assert main(args) == 0
    rows = _lines(out / "results.jsonl")
    assert {r["name"]: r["status"] for r in rows}["chain5"] == "proved"
    recorded = (out / "run.json").read_text()
    _theorem_file(tmp_path, {"chain5": "theorem chain5 : D0 ∧ D0"})  # the statement changed
    capsys.readouterr()
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "chain5" in err and "statement" in err and "--rerun-stale" in err
    assert _lines(out / "results.jsonl") == rows
    assert (out / "run.json").read_text() == recorded  # the refused rerun left the run's record as it was
    assert main([*args, "--rerun-stale"]) == 0
    now, before = (json.loads(t) for t in ((out / "run.json").read_text(), recorded))
    assert now["dataset_hash"] != before["dataset_hash"]  # the new dataset's hash, now that the rows match it
    new = _lines(out / "results.jsonl")
    assert sorted(r["name"] for r in new) == sorted(r["name"] for r in rows)  # one row per theorem
    [old] = _lines(out / "results.stale.jsonl")
    assert old["name"] == "chain5" and old["content_hash"] != next(r for r in new if r["name"] == "chain5")["content_hash"]


def test_search_refuses_rows_of_a_changed_statement(tmp_path, capsys):
    data = _theorem_file(tmp_path)
    out = tmp_path / "r.jsonl"
    args = ["search", "--theorems", str(data), *SCRIPTED, "--budget", "expansions=8", "--out", str(out)]
    assert main(args) == 0
    _theorem_file(tmp_path, {"one_step": "theorem one_step (h : A) (g : A) : A"})
    capsys.readouterr()
    assert main(args) == 2
    assert "one_step" in capsys.readouterr().err


# ------------------------------------------------------------------ 2. --out of another kind


def test_verify_refuses_an_out_that_is_the_input_or_holds_other_rows(lean_toolchain, tmp_path, capsys):
    src = tmp_path / "in.jsonl"
    _write(src, [{"name": "swap", "header": HEADER, "formal_statement": AND_SWAP, "proof": SWAP}])
    text = src.read_text(encoding="utf-8")
    lean = str(lean_toolchain.lean)
    assert _verify(src, src, lean) == 2
    assert "is the input" in capsys.readouterr().err and src.read_text(encoding="utf-8") == text
    run = tmp_path / "eval"
    assert main(["eval", f"--dataset=scripted:{WORLD}", *SCRIPTED, "--strategy=best-first",
                 "--budget=expansions=4", "--out", str(run)]) == 0
    results = (run / "results.jsonl").read_text(encoding="utf-8")
    capsys.readouterr()
    assert _verify(src, run / "results.jsonl", lean) == 2
    assert "not verdicts" in capsys.readouterr().err
    assert (run / "results.jsonl").read_text(encoding="utf-8") == results
    assert main(["report", str(run)]) == 0


# ------------------------------------------------------------------ 4. search reruns with other settings


def test_search_refuses_a_rerun_with_other_settings(tmp_path, capsys):
    out = tmp_path / "r.jsonl"
    base = ["search", "--theorems", str(WORLD), *SCRIPTED, "--out", str(out)]
    assert main([*base, "--budget", "expansions=8", "--n", "2"]) == 0
    rows = out.read_text(encoding="utf-8")
    capsys.readouterr()
    assert main([*base, "--budget", "expansions=3", "--n", "2"]) == 2
    assert "budget: was 'expansions=8', now 'expansions=3'" in capsys.readouterr().err
    assert main([*base, "--budget", "expansions=8", "--n", "3"]) == 2
    assert "config" in capsys.readouterr().err
    assert out.read_text(encoding="utf-8") == rows


# ------------------------------------------------------------------ 5. numbers that mean nothing


@pytest.mark.parametrize("flags, words", [
    (["--limit", "-3"], "--limit"),
    (["--limit", "0"], "--limit"),
    (["--timeout", "nan"], "--timeout"),
    (["--timeout", "inf"], "--timeout"),
    (["--budget", ""], "budget"),
    (["--memory-mb", "0"], "--memory-mb"),
])
def test_eval_and_search_refuse_meaningless_numbers(tmp_path, capsys, flags, words):
    out = tmp_path / "run"
    assert main(["eval", f"--dataset=scripted:{WORLD}", *SCRIPTED, "--strategy=best-first",
                 "--out", str(out), *flags]) == 2
    assert words in capsys.readouterr().err and not out.exists()
    assert main(["search", "--theorems", str(WORLD), *SCRIPTED, "--out", str(tmp_path / "s.jsonl"), *flags]) == 2
    assert words in capsys.readouterr().err and not (tmp_path / "s.jsonl").exists()


def test_verify_refuses_a_timeout_that_is_not_finite(tmp_path, capsys):
    src = tmp_path / "in.jsonl"
    src.write_text("", encoding="utf-8")
    for t in ("nan", "inf"):
        assert main(["verify", str(src), "--timeout", t]) == 2
        assert "--timeout" in capsys.readouterr().err


def test_eval_budget_default_and_unlimited(tmp_path):
    """No --budget: the documented default (expansions=64); `unlimited` says so explicitly."""
    assert main(["eval", f"--dataset=scripted:{WORLD}", *SCRIPTED, "--strategy=best-first",
                 "--out", str(tmp_path / "a")]) == 0
    assert json.loads((tmp_path / "a" / "run.json").read_text())["budget"] == "expansions=64"
    assert main(["eval", f"--dataset=scripted:{WORLD}", *SCRIPTED, "--strategy=best-first", "--budget=unlimited",
                 "--out", str(tmp_path / "b")]) == 0
    assert json.loads((tmp_path / "b" / "run.json").read_text())["budget"] == "unlimited"


# ------------------------------------------------------------------ 6. an incomplete run says so


def test_report_says_a_run_is_incomplete(tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["eval", f"--dataset=scripted:{WORLD}", *SCRIPTED, "--strategy=best-first",
                 "--budget=expansions=8", "--out", str(run)]) == 0
    rows = (run / "results.jsonl").read_text(encoding="utf-8").splitlines()
    (run / "results.jsonl").write_text("\n".join(rows[:2]) + "\n", encoding="utf-8")  # 2 of 5 done
    capsys.readouterr()
    assert main(["report", str(run)]) == 0
    cap = capsys.readouterr()
    assert "incomplete" in cap.err and "3 of 5 theorems" in cap.err
    assert "incomplete" in (run / "report.md").read_text(encoding="utf-8")
    rep = json.loads((run / "report.json").read_text(encoding="utf-8"))["runs"][0]
    assert rep["complete"] is False and rep["missing_theorems"] == 3


# ------------------------------------------------------------------ 8. smaller ones


def test_a_failed_eval_does_not_block_the_corrected_command(tmp_path, capsys):
    out = tmp_path / "run"
    common = [f"--dataset=scripted:{WORLD}", f"--env=scripted:{WORLD}", "--strategy=best-first",
              "--budget=expansions=4", "--no-progress", "--out", str(out)]
    assert main(["eval", *common, f"--policy=model:{tmp_path / 'no-such-model'}"]) != 0
    capsys.readouterr()
    assert main(["eval", *common, f"--policy=scripted:{WORLD}"]) == 0


def test_a_directory_as_input_is_named_as_such(tmp_path, capsys):
    assert main(["verify", str(tmp_path)]) == 2
    assert "is a directory" in capsys.readouterr().err


def test_verify_exits_nonzero_when_rows_are_errors(lean_toolchain, tmp_path, capsys):
    src = tmp_path / "in.jsonl"
    _write(src, ["{not json", {"name": "no-proof", "header": HEADER, "formal_statement": AND_SWAP}])
    assert _verify(src, tmp_path / "o.jsonl", str(lean_toolchain.lean)) == 1
    assert "error 2" in capsys.readouterr().out
