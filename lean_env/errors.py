"""Typed errors for everything that can go wrong with a Lean process.

Callers match on these; nothing in `lean_env` hangs or exits the interpreter.
"""

from __future__ import annotations

from core.types import FailureKind


class LeanError(Exception):
    """Base of every Lean-process failure."""


class LeanNotFound(LeanError):
    """No usable `lean` toolchain was found; the message says what to install or set."""


class LeanTimeout(LeanError):
    """A Lean process or request ran past its time limit and was killed."""


class LeanMemoryExceeded(LeanError):
    """A Lean process went over its memory cap and was killed."""


class LeanCrashed(LeanError):
    """A Lean process died (signal or unexpected exit) while we waited on it."""


class LeanInterrupted(KeyboardInterrupt):
    """The run was interrupted (Ctrl-C, SIGTERM, or a caller's cancel event): the Lean processes it had
    started were killed.  A KeyboardInterrupt, not a LeanError, so that no retry logic catches it;
    `signum` is the signal that caused it (SIGINT for a cancel)."""

    def __init__(self, message: str = "interrupted", signum: int = 2) -> None:
        super().__init__(message)
        self.signum = signum


class LeanProtocolError(LeanError):
    """A Lean process (REPL) answered with something that is not the protocol."""


class SetupError(LeanError):
    """Making a user's Lean workspace failed (no network, elan missing, build failed)."""


def failure_kind(err: LeanError) -> FailureKind:
    """The `FailureKind` a step gets when its Lean call ended in `err`."""
    if isinstance(err, LeanTimeout):
        return FailureKind.TIMEOUT
    if isinstance(err, LeanMemoryExceeded):
        return FailureKind.MEMORY
    return FailureKind.CRASH
