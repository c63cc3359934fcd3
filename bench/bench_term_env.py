"""Lean cost per candidate in LeanTermEnv: fresh `lean` processes (before) against the warm worker
(after, lean_env/lean_server.py), per fresh call and per candidate in a batch, side by side in one
run; and the replay of the logic benchmark's reference proofs both ways.

    python bench/bench_term_env.py [--candidates 48] [--workers 2] [--replay train]

The candidates are real search steps on the logic benchmark's `valid` split: for states along the
reference proofs, the reference's next filling plus vocabulary-policy fillings (mostly wrong ones,
as in search).  Every variant starts with an empty cache; the verdicts (outcomes, with their goal
texts and failure messages) must be identical across variants, else the bench fails.

Figures: "per call" is one candidate per `apply` (a fresh process each time before; after, a call
on a worker whose header is already elaborated); "per candidate" is a batch's seconds divided by
its candidates; "marginal" is (batch - one call) / (candidates - 1), what one more candidate in a
file costs.  The header line measures what a fresh process pays before any candidate: `lean` on an
empty `prelude` file (start-up) and on the header alone.  Load average and peak RSS come with them.
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core.types import Failed, Open, State  # noqa: E402
from eval.logic import load_split, prelude_text  # noqa: E402
from eval.logic.vocab_policy import VocabularyPolicy  # noqa: E402
from lean_env.process import run_lean  # noqa: E402
from lean_env.term_env import LeanTermEnv  # noqa: E402
from lean_env.toolchain import find_toolchain  # noqa: E402


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


_CANDIDATE_NAME = re.compile(r"TermEnvCandidate_[0-9a-f]+_[0-9]+")


def canonical(outcomes: list) -> list:
    """Outcomes with the per-file candidate names in Lean's messages blanked (each file draws its own)."""
    return [Failed(_CANDIDATE_NAME.sub("TermEnvCandidate", o.message), o.kind) if isinstance(o, Failed) else o
            for o in outcomes]


def best_of(fn, repeats: int) -> tuple[float, object]:
    best, out = float("inf"), None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def header_cost(tc, repeats: int) -> tuple[float, float]:
    """Seconds of `lean` on an empty prelude file and on the benchmark's header alone (best of repeats)."""
    empty, _ = best_of(lambda: run_lean(tc, "prelude\n"), repeats)
    header, _ = best_of(lambda: run_lean(tc, prelude_text()), repeats)
    return empty, header


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--candidates", type=int, default=48)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--replay", default="train", help="split whose reference proofs are replayed ('' to skip)")
    args = ap.parse_args()
    tc = find_toolchain()
    with LeanTermEnv(tc, warm=False) as prep:
        steps = make_steps(prep, args.candidates)
    n = len(steps)
    print(f"lean: {tc.describe()}\ncandidates: {n} steps on {len({s.handle.theorem.name for s, _ in steps})} "
          f"theorems; load average {os.getloadavg()[0]:.2f}")
    start, header = header_cost(tc, args.repeats)
    print(f"a fresh process before any candidate: start-up {start * 1000:.0f} ms (empty prelude file), "
          f"+ header elaboration {(header - start) * 1000:.0f} ms (the benchmark's prelude)")

    verdicts = {}
    rows = []
    for warm in (False, True):
        label = "warm" if warm else "cold"
        with LeanTermEnv(tc, cache_size=0, warm=warm) as env:
            env.apply(*steps[0])  # a warm worker is started and its header elaborated (and checked) here
            one_s, _ = best_of(lambda env=env: [env.apply(s, f) for s, f in steps[:8]], args.repeats)
            verdicts[f"{label} one per call"] = canonical([env.apply(s, f) for s, f in steps])
        per_call = one_s / 8
        with LeanTermEnv(tc, cache_size=0, batch_size=n, warm=warm, warm_max_candidates=n) as env:
            env.apply(*steps[0])
            batch_s, out = best_of(lambda env=env: env.apply_batch(steps), args.repeats)
            verdicts[f"{label} one file"] = canonical(out)
        with LeanTermEnv(tc, cache_size=0, workers=args.workers, batch_size=n, warm=warm,
                         warm_max_candidates=n) as env:
            env.apply_batch(steps[:2 * args.workers])
            par_s, out = best_of(lambda env=env: env.apply_batch(steps), args.repeats)
            verdicts[f"{label} {args.workers} files"] = canonical(out)
        rows.append((label, per_call, batch_s, par_s))
    names = list(verdicts)
    if any(verdicts[k] != verdicts[names[0]] for k in names):
        print("MISMATCH between variants:", [k for k in names if verdicts[k] != verdicts[names[0]]])
        return 1
    print(f"{'lean':>5} {'per call ms':>11} {'batch of ' + str(n) + ' s':>13} {'per cand ms':>11} {'marginal ms':>11} "
          f"{str(args.workers) + ' files s':>9} {'per cand ms':>11}")
    for label, per_call, batch_s, par_s in rows:
        print(f"{label:>5} {per_call * 1000:11.1f} {batch_s:13.3f} {batch_s / n * 1000:11.1f} "
              f"{(batch_s - per_call) / (n - 1) * 1000:11.1f} {par_s:9.3f} {par_s / n * 1000:11.1f}")
    (_, c1, cb, cp), (_, w1, wb, wp) = rows
    print(f"ratios cold/warm: per call {c1 / w1:.1f}x, batch {cb / wb:.1f}x, {args.workers} files {cp / wp:.1f}x")
    kinds = sorted({type(o).__name__ for o in verdicts[names[0]]})
    print(f"verdicts identical across {len(names)} variants "
          f"({', '.join(f'{k}={sum(type(o).__name__ == k for o in verdicts[names[0]])}' for k in kinds)})")

    if args.replay:
        from eval.logic.examples import reference_examples

        got = {}
        for warm in (False, True):
            with LeanTermEnv(tc, warm=warm) as env:
                t0 = time.perf_counter()
                got[warm] = reference_examples(env, load_split(args.replay))
                secs = time.perf_counter() - t0
                print(f"replay of logic:{args.replay} ({'warm' if warm else 'cold'}): {len(got[warm])} steps in "
                      f"{secs:.1f} s, {env.lean_runs} files ({env.warm_runs} warm)")
        if got[False] != got[True]:
            print("MISMATCH: the replays differ")
            return 1
    print(f"peak RSS of this process {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB, of its "
          f"largest Lean child {resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024:.0f} MiB; "
          f"load average now {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
