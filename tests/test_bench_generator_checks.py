"""bench/bench_generator.py's check of engine "ct2" against the reference: a beam search that keeps
another, better-scoring hypothesis passes; a missed best or a log-probability off by more than the
tolerance fails."""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

BENCH = Path(__file__).resolve().parents[1] / "bench" / "bench_generator.py"


def _bench():
    spec = importlib.util.spec_from_file_location("bench_generator", BENCH)
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@dataclass
class C:
    tactic: str
    logprob: float
    thought: str | None = None
    tokens: int = 2


def test_ct2_check_allows_another_better_hypothesis_and_refuses_a_missed_best() -> None:
    disagrees = _bench().disagrees
    ref = [[C("a", -1.0), C("b", -2.0)], [C("x", -1.5), C("y", -3.0)]]
    assert disagrees(ref, [[C("a", -1.0 + 1e-6), C("b", -2.0)], [C("x", -1.5), C("y", -3.0)]], 1e-4) == ("", 1.0, 2)
    why, kept, same = disagrees(ref, [[C("a", -1.0), C("b", -2.0)], [C("z", -1.2), C("x", -1.5)]], 1e-4)
    assert (why, kept, same) == ("", 0.75, 1)  # ct2 kept z, which scores above hf's best: not a failure
    why, _, _ = disagrees(ref, [[C("b", -2.0)], [C("x", -1.5)]], 1e-4)
    assert "below hf's" in why  # ct2 missed the reference's best
    why, _, _ = disagrees(ref, [[C("a", -1.1), C("b", -2.0)], [C("x", -1.5)]], 1e-4)
    assert "log-probability differs" in why
