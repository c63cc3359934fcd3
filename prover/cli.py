"""The `prover` command: one CLI, one subcommand a module under `prover/commands/`.

Each command module defines `add_parser(subparsers)` which registers its parser and
sets `func` (taking the parsed args, returning an exit code).  Library code raises;
only this layer prints and exits.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from core.errors import MissingDependency

# subcommand name -> module under prover.commands
COMMANDS: dict[str, str] = {
    "expert-iteration": "expert_iteration",
    "verify": "verify",
    "setup": "setup",
    "toolchain": "toolchain",
    "train": "train",
    "rationales": "rationales",
    "eval": "eval",
    "report": "report",
    "search": "search",
    "demo": "demo",
    "evaluator-data": "evaluator_data",
    "train-evaluator": "train_evaluator",
    "evaluate-evaluator": "evaluate_evaluator",
}

EXIT_USAGE = 2


def _register_all(sub: argparse._SubParsersAction) -> None:
    for module in sorted(set(COMMANDS.values())):
        importlib.import_module(f"prover.commands.{module}").add_parser(sub)


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="prover", description="A thought-then-tactic theorem prover for Lean 4.")
    ap.add_argument("-v", "--verbose", action="count", default=0, help="more logging (-vv for debug)")
    sub = ap.add_subparsers(dest="command", metavar="COMMAND")
    _register_all(sub)
    return ap


def main(argv: list[str] | None = None) -> int:
    ap = build_parser()
    args = ap.parse_args(argv)
    logging.basicConfig(
        level=[logging.WARNING, logging.INFO, logging.DEBUG][min(args.verbose, 2)],
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    if not getattr(args, "func", None):
        ap.print_help()
        return EXIT_USAGE
    from core.logs import quiet_output
    from lean_env.process import interrupts_stop_lean

    try:
        # Ctrl-C and SIGTERM kill every Lean process at once; progress bars stay readable in logs
        with interrupts_stop_lean(), quiet_output():
            return int(args.func(args) or 0)
    except KeyboardInterrupt as e:  # finished results are already written; 128 + the signal
        print("interrupted", file=sys.stderr)
        return 128 + int(getattr(e, "signum", 2))
    except (FileNotFoundError, ValueError) as e:
        print(f"prover {args.command}: error: {e}", file=sys.stderr)
        return EXIT_USAGE
    except MissingDependency as e:  # an optional backend (vllm, lean_dojo) that is not installed
        print(f"prover {args.command}: error: {e}", file=sys.stderr)
        return 1
    except Exception as e:  # the one place that turns any library error into a message and a code
        from lean_env.errors import LeanError

        if isinstance(e, LeanError):
            print(f"prover {args.command}: {type(e).__name__}: {e}", file=sys.stderr)
            return 1
        raise


if __name__ == "__main__":
    sys.exit(main())
