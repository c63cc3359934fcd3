"""`prover verify INPUT.jsonl`: the verifier over a file of candidates, one verdict a line.

Each input line: name, header, formal_statement and either proof or code.  Each output line
(appended the moment that item is decided): name, verdict (proved|rejected|error), reason,
messages, seconds, `line` (the input line number), `input_sha` (a digest of that line's text) and
`run_hash` (of the verifier settings).  A malformed input line gets an 'error' line and the others
go on.  The exit code is 0 when every line was decided (proved or rejected), 1 when any is an error.

Resuming: a rerun with the same --out skips the lines whose verdict is there for the very same
text.  A line whose text changed since its verdict is refused, naming it, or checked again with
--rerun-stale (the old verdict moves to OUT.stale.jsonl).  The settings a verdict depends on (the
Lean binary and workspace, allowed axioms, text checks) are recorded in OUT.run.json: other
settings are refused.  --out must not be the input nor a file of other rows (an eval's results).
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

from core.jsonl import append_jsonl
from eval.identity import StaleRows, bind_run, digest, require_rows, set_aside, sibling
from lean_env.toolchain import find_toolchain
from lean_env.verifier import DEFAULT_AXIOMS, VERDICTS, VERIFIER_VERSION, Verifier, VerifierConfig
from prover.campaign import check_number

VERDICT_FIELDS = ("line", "verdict")


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
    p.add_argument("--rerun-stale", action="store_true",
                   help="check again the lines whose text changed since their verdict (old verdicts move to "
                        "OUT.stale.jsonl)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def read_rows(path: Path) -> list[tuple[int, Any, str]]:
    """(line number, parsed row or an error string, the line's text) for every non-blank line."""
    if path.is_dir():
        raise ValueError(f"input {path} is a directory; expected a JSONL file of candidates")
    if not path.is_file():
        raise FileNotFoundError(f"input file not found: {path}")
    rows: list[tuple[int, Any, str]] = []
    with path.open(encoding="utf-8", errors="replace") as fh:
        for n, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                rows.append((n, json.loads(line), line.strip()))
            except json.JSONDecodeError as e:
                rows.append((n, f"{path}:{n}: not valid JSON ({e.msg})", line.strip()))
    return rows


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve() or (a.exists() and b.exists() and a.samefile(b))
    except OSError:
        return False


def _stale(rows: list[dict], shas: dict[int, str], run_hash: str) -> list[tuple[dict, str]]:
    out = []
    for r in rows:
        line = r.get("line")
        if line not in shas:
            out.append((r, "no such line in the input now"))
        elif r.get("input_sha") != shas[line]:
            out.append((r, "changed since it was checked" if r.get("input_sha") else
                        "checked before verdicts were tied to their line's text"))
        elif r.get("run_hash") != run_hash:
            out.append((r, "checked with other settings"))
    return out


def run(args: argparse.Namespace) -> int:
    for flag, value in (("--workers", args.workers), ("--batch-size", args.batch_size), ("--memory-mb", args.memory_mb)):
        check_number(value, flag, low=1)
    check_number(args.timeout, "--timeout", low=0, integer=False)
    rows = read_rows(args.input)
    existing: list[dict] = []
    if args.out is not None:
        if _same_file(args.out, args.input):
            raise ValueError(f"--out {args.out} is the input file; give another file for the verdicts")
        existing = require_rows(args.out, VERDICT_FIELDS, "verdicts of `prover verify`")
    toolchain = find_toolchain(lean=args.lean, project=args.project)
    config = VerifierConfig(
        timeout=args.timeout, memory_mb=args.memory_mb, workers=args.workers, batch_size=args.batch_size,
        allowed_axioms=DEFAULT_AXIOMS if args.allow_axiom is None else tuple(args.allow_axiom),
        cache=not args.no_cache, text_checks=not args.no_text_checks,
    )
    verifier = Verifier(toolchain, config)
    identity = {"verifier": VERIFIER_VERSION, "lean": verifier.fingerprint(),
                "allowed_axioms": sorted(config.allowed_axioms), "text_checks": config.text_checks}
    run_hash = digest(identity)
    shas = {n: digest(text) for n, _, text in rows}
    done: set[int] = set()
    if args.out is not None:
        bind_run(sibling(args.out, "run", ".json"), {**identity, "input": str(args.input)}, ignore={"input"},
                 bound=bool(existing), what="verification", hint="use another --out")
        stale = _stale(existing, shas, run_hash)
        if stale and not args.rerun_stale:
            shown = "; ".join(f"line {r.get('line')} ({why})" for r, why in stale[:5])
            more = f"; and {len(stale) - 5} more" if len(stale) > 5 else ""
            raise StaleRows(f"{args.out}: {len(stale)} verdict(s) no longer match the input: {shown}{more}; "
                            f"rerun with --rerun-stale to check them again (the old verdicts move to "
                            f"{sibling(args.out, 'stale')}), or use another --out")
        if stale:
            gone = {id(r) for r, _ in stale}
            set_aside(args.out, lambda r: _stale([r], shas, run_hash) != [], sibling(args.out, "stale"))
            existing = [r for r in existing if id(r) not in gone]
        done = {r["line"] for r in existing}
    todo = [(n, row) for n, row, _ in rows if n not in done]
    kept = Counter(r["verdict"] for r in existing if r["line"] in shas)
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
    t0 = time.monotonic()
    bar = tqdm(total=len(items), desc="verify", unit="item", disable=args.no_progress, file=sys.stderr)
    verdicts = verifier.iter_verify(items)
    try:
        for i, verdict in verdicts:
            n, raw = todo[i]
            if isinstance(raw, str):
                verdict.reason = f"bad input: {raw}"
                verdict.name = f"line {n}"
            elif verdict.reason.startswith(f"bad input: item {i}:"):  # name the file and line, not the index
                verdict.reason = verdict.reason.replace(f"item {i}:", f"{args.input}:{n}:", 1)
                if verdict.name == f"item {i}":
                    verdict.name = f"line {n}"
            row = verdict.to_dict()
            row.update(line=n, input_sha=shas[n], run_hash=run_hash)
            emit(row)
            counts[verdict.verdict] += 1
            cached += verdict.cached
            bar.update(1)
    finally:
        verdicts.close()  # on an interrupt: kill the running Lean now, not when the generator is collected
        bar.close()
    wall = time.monotonic() - t0
    summary = ", ".join(f"{k} {counts[k]}" for k in VERDICTS)
    rate = f"{len(items) / wall:.1f} items/s" if wall > 0 and items else "-"
    print(f"prover verify: {summary} ({len(items)} checked in {wall:.1f} s, {rate}, "
          f"{cached} from the cache, {args.workers} workers)", file=sys.stderr if not args.out else sys.stdout)
    errors = counts["error"] + kept["error"]
    if errors:
        print(f"prover verify: {errors} line(s) could not be decided (verdict 'error': bad input, a timeout, "
              "a memory cap or a crash); see their reason", file=sys.stderr)
        return 1
    return 0
