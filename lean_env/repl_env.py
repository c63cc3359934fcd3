"""`ReplEnv`: the `ProofEnv` seam over a Lean REPL process (see ARCHITECTURE.md and docs/repl.md).

  start(theorem)   the header is elaborated once per process (its env reused for every theorem),
                   then `formal_statement + " sorry"` runs in that env; the sorry's proof state
                   is the root State.
  apply(state, t)  tactic mode on the state's proof state: Proved, Open(goals as Lean prints
                   them) or Failed(Lean's message).  A tactic that errors, leaves a `sorry`, or
                   closes the goals without Lean's status saying "Completed" is Failed.  A process
                   fault (timeout, crash, garbage, memory) is Failed too (`faults_as_failures`),
                   and the client restarts the process; a state made before the restart is
                   rebuilt by replaying its tactics from the theorem, so every state stays usable.
  check(...)       re-verifies the whole proof: with `verifier` (lean_env.verifier) when given,
                   otherwise by elaborating statement + proof as ONE command in the clean header
                   env, followed by `#print axioms NAME`; accepted only with no error, no sorry
                   and no axiom beyond propext / Classical.choice / Quot.sound.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from core.proof_text import TACTIC_STYLE
from core.types import Failed, Open, Outcome, ProofCheck, Proved, State, Theorem
from lean_env.errors import (
    LeanCrashed,
    LeanMemoryExceeded,
    LeanNotFound,
    LeanProtocolError,
    LeanTimeout,
    failure_kind,
)
from lean_env.repl import CommandResult, ReplClient, ReplCommandError, TacticResult
from lean_env.toolchain import LeanToolchain

if TYPE_CHECKING:
    from lean_env.verifier import Verifier

log = logging.getLogger(__name__)

FAULTS = (LeanTimeout, LeanCrashed, LeanProtocolError, LeanMemoryExceeded)
ALLOWED_AXIOMS = ("propext", "Classical.choice", "Quot.sound")
_LEAN_ERROR_PREFIX = "Lean error:\n"


@dataclass(frozen=True)
class ReplHandle:
    """What a State needs to continue: the REPL process generation and proof state id, plus the
    theorem and the tactics that led here (to rebuild the state in a restarted process)."""

    generation: int
    proof_state: int
    theorem: Theorem
    tactics: tuple[str, ...] = ()


def decl_name(formal_statement: str) -> str | None:
    m = re.match(r"\s*(?:@\[[^\]]*\]\s*)?(?:private\s+|protected\s+)?(?:theorem|lemma)\s+(\S+)", formal_statement)
    return m.group(1) if m else None


def find_repl(toolchain: LeanToolchain | None = None, repl: str | os.PathLike[str] | None = None) -> Path:
    """The REPL binary: `repl`, `$LEAN_REPL`, the workspace's `.lake/packages/REPL/.lake/build/bin/repl`
    (or `.lake/build/bin/repl`), or `repl` on PATH; LeanNotFound says how to build one."""
    cand = repl or os.environ.get("LEAN_REPL")
    if cand:
        p = Path(cand).expanduser()
        found = str(p) if p.is_file() else shutil.which(str(cand))
        if found is None or not os.access(found, os.X_OK):
            raise LeanNotFound(f"--repl/LEAN_REPL: {cand} is not an executable file")
        return Path(found).resolve()
    if toolchain is not None and toolchain.project is not None:
        for rel in (".lake/packages/REPL/.lake/build/bin/repl", ".lake/build/bin/repl"):
            p = toolchain.project / rel
            if p.is_file():
                return p
    on_path = shutil.which("repl")
    if on_path:
        return Path(on_path)
    raise LeanNotFound(
        "no Lean REPL binary found: add leanprover-community/repl to your Lean workspace and `lake build repl` "
        "(or build it and set LEAN_REPL / pass repl=PATH). The embedded test Lean has no REPL; tests use "
        "`python -m lean_env.double` instead."
    )


class ReplEnv:
    """A `ProofEnv` over one REPL process (see the module docstring)."""

    proof_style = TACTIC_STYLE

    def __init__(self, command: Sequence[str] | None = None, *, timeout: float = 60.0, memory_mb: int = 8192,
                 header: str | None = None, cwd: str | os.PathLike[str] | None = None,
                 verifier: Verifier | None = None, reuse_header: bool = True, faults_as_failures: bool = True,
                 header_timeout: float | None = None, client: ReplClient | None = None) -> None:
        if client is None:
            if not command:
                raise ValueError("ReplEnv needs the REPL command line (or a ReplClient)")
            client = ReplClient(command, cwd=cwd, timeout=timeout, memory_mb=memory_mb,
                                header=header if reuse_header else None, header_timeout=header_timeout)
            self._owns_client = True
        else:
            self._owns_client = False
        self.client = client
        self.header = header
        self.verifier = verifier
        self.reuse_header = reuse_header
        self.faults_as_failures = faults_as_failures
        self.env_calls = 0
        self.lean_seconds = 0.0
        self._replayed: dict[tuple[str, str, tuple[str, ...]], int] = {}
        self._replayed_generation = -1

    @classmethod
    def for_toolchain(cls, toolchain: LeanToolchain, *, repl: str | os.PathLike[str] | None = None,
                      **kw: Any) -> ReplEnv:
        """`lake env repl` inside the toolchain's workspace (or the REPL binary alone without one)."""
        binary = find_repl(toolchain, repl)
        kw.setdefault("cwd", toolchain.cwd)
        return cls(toolchain.env_argv(binary), **kw)

    @classmethod
    def from_client(cls, client: ReplClient, **kw: Any) -> ReplEnv:
        """An env over a client someone else owns (e.g. checked out of a ReplPool); close() leaves it running."""
        return cls(client=client, **kw)

    # -- helpers
    def _header_for(self, theorem: Theorem) -> str:
        return theorem.header if theorem.header.strip() else (self.header or "")

    def _command(self, theorem: Theorem, text: str) -> CommandResult:
        """Run `text` after the theorem's header: in the reused header env, or re-sent with it."""
        t0 = time.perf_counter()
        try:
            header = self._header_for(theorem)
            if self.reuse_header:
                env = self.client.env_for_header(header)
                self.env_calls += 1
                return self.client.command(text, env)
            self.env_calls += 1
            return self.client.command(f"{header}\n\n{text}" if header.strip() else text, None)
        finally:
            self.lean_seconds += time.perf_counter() - t0

    def _tactic(self, tactic: str, proof_state: int) -> TacticResult:
        t0 = time.perf_counter()
        try:
            self.env_calls += 1
            return self.client.run_tactic(tactic, proof_state)
        finally:
            self.lean_seconds += time.perf_counter() - t0

    def _root(self, theorem: Theorem) -> tuple[str, int]:
        res = self._command(theorem, theorem.formal_statement.rstrip() + " sorry")
        if res.errors:
            raise ReplCommandError(f"{theorem.name}: the statement does not elaborate: "
                                   + "; ".join(str(m) for m in res.errors)[:2000])
        sorries = [s for s in res.sorries if s.proof_state is not None]
        if not sorries:
            raise ReplCommandError(f"{theorem.name}: the REPL reported no proof state for the statement's sorry")
        root = sorries[-1]
        assert root.proof_state is not None
        return root.goal, root.proof_state

    def _live_proof_state(self, h: ReplHandle) -> int:
        """`h.proof_state` if it lives in the current process, else the same state rebuilt by replay."""
        if not self.client.alive:
            self.client.start()
        gen = self.client.generation
        if h.generation == gen:
            return h.proof_state
        if self._replayed_generation != gen:
            self._replayed, self._replayed_generation = {}, gen
        key = (h.theorem.header, h.theorem.formal_statement, h.tactics)
        if key in self._replayed:
            return self._replayed[key]
        log.info("rebuilding a state of %s in REPL generation %d (%d tactics)", h.theorem.name, gen, len(h.tactics))
        _, ps = self._root(h.theorem)
        for tac in h.tactics:
            res = self._tactic(tac, ps)
            if res.errors:
                raise ReplCommandError(f"replaying `{tac}` for {h.theorem.name} failed: {res.errors[0].data}")
            ps = res.proof_state
        self._replayed[key] = ps
        return ps

    # -- the ProofEnv seam
    def start(self, theorem: Theorem) -> State:
        goal, ps = self._root(theorem)
        return State((goal,), ReplHandle(self.client.generation, ps, theorem, ()))

    def apply(self, state: State, tactic: str) -> Outcome:
        h = state.handle
        if not isinstance(h, ReplHandle):
            raise ValueError(f"ReplEnv.apply: state {state.text[:80]!r} was not made by a ReplEnv")
        try:
            res = self._tactic(tactic, self._live_proof_state(h))
        except ReplCommandError as e:
            return Failed(e.message.removeprefix(_LEAN_ERROR_PREFIX))
        except FAULTS as e:
            if not self.faults_as_failures:
                raise
            log.warning("REPL fault on `%s` (%s): %s; the process restarts", tactic, type(e).__name__, e)
            return Failed(f"{type(e).__name__}: {e}", failure_kind(e))
        return self._outcome(h, tactic, res)

    def _outcome(self, h: ReplHandle, tactic: str, res: TacticResult) -> Outcome:
        if res.errors:
            return Failed("\n".join(m.data for m in res.errors))
        if res.sorries or (res.proof_status is not None and "sorry" in res.proof_status):
            return Failed("the tactic leaves `sorry`")
        new = ReplHandle(self.client.generation, res.proof_state, h.theorem, (*h.tactics, tactic))
        if res.goals:
            return Open(State(tuple(res.goals), new))
        status = res.proof_status
        if status is None or status == "Completed" or status.startswith("Not verified"):
            return Proved(new)
        return Failed(f"no goals left, but Lean says: {status}")

    def apply_batch(self, steps: Sequence[tuple[State, str]]) -> list[Outcome]:
        """One process answers one request at a time: the steps run in order (use a ReplPool for more)."""
        return [self.apply(s, t) for s, t in steps]

    def check(self, theorem: Theorem, proof: str) -> ProofCheck:
        if self.verifier is not None:
            from lean_env.verifier import check_with_verifier

            return check_with_verifier(self.verifier, theorem, proof)
        return self._check_by_replay(theorem, proof)

    def _check_by_replay(self, theorem: Theorem, proof: str) -> ProofCheck:
        name = decl_name(theorem.formal_statement)
        text = theorem.formal_statement.rstrip() + proof
        if name is not None:
            text += f"\n\n#print axioms {name}"
        try:
            res = self._command(theorem, text)
        except ReplCommandError as e:
            return ProofCheck(False, proof, f"the REPL refused the proof: {e.message}")
        except FAULTS as e:
            return ProofCheck(False, proof, f"{type(e).__name__} while checking: {e}")
        if res.errors:
            return ProofCheck(False, proof, "Lean reported errors: " + "; ".join(str(m) for m in res.errors)[:2000])
        if res.sorries or any("declaration uses `sorry`" in m.data for m in res.messages):
            return ProofCheck(False, proof, "the proof uses `sorry`")
        if name is None:
            return ProofCheck(True, proof, "no errors or sorries (an `example`: axioms not checked)")
        axioms: list[str] | None = None
        for m in res.messages:
            if m.data.startswith(f"'{name}' does not depend on any axioms"):
                axioms = []
            elif m.data.startswith(f"'{name}' depends on axioms:"):
                inner = m.data.split("[", 1)[-1].rsplit("]", 1)[0]
                axioms = [a.strip() for a in inner.replace("\n", " ").split(",") if a.strip()]
        if axioms is None:
            return ProofCheck(False, proof, f"no answer to `#print axioms {name}`")
        bad = [a for a in axioms if a not in ALLOWED_AXIOMS]
        if bad:
            return ProofCheck(False, proof, f"the proof depends on disallowed axioms: {', '.join(bad)}")
        return ProofCheck(True, proof)

    def close(self) -> None:
        if self._owns_client:
            self.client.close()

    def __enter__(self) -> ReplEnv:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
