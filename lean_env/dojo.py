"""LeanDojo adapter (optional extra `[dojo]`): `lean_dojo.Dojo` behind the `ProofEnv` seam.

For users with repositories traced by LeanDojo.  NOT RUN against real LeanDojo here: these
machines have no network for tracing and no `lean_dojo` install.  The adapter is written to
LeanDojo 2.x's documented interaction API and tested against a stand-in object that behaves as
documented:

    with Dojo(theorem, timeout=...) as (dojo, init_state):
        result = dojo.run_tac(state, tactic)
    result: TacticState(pp, id, message) | ProofFinished(tactic_state_id, message)
            | LeanError(error) | ProofGivenUp()            (older releases: TacticError, TimeoutError)
    raises: DojoTacticTimeoutError, DojoCrashError (.is_out_of_memory), DojoInitError

Results are matched by class name, so `lean_dojo` is imported only when the default factory runs.
`TacticState.pp` holds the goals separated by blank lines; they become `State.goals`.
Theorems need `extra` fields `url`, `commit`, `file_path`, `full_name` (LeanDojo benchmark rows).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, ExitStack
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from core.proof_text import TACTIC_STYLE, tactic_blocks
from core.types import Failed, FailureKind, Open, Outcome, ProofCheck, Proved, State, Theorem
from lean_env.errors import LeanError, LeanNotFound, LeanProtocolError

if TYPE_CHECKING:
    from lean_env.verifier import Verifier

log = logging.getLogger(__name__)

DojoFactory = Callable[[Theorem], AbstractContextManager[tuple[Any, Any]]]


_NO_DOJO = ("lean_dojo is not installed: the LeanDojo env (env spec dojo) needs "
            "`pip install 'lean-star-prover[dojo]'` and repositories traced by LeanDojo (network, hours of tracing)")


def require_lean_dojo() -> None:
    """LeanNotFound, saying what to install, when `lean_dojo` cannot be imported."""
    try:
        import lean_dojo  # type: ignore[import-not-found]  # noqa: F401
    except ImportError:
        raise LeanNotFound(_NO_DOJO) from None


def lean_dojo_factory(timeout: int = 600) -> DojoFactory:
    """The real thing: `lean_dojo.Dojo(lean_dojo.Theorem(LeanGitRepo(url, commit), file_path, full_name))`."""

    def make(theorem: Theorem) -> AbstractContextManager[tuple[Any, Any]]:
        try:
            import lean_dojo  # type: ignore[import-not-found]
        except ImportError:
            raise LeanNotFound(_NO_DOJO) from None
        missing = [k for k in ("url", "commit", "file_path", "full_name") if not theorem.extra.get(k)]
        if missing:
            raise ValueError(f"theorem {theorem.name}: LeanDojo needs extra field(s) {', '.join(missing)}")
        ex = theorem.extra
        repo = lean_dojo.LeanGitRepo(ex["url"], ex["commit"])
        return lean_dojo.Dojo(lean_dojo.Theorem(repo, ex["file_path"], ex["full_name"]), timeout=timeout)

    return make


def split_pp(pp: str) -> tuple[str, ...]:
    """LeanDojo's pretty-printed tactic state -> the goals (blank-line separated)."""
    return tuple(g.strip("\n") for g in pp.split("\n\n") if g.strip())


@dataclass(frozen=True)
class DojoHandle:
    session: int
    tactic_state: Any
    theorem: Theorem
    tactics: tuple[str, ...] = ()


class DojoEnv:
    """A `ProofEnv` over LeanDojo sessions (one `Dojo` context per theorem, at most `max_sessions` open)."""

    proof_style = TACTIC_STYLE

    def __init__(self, dojo_factory: DojoFactory | None = None, *, timeout: int = 600,
                 verifier: Verifier | None = None, max_sessions: int = 1) -> None:
        self.factory = dojo_factory or lean_dojo_factory(timeout)
        self.verifier = verifier
        self.max_sessions = max(1, max_sessions)
        self._sessions: dict[int, tuple[ExitStack, Any]] = {}
        self._next_id = 0
        self._rebuilt: dict[tuple[int, tuple[str, ...]], DojoHandle] = {}

    def _open(self, theorem: Theorem) -> tuple[int, Any]:
        while len(self._sessions) >= self.max_sessions:
            self._close_session(min(self._sessions))
        stack = ExitStack()
        try:
            dojo, init_state = stack.enter_context(self.factory(theorem))
        except BaseException as e:
            stack.close()
            if type(e).__name__ == "DojoInitError":
                raise LeanError(f"LeanDojo could not open {theorem.name}: {e}") from e
            raise
        sid = self._next_id
        self._next_id += 1
        self._sessions[sid] = (stack, dojo)
        return sid, init_state

    def _close_session(self, sid: int) -> None:
        stack, _ = self._sessions.pop(sid)
        try:
            stack.close()
        except Exception as e:  # a crashed Dojo may fail to exit cleanly
            log.warning("closing LeanDojo session %d: %s", sid, e)

    def _live(self, h: DojoHandle) -> DojoHandle:
        """`h` if its session is open, else the same state rebuilt in a new session by replay."""
        if h.session in self._sessions:
            return h
        key = (h.session, h.tactics)
        if key in self._rebuilt and self._rebuilt[key].session in self._sessions:
            return self._rebuilt[key]
        sid, state = self._open(h.theorem)
        for tac in h.tactics:
            res = self._sessions[sid][1].run_tac(state, tac)
            if type(res).__name__ != "TacticState":
                raise LeanError(f"replaying `{tac}` for {h.theorem.name} in a new LeanDojo session gave {res!r}")
            state = res
        new = DojoHandle(sid, state, h.theorem, h.tactics)
        self._rebuilt[key] = new
        return new

    def start(self, theorem: Theorem) -> State:
        sid, init_state = self._open(theorem)
        return State(split_pp(init_state.pp), DojoHandle(sid, init_state, theorem))

    def apply(self, state: State, tactic: str) -> Outcome:
        h = state.handle
        if not isinstance(h, DojoHandle):
            raise ValueError(f"DojoEnv.apply: state {state.text[:80]!r} was not made by a DojoEnv")
        h = self._live(h)
        dojo = self._sessions[h.session][1]
        try:
            res = dojo.run_tac(h.tactic_state, tactic)
        except Exception as e:
            kind = type(e).__name__
            if kind == "DojoTacticTimeoutError":
                return Failed(f"timeout: {e}", FailureKind.TIMEOUT)
            if kind == "DojoCrashError":
                self._close_session(h.session)   # states of this session are rebuilt on next use
                oom = bool(getattr(e, "is_out_of_memory", False))
                return (Failed(f"LeanMemoryExceeded: {e}", FailureKind.MEMORY) if oom
                        else Failed(f"LeanCrashed: {e}", FailureKind.CRASH))
            raise
        return self._outcome(h, tactic, res)

    def _outcome(self, h: DojoHandle, tactic: str, res: Any) -> Outcome:
        kind = type(res).__name__
        new_tactics = (*h.tactics, tactic)
        if kind == "TacticState":
            goals = split_pp(res.pp)
            new = DojoHandle(h.session, res, h.theorem, new_tactics)
            return Open(State(goals, new)) if goals else Proved(new)
        if kind == "ProofFinished":
            return Proved(DojoHandle(h.session, res, h.theorem, new_tactics))
        if kind in ("LeanError", "TacticError", "TimeoutError"):
            return Failed(str(getattr(res, "error", res)))
        if kind == "ProofGivenUp":
            return Failed("the tactic leaves `sorry` (ProofGivenUp)")
        raise LeanProtocolError(f"LeanDojo run_tac returned an unknown result {res!r}")

    def apply_batch(self, steps: Sequence[tuple[State, str]]) -> list[Outcome]:
        return [self.apply(s, t) for s, t in steps]

    def check(self, theorem: Theorem, proof: str) -> ProofCheck:
        """With a verifier: the verifier's verdict.  Without: a fresh LeanDojo session runs the
        proof's tactics in order and must end in ProofFinished (LeanDojo itself checks it)."""
        if self.verifier is not None:
            from lean_env.verifier import check_with_verifier

            return check_with_verifier(self.verifier, theorem, proof)
        tactics = tactic_blocks(proof)
        if not tactics:
            return ProofCheck(False, proof, "empty proof")
        try:
            sid, state = self._open(theorem)
        except (LeanError, ValueError) as e:
            return ProofCheck(False, proof, str(e))
        try:
            dojo = self._sessions[sid][1]
            for i, tac in enumerate(tactics):
                try:
                    res = dojo.run_tac(state, tac)
                except Exception as e:
                    return ProofCheck(False, proof, f"step {i + 1} `{tac}` failed on replay: {type(e).__name__}: {e}")
                kind = type(res).__name__
                if kind == "ProofFinished":
                    if i != len(tactics) - 1:
                        return ProofCheck(False, proof, f"proof finished at step {i + 1} of {len(tactics)}")
                    return ProofCheck(True, proof)
                if kind != "TacticState":
                    return ProofCheck(False, proof, f"step {i + 1} `{tac}` failed on replay: {res!r}")
                state = res
            return ProofCheck(False, proof, f"{len(split_pp(state.pp))} goal(s) left after the last step")
        finally:
            self._close_session(sid)

    def close(self) -> None:
        for sid in list(self._sessions):
            self._close_session(sid)
