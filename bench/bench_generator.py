"""Generator throughput: candidates per second when the proposals for many states go through the
model together (one `generate` call) against one state at a time, same model and settings.

    python bench/bench_generator.py                      # tiny model trained here for a few seconds
    python bench/bench_generator.py --model PATH --device cuda --states 64 --n 16

Prints one line per variant and the ratio batched / one-at-a-time.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core.types import State  # noqa: E402
from prover.policy import GenerationConfig, ModelPolicy  # noqa: E402
from prover.tiny import examples_from_world, synthetic_logic_world  # noqa: E402
from prover.train import TrainConfig, train_sft  # noqa: E402
from thoughts.rationale import RuleTeacher  # noqa: E402


def run_variant(policy: ModelPolicy, states: list[State], n: int, one_at_a_time: bool) -> tuple[float, int, int]:
    """(seconds, samples generated, tokens generated)."""
    before_s, before_t = policy.stats.samples, policy.stats.tokens
    t0 = time.perf_counter()
    if one_at_a_time:
        for s in states:
            policy.propose([s], n)
    else:
        policy.propose(states, n)
    return time.perf_counter() - t0, policy.stats.samples - before_s, policy.stats.tokens - before_t


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", help="model folder or hub id (default: train a tiny one here)")
    ap.add_argument("--fmt", default="thought", choices=("thought", "tactic"))
    ap.add_argument("--device", default="auto")
    ap.add_argument("--states", type=int, default=32)
    ap.add_argument("--n", type=int, default=8, help="candidates sampled per state")
    ap.add_argument("--max-new-tokens", type=int, default=64)
    ap.add_argument("--repeats", type=int, default=2, help="runs per variant (the best is kept)")
    ap.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    ap.add_argument("--plot", type=Path, help="write a bar chart PNG here")
    args = ap.parse_args()

    import torch
    import transformers

    transformers.utils.logging.disable_progress_bar()
    if args.threads:
        torch.set_num_threads(args.threads)
    world = synthetic_logic_world(max(12, args.states // 2), seed=0)
    rows = examples_from_world(world)
    states = [State((r["state"],)) for r in rows][: args.states]
    with tempfile.TemporaryDirectory() as tmp:
        model = args.model
        if model is None:
            thoughts = RuleTeacher().explain_batch([(r["state"], r["tactic"]) for r in rows])
            rows = [{**r, "thought": t} for r, t in zip(rows, thoughts, strict=True)]
            t0 = time.perf_counter()
            model = str(train_sft(rows, tmp, TrainConfig(epochs=30, lr=5e-3, batch_size=16, tiny_size="micro",
                                                         warmup_steps=5, save_every=10**6, device=args.device),
                                  fmt=args.fmt, progress=False))
            print(f"trained a tiny model on {len(rows)} rows in {time.perf_counter() - t0:.1f}s")
        cfg = GenerationConfig(temperature=1.0, max_new_tokens=args.max_new_tokens, batch_size=len(states), seed=0)
        policy = ModelPolicy.load(model, fmt=args.fmt, config=cfg, device=args.device)
        print(f"device {policy.device}, {sum(p.numel() for p in policy.model.parameters()) / 1e6:.2f}M parameters, "
              f"{len(states)} states x n={args.n}, max_new_tokens={args.max_new_tokens}, "
              f"torch threads {torch.get_num_threads()}")
        run_variant(policy, states[:2], args.n, False)  # warm-up
        best: dict[str, tuple[float, int, int]] = {}
        for _ in range(args.repeats):
            for name, single in (("batched", False), ("one-at-a-time", True)):
                r = run_variant(policy, states, args.n, single)
                if name not in best or r[0] < best[name][0]:
                    best[name] = r
    rates = {}
    for name, (sec, samples, tokens) in best.items():
        rates[name] = samples / sec
        print(f"{name:>14}: {sec:7.2f}s  {samples:5d} candidates  {rates[name]:8.1f} candidates/s  "
              f"{tokens / sec:9.1f} tokens/s")
    ratio = rates["batched"] / rates["one-at-a-time"]
    print(f"ratio batched / one-at-a-time: {ratio:.2f}x")
    if args.plot:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(4, 3))
        ax.bar(list(rates), list(rates.values()), color=["tab:blue", "tab:gray"])
        ax.set_ylabel("candidates / s")
        ax.set_title(f"generator on {policy.device}: {ratio:.1f}x batched")
        fig.tight_layout()
        fig.savefig(args.plot, dpi=120)
        print(f"plot written to {args.plot}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
