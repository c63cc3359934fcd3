"""The term-refinement environment: proofs as partial terms with `?_` holes, checked by whole-file Lean.

A state is a partial proof term such as `And.intro ?_ (h.left)`.  Lean elaborates it as
the body of the theorem and reports, for every `?_` it could not fill, "don't know how to
synthesize placeholder ... context: <goal>": those contexts are the state's goals, in the
textual order of the holes.  A "tactic" is a term that fills the FIRST hole and may open
new `?_` holes of its own.  Lean decides each step: any other error makes it `Failed`
with Lean's message; no error and no hole is `Proved` (`check` then re-verifies the whole
term with the verifier).

Many candidate steps, of the same theorem or of different ones, are checked in ONE Lean
file as separate theorems with fresh names (a process start dominates the cost), and such
files run in `workers` parallel processes.  A file of at most `warm_max_candidates` goes to a
warm Lean worker (lean_env/lean_server.py) that keeps the header elaborated between files; the
first such file of every header is also run cold and must get the same verdicts, and a warm
failure (timeout, memory, crash) re-runs the file cold, so the verdicts are the cold path's.  A file that times out, runs out of memory or
crashes is split in halves and re-run until the faulty candidate is isolated and marked
`Failed` with the reason.  Nothing here needs a REPL or Mathlib: it works with the embedded
test Lean over a `prelude` header and unchanged with a user's `lake env lean`.
"""

from __future__ import annotations

import functools
import logging
import math
import os
import re
import secrets
import threading
from collections import OrderedDict
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from core.proof_text import HOLE, HOLE_RE, TERM_STYLE, count_holes, fill_first_hole
from core.types import Failed, FailureKind, Open, Outcome, ProofCheck, Proved, State, Theorem
from lean_env.errors import LeanCrashed, LeanMemoryExceeded, LeanTimeout, failure_kind
from lean_env.lean_server import WarmLean
from lean_env.process import LeanMessage, LeanRun, run_lean
from lean_env.toolchain import LeanToolchain
from lean_env.verify_text import declared_name, rename_declaration

if TYPE_CHECKING:
    from lean_env.verifier import Verifier

log = logging.getLogger(__name__)

_IDENT_CHAR = r"[\w'!?₀-₉]"
PLACEHOLDER_PREFIX = "don't know how to synthesize placeholder"
NOISE = "internal exception #3"  # Lean without Init reports it next to every elaboration error
RESERVED = "TermEnvCandidate"
TRUNCATED = "maximum number of errors"
MAX_FILLING_CHARS = 2000
WARM_ENV = "PROVER_LEAN_WARM"  # "0": every file in a fresh `lean` process (the default when `warm` is not given)

# Words that start a command (or change elaboration) and so must never appear in a filling.
_FORBIDDEN_WORDS = (
    "theorem lemma def axiom example abbrev instance structure class inductive coinductive opaque "
    "universe variable namespace section end open export set_option attribute macro macro_rules "
    "syntax notation infix infixl infixr prefix postfix elab elab_rules import prelude mutual private "
    "protected noncomputable unsafe partial deriving initialization builtin_initialization sorry "
    "sorryAx native_decide run_cmd run_elab run_meta where"
).split()
_FORBIDDEN_RE = re.compile(rf"(?<!{_IDENT_CHAR}|\.)({'|'.join(_FORBIDDEN_WORDS)})(?!{_IDENT_CHAR})")
_FORBIDDEN_TEXT = (":=", "--", "/-", "-/", "#", "@[", '"', "«", "»", "\\", "`(")
_BRACKETS = {")": "(", "]": "[", "}": "{", "⟩": "⟨", "⦄": "⦃"}


@dataclass(frozen=True)
class TermHandle:
    """What a `State` of this env carries: the theorem, the partial term, and the fillings so far."""

    theorem: Theorem = field(repr=False)
    term: str
    fillings: tuple[str, ...] = ()


def filling_problem(filling: str) -> str | None:
    """Why `filling` may not be pasted into a proof term, or None if it may.

    A filling must be one balanced term: no newline, comment, command keyword, `:=`, `#`,
    string, named hole or reference to the env's own candidate names, so that it can
    neither close the term early nor inject a command.
    """
    if not isinstance(filling, str):
        return f"a filling must be a string, got {type(filling).__name__}"
    if not filling.strip():
        return "empty filling"
    if len(filling) > MAX_FILLING_CHARS:
        return f"filling longer than {MAX_FILLING_CHARS} characters"
    if any(ord(c) < 32 for c in filling):
        return "filling contains a newline or control character"
    for bad in _FORBIDDEN_TEXT:
        if bad in filling:
            return f"filling contains forbidden text {bad!r}"
    m = _FORBIDDEN_RE.search(filling)
    if m:
        return f"filling contains forbidden keyword {m.group(1)!r}"
    if RESERVED in filling:
        return f"filling mentions the reserved name {RESERVED}"
    if "?" in HOLE_RE.sub("", filling):
        return "filling contains `?` other than the anonymous hole `?_`"
    stack: list[str] = []
    for c in filling:
        if c in "([{⟨⦃":
            stack.append(c)
        elif c in _BRACKETS:
            if not stack or stack.pop() != _BRACKETS[c]:
                return f"filling has an unbalanced {c!r}"
    if stack:
        return f"filling has an unclosed {stack[-1]!r}"
    return None


def term_from_fillings(fillings: Sequence[str]) -> str:
    """The term that the fillings build from the single initial hole, each filling first checked
    by `filling_problem` (ValueError naming the bad one)."""
    term = HOLE
    for i, f in enumerate(fillings):
        why = filling_problem(f)
        if why is not None:
            raise ValueError(f"filling {i} ({f!r}): {why}")
        term = fill_first_hole(term, f)
    return term


def statement_with_name(statement: str, name: str) -> str:
    """`statement` (`theorem X ... :=`, `lemma X ...` or `example ...`) as `theorem name ...`."""
    head, tail = _statement_parts(statement)
    return head + name + tail


_NAME_SLOT = "\x00name\x00"  # no statement holds a NUL character


@functools.lru_cache(maxsize=4096)
def _statement_parts(statement: str) -> tuple[str, str]:
    """`statement` renamed, cut where the new name goes (parsing a statement costs ~1 ms; every
    file of a search renames the same few statements again, under fresh names)."""
    try:
        d = declared_name(statement, allow_example=True)
    except ValueError:
        d = None
    if d is None or d.modifiers.strip() or _NAME_SLOT in statement:
        raise ValueError(f"statement must start with `theorem NAME` or `example`: {statement[:80]!r}")
    head, _, tail = rename_declaration(statement, _NAME_SLOT, keyword="theorem").partition(_NAME_SLOT)
    return head, tail


def _check_statement(theorem: Theorem) -> None:
    if not theorem.formal_statement.rstrip().endswith(":="):
        raise ValueError(f"theorem {theorem.name}: a term-mode formal_statement must end in `:=`")
    if theorem.formal_statement.rstrip().endswith("by"):
        raise ValueError(f"theorem {theorem.name}: tactic statements (`:= by`) need the REPL env")
    statement_with_name(theorem.formal_statement, "x")


@dataclass(frozen=True)
class _Job:
    theorem: Theorem
    term: str
    fillings: tuple[str, ...]

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.theorem.header, self.theorem.formal_statement, self.term)


def _line_col(text: str, index: int) -> tuple[int, int]:
    """Lean's position of `text[index]`: 1-based line, 0-based column in code points."""
    line = text.count("\n", 0, index) + 1
    return line, index - (text.rfind("\n", 0, index) + 1)


def _goal_text(message: str) -> str:
    _, sep, rest = message.partition("context:\n")
    return rest.strip("\n") if sep else message


def classify(messages: Sequence[LeanMessage], holes: Sequence[tuple[int, int]], job: _Job) -> Outcome:
    """The outcome of one candidate from Lean's messages about its declaration."""
    errors = [m for m in messages if m.severity == "error"]
    by_pos = {(m.pos.line, m.pos.column): m for m in errors if m.data.startswith(PLACEHOLDER_PREFIX)}
    hole_msgs = {p: by_pos[p] for p in holes if p in by_pos}
    other = [m for m in errors if not (m.data.startswith(PLACEHOLDER_PREFIX) and (m.pos.line, m.pos.column) in hole_msgs)]
    real = [m for m in other if m.data.strip() != NOISE]
    if real or (other and not hole_msgs):
        return Failed("\n".join(m.data for m in (real or other))[:4000])
    sorry = [m for m in messages if m.severity == "warning" and "sorry" in m.data]
    if sorry:
        return Failed(sorry[0].data)
    if len(hole_msgs) != len(holes):
        return Failed(f"{len(holes) - len(hole_msgs)} of the term's `?_` holes got no goal from Lean")
    handle = TermHandle(job.theorem, job.term, job.fillings)
    if not holes:
        return Proved(handle)
    return Open(State(tuple(_goal_text(hole_msgs[p].data) for p in holes), handle))


class LeanTermEnv:
    """`ProofEnv` over whole-file elaboration of partial proof terms (see the module docstring)."""

    proof_style = TERM_STYLE

    def __init__(self, toolchain: LeanToolchain, *, timeout: float = 60.0, memory_mb: int = 4096,
                 workers: int = 1, verifier: Verifier | None = None, batch_size: int = 64,
                 cache_size: int = 100_000, warm: bool | None = None, warm_max_candidates: int = 32) -> None:
        if workers < 1 or batch_size < 1:
            raise ValueError(f"LeanTermEnv: workers ({workers}) and batch_size ({batch_size}) must be >= 1")
        self.toolchain = toolchain
        self.timeout = timeout
        self.memory_mb = memory_mb
        self.workers = workers
        self.batch_size = batch_size
        self._verifier = verifier
        self._cache: OrderedDict[tuple[str, str, str], Outcome] = OrderedDict()
        self._cache_size = cache_size
        self._lock = threading.Lock()
        self._pool: ThreadPoolExecutor | None = None
        self.lean_runs = 0
        self.lean_seconds = 0.0
        self.candidates_checked = 0
        # warm Lean (lean_env/lean_server.py): one long-lived worker per parallel file, the prelude
        # elaborated once per worker; the first file of every header is also run cold and must agree
        self.warm = warm if warm is not None else os.environ.get(WARM_ENV, "1").strip() != "0"
        self.warm_max_candidates = warm_max_candidates  # larger files run cold: cheaper per candidate there
        self.warm_runs = 0
        self.warm_checks = 0  # files also run cold to check the warm worker's verdicts (not in lean_runs)
        self.warm_fallbacks = 0  # files re-run cold after the warm worker timed out, ran out of memory or died
        self.warm_disabled: str | None = None
        self._warm_idle: list[WarmLean] = []
        self._warm_checked: set[str] = set()

    # -- ProofEnv -------------------------------------------------------------------------
    def start(self, theorem: Theorem) -> State:
        return self.start_many([theorem])[0]

    def start_many(self, theorems: Sequence[Theorem]) -> list[State]:
        """The initial states of many theorems, elaborated together (ValueError on a bad statement)."""
        for t in theorems:
            _check_statement(t)
        outcomes = self._evaluate([_Job(t, HOLE, ()) for t in theorems])
        states = []
        for t, out in zip(theorems, outcomes, strict=True):
            if not isinstance(out, Open) or len(out.state.goals) != 1:
                why = out.message if isinstance(out, Failed) else "it needs no proof"
                raise ValueError(f"theorem {t.name}: its statement does not elaborate to one goal: {why}")
            states.append(out.state)
        return states

    def apply(self, state: State, tactic: str) -> Outcome:
        return self.apply_batch([(state, tactic)])[0]

    def apply_batch(self, steps: Sequence[tuple[State, str]]) -> list[Outcome]:
        outcomes: list[Outcome | None] = [None] * len(steps)
        jobs: list[tuple[int, _Job]] = []
        for i, (state, filling) in enumerate(steps):
            handle = state.handle
            if not isinstance(handle, TermHandle):
                raise ValueError(f"step {i}: the state was not made by LeanTermEnv (handle {type(handle).__name__})")
            why = filling_problem(filling)
            if why is None and count_holes(handle.term) == 0:
                why = "the state has no open hole"
            if why is not None:
                outcomes[i] = Failed(f"rejected before Lean: {why}", FailureKind.REJECTED)
                continue
            term = fill_first_hole(handle.term, filling)
            jobs.append((i, _Job(handle.theorem, term, (*handle.fillings, filling.strip()))))
        for (i, _), out in zip(jobs, self._evaluate([j for _, j in jobs]), strict=True):
            outcomes[i] = out
        return [o for o in outcomes if o is not None]

    def replay_many(self, proofs: Sequence[tuple[Theorem, Sequence[str]]]) -> list[Outcome]:
        """The outcome of each list of fillings applied from the start, all elaborated in batches.

        A filling that is rejected before Lean fails the whole item; otherwise Lean judges the
        resulting term once (no intermediate states).
        """
        jobs: list[_Job | Failed] = []
        for theorem, fillings in proofs:
            _check_statement(theorem)
            try:
                jobs.append(_Job(theorem, term_from_fillings(fillings), tuple(f.strip() for f in fillings)))
            except ValueError as e:
                jobs.append(Failed(f"rejected before Lean: {e}", FailureKind.REJECTED))
        real = [j for j in jobs if isinstance(j, _Job)]
        done = iter(self._evaluate(real))
        return [j if isinstance(j, Failed) else next(done) for j in jobs]

    def check(self, theorem: Theorem, proof: str) -> ProofCheck:
        """Have the verifier re-check the term `proof` (the text after `:=`) from scratch."""
        from lean_env.verifier import check_with_verifier

        return check_with_verifier(self.verifier(), theorem, proof)

    def verifier(self) -> Verifier:
        if self._verifier is None:
            from lean_env.verifier import Verifier, VerifierConfig

            self._verifier = Verifier(self.toolchain, VerifierConfig(timeout=self.timeout, memory_mb=self.memory_mb))
        return self._verifier

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None
        with self._lock:
            idle, self._warm_idle = self._warm_idle, []
        for worker in idle:
            worker.close()

    def __enter__(self) -> LeanTermEnv:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- batching ---------------------------------------------------------------------------
    def _evaluate(self, jobs: Sequence[_Job]) -> list[Outcome]:
        """Outcomes of `jobs` (cached ones from the cache), the rest in batched parallel Lean runs."""
        results: dict[tuple[str, str, str], Outcome] = {}
        todo: dict[str, dict[tuple[str, str, str], _Job]] = {}
        with self._lock:
            for j in jobs:
                hit = self._cache.get(j.key)
                if hit is not None:
                    self._cache.move_to_end(j.key)
                    results[j.key] = hit
                else:
                    todo.setdefault(j.theorem.header, {})[j.key] = j
        chunks: list[list[_Job]] = []
        for group in todo.values():
            items = list(group.values())
            n = max(min(self.workers, len(items)), math.ceil(len(items) / self.batch_size))
            size = math.ceil(len(items) / n)
            chunks += [items[k:k + size] for k in range(0, len(items), size)]
        if len(chunks) > 1 and self.workers > 1:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="lean-term")
            done = list(self._pool.map(self._run_robust, chunks))
        else:
            done = [self._run_robust(c) for c in chunks]
        with self._lock:
            for chunk, outs in zip(chunks, done, strict=True):
                for j, o in zip(chunk, outs, strict=True):
                    results[j.key] = o
                    self._cache[j.key] = o
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        return [results[j.key] for j in jobs]

    def _run_robust(self, chunk: list[_Job]) -> list[Outcome]:
        """Run one file; on a timeout, memory overrun or crash, bisect until the culprit is alone."""
        try:
            return self._run_file(chunk)
        except (LeanTimeout, LeanMemoryExceeded, LeanCrashed) as e:
            if len(chunk) == 1:
                log.warning("candidate for %s failed in Lean: %s", chunk[0].theorem.name, e)
                return [Failed(f"{type(e).__name__}: {e}", failure_kind(e))]
            log.info("a batch of %d candidates failed (%s); splitting it", len(chunk), type(e).__name__)
            half = len(chunk) // 2
            return self._run_robust(chunk[:half]) + self._run_robust(chunk[half:])

    def _cold(self, text: str) -> LeanRun:
        return run_lean(self.toolchain, text, timeout=self.timeout, memory_mb=self.memory_mb,
                        extra_args=("-DmaxErrors=0",))

    def _lean(self, text: str, candidates: int) -> tuple[LeanRun, bool]:
        """Lean's messages about one file of `candidates` candidates, and whether a warm worker
        gave them: one does when `warm` and the file has at most `warm_max_candidates` (larger files
        cost less per candidate in a fresh process); when the warm worker fails, the verdict and its
        typed error come from a fresh process (`lean FILE`), as without `warm`."""
        if not self.warm or self.warm_disabled is not None or candidates > self.warm_max_candidates:
            return self._cold(text), False
        with self._lock:
            worker = self._warm_idle.pop() if self._warm_idle else WarmLean(
                self.toolchain, timeout=self.timeout, memory_mb=self.memory_mb)
        try:
            run = worker.run(text)
        except (LeanTimeout, LeanMemoryExceeded, LeanCrashed) as e:
            with self._lock:
                self.warm_fallbacks += 1
            log.info("warm Lean: %s; the file runs in a fresh process", e)
            return self._cold(text), False
        finally:
            with self._lock:
                self._warm_idle.append(worker)
        with self._lock:
            self.warm_runs += 1
        return run, True

    def _run_file(self, chunk: list[_Job]) -> list[Outcome]:
        header = chunk[0].theorem.header
        parts = [header.rstrip("\n"), "\n\n"]
        spans: list[tuple[int, int, list[tuple[int, int]]]] = []
        tag = secrets.token_hex(4)
        offset = len(parts[0]) + 2
        text_so_far = "".join(parts)
        for k, job in enumerate(chunk):
            stmt = statement_with_name(job.theorem.formal_statement.rstrip(), f"{RESERVED}_{tag}_{k}")
            decl = f"{stmt}\n  ({job.term})\n\n"
            body_at = offset + len(stmt) + 4
            start_line = _line_col(text_so_far + decl, offset)[0]
            full = text_so_far + decl
            holes = [_line_col(full, body_at + m.start()) for m in HOLE_RE.finditer(job.term)]
            end_line = _line_col(full, len(full) - 1)[0]
            spans.append((start_line, end_line, holes))
            text_so_far = full
            offset = len(full)
        run, warm = self._lean(text_so_far, len(chunk))
        outcomes = self._judge(run, spans, chunk)
        with self._lock:
            check = warm and header not in self._warm_checked
        if check:  # the first warm file of a header is judged cold too: the verdicts must agree
            cold_run = self._cold(text_so_far)
            with self._lock:
                self.warm_checks += 1
                self.lean_seconds += cold_run.seconds
            cold = self._judge(cold_run, spans, chunk, count=False)
            if cold != outcomes:
                self.warm_disabled = "its verdicts differed from a fresh `lean` run on the same file"
                log.warning("warm Lean disabled for this env: %s", self.warm_disabled)
                return cold
            with self._lock:
                self._warm_checked.add(header)
        return outcomes

    def _judge(self, run: LeanRun, spans: list[tuple[int, int, list[tuple[int, int]]]],
               chunk: list[_Job], count: bool = True) -> list[Outcome]:
        """The candidates' outcomes from Lean's messages about their file (each message goes to the
        candidate whose lines hold it; their order across candidates does not matter)."""
        if count:
            with self._lock:
                self.lean_runs += 1
                self.lean_seconds += run.seconds
                self.candidates_checked += len(chunk)
        if any(m.data.startswith(TRUNCATED) for m in run.messages):
            raise LeanCrashed(f"Lean stopped reporting errors in a file of {len(chunk)} candidates")
        per: list[list[LeanMessage]] = [[] for _ in chunk]
        stray: list[LeanMessage] = []
        for m in run.messages:
            k = next((k for k, (a, b, _) in enumerate(spans) if a <= m.pos.line <= b), None)
            (stray if k is None else per[k]).append(m)
        stray_errors = sorted((m for m in stray if m.severity == "error"), key=lambda m: (m.pos.line, m.pos.column))
        if stray_errors:
            msg = "; ".join(f"{m.pos.line}:{m.pos.column}: {m.data}" for m in stray_errors[:3])
            log.warning("Lean errors outside any candidate (is the header broken?): %s", msg)
            return [Failed(f"error outside the proof term (header?): {msg}") for _ in chunk]
        return [classify(msgs, holes, job) for msgs, (_, _, holes), job in zip(per, spans, chunk, strict=True)]
