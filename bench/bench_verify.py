"""Verifier throughput on the embedded Lean: shared files + parallel processes vs one fresh `lean` per item.

    python bench/bench_verify.py [--items 48] [--workers 2] [--batch-size 8] [--plot bench/results/verify.png]

Items are the honest proofs of tests/data/verify/adversarial.jsonl repeated (same checks in every
variant, cache off).  Two workloads: all proofs correct (re-checking proofs a search found), and a
quarter wrong (whole-proof sampling), where every failure in a shared file is re-checked alone.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from lean_env.toolchain import LeanToolchain, embedded_lean  # noqa: E402
from lean_env.verifier import Verifier, VerifierConfig, VerifyItem  # noqa: E402

DATA = REPO / "tests" / "data" / "verify" / "adversarial.jsonl"


def workload(n: int, wrong_every: int | None) -> list[VerifyItem]:
    rows = [json.loads(line) for line in DATA.read_text(encoding="utf-8").splitlines()]
    honest = [r for r in rows if r["expect"] == "proved" and "proof" in r]
    items = []
    for k in range(n):
        r = honest[k % len(honest)]
        proof = r["proof"]
        if wrong_every and k % wrong_every == wrong_every - 1:
            proof = " wrong_term"  # an unknown identifier: rejected
        items.append(VerifyItem(f"{r['name']}#{k}", r["header"], r["formal_statement"], proof=proof))
    return items


def measure(tc: LeanToolchain, items: list[VerifyItem], workers: int, batch_size: int) -> tuple[float, list[str]]:
    v = Verifier(tc, VerifierConfig(workers=workers, batch_size=batch_size, cache=False, timeout=120.0))
    t0 = time.perf_counter()
    verdicts = v.verify(items)
    return time.perf_counter() - t0, [x.verdict for x in verdicts]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--items", type=int, default=48)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--plot", type=Path, default=REPO / "bench" / "results" / "bench_verify.png")
    args = ap.parse_args()
    tc = LeanToolchain(lean=embedded_lean(), embedded=True)
    print(f"lean: {tc.describe()}")
    variants = [
        ("one fresh lean per item", 1, 1),
        (f"shared files (batch {args.batch_size}), 1 process", 1, args.batch_size),
        (f"shared files (batch {args.batch_size}), {args.workers} processes", args.workers, args.batch_size),
    ]
    table: dict[str, list[float]] = {}
    for label, wrong_every in (("all correct", None), ("25% wrong", 4)):
        items = workload(args.items, wrong_every)
        rates, reference = [], None
        print(f"\nworkload: {args.items} items, {label}")
        for name, workers, batch in variants:
            secs, verdicts = measure(tc, items, workers, batch)
            reference = reference or verdicts
            same = "same verdicts" if verdicts == reference else "DIFFERENT VERDICTS"
            rates.append(len(items) / secs)
            print(f"  {name:<40} {secs:6.2f} s  {rates[-1]:7.1f} checks/s  ({same}; "
                  f"{verdicts.count('proved')} proved)")
        print(f"  ratio (batched+parallel / one per item): {rates[-1] / rates[0]:.2f}x   "
              f"(batching alone: {rates[1] / rates[0]:.2f}x)")
        table[label] = rates
    args.plot.parent.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=(8, 4))
    width = 0.25
    for k, (name, _, _) in enumerate(variants):
        ax.bar([i + k * width for i in range(len(table))], [table[w][k] for w in table], width, label=name)
    ax.set_xticks([i + width for i in range(len(table))], list(table))
    ax.set_ylabel("checks per second")
    ax.set_title(f"verifier throughput, embedded Lean, {args.items} items")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(args.plot, dpi=120)
    print(f"\nplot: {args.plot}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
