"""The logic benchmark: its prelude, splits, generator, and every reference proof checked by the real Lean."""

from __future__ import annotations

from collections import Counter

import pytest

from core.proof_text import render_proof
from core.types import Open, Proved
from eval.logic import PRELUDE_PATH, SPLITS, load_split, prelude_text
from eval.logic.formula import lean, prove
from eval.logic.generate import build, canonical, generate
from lean_env.process import run_lean
from lean_env.term_env import LeanTermEnv


@pytest.fixture(scope="module")
def splits():
    return {s: load_split(s) for s in SPLITS}


def test_prelude_elaborates_alone(lean_toolchain):
    run = run_lean(lean_toolchain, PRELUDE_PATH.read_text(encoding="utf-8"), timeout=30)
    assert run.returncode == 0 and not run.errors, run.messages


def test_split_sizes_fields_and_spread(splits):
    assert 150 <= len(splits["train"]) <= 400
    assert 40 <= len(splits["valid"]) <= 80 and 40 <= len(splits["test"]) <= 80
    header = prelude_text()
    for split, theorems in splits.items():
        sizes = Counter()
        for t in theorems:
            assert t.header == header and t.formal_statement.startswith(f"theorem {t.name} ")
            assert t.formal_statement.endswith(":=") and t.extra["split"] == split
            proof = t.extra["reference_proof"]
            assert isinstance(proof, list) and proof and t.extra["difficulty"] == len(proof)
            sizes[len(proof)] += 1
        assert min(sizes) == 1 and max(sizes) >= 10, sizes
        assert sum(v for k, v in sizes.items() if k >= 6) >= len(theorems) // 5
    names = [t.name for ts in splits.values() for t in ts]
    assert len(names) == len(set(names))
    assert {t.extra["source"] for t in splits["train"]} >= {"handwritten", "prop", "fo", "eq"}


def test_splits_share_no_statement_even_up_to_renaming(splits):
    keys = {s: {canonical(t.formal_statement.split(" ", 2)[2]) for t in ts} for s, ts in splits.items()}
    assert sum(len(k) for k in keys.values()) == sum(len(ts) for ts in splits.values())
    assert not (keys["train"] & keys["valid"] or keys["train"] & keys["test"] or keys["valid"] & keys["test"])


def test_every_reference_proof_is_accepted_by_lean(lean_toolchain, splits):
    theorems = [t for ts in splits.values() for t in ts]
    with LeanTermEnv(lean_toolchain, workers=2, batch_size=256, timeout=120) as env:
        outs = env.replay_many([(t, t.extra["reference_proof"]) for t in theorems])
    bad = [(t.name, o) for t, o in zip(theorems, outs, strict=True) if not isinstance(o, Proved)]
    assert not bad, bad[:5]


def test_every_reference_step_is_a_valid_refinement_on_held_out_splits(lean_toolchain, splits):
    items = [(t, t.extra["reference_proof"][:k]) for s in ("valid", "test") for t in splits[s]
             for k in range(1, len(t.extra["reference_proof"]))]
    with LeanTermEnv(lean_toolchain, workers=2, batch_size=256, timeout=120) as env:
        outs = env.replay_many(items)
    bad = [(t.name, f, o) for (t, f), o in zip(items, outs, strict=True) if not isinstance(o, Open)]
    assert not bad, bad[:5]


@pytest.mark.slow
def test_every_reference_step_is_a_valid_refinement_on_train(lean_toolchain, splits):
    items = [(t, t.extra["reference_proof"][:k]) for t in splits["train"]
             for k in range(1, len(t.extra["reference_proof"]))]
    with LeanTermEnv(lean_toolchain, workers=2, batch_size=256, timeout=120) as env:
        outs = env.replay_many(items)
    assert all(isinstance(o, Open) for o in outs)


def test_reference_proofs_pass_the_verifier(lean_toolchain, splits):
    picks = [ts[len(ts) // 2] for ts in splits.values()]
    with LeanTermEnv(lean_toolchain, timeout=60) as env:
        for t in picks:
            ok = env.check(t, render_proof(env.proof_style, t.extra["reference_proof"]))
            assert ok.ok, (t.name, ok.reason)


def test_generator_is_seeded_and_proves_what_it_states():
    a = list(generate(7, {"prop": 12, "fo": 6, "eq": 3}))
    b = list(generate(7, {"prop": 12, "fo": 6, "eq": 3}))
    assert a == b and len(a) == 21
    assert a != list(generate(8, {"prop": 12, "fo": 6, "eq": 3}))


@pytest.mark.slow
def test_checked_in_splits_are_what_the_generator_builds(splits):
    built = build(0)
    for s in SPLITS:
        got = sorted((t.name, t.formal_statement, tuple(t.extra["reference_proof"])) for t in splits[s])
        want = sorted((e.name, f"theorem {e.name} {e.statement}", e.proof) for e in built[s])
        assert got == want


@pytest.mark.slow
def test_checked_in_varied_theorems_are_what_the_generator_builds():
    from eval.logic import EXTRA_VARIED, load_split
    from eval.logic.generate import build_varied

    got = [(t.name, t.formal_statement, tuple(t.extra["reference_proof"])) for t in load_split(EXTRA_VARIED)]
    assert got == [(e.name, f"theorem {e.name} {e.statement}", e.proof) for e in build_varied()]


def test_prover_writes_term_steps():
    p, q = ("atom", "p"), ("atom", "q")
    assert lean(("imp", ("and", p, q), ("and", q, p))) == "And p q → And q p"
    assert prove([], ("imp", ("and", p, q), ("and", q, p))) == ["fun h1 => ?_", "And.intro ?_ ?_", "h1.2", "h1.1"]
    assert prove([("h", ("or", p, q))], ("or", q, p)) is not None
    assert prove([], ("or", p, ("not", p))) is None  # not intuitionistically provable
