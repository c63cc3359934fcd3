"""`prover expert-iteration --config FILE`: run (or resume) the expert-iteration loop and print
its per-round table."""

from __future__ import annotations

import argparse
import dataclasses

COLUMNS = (
    ("round", "round"), ("train_searched", "searched"), ("train_solved", "train"), ("train_new", "new"),
    ("train_solved_cum", "train so far"), ("valid_solved", "valid"), ("examples_new", "new ex"),
    ("examples_total", "examples"), ("search_tokens", "tokens"), ("round_seconds", "seconds"),
)


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("expert-iteration", help="search, keep verified proofs, fine-tune, repeat",
                       description="Expert iteration: each round searches the training theorems with the current "
                                   "model, keeps the proofs Lean verified, fine-tunes and evaluates on valid. "
                                   "Rerun the same command to resume a killed run.")
    p.add_argument("--config", required=True, help="JSON file of EIConfig fields (see configs/ei_*.json)")
    p.add_argument("--run-dir", help="override the config's run_dir")
    p.add_argument("--rounds", type=int, help="override the number of rounds (a finished run can be extended)")
    p.add_argument("--workers", type=int, help="search workers (> 1: Ray actors)")
    p.add_argument("--ray-address", help="join a Ray cluster instead of starting a local one")
    p.add_argument("--device", help="cpu | cuda | auto")
    p.add_argument("--generation-actor", action="store_true", default=None,
                   help="one shared generation actor (e.g. on the GPU) serves every Ray worker")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(func=run)


def format_table(rows: list[dict]) -> str:
    head = [h for _, h in COLUMNS]
    body = [[str(r.get(k, "")) for k, _ in COLUMNS] for r in rows]
    for r, line in zip(rows, body, strict=True):
        line[2] = f"{r['train_solved']}/{r['train_searched']}"
        line[4] = f"{r['train_solved_cum']}/{r['train_total']}"
        line[5] = f"{r['valid_solved']}/{r['valid_total']}"
    widths = [max(len(x) for x in col) for col in zip(head, *body, strict=True)]
    fmt = lambda cells: "  ".join(c.rjust(w) for c, w in zip(cells, widths, strict=True))  # noqa: E731
    return "\n".join([fmt(head), *(fmt(line) for line in body)])


def run(args: argparse.Namespace) -> int:
    from prover.expert_iteration import EIConfig, run_expert_iteration

    cfg = EIConfig.load(args.config)
    over = {k: v for k, v in (("run_dir", args.run_dir), ("rounds", args.rounds), ("workers", args.workers),
                              ("ray_address", args.ray_address), ("device", args.device),
                              ("generation_actor", args.generation_actor)) if v is not None}
    if over:
        cfg = dataclasses.replace(cfg, **over)
    rows = run_expert_iteration(cfg, progress=not args.no_progress)
    print(format_table(rows))
    print(f"metrics: {cfg.run_dir}/metrics.jsonl  plot: {cfg.run_dir}/metrics.png")
    return 0
