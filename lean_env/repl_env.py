"""`ReplEnv`: the `ProofEnv` seam over Lean REPL processes (see docs/repl.md).

  start(theorem)   the header is elaborated once per process (its env reused for every theorem),
                   then `formal_statement + " sorry"` runs in that env; the sorry's proof state
                   is the root State.
  apply(state, t)  tactic mode on the state's proof state: Proved, Open(goals as Lean prints
                   them) or Failed(Lean's message).  A tactic that errors, leaves a `sorry`, or
                   closes the goals without Lean's status saying "Completed" is Failed.  A process
                   fault (timeout, crash, garbage, memory) is Failed too (`faults_as_failures`),
                   and the client restarts the process; a state made before the restart is
                   rebuilt by replaying its tactics from the theorem, so every state stays usable.
  apply_batch      one process answers one request at a time.  With `workers=N` (or a shared
                   `pool=ReplPool(...)`) the steps of one batch are spread over N processes and
                   run concurrently, one thread per process.
  check(...)       re-verifies the whole proof: with `verifier` (lean_env.verifier) when given,
                   otherwise by elaborating statement + proof as ONE command in the clean header
                   env, followed by `#print axioms NAME`; accepted only with no error, no sorry
                   and no axiom beyond lean_env.verifier.DEFAULT_AXIOMS.

Several processes, one batch (the design).  A REPL proof-state id means something only inside the
process that made it, and only until that process restarts.  So a state's handle names its
process (`worker`, an index into the pool) and that process's `generation`.  A step runs either
on the state's own process, with the recorded id, or on another process, where the state is first
rebuilt by replaying its tactics from the theorem (the same replay that revives a state after a
restart; rebuilt states are cached per process and generation).  `apply_batch` assigns each step
to the process where it would finish first, counting one request per step plus, where the state
is not there yet, the requests of the replay (1 + its depth); the new state a step makes belongs
to the process that ran it.  Nothing is shared between processes, so the result of a step never
depends on where it ran, only the cost does.  A shared pool's processes are checked out one by one
(`ReplPool.checkout(index=...)`), so several envs on one pool never use a process at once.
"""

from __future__ import annotations

import logging
import os
import shutil
import threading
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
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
from lean_env.pool import ReplPool
from lean_env.repl import CommandResult, ReplClient, ReplCommandError, TacticResult
from lean_env.toolchain import LeanToolchain
from lean_env.verifier import DEFAULT_AXIOMS
from lean_env.verify_text import declared_name

if TYPE_CHECKING:
    from lean_env.verifier import Verifier

log = logging.getLogger(__name__)

FAULTS = (LeanTimeout, LeanCrashed, LeanProtocolError, LeanMemoryExceeded)
_LEAN_ERROR_PREFIX = "Lean error:\n"
_StateKey = tuple[str, str, tuple[str, ...]]


@dataclass(frozen=True)
class ReplHandle:
    """What a State needs to continue: the process that holds it (`worker`, its `generation`) and
    the proof state id there, plus the theorem and the tactics that led here (to rebuild the state
    in a restarted or another process)."""

    generation: int
    proof_state: int
    theorem: Theorem
    tactics: tuple[str, ...] = ()
    worker: int = 0

    @property
    def key(self) -> _StateKey:
        return (self.theorem.header, self.theorem.formal_statement, self.tactics)


def decl_name(formal_statement: str) -> str | None:
    """The theorem's name for `#print axioms` (lean_env.verify_text.declared_name); None for an `example`."""
    try:
        return declared_name(formal_statement).name
    except ValueError:
        return None


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
        "`python -m doubles.repl_double` instead."
    )


class ReplEnv:
    """A `ProofEnv` over one REPL process, or over the processes of a `ReplPool` (see the module
    docstring).  Give the REPL `command` (with `workers` > 1 the env makes and owns a pool of that
    many processes), a `pool` someone else owns, or one `client` someone else owns."""

    proof_style = TACTIC_STYLE

    def __init__(self, command: Sequence[str] | None = None, *, timeout: float = 60.0, memory_mb: int = 8192,
                 header: str | None = None, cwd: str | os.PathLike[str] | None = None,
                 verifier: Verifier | None = None, reuse_header: bool = True, faults_as_failures: bool = True,
                 header_timeout: float | None = None, client: ReplClient | None = None, workers: int = 1,
                 pool: ReplPool | None = None) -> None:
        if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
            raise ValueError(f"ReplEnv: workers must be an integer >= 1, got {workers!r}")
        if sum(x is not None for x in (command or None, client, pool)) != 1:
            raise ValueError("ReplEnv needs exactly one of: the REPL command line, a ReplPool or a ReplClient")
        self._owns = client is None and pool is None
        if command and workers > 1:
            pool = ReplPool(command, size=workers, cwd=cwd, timeout=timeout, memory_mb=memory_mb,
                            header=header if reuse_header else None, header_timeout=header_timeout)
        elif command:
            client = ReplClient(command, cwd=cwd, timeout=timeout, memory_mb=memory_mb,
                                header=header if reuse_header else None, header_timeout=header_timeout)
        self.pool = pool
        self.clients: tuple[ReplClient, ...] = pool.clients if pool is not None else (client,)  # type: ignore[assignment]
        self.client = self.clients[0]  # the first (with no pool: the only) process
        self.header = header
        self.verifier = verifier
        self.reuse_header = reuse_header
        self.faults_as_failures = faults_as_failures
        self.env_calls = 0
        self.lean_seconds = 0.0
        self._lock = threading.Lock()
        self._next_start = 0
        # per process: (the generation the cache is for, state key -> proof state rebuilt there)
        self._replayed: list[tuple[int, dict[_StateKey, int]]] = [(-1, {}) for _ in self.clients]
        self._threads = ThreadPoolExecutor(len(self.clients), thread_name_prefix="repl-env") \
            if len(self.clients) > 1 else None

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

    @property
    def workers(self) -> int:
        return len(self.clients)

    # -- processes
    @contextmanager
    def _use(self, worker: int) -> Iterator[ReplClient]:
        """Process `worker`, checked out of the pool for the time of the block (when there is one)."""
        if self.pool is None:
            yield self.clients[worker]
            return
        client = self.pool.checkout(index=worker)
        try:
            yield client
        finally:
            self.pool.checkin(client)

    def _count(self, t0: float) -> None:
        with self._lock:
            self.env_calls += 1
            self.lean_seconds += time.perf_counter() - t0

    def _header_for(self, theorem: Theorem) -> str:
        return theorem.header if theorem.header.strip() else (self.header or "")

    def _command(self, client: ReplClient, theorem: Theorem, text: str) -> CommandResult:
        """Run `text` after the theorem's header: in the reused header env, or re-sent with it."""
        t0 = time.perf_counter()
        try:
            header = self._header_for(theorem)
            if self.reuse_header:
                return client.command(text, client.env_for_header(header))
            return client.command(f"{header}\n\n{text}" if header.strip() else text, None)
        finally:
            self._count(t0)

    def _tactic(self, client: ReplClient, tactic: str, proof_state: int) -> TacticResult:
        t0 = time.perf_counter()
        try:
            return client.run_tactic(tactic, proof_state)
        finally:
            self._count(t0)

    def _root(self, client: ReplClient, theorem: Theorem) -> tuple[str, int]:
        res = self._command(client, theorem, theorem.formal_statement.rstrip() + " sorry")
        if res.errors:
            raise ReplCommandError(f"{theorem.name}: the statement does not elaborate: "
                                   + "; ".join(str(m) for m in res.errors)[:2000])
        sorries = [s for s in res.sorries if s.proof_state is not None]
        if not sorries:
            raise ReplCommandError(f"{theorem.name}: the REPL reported no proof state for the statement's sorry")
        root = sorries[-1]
        assert root.proof_state is not None
        return root.goal, root.proof_state

    def _live_proof_state(self, worker: int, client: ReplClient, h: ReplHandle) -> int:
        """The proof state of `h` in process `worker`: its own id if it was made there by the running
        process, else the same state rebuilt there by replay (cached per process and generation)."""
        if not client.alive:
            client.start()
        gen = client.generation
        if h.worker == worker and h.generation == gen:
            return h.proof_state
        cache_gen, cache = self._replayed[worker]
        if cache_gen != gen:
            cache = {}
            self._replayed[worker] = (gen, cache)
        if h.key in cache:
            return cache[h.key]
        log.info("rebuilding a state of %s in REPL process %d, generation %d (%d tactics)",
                 h.theorem.name, worker, gen, len(h.tactics))
        _, ps = self._root(client, h.theorem)
        for tac in h.tactics:
            res = self._tactic(client, tac, ps)
            if res.errors:
                raise ReplCommandError(f"replaying `{tac}` for {h.theorem.name} failed: {res.errors[0].data}")
            ps = res.proof_state
        cache[h.key] = ps
        return ps

    def _present(self, worker: int, h: ReplHandle) -> bool:
        """Is the state of `h` (probably) alive in process `worker`?  Only a scheduling hint: the
        step itself goes through `_live_proof_state`, which rebuilds whatever is missing."""
        gen = self.clients[worker].generation
        if h.worker == worker and h.generation == gen:
            return True
        cache_gen, cache = self._replayed[worker]
        return cache_gen == gen and h.key in cache

    # -- the ProofEnv seam
    def start(self, theorem: Theorem) -> State:
        with self._lock:
            worker = self._next_start % self.workers  # theorems take turns over the processes
            self._next_start += 1
        with self._use(worker) as client:
            goal, ps = self._root(client, theorem)
            return State((goal,), ReplHandle(client.generation, ps, theorem, (), worker))

    @staticmethod
    def _handle(state: State) -> ReplHandle:
        h = state.handle
        if not isinstance(h, ReplHandle):
            raise ValueError(f"ReplEnv.apply: state {state.text[:80]!r} was not made by a ReplEnv")
        return h

    def apply(self, state: State, tactic: str) -> Outcome:
        return self.apply_batch([(state, tactic)])[0]

    def _apply_on(self, worker: int, client: ReplClient, h: ReplHandle, tactic: str) -> Outcome:
        try:
            res = self._tactic(client, tactic, self._live_proof_state(worker, client, h))
        except ReplCommandError as e:
            return Failed(e.message.removeprefix(_LEAN_ERROR_PREFIX))
        except FAULTS as e:
            if not self.faults_as_failures:
                raise
            log.warning("REPL fault on `%s` (%s): %s; the process restarts", tactic, type(e).__name__, e)
            return Failed(f"{type(e).__name__}: {e}", failure_kind(e))
        return self._outcome(worker, client, h, tactic, res)

    def _outcome(self, worker: int, client: ReplClient, h: ReplHandle, tactic: str, res: TacticResult) -> Outcome:
        if res.errors:
            return Failed("\n".join(m.data for m in res.errors))
        if res.sorries or (res.proof_status is not None and "sorry" in res.proof_status):
            return Failed("the tactic leaves `sorry`")
        new = ReplHandle(client.generation, res.proof_state, h.theorem, (*h.tactics, tactic), worker)
        if res.goals:
            return Open(State(tuple(res.goals), new))
        status = res.proof_status
        if status is None or status == "Completed" or status.startswith("Not verified"):
            return Proved(new)
        return Failed(f"no goals left, but Lean says: {status}")

    def assign(self, handles: Sequence[ReplHandle]) -> list[int]:
        """The process each step of a batch runs on: the one where it would finish first, counting
        one request per step and, where the state is not in that process yet, 1 + its depth for the
        replay that rebuilds it (then it is there for the next steps on the same state)."""
        load = [0] * self.workers
        placed: list[set[_StateKey]] = [set() for _ in range(self.workers)]
        out = []
        for h in handles:
            def cost(w: int, h: ReplHandle = h) -> tuple[int, int, int]:
                there = h.key in placed[w] or self._present(w, h)
                return (load[w] + 1 + (0 if there else 1 + len(h.tactics)), w != h.worker, w)

            w = min(range(self.workers), key=cost)
            load[w] = cost(w)[0]
            placed[w].add(h.key)
            out.append(w)
        return out

    def apply_batch(self, steps: Sequence[tuple[State, str]]) -> list[Outcome]:
        """Every step, in one process (no pool) or spread over the pool's processes (see `assign`)."""
        handles = [self._handle(s) for s, _ in steps]
        where = self.assign(handles)
        outcomes: list[Outcome | None] = [None] * len(steps)

        def run(worker: int) -> None:
            mine = [i for i, w in enumerate(where) if w == worker]
            with self._use(worker) as client:
                for i in mine:
                    outcomes[i] = self._apply_on(worker, client, handles[i], steps[i][1])

        used = sorted(set(where))
        if self._threads is None or len(used) == 1:
            for w in used:
                run(w)
        else:
            for fut in [self._threads.submit(run, w) for w in used]:
                fut.result()  # re-raises a fault when faults_as_failures is off
        return [o for o in outcomes if o is not None]

    def check(self, theorem: Theorem, proof: str) -> ProofCheck:
        if self.verifier is not None:
            from lean_env.verifier import check_with_verifier

            return check_with_verifier(self.verifier, theorem, proof)
        with self._lock:
            worker = self._next_start % self.workers
            self._next_start += 1
        with self._use(worker) as client:
            return self._check_by_replay(client, theorem, proof)

    def _check_by_replay(self, client: ReplClient, theorem: Theorem, proof: str) -> ProofCheck:
        name = decl_name(theorem.formal_statement)
        text = theorem.formal_statement.rstrip() + proof
        if name is not None:
            text += f"\n\n#print axioms {name}"
        try:
            res = self._command(client, theorem, text)
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
        bad = [a for a in axioms if a not in DEFAULT_AXIOMS]
        if bad:
            return ProofCheck(False, proof, f"the proof depends on disallowed axioms: {', '.join(bad)}")
        return ProofCheck(True, proof)

    def close(self) -> None:
        if self._threads is not None:
            self._threads.shutdown(wait=True)
        if self._owns:
            if self.pool is not None:
                self.pool.close()
            else:
                self.client.close()

    def __enter__(self) -> ReplEnv:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
