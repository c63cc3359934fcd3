"""`prover setup`: make a Lean workspace with Mathlib and the Lean REPL (needs the network and elan).

Afterwards pass `--project DIR` (or set LEAN_PROJECT=DIR) to `prover verify`, `prover search`, ...
"""

from __future__ import annotations

import argparse
from pathlib import Path

from lean_env.setup import SetupConfig, repo_lean_toolchain, run_setup


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("setup", help="make a Lean workspace with Mathlib and the REPL (needs the network)",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dir", type=Path, default=Path("lean-workspace"), help="where (default ./lean-workspace)")
    p.add_argument("--lean-toolchain", default=None,
                   help=f"the Lean pin (default: this repository's, {repo_lean_toolchain()})")
    p.add_argument("--mathlib-rev", default=None, help="Mathlib git tag or commit (default: the toolchain's tag)")
    p.add_argument("--repl-rev", default=None, help="REPL git tag or commit (default: the toolchain's tag)")
    p.add_argument("--connect-timeout", type=float, default=5.0, help="seconds to wait for GitHub to answer")
    p.add_argument("--force", action="store_true", help="overwrite an existing, different lakefile in --dir")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    config = SetupConfig(dir=args.dir, mathlib_rev=args.mathlib_rev, repl_rev=args.repl_rev,
                         connect_timeout=args.connect_timeout, force=args.force)
    if args.lean_toolchain:
        config.lean_toolchain = args.lean_toolchain
    mathlib_rev, repl_rev = config.revs()
    print(f"prover setup: workspace {args.dir} with {config.lean_toolchain}, Mathlib {mathlib_rev}, REPL {repl_rev}")
    result = run_setup(config)
    for step in result.steps:
        print(f"  done: {step}")
    print(f"prover setup: ready. REPL at {result.repl_binary}\n"
          f"  use it with: --project {result.dir}   (or: export LEAN_PROJECT={result.dir})")
    return 0
