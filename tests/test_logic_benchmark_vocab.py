"""The vocabulary baseline policy, alone and in best-first search against the real Lean."""

from __future__ import annotations

import math

import pytest

from core.types import Policy, State
from eval.logic import load_split
from eval.logic.baseline import solved_at
from eval.logic.vocab_policy import VocabularyPolicy, instantiate, parse_context
from lean_env.term_env import LeanTermEnv
from search.budget import Budget
from search.strategies import run_strategy

GOAL = ("α : Type\nP Q : α → Prop\nf : α → α\na b : α\nh1 : Exists fun x => P x\nhp : P a\nx✝ : P b\n"
        "⊢ Exists fun x => Q x")


def test_context_names_are_sorted_into_kinds():
    names = parse_context(GOAL)
    assert names.hypotheses == ("hp", "h1")  # inaccessible x✝ left out, nearest first
    assert names.individuals == ("b", "a")
    assert names.functions == ("f",)
    assert {"α", "P", "Q", "x✝"} <= names.taken
    props = parse_context("p q : Prop\nhp : p\nhnp : Not p\n⊢ q")  # proofs of a Prop variable are hypotheses
    assert props.hypotheses == ("hnp", "hp") and props.individuals == ()


def test_templates_get_every_name_and_fresh_binders():
    names = parse_context(GOAL)
    assert instantiate("Exists.intro {x} ?_", names) == ["Exists.intro b ?_", "Exists.intro a ?_"]
    assert instantiate("{h} {x}", names) == ["hp b", "hp a", "h1 b", "h1 a"]
    assert instantiate("Exists.elim {h} (fun {newx} {new} => ?_)", names)[0] == "Exists.elim hp (fun x1 h2 => ?_)"
    assert instantiate("fun {new} => ?_", parse_context("⊢ True → True")) == ["fun h1 => ?_"]


def test_policy_is_uniform_and_respects_n():
    pol = VocabularyPolicy()
    assert isinstance(pol, Policy)
    s = State((GOAL,))
    full = pol.candidates(s)
    assert len(full) == len(set(full)) > 20
    [cands] = pol.propose([s], 5)
    assert [c.tactic for c in cands] == full[:5]
    assert all(c.logprob == pytest.approx(-math.log(len(full))) and c.tokens == 0 for c in cands)
    assert pol.propose([State(())], 4) == [[]]
    with pytest.raises(ValueError, match="unknown placeholder"):
        VocabularyPolicy(["{y}"])
    with pytest.raises(ValueError):
        VocabularyPolicy([])


def test_best_first_with_the_vocabulary_proves_easy_theorems(lean_toolchain):
    easy = [t for t in load_split("valid") if t.extra["difficulty"] <= 2][:3]
    with LeanTermEnv(lean_toolchain, timeout=60) as env:
        results = [run_strategy("best-first", t, env, VocabularyPolicy(), Budget(expansions=4), n=64)
                   for t in easy]
    assert all(r.status == "proved" for r in results), [(r.name, r.status) for r in results]
    rows = [r.to_row() for r in results]
    assert solved_at(rows, [0, 4]) == {0: 0, 4: 3}


def test_baseline_command_passes_no_progress_through(tmp_path, monkeypatch) -> None:
    import eval.logic.baseline as baseline

    seen: dict = {}

    def fake_run(split, max_expansions, out_dir, **kw):
        seen.update(kw, split=split, max_expansions=max_expansions)
        return [{"status": "proved", "first_proof_at": {"expansions": 3}, "difficulty": 2, "expansions": 3}]

    monkeypatch.setattr(baseline, "run", fake_run)
    assert baseline.main(["--split", "test", "--max-expansions", "8", "--out", str(tmp_path), "--no-progress"]) == 0
    assert seen["progress"] is False and seen["split"] == "test" and seen["max_expansions"] == 8
    assert (tmp_path / "solved.png").is_file()


def test_baseline_command_writes_its_bar_as_a_few_lines_when_not_on_a_terminal(tmp_path, monkeypatch, capsys) -> None:
    """A log file or a pipe gets the search's progress bar as lines, not as every redraw."""
    import sys

    from tqdm import tqdm

    import eval.logic.baseline as baseline

    def fake_run(split, max_expansions, out_dir, **kw):
        bar = tqdm(total=500, desc="vocab best-first", file=sys.stderr, mininterval=0, miniters=1)
        for _ in range(500):
            bar.update(1)
        bar.close()
        return [{"status": "proved", "first_proof_at": {"expansions": 3}, "difficulty": 2, "expansions": 3}]

    monkeypatch.setattr(baseline, "run", fake_run)
    assert baseline.main(["--split", "test", "--max-expansions", "8", "--out", str(tmp_path)]) == 0
    err = capsys.readouterr().err
    bar = [ln for ln in err.splitlines() if ln.startswith("vocab best-first")]
    assert "\r" not in err and 1 <= len(bar) <= 3 and "500/500" in bar[-1], err
