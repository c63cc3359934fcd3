"""`prover rationales`: add retrospective thoughts to training examples (see thoughts/rationale.py)."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("rationales", help="write a thought for each training step with a teacher",
                       description="Lean-STaR retrospective rationales: given the state and the step taken, a "
                                   "teacher writes the thought that leads to it. Appends to --out; reruns resume.")
    p.add_argument("--examples", type=Path, required=True, help="training examples (JSONL)")
    p.add_argument("--out", type=Path, required=True, help="output JSONL (appended, resumable)")
    p.add_argument("--teacher", required=True, help="rule | hf:PATH_OR_HUB_ID | openai:MODEL")
    p.add_argument("--base-url", help="for openai:MODEL, e.g. http://localhost:8000/v1")
    p.add_argument("--api-key-env", default="OPENAI_API_KEY", help="environment variable holding the API key")
    p.add_argument("--timeout", type=float, default=60.0, help="seconds per HTTP request")
    p.add_argument("--retries", type=int, default=3, help="retries per HTTP request")
    p.add_argument("--concurrency", type=int, default=4, help="parallel HTTP requests")
    p.add_argument("--device", default="auto", help="for hf:, cpu|cuda|auto")
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--overwrite", action="store_true", help="replace thoughts the rows already have")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from thoughts.rationale import TeacherError, add_rationales, make_teacher

    teacher = make_teacher(args.teacher, base_url=args.base_url, api_key_env=args.api_key_env, timeout=args.timeout,
                           retries=args.retries, concurrency=args.concurrency, device=args.device)
    try:
        n = add_rationales(args.examples, args.out, teacher, batch_size=args.batch_size, overwrite=args.overwrite,
                           progress=not args.no_progress)
    except TeacherError as e:
        print(f"prover rationales: teacher failed: {e} (rows written so far are kept; rerun to resume)")
        return 1
    print(f"{n} row(s) with rationales appended to {args.out}")
    return 0
