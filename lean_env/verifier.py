"""The verifier: the one judge of "proved".

A candidate is `proved` only when, in a file elaborated by `lean`:
  * no error anywhere, no `sorry` (hasSorry warning, `sorryAx` in the axioms);
  * the declaration with the statement's name exists, is a `theorem` (not unsafe, not an
    axiom), and its type printed with `pp.all` equals that of the reference: the
    `formal_statement` itself, elaborated under a fresh name *before* the candidate;
  * `#print axioms` lists nothing outside `allowed_axioms`;
  * our own check commands after the candidate all answered (so nothing cut the file short).
Text checks reject early what could fake or skip those checks (metaprogramming, `#exit`,
`debug.skipKernelTC`, `unsafe`, ...); see `verify_text.py`.  The layout is in `verify_file.py`.

Speed: items with the same header whose proof is a plain term or tactic block (no command of
its own) share one Lean file, each in a fresh namespace; anything not cleanly proved there is
re-checked alone, so a batch can only save time, never change a verdict.  Files run in
`workers` parallel processes, each under a timeout and a memory cap.  Final verdicts are cached.
"""

from __future__ import annotations

import logging
import math
import re
import threading
import time
from collections import defaultdict
from collections.abc import Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.types import ProofCheck, Theorem
from lean_env.errors import LeanCrashed, LeanError, LeanMemoryExceeded, LeanTimeout
from lean_env.process import run_lean
from lean_env.toolchain import LeanToolchain, cache_dir
from lean_env.verify_cache import VerdictCache, cache_key, toolchain_identity
from lean_env.verify_file import Entry, Judgement, build_file, judge
from lean_env.verify_text import (
    NameIndex,
    declared_name,
    forbidden_reason,
    mask,
    plain_proof,
    split_statement_end,
)

log = logging.getLogger(__name__)

VERIFIER_VERSION = "1"
VERDICTS = ("proved", "rejected", "error")
DEFAULT_AXIOMS = ("propext", "Classical.choice", "Quot.sound")
_ATOMIC_NAME = re.compile(r"^[^\W\d][\w'!?₀-₉]*$", re.UNICODE)
_AXIOM_NAME = re.compile(r"^[^\W\d][\w'!?₀-₉]*(\.[^\W\d][\w'!?₀-₉]*)*$", re.UNICODE)


@dataclass(frozen=True)
class VerifyItem:
    """One question: does `proof` (appended to `formal_statement`) or `code` prove the statement?"""

    name: str
    header: str
    formal_statement: str
    proof: str | None = None
    code: str | None = None

    @classmethod
    def from_dict(cls, row: Any, where: str = "item") -> VerifyItem:
        if not isinstance(row, dict):
            raise ValueError(f"{where}: expected a JSON object, got {type(row).__name__}")
        for k in ("name", "formal_statement"):
            if not isinstance(row.get(k), str) or not row[k].strip():
                raise ValueError(f"{where}: missing or empty string field '{k}'")
        header = row.get("header", "")
        if not isinstance(header, str):
            raise ValueError(f"{where}: field 'header' must be a string")
        proof, code = row.get("proof"), row.get("code")
        for k, v in (("proof", proof), ("code", code)):
            if v is not None and not isinstance(v, str):
                raise ValueError(f"{where}: field '{k}' must be a string")
        if (proof is None) == (code is None):
            raise ValueError(f"{where}: give exactly one of 'proof' or 'code'")
        return cls(row["name"], header, row["formal_statement"], proof, code)

    @classmethod
    def from_theorem(cls, theorem: Theorem, proof: str) -> VerifyItem:
        return cls(theorem.name, theorem.header, theorem.formal_statement, proof=proof)


@dataclass
class Verdict:
    name: str
    verdict: str  # "proved" | "rejected" | "error"
    reason: str
    messages: list[dict] = field(default_factory=list)
    seconds: float = 0.0
    cached: bool = False

    @property
    def proved(self) -> bool:
        return self.verdict == "proved"

    def to_dict(self) -> dict:
        d = {"name": self.name, "verdict": self.verdict, "reason": self.reason,
             "messages": self.messages, "seconds": round(self.seconds, 4)}
        if self.cached:
            d["cached"] = True
        return d


@dataclass
class VerifierConfig:
    timeout: float = 60.0            # seconds per Lean process (a batch gets the same)
    memory_mb: int = 4096            # resident-memory cap per Lean process
    workers: int = 1                 # Lean processes in parallel
    batch_size: int = 8              # items per shared file (1 = every item alone)
    allowed_axioms: tuple[str, ...] = DEFAULT_AXIOMS
    cache: bool = True
    cache_dir: Path | None = None    # default: cache_dir() / "verify"
    text_checks: bool = True         # reject forbidden tokens before Lean (see verify_text.FORBIDDEN)


@dataclass
class _Prepared:
    index: int
    item: VerifyItem
    target: str
    candidate: str
    proof_part: str | None   # the text after the statement, when the candidate starts with it
    batchable: bool
    key: str
    spent: float = 0.0


class Verifier:
    def __init__(self, toolchain: LeanToolchain, config: VerifierConfig | None = None) -> None:
        self.toolchain = toolchain
        self.config = config or VerifierConfig()
        if self.config.workers < 1 or self.config.batch_size < 1:
            raise ValueError("VerifierConfig: workers and batch_size must be >= 1")
        if not (math.isfinite(self.config.timeout) and self.config.timeout > 0) or self.config.memory_mb <= 0:
            raise ValueError("VerifierConfig: timeout must be a finite number > 0 and memory_mb > 0")
        odd = [a for a in self.config.allowed_axioms if not _AXIOM_NAME.match(a)]
        if odd:
            raise ValueError(f"VerifierConfig: allowed_axioms must be Lean names, got {odd}")
        root = self.config.cache_dir or (cache_dir() / "verify")
        self.cache = VerdictCache(root) if self.config.cache else None
        self._fingerprint: str | None = None

    # -- public API ---------------------------------------------------------------------------

    def verify(self, items: Sequence[VerifyItem]) -> list[Verdict]:
        out: list[Verdict | None] = [None] * len(items)
        for i, v in self.iter_verify(items):
            out[i] = v
        return [v for v in out if v is not None]

    def iter_verify(self, items: Sequence[VerifyItem | Any]) -> Iterator[tuple[int, Verdict]]:
        """(index, verdict) for every item, each as soon as it is decided (not in input order).

        An element that is not a VerifyItem (e.g. a raw dict from a bad row) gets an 'error'.
        """
        todo: list[_Prepared] = []
        for i, item in enumerate(items):
            ready = self._prepare(i, item)
            if isinstance(ready, Verdict):
                yield i, ready
            else:
                todo.append(ready)
        yield from self._schedule(todo)

    # -- preparation (no Lean) ----------------------------------------------------------------

    def fingerprint(self) -> str:
        if self._fingerprint is None:
            self._fingerprint = toolchain_identity(self.toolchain)
        return self._fingerprint

    def _prepare(self, index: int, item: Any) -> _Prepared | Verdict:
        if not isinstance(item, VerifyItem):
            try:
                item = VerifyItem.from_dict(item, where=f"item {index}")
            except ValueError as e:
                name = item.get("name") if isinstance(item, dict) and isinstance(item.get("name"), str) else ""
                return Verdict(name or f"item {index}", "error", f"bad input: {e}")
        try:
            target = declared_name(item.formal_statement)
            split_statement_end(item.formal_statement)
        except ValueError as e:
            return Verdict(item.name, "error", f"bad input: {e}")
        candidate, proof_part = _candidate(item)
        key = cache_key(VERIFIER_VERSION, self.fingerprint(), item.header, item.formal_statement,
                        "proof" if item.proof is not None else "code", item.proof if item.proof is not None
                        else item.code, sorted(self.config.allowed_axioms), self.config.text_checks)
        if self.cache is not None:
            row = self.cache.get(key)
            if row is not None and row.get("verdict") in ("proved", "rejected"):
                return Verdict(item.name, row["verdict"], str(row.get("reason", "")), list(row.get("messages", [])),
                               0.0, cached=True)
        if self.config.text_checks:
            why = forbidden_reason(item.proof if item.proof is not None else candidate)
            if why:
                verdict = Verdict(item.name, "rejected", why)
                self._store(key, verdict)
                return verdict
        batchable = (
            proof_part is not None
            and _ATOMIC_NAME.match(target.name) is not None
            and not target.modifiers.strip()
            and plain_proof(proof_part)
        )
        return _Prepared(index, item, target.name, candidate, proof_part, batchable, key)

    def _store(self, key: str, v: Verdict) -> None:
        if self.cache is not None and v.verdict in ("proved", "rejected"):
            self.cache.put(key, {"verdict": v.verdict, "reason": v.reason, "messages": v.messages})

    # -- scheduling ---------------------------------------------------------------------------

    def _batches(self, todo: list[_Prepared]) -> tuple[list[list[_Prepared]], list[_Prepared]]:
        """Split into shared-file batches (same header, plain proofs) and items to check alone."""
        alone = [p for p in todo if not p.batchable or self.config.batch_size == 1]
        groups: dict[str, list[_Prepared]] = defaultdict(list)
        for p in todo:
            if p.batchable and self.config.batch_size > 1:
                groups[p.item.header].append(p)
        batches: list[list[_Prepared]] = []
        for group in groups.values():
            index = NameIndex({p.target for p in group})
            safe = []
            for p in group:  # a proof naming another item's theorem could lean on it: alone
                if index.named_in(p.proof_part or "", ignore=p.target):
                    alone.append(p)
                else:
                    safe.append(p)
            size = max(1, min(self.config.batch_size, math.ceil(len(safe) / self.config.workers)))
            for k in range(0, len(safe), size):
                chunk = safe[k: k + size]
                if len(chunk) == 1:
                    alone.append(chunk[0])
                else:
                    batches.append(chunk)
        return batches, alone

    def _schedule(self, todo: list[_Prepared]) -> Iterator[tuple[int, Verdict]]:
        if not todo:
            return
        batches, alone = self._batches(todo)
        pool = ThreadPoolExecutor(max_workers=self.config.workers, thread_name_prefix="lean-verify")
        pending: dict[Future, list[_Prepared]] = {}
        stop = threading.Event()  # set when the caller stops (Ctrl-C, generator closed): Lean is killed
        try:
            for chunk in sorted(batches, key=len, reverse=True):
                pending[pool.submit(self._check, chunk, True, stop)] = chunk
            for p in alone:
                pending[pool.submit(self._check, [p], False, stop)] = [p]
            while pending:
                done, _ = wait(list(pending), return_when=FIRST_COMPLETED)
                for fut in done:
                    chunk = pending.pop(fut)
                    for p, verdict in fut.result():
                        if verdict is None:  # not cleanly proved in a batch: check it alone
                            pending[pool.submit(self._check, [p], False, stop)] = [p]
                            continue
                        self._store(p.key, verdict)
                        yield p.index, verdict
        finally:
            stop.set()  # running Lean processes die within one poll, so shutting down does not wait on them
            pool.shutdown(wait=True, cancel_futures=True)

    def _check(self, chunk: list[_Prepared], batch: bool,
               stop: threading.Event | None = None) -> list[tuple[_Prepared, Verdict | None]]:
        """Run one file; never raises but LeanInterrupted.  In a batch, only 'proved' is final (None = recheck alone)."""
        try:
            return self._check_file(chunk, batch, stop)
        except Exception as e:  # a bug must cost these items, not the whole run
            log.exception("verifier: internal error on %s", [p.item.name for p in chunk])
            return [(p, None if batch else Verdict(p.item.name, "error", f"internal error: {type(e).__name__}: {e}"))
                    for p in chunk]

    def _check_file(self, chunk: list[_Prepared], batch: bool,
                    stop: threading.Event | None = None) -> list[tuple[_Prepared, Verdict | None]]:
        cf = build_file(chunk[0].item.header, [Entry(p.target, p.item.formal_statement, p.candidate) for p in chunk],
                        batch=batch, allowed_axioms=self.config.allowed_axioms)
        t0 = time.monotonic()
        try:
            run = run_lean(self.toolchain, cf.source, timeout=self.config.timeout, memory_mb=self.config.memory_mb,
                           cancel=stop)
        except (LeanError, OSError) as e:
            share = (time.monotonic() - t0) / len(chunk)
            out: list[tuple[_Prepared, Verdict | None]] = []
            for p in chunk:
                p.spent += share
                out.append((p, None if batch else Verdict(p.item.name, "error", _failure(e), [], p.spent)))
            return out
        share = run.seconds / len(chunk)
        results: list[tuple[_Prepared, Verdict | None]] = []
        for i, p in enumerate(chunk):
            p.spent += share
            j: Judgement = judge(cf, run, i, self.config.allowed_axioms, batch=batch)
            if batch and j.verdict != "proved":
                results.append((p, None))
            else:
                results.append((p, Verdict(p.item.name, j.verdict, j.reason, j.messages, p.spent)))
        return results


def _failure(e: BaseException) -> str:
    if isinstance(e, LeanTimeout):
        return f"timeout: {e}"
    if isinstance(e, LeanMemoryExceeded):
        return f"memory cap: {e}"
    if isinstance(e, LeanCrashed):
        return f"lean crashed: {e}"
    return f"could not run lean: {type(e).__name__}: {e}"


def _candidate(item: VerifyItem) -> tuple[str, str | None]:
    """(the text placed in the file, the part after the statement when it starts with it)."""
    stmt = item.formal_statement
    if item.proof is not None:
        proof = item.proof if not item.proof or item.proof[0].isspace() else " " + item.proof
        return stmt + proof, proof
    code = item.code or ""
    if item.header.strip() and code.lstrip().startswith(item.header.strip()):
        code = code.lstrip()[len(item.header.strip()):]
    body = code.lstrip()
    s = stmt.strip()
    if body.startswith(s):
        rest = body[len(s):]
        nxt = mask(rest).text[:1]
        if not nxt or not (nxt.isalnum() or nxt in "_'!?"):
            return code, rest
    return code, None


def verify_proof(toolchain: LeanToolchain, theorem: Theorem, proof: str,
                 config: VerifierConfig | None = None) -> Verdict:
    """Check one proof of `theorem` (the text appended after its formal_statement)."""
    return Verifier(toolchain, config).verify([VerifyItem.from_theorem(theorem, proof)])[0]


def check_with_verifier(verifier: Verifier, theorem: Theorem, proof: str) -> ProofCheck:
    """An env's `check` through the verifier: `proof` (the text after the statement) judged alone."""
    verdict = verifier.verify([VerifyItem.from_theorem(theorem, proof)])[0]
    return ProofCheck(verdict.proved, proof, "" if verdict.proved else verdict.reason)
