"""Ray-distributed search against the sequential run, on the real-Lean logic benchmark.

The same jobs (theorem, attempt, seed) run twice through `search_many`: once in this process
(workers=1) and once on N local Ray worker actors, each with its own `LeanTermEnv` and policy.
Prints both wall times, their ratio (sequential / Ray), the Ray start-up time (not included in the
Ray search time), and whether the two runs gave the same results (status and proof per job).

The default policy is the vocabulary baseline (no model: every cost is Lean's); `--model DIR`
uses a trained checkpoint instead.  On a machine with few, shared cores the ratio says more about
the machine than about the code; run it where the cores are free.

Run: python bench/bench_parallel.py [--theorems 16] [--workers 2] [--budget expansions=4]
"""

from __future__ import annotations

import argparse
import functools
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from eval.datasets import load_dataset  # noqa: E402
from prover.distributed import SearchJob, init_ray, search_many  # noqa: E402
from prover.factory import make_env, make_policy  # noqa: E402
from search.budget import Budget  # noqa: E402


def _policy(spec: str, threads: int):
    import torch

    torch.set_num_threads(threads)
    return make_policy(spec, device="cpu") if spec.startswith("model:") else make_policy(spec)


def run(jobs, workers: int, args) -> tuple[float, dict]:
    env_factory = functools.partial(make_env, "lean-term", timeout=60.0)
    policy_factory = functools.partial(_policy, args.policy, 1)
    t0 = time.perf_counter()
    rows = list(search_many(jobs, env_factory, policy_factory, args.strategy, Budget.parse(args.budget),
                            {"n": args.n}, workers=workers, cpus_per_worker=1.0))
    wall = time.perf_counter() - t0
    return wall, {(r["name"], r["attempt"]): (r["status"], tuple(r.get("proof", []))) for r in rows}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--split", default="logic:valid")
    ap.add_argument("--theorems", type=int, default=16)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--strategy", default="best-first")
    ap.add_argument("--budget", default="expansions=4")
    ap.add_argument("--n", type=int, default=8, help="candidates per expansion")
    ap.add_argument("--policy", default="vocab", help="vocab | model:DIR")
    args = ap.parse_args()

    theorems = load_dataset(args.split)[: args.theorems]
    jobs = [SearchJob(t, 0, seed=i) for i, t in enumerate(theorems)]
    seq_s, seq = run(jobs, 1, args)
    t0 = time.perf_counter()
    started = init_ray(num_cpus=args.workers)
    init_s = time.perf_counter() - t0
    try:
        ray_s, par = run(jobs, args.workers, args)
    finally:
        if started:
            import ray

            ray.shutdown()
    proved = sum(s == "proved" for s, _ in seq.values())
    print(f"{len(jobs)} theorems of {args.split}, {args.strategy} {args.budget}, policy {args.policy}: "
          f"{proved} proved")
    print(f"sequential (1 worker, in process) : {seq_s:7.2f} s")
    print(f"{f'ray, {args.workers} workers':<34}: {ray_s:7.2f} s   (+ {init_s:.2f} s to start Ray; worker start-up included)")
    print(f"wall-time ratio sequential / ray  : {seq_s / ray_s:7.2f}x")
    print(f"same results                      : {seq == par}")


if __name__ == "__main__":
    main()
