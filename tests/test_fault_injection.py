"""Fault injection on the whole `prover verify` and `prover eval` commands: SIGINT, SIGTERM and SIGKILL
at random moments, each followed by the checks of bench/fault_injection.py (no Lean of the run alive
2 s later, no scratch folder left, the final rerun's rows exactly those of an uninterrupted run).
A few dozen kills here; the bench script runs a few hundred (figures in docs/verifier.md)."""

from __future__ import annotations

import importlib.util
import random
import shutil
import sys
import tempfile
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parent.parent / "bench" / "fault_injection.py"


def _harness():
    spec = importlib.util.spec_from_file_location("fault_injection", BENCH)
    mod = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("fault_injection", mod)  # dataclasses look their module up there
    spec.loader.exec_module(mod)
    return mod


@pytest.mark.slow
@pytest.mark.parametrize("which, trials", [("verify", 10), ("eval", 4)])
def test_random_kills_leave_nothing_behind_and_lose_nothing(lean_toolchain, which, trials):
    fi = _harness()
    base = Path(tempfile.mkdtemp(prefix="fault-injection-test-"))
    try:
        make = {"verify": fi.verify_command, "eval": fi.eval_command}[which]
        rows, wall = fi.reference(make, base, str(lean_toolchain.lean))
        assert rows, "the uninterrupted run wrote no rows"
        figures = fi.Figures()
        rng = random.Random(12)
        for _ in range(trials):
            fi.trial(make, base, str(lean_toolchain.lean), rng, rows, wall, 2, figures)
    finally:
        shutil.rmtree(base, ignore_errors=True)
    assert figures.failures == []
    assert set(figures.kills) == {"SIGINT", "SIGTERM", "SIGKILL"} and figures.landed >= trials // 2
    assert figures.lean_orphans == figures.leftovers == figures.mismatches == 0
