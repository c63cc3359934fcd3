"""Benchmark of the REPL layer against the scripted double (protocol overhead alone, no Lean).

    python bench/bench_repl.py [--requests 2000] [--pool-size 2] [--theorems 20] [--header-cost-ms 50] [--tactic-cost-ms 20] [--batch 16]

1. requests/s: tactic requests through one ReplClient, then through a ReplPool of `--pool-size`
   processes driven by as many threads (and the in-process ScriptedEnv as the no-protocol ceiling);
2. header reused vs re-sent: ReplEnv.start + two tactics for `--theorems` theorems, with the header
   elaborated once per process (env reuse) against re-sent with every theorem; the double sleeps
   `--header-cost-ms` whenever it builds a fresh environment, standing in for `import Mathlib`;
3. one batch, one process vs a pool: `ReplEnv.apply_batch` of `--batch` steps (the first tactic
   of `--theorems` theorems, several candidates each) with `workers=1` and `workers=--pool-size`;
   the double sleeps `--tactic-cost-ms` per tactic, standing in for Lean's elaboration time.
Prints both comparisons with their ratios and saves a bar chart (--plot, default runs/bench_repl.png).
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from core.types import Open, Proved  # noqa: E402
from doubles.scripted import ScriptedEnv, ScriptedWorld  # noqa: E402
from lean_env.pool import ReplPool  # noqa: E402
from lean_env.repl import ReplClient  # noqa: E402
from lean_env.repl_env import ReplEnv  # noqa: E402

WORLD = REPO / "tests" / "data" / "worlds" / "backoff.json"
STATEMENT = "theorem imp_self' (p : Prop) : p → p := by sorry"
HEADER = "import Mathlib\nopen Nat Real"


def double(*extra: str) -> list[str]:
    return [sys.executable, "-m", "doubles.repl_double", "--world", str(WORLD), *extra]


def client_rate(n: int) -> float:
    with ReplClient(double(), cwd=REPO, header=HEADER) as c:
        ps = c.command(STATEMENT, c.header_env).sorries[0].proof_state or 0
        t0 = time.perf_counter()
        for _ in range(n):
            c.run_tactic("intro hp", ps)
        return n / (time.perf_counter() - t0)


def pool_rate(n: int, size: int) -> float:
    with ReplPool(double(), cwd=REPO, header=HEADER, size=size, max_requests=None) as pool:
        per_thread = n // size

        def work() -> None:
            with pool.client() as c:
                ps = c.command(STATEMENT, c.header_env).sorries[0].proof_state or 0
                for _ in range(per_thread):
                    c.run_tactic("intro hp", ps)

        threads = [threading.Thread(target=work) for _ in range(size)]
        t0 = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        return per_thread * size / (time.perf_counter() - t0)


def in_process_rate(n: int) -> float:
    env = ScriptedEnv(ScriptedWorld.load(WORLD))
    thm = env.world.find("imp_self'").theorem()
    root = env.start(thm)
    t0 = time.perf_counter()
    for _ in range(n):
        env.apply(root, "intro hp")
    return n / (time.perf_counter() - t0)


def theorems_time(k: int, header_cost_ms: float, reuse: bool) -> float:
    """Seconds for k theorems (start + intro + exact), process start excluded."""
    world = ScriptedWorld.load(WORLD)
    thm = world.find("imp_self'").theorem()
    with ReplEnv(double("--header-cost-ms", str(header_cost_ms)), cwd=REPO, header=HEADER,
                 reuse_header=reuse, timeout=60) as env:
        env.client.start()
        t0 = time.perf_counter()
        for _ in range(k):
            root = env.start(thm)
            step = env.apply(root, "intro hp")
            assert isinstance(step, Open)
            assert isinstance(env.apply(step.state, "exact hp"), Proved)
        return time.perf_counter() - t0


def batch_time(workers: int, theorems: int, batch: int, tactic_cost_ms: float) -> float:
    """Seconds for one apply_batch of `batch` steps spread over `theorems` root states."""
    world = ScriptedWorld.load(WORLD)
    thms = [world.find(n).theorem() for n in ("imp_self'", "and_swap", "em_hard")]
    with ReplEnv(double("--tactic-cost-ms", str(tactic_cost_ms)), cwd=REPO, header=HEADER, timeout=60,
                 workers=workers) as env:
        roots = [env.start(thms[i % len(thms)]) for i in range(theorems)]
        steps = [(roots[i % theorems], ("intro hp", "constructor", "left", "simp")[i % 4]) for i in range(batch)]
        t0 = time.perf_counter()
        env.apply_batch(steps)
        return time.perf_counter() - t0


def plot(path: Path, rates: dict[str, float], per_thm: dict[str, float]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 4))
    a.bar(list(rates), list(rates.values()), color=["tab:blue", "tab:orange", "tab:gray"])
    a.set_ylabel("tactic requests / s")
    a.set_yscale("log")
    a.set_title("protocol throughput (scripted double)")
    b.bar(list(per_thm), list(per_thm.values()), color=["tab:green", "tab:red"])
    b.set_ylabel("ms per theorem (start + 2 tactics)")
    b.set_title("header reused vs re-sent")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--requests", type=int, default=2000)
    ap.add_argument("--pool-size", type=int, default=2)
    ap.add_argument("--theorems", type=int, default=20)
    ap.add_argument("--header-cost-ms", type=float, default=50.0)
    ap.add_argument("--tactic-cost-ms", type=float, default=20.0)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--plot", type=Path, default=REPO / "runs" / "bench_repl.png")
    args = ap.parse_args()

    one = client_rate(args.requests)
    many = pool_rate(args.requests, args.pool_size)
    ceiling = in_process_rate(args.requests)
    print(f"requests/s  client (1 process):          {one:9.0f}")
    print(f"requests/s  pool ({args.pool_size} processes, {args.pool_size} threads): {many:9.0f}"
          f"   pool/client = {many / one:.2f}x")
    print(f"requests/s  in-process ScriptedEnv:       {ceiling:9.0f}   (no protocol; client costs "
          f"{1e6 / one - 1e6 / ceiling:.0f} us/request)")

    reused = theorems_time(args.theorems, args.header_cost_ms, reuse=True)
    resent = theorems_time(args.theorems, args.header_cost_ms, reuse=False)
    k = args.theorems
    print(f"header reused  ({k} theorems, header cost {args.header_cost_ms:g} ms): "
          f"{reused:6.3f} s = {1e3 * reused / k:7.2f} ms/theorem")
    print(f"header re-sent ({k} theorems, header cost {args.header_cost_ms:g} ms): "
          f"{resent:6.3f} s = {1e3 * resent / k:7.2f} ms/theorem   re-sent/reused = {resent / reused:.1f}x")
    one_proc = batch_time(1, args.theorems, args.batch, args.tactic_cost_ms)
    pooled = batch_time(args.pool_size, args.theorems, args.batch, args.tactic_cost_ms)
    print(f"apply_batch of {args.batch} steps on {args.theorems} theorems, tactic cost {args.tactic_cost_ms:g} ms: "
          f"1 process {one_proc:6.3f} s, pool of {args.pool_size} {pooled:6.3f} s   "
          f"1/pool = {one_proc / pooled:.2f}x")
    plot(args.plot, {"client": one, f"pool x{args.pool_size}": many, "in-process": ceiling},
         {"reused": 1e3 * reused / k, "re-sent": 1e3 * resent / k})
    print(f"plot: {args.plot}")


if __name__ == "__main__":
    main()
