"""Candidate checks per second in LeanTermEnv: one Lean process per candidate vs many candidates per file.

    python bench/bench_term_env.py [--candidates 48] [--workers 2]

The candidates are real search steps on the logic benchmark's `valid` split: for states
along the reference proofs, the reference's next filling plus vocabulary-policy fillings
(mostly wrong ones, as in search).  Each variant starts with an empty cache; verdicts must
agree across variants.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core.types import Open, Outcome, State  # noqa: E402
from eval.logic import load_split  # noqa: E402
from lean_env.term_env import LeanTermEnv  # noqa: E402
from lean_env.toolchain import find_toolchain  # noqa: E402
from prover.vocab_policy import VocabularyPolicy  # noqa: E402


def make_steps(env: LeanTermEnv, count: int) -> list[tuple[State, str]]:
    theorems = load_split("valid")
    prefixes = [(t, t.extra["reference_proof"][:k]) for t in theorems for k in range(len(t.extra["reference_proof"]))]
    states, nexts = [], []
    for (t, pre), out in zip(prefixes, env.replay_many(prefixes[:count]), strict=False):
        if isinstance(out, Open):
            states.append(out.state)
            nexts.append(t.extra["reference_proof"][len(pre)])
    policy = VocabularyPolicy()
    steps: list[tuple[State, str]] = []
    for s, ref in zip(states, nexts, strict=True):
        steps.append((s, ref))
        steps += [(s, f) for f in policy.candidates(s)[:2] if f != ref]
    return steps[:count]


def verdict(o: Outcome) -> str:
    return type(o).__name__ + (f":{len(o.state.goals)}" if isinstance(o, Open) else "")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--candidates", type=int, default=48)
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()
    tc = find_toolchain()
    with LeanTermEnv(tc) as prep:
        steps = make_steps(prep, args.candidates)
    n = len(steps)
    print(f"lean: {tc.describe()}\ncandidates: {n} steps on {len({s.handle.theorem.name for s, _ in steps})} theorems")

    rows = []
    with LeanTermEnv(tc, cache_size=0) as env:
        t0 = time.perf_counter()
        single = [env.apply(s, f) for s, f in steps]
        rows.append(("one process per candidate", time.perf_counter() - t0, env.lean_runs))
    with LeanTermEnv(tc, cache_size=0, batch_size=n) as env:
        t0 = time.perf_counter()
        batched = env.apply_batch(steps)
        rows.append(("all candidates in one file", time.perf_counter() - t0, env.lean_runs))
    with LeanTermEnv(tc, cache_size=0, workers=args.workers, batch_size=n) as env:
        t0 = time.perf_counter()
        parallel = env.apply_batch(steps)
        rows.append((f"batched over {args.workers} processes", time.perf_counter() - t0, env.lean_runs))

    if [verdict(o) for o in single] != [verdict(o) for o in batched] or \
            [verdict(o) for o in batched] != [verdict(o) for o in parallel]:
        print("MISMATCH between variants")
        return 1
    base = rows[0][1]
    print(f"{'variant':32s} {'seconds':>8s} {'lean runs':>9s} {'checks/s':>9s} {'ratio':>6s}")
    for name, secs, runs in rows:
        print(f"{name:32s} {secs:8.2f} {runs:9d} {n / secs:9.1f} {base / secs:6.1f}x")
    kinds = sorted({verdict(o).split(':')[0] for o in batched})
    print(f"verdicts agree across variants ({', '.join(f'{k}={sum(verdict(o).startswith(k) for o in batched)}' for k in kinds)})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
