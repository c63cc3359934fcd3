"""Engine overhead of the strategy engine.

1. Zero-cost env and policy (an endless tree answered from memory): expansions per second of the
   engine alone, for each strategy.
2. A best-first run against the scripted REPL double (a separate process speaking the REPL protocol,
   `python -m doubles.repl_double --world W`) and against the in-process ScriptedEnv on the same world:
   the engine's share of wall time (wall - model seconds - Lean seconds) / wall.

Run: python bench/bench_search.py [--expansions N]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core.types import (  # noqa: E402
    Candidate,  # noqa: E402
    Open,
    Outcome,
    ProofCheck,
    State,
    Theorem,
)
from doubles.scripted import ScriptedEnv, ScriptedWorld  # noqa: E402
from doubles.scripted_policy import ScriptedPolicy  # noqa: E402
from search.budget import Budget  # noqa: E402
from search.result import SearchResult  # noqa: E402
from search.strategies import run_strategy  # noqa: E402

THEOREM = Theorem("endless", "", "theorem endless : P := by")


class ZeroEnv:
    """Every tactic opens a new goal (never proved): the search never ends on its own."""

    proof_style = "tactic"

    def start(self, theorem: Theorem) -> State:
        return State(("⊢ g",))

    def apply(self, state: State, tactic: str) -> Outcome:
        return Open(State((f"{state.goals[0]}.{tactic}",)))

    def apply_batch(self, steps: Sequence[tuple[State, str]]) -> list[Outcome]:
        return [Open(State((f"{s.goals[0]}.{t}",))) for s, t in steps]

    def check(self, theorem: Theorem, proof: str) -> ProofCheck:
        return ProofCheck(False, proof)

    def close(self) -> None:
        return None


class ZeroPolicy:
    CANDS = [Candidate(str(i), "", -0.1 * (i + 1), 1) for i in range(64)]

    def propose(self, states: Sequence[State], n: int) -> list[list[Candidate]]:
        return [self.CANDS[:n] for _ in states]

    def propose_proofs(self, theorems: Sequence[Theorem], n: int) -> list[list[Candidate]]:
        return [[Candidate(f"{i}", "", -1.0, 1) for i in range(n)] for _ in theorems]


class ZeroEvaluator:
    """Values every state 0.5 at no cost."""

    def score(self, states: Sequence[State]) -> list[float]:
        return [0.5] * len(states)


def tree_world(depth: int, branch: int) -> dict:
    """A full tree whose only proof takes the least likely tactic at every level."""
    trans: dict = {}
    props: dict = {}

    def build(goal: str, d: int, ok: bool) -> None:
        if d == depth:
            trans[goal], props[goal] = {"done": [] if ok else "done failed"}, [["done", -0.01]]
            return
        trans[goal], props[goal] = {}, []
        for i in range(branch):
            trans[goal][f"t{i}"] = [f"{goal}.{i}"]
            props[goal].append([f"t{i}", -0.1 * (i + 1)])
            build(f"{goal}.{i}", d + 1, ok and i == branch - 1)

    build("⊢ g", 0, True)
    return {"theorems": [{"name": "tree", "statement": "theorem tree : g", "goal": "⊢ g"}],
            "transitions": trans, "proposals": props}


def share(res: SearchResult) -> float:
    a = res.accounting
    return max(0.0, a.wall_seconds - a.model_seconds - a.lean_seconds) / a.wall_seconds


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--expansions", type=int, default=3000, help="expansions of the zero-cost runs")
    ap.add_argument("--double-expansions", type=int, default=150, help="expansions of the runs on the double")
    args = ap.parse_args()

    t0 = time.perf_counter()
    ref = {str(i): [i] for i in range(100_000)}
    ref_ms = (time.perf_counter() - t0) * 1e3
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"machine: {len(ref)} dict inserts take {ref_ms:.0f} ms here; load average {load:.1f} on "
          f"{os.cpu_count()} cores (scale the figures below by how busy the machine is)\n")
    print(f"1. zero-cost env and policy, {args.expansions} expansions each")
    zero_rate = {}
    for strategy, cfg in [("best-first", {"n": 8}), ("best-first", {"n": 8, "expand_batch": 16}),
                          ("best-first", {"n": 8, "value_weight": 0.5}),
                          ("beam", {"n": 8, "width": 8, "max_depth": 10**6}),
                          ("rebase", {"width": 8, "max_depth": 10**6}),
                          ("mcts", {"n": 8, "max_depth": 10**6}),
                          ("rmaxts", {"n": 8, "max_depth": 10**6}),
                          ("sample", {"samples": 64, "max_depth": 10**6}),
                          ("whole", {"samples": args.expansions, "proof_batch": 64})]:
        best = None
        for _ in range(3):
            res = run_strategy(strategy, THEOREM, ZeroEnv(), ZeroPolicy(), Budget(expansions=args.expansions),
                               evaluator=ZeroEvaluator(), **cfg)
            rate = res.accounting.expansions / res.accounting.wall_seconds
            best = rate if best is None else max(best, rate)
        extra = {k: v for k, v in cfg.items() if k in ("expand_batch", "value_weight")}
        label = strategy + "".join(f" ({k}={v})" for k, v in extra.items())
        zero_rate[label] = best
        print(f"   {label:32s} {best:10.0f} expansions/s  ({1e6 / best:6.1f} µs each; "
              f"{res.accounting.env_calls} env calls, engine share {share(res):.0%})")

    print(f"\n2. best-first (n=3) on a 3-ary tree world of depth 6, {args.double_expansions} expansions")
    from prover.factory import make_env

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "tree.json"
        path.write_text(json.dumps(tree_world(6, 3)), encoding="utf-8")
        world = ScriptedWorld.load(path)
        theorem = world.theorems[0].theorem()
        pol = ScriptedPolicy(world)
        budget = Budget(expansions=args.double_expansions)
        rows = {}
        t0 = time.perf_counter()
        double = make_env(f"double:{path}", timeout=30, memory_mb=1024)
        start_s = time.perf_counter() - t0
        try:
            run_strategy("best-first", theorem, double, pol, Budget(expansions=2), n=3)  # warm the process
            rows["REPL double (process)"] = run_strategy("best-first", theorem, double, pol, budget, n=3)
        finally:
            double.close()
        rows["ScriptedEnv (in process)"] = run_strategy("best-first", theorem, ScriptedEnv(world), pol, budget, n=3)
        for label, res in rows.items():
            a = res.accounting
            print(f"   {label:26s} wall {a.wall_seconds:7.3f} s  lean {a.lean_seconds:7.3f} s  "
                  f"model {a.model_seconds:6.3f} s  engine {share(res):6.1%} of wall  "
                  f"({a.expansions / a.wall_seconds:8.0f} expansions/s, {a.env_calls} env calls)")
        print(f"   (starting the double process took {start_s:.2f} s, not counted above)")
        d, s = rows["REPL double (process)"], rows["ScriptedEnv (in process)"]
        engine_us = (d.accounting.wall_seconds - d.accounting.lean_seconds - d.accounting.model_seconds) \
            / d.accounting.expansions * 1e6
        print(f"\nratio: a run on the double takes {d.accounting.wall_seconds / s.accounting.wall_seconds:.1f}x "
              f"the in-process run; engine overhead {engine_us:.0f} µs/expansion there vs "
              f"{1e6 / zero_rate['best-first']:.0f} µs/expansion zero-cost; engine share of wall on the double: "
              f"{share(d):.1%}")


if __name__ == "__main__":
    main()
