"""`prover verify INPUT.jsonl`: the verifier over a file of candidates, one verdict a line.

Each input line: name, header, formal_statement and either proof or code.  Each output line
(appended the moment that item is decided): name, verdict (proved|rejected|error), reason,
messages, seconds, plus `line` (the input line number) so that a rerun skips what is done.
A malformed input line gets an 'error' line and the others go on.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

from tqdm import tqdm

from core.jsonl import append_jsonl, done_keys
from lean_env.toolchain import find_toolchain
from lean_env.verifier import DEFAULT_AXIOMS, VERDICTS, Verifier, VerifierConfig


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("verify", help="check proofs with Lean: proved / rejected / error for each line",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("input", type=Path, help="JSONL: name, header, formal_statement, proof | code")
    p.add_argument("--out", type=Path, help="JSONL of verdicts, appended as they come (resumes); default stdout")
    where = p.add_mutually_exclusive_group()
    where.add_argument("--lean", help="the lean executable, or `embedded` for the test Lean (else LEAN_BIN, PATH)")
    where.add_argument("--project", type=Path, help="a Lean workspace (e.g. from `prover setup`); runs `lake env lean`")
    p.add_argument("--workers", type=int, default=1, help="Lean processes in parallel (default 1)")
    p.add_argument("--batch-size", type=int, default=8, help="items per shared Lean file (1 = each alone)")
    p.add_argument("--timeout", type=float, default=60.0, help="seconds per Lean process (default 60)")
    p.add_argument("--memory-mb", type=int, default=4096, help="memory cap per Lean process (default 4096)")
    p.add_argument("--allow-axiom", nargs="*", metavar="NAME", default=None,
                   help=f"the axioms a proof may use (default: {' '.join(DEFAULT_AXIOMS)}); "
                        "`--allow-axiom` with no name allows none")
    p.add_argument("--no-cache", action="store_true", help="do not read or write the verdict cache")
    p.add_argument("--no-text-checks", action="store_true",
                   help="skip the forbidden-token checks and let Lean alone judge (for testing the Lean checks; "
                        "on a real toolchain the text checks are what stops metaprograms faking the checks)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def read_rows(path: Path) -> list[tuple[int, Any]]:
    """(line number, parsed row or an error string) for every non-blank line."""
    if not path.is_file():
        raise FileNotFoundError(f"input file not found: {path}")
    rows: list[tuple[int, Any]] = []
    with path.open(encoding="utf-8", errors="replace") as fh:
        for n, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                rows.append((n, json.loads(line)))
            except json.JSONDecodeError as e:
                rows.append((n, f"{path}:{n}: not valid JSON ({e.msg})"))
    return rows


def run(args: argparse.Namespace) -> int:
    for flag, value in (("--workers", args.workers), ("--batch-size", args.batch_size), ("--memory-mb", args.memory_mb)):
        if value < 1:
            raise ValueError(f"{flag} must be >= 1, got {value}")
    if args.timeout <= 0:
        raise ValueError(f"--timeout must be > 0, got {args.timeout}")
    rows = read_rows(args.input)
    toolchain = find_toolchain(lean=args.lean, project=args.project)
    config = VerifierConfig(
        timeout=args.timeout, memory_mb=args.memory_mb, workers=args.workers, batch_size=args.batch_size,
        allowed_axioms=DEFAULT_AXIOMS if args.allow_axiom is None else tuple(args.allow_axiom),
        cache=not args.no_cache, text_checks=not args.no_text_checks,
    )
    done = done_keys(args.out, "line") if args.out else set()
    todo = [(n, row) for n, row in rows if (n,) not in done]
    print(f"prover verify: {len(rows)} lines, {len(rows) - len(todo)} already in {args.out}, "
          f"lean: {toolchain.describe()}", file=sys.stderr)

    def emit(row: dict) -> None:
        if args.out:
            append_jsonl(args.out, row)
        else:
            sys.stdout.write(json.dumps(row, ensure_ascii=False) + "\n")
            sys.stdout.flush()

    counts: Counter[str] = Counter()
    cached = 0
    items = [row if not isinstance(row, str) else {"__bad__": row} for _, row in todo]
    verifier = Verifier(toolchain, config)
    t0 = time.monotonic()
    bar = tqdm(total=len(items), desc="verify", unit="item", disable=args.no_progress, file=sys.stderr)
    for i, verdict in verifier.iter_verify(items):
        n, raw = todo[i]
        if isinstance(raw, str):
            verdict.reason = f"bad input: {raw}"
            verdict.name = f"line {n}"
        elif verdict.reason.startswith(f"bad input: item {i}:"):  # name the file and line, not the index
            verdict.reason = verdict.reason.replace(f"item {i}:", f"{args.input}:{n}:", 1)
            if verdict.name == f"item {i}":
                verdict.name = f"line {n}"
        row = verdict.to_dict()
        row["line"] = n
        emit(row)
        counts[verdict.verdict] += 1
        cached += verdict.cached
        bar.update(1)
    bar.close()
    wall = time.monotonic() - t0
    summary = ", ".join(f"{k} {counts[k]}" for k in VERDICTS)
    rate = f"{len(items) / wall:.1f} items/s" if wall > 0 and items else "-"
    print(f"prover verify: {summary} ({len(items)} checked in {wall:.1f} s, {rate}, "
          f"{cached} from the cache, {args.workers} workers)", file=sys.stderr if not args.out else sys.stdout)
    return 0
