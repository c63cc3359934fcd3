"""A warm Lean: one long-lived `lean --worker` process (the file worker of Lean's own language
server) that keeps one document open and, for each new text, re-elaborates only what changed.

Why: a fresh `lean FILE` run pays for the process start (loading Lean and running its module
initialisers) and for elaborating the file's header before the first candidate; on the logic
benchmark that is about 60-150 ms plus 60-100 ms per call on a loaded 2-core machine
(docs/logic_benchmark.md).  The worker keeps every elaborated command as a snapshot: a text whose
header commands did not change is elaborated from the first changed command on, so a batch of
candidates after the benchmark's prelude costs only the candidates.

Protocol (LSP over stdin/stdout, as Lean's watchdog speaks to its workers): `initialize`, then
`textDocument/didOpen` with the first text and `textDocument/didChange` (full text, next version)
for every later one; the Lean request `textDocument/waitForDiagnostics` is answered once that
version is fully elaborated.  The client announces Lean's `incrementalDiagnosticSupport`, so each
`textDocument/publishDiagnostics` of a version marked `isIncremental` adds its messages to those
before it (one without the mark replaces them); what came before the answer is the version's
messages.  `-Dserver.reportDelayMs=0` makes the worker report as soon as it is done (its default
waits 200 ms between reports, which would cost 200 ms a call).
Positions come back 0-based in UTF-16 code units and are turned into `lean --json`'s 1-based
lines and code-point columns, so the result is a `LeanRun` like `run_lean`'s.

Limits, as `run_lean` (lean_env/process.py) gives a fresh process: the kernel's RLIMIT_AS and
PR_SET_PDEATHSIG (`child_limits`), and RLIMIT_CPU set to the CPU budget after which the worker is
replaced (`max_cpu_s`) plus one call's allowance (`cpu_limit_s(timeout)`); a watchdog per call
for the deadline, the resident size of the process and `stop_all()`/`cancel`.  A call that times
out, runs out of memory or finds the worker dead kills it and raises the typed error; the next
call starts a new worker.  Between calls the worker is replaced once it has used `max_cpu_s` of
CPU or holds more than `recycle_fraction` of the memory cap, so that what one call may use is not
eaten by what earlier calls left behind.
"""

from __future__ import annotations

import itertools
import json
import logging
import queue
import subprocess
import threading
import time
from pathlib import Path
from typing import IO, Any

import psutil

from lean_env.errors import LeanCrashed, LeanInterrupted, LeanMemoryExceeded, LeanTimeout
from lean_env.process import (
    ChildLimits,
    LeanMessage,
    LeanRun,
    Pos,
    child_limits,
    cpu_limit_s,
    kill_process_group,
    scratch_dir,
    stoppable,
    stopping,
    tree_rss_mb,
)
from lean_env.toolchain import LeanToolchain

log = logging.getLogger(__name__)

_POLL_S = 0.02
# A worker ran up to 11 threads replaying the benchmark's proofs (lean FILE: the CPUs + a few); each
# reserves ~1.1 GiB of address space it hardly touches (lean_env/process.py), so without this
# allowance RLIMIT_AS makes it abort with "failed to create thread"
_RESERVED_MB_PER_THREAD = 1152
_EXTRA_WORKER_THREADS = 24
_SEVERITY = {1: "error", 2: "warning", 3: "information", 4: "information"}
_IDS = itertools.count()
_EOF = object()
# Lean's own client capability: each publishDiagnostics then carries only the messages that are new
# (`isIncremental`), instead of every message of the version so far after each command, which made a
# file of n candidates cost O(n^2) in JSON (2.5 MB for 96 candidates, 70 KB with this)
_CAPABILITIES = {"lean": {"incrementalDiagnosticSupport": True}}
# progress and reference-index notifications the worker sends for every command; never read here, so
# their bodies are not decoded (they are as large as the diagnostics)
_UNREAD = (b'"method":"$/lean/fileProgress"', b'"method":"$/lean/ileanInfoUpdate"',
           b'"method":"$/lean/ileanInfoFinal"')


def _read_frames(stream: IO[bytes], out: queue.Queue) -> None:
    """Parse LSP frames (`Content-Length` headers, JSON body) from `stream` into `out`; `_EOF` last."""
    try:
        while True:
            length = None
            while True:
                line = stream.readline()
                if not line:
                    return
                line = line.strip()
                if not line:
                    break
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value.strip())
            if length is None:
                continue
            body = stream.read(length)
            if len(body) < length:
                return
            if any(m in body[:96] for m in _UNREAD):
                continue
            try:
                out.put(json.loads(body))
            except json.JSONDecodeError:
                log.warning("warm Lean sent a frame that is not JSON: %r", body[:200])
    except (OSError, ValueError):
        return
    finally:
        out.put(_EOF)


def _drain(stream: IO[bytes], keep: list[bytes]) -> None:
    """Keep the last 8 KiB of `stream` (the worker's stderr) in `keep[0]`."""
    try:
        for chunk in iter(lambda: stream.read1(4096), b""):
            keep[0] = (keep[0] + chunk)[-8192:]
    except (OSError, ValueError):
        return


def utf16_to_column(line: str, units: int) -> int:
    """The code-point column of the UTF-16 offset `units` into `line` (Lean's LSP positions)."""
    if line.isascii() or all(ord(c) < 0x10000 for c in line):
        return units
    col = 0
    for c in line:
        if units <= 0:
            break
        units -= 2 if ord(c) >= 0x10000 else 1
        col += 1
    return col


def messages_from_diagnostics(diagnostics: list[dict], source: str) -> list[LeanMessage]:
    """`lean --json`-style messages from LSP diagnostics of `source`."""
    lines = source.split("\n")

    def pos(p: dict) -> Pos:
        line = int(p.get("line", 0))
        text = lines[line] if 0 <= line < len(lines) else ""
        return Pos(line + 1, utf16_to_column(text, int(p.get("character", 0))))

    out = []
    for d in diagnostics:
        rng = d.get("range") or {}
        full = d.get("fullRange") or rng
        msg = d.get("message", "")
        if not isinstance(msg, str):  # an interactive message (widgets); not asked for
            msg = json.dumps(msg)
        out.append(LeanMessage(severity=_SEVERITY.get(int(d.get("severity", 1)), "error"), data=msg,
                               pos=pos(rng.get("start") or {}), end_pos=pos(full.get("end") or {})))
    return out


class WarmLean:
    """One warm `lean --worker` (see the module docstring); `run(source)` elaborates a text."""

    def __init__(self, toolchain: LeanToolchain, *, timeout: float = 60.0, memory_mb: int | None = 4096,
                 max_cpu_s: float = 600.0, recycle_fraction: float = 0.5, report_delay_ms: int = 0) -> None:
        self.toolchain = toolchain
        self.timeout = timeout
        self.memory_mb = memory_mb
        self.max_cpu_s = max_cpu_s
        self.recycle_fraction = recycle_fraction
        self.report_delay_ms = report_delay_ms
        self.starts = 0  # worker processes started so far
        self.calls = 0
        self.reports: dict[str, int] = {}  # the last call's diagnostics notifications: "full" / "incremental"
        self._proc: subprocess.Popen | None = None
        self._ps: psutil.Process | None = None
        self._frames: queue.Queue = queue.Queue()
        self._stderr: list[bytes] = [b""]
        self._stop_ctx: Any = None
        self._version = 0
        self._request = 0
        self._uri = ""

    # -- process ------------------------------------------------------------------------------
    def _start(self) -> None:
        folder = scratch_dir() / f"warm-{next(_IDS)}"
        folder.mkdir(parents=True, exist_ok=True)
        self._uri = (folder / "Check.lean").as_uri()
        argv = self.toolchain.argv("--worker", f"-Dserver.reportDelayMs={self.report_delay_ms}", self._uri)
        space = None
        if self.memory_mb is not None:
            space = ChildLimits.for_lean(self.timeout, self.memory_mb).address_space_mb
            if space is not None:  # the worker runs more threads than `lean FILE`, each reserving address space
                space += _EXTRA_WORKER_THREADS * _RESERVED_MB_PER_THREAD
        limits = ChildLimits(int(self.max_cpu_s) + cpu_limit_s(self.timeout), space)
        self._proc = subprocess.Popen(argv, cwd=self.toolchain.cwd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                      stderr=subprocess.PIPE, start_new_session=True,
                                      preexec_fn=child_limits(limits))
        self._stop_ctx = stoppable(self._proc)
        self._stop_ctx.__enter__()
        self._ps = psutil.Process(self._proc.pid)
        self._frames = queue.Queue()
        self._stderr = [b""]
        threading.Thread(target=_read_frames, args=(self._proc.stdout, self._frames), daemon=True,
                         name="warm-lean-out").start()
        threading.Thread(target=_drain, args=(self._proc.stderr, self._stderr), daemon=True,
                         name="warm-lean-err").start()
        self._version = 0
        self.starts += 1
        self._send({"jsonrpc": "2.0", "id": "init", "method": "initialize",
                    "params": {"processId": None, "rootUri": None, "capabilities": _CAPABILITIES,
                               "initializationOptions": {"hasWidgets": False}}})

    def _send(self, obj: dict) -> None:
        body = json.dumps(obj).encode("utf-8")
        assert self._proc is not None and self._proc.stdin is not None
        self._proc.stdin.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
        self._proc.stdin.flush()

    def close(self) -> None:
        """Stop the worker (the next `run` would start a new one)."""
        p = self._proc
        self._proc = None
        if p is None:
            return
        kill_process_group(p)
        try:
            p.wait(timeout=5)
        except subprocess.TimeoutExpired:
            log.warning("warm Lean (pid %d) did not exit after SIGKILL", p.pid)
        for stream in (p.stdin, p.stdout, p.stderr):
            try:
                if stream is not None:
                    stream.close()
            except OSError:
                pass
        if self._stop_ctx is not None:
            self._stop_ctx.__exit__(None, None, None)
            self._stop_ctx = None
        if self._uri:
            try:
                folder = Path(self._uri.removeprefix("file://")).parent
                folder.rmdir()
            except OSError:
                pass

    def _worn(self) -> str | None:
        """Why the worker should be replaced before the next call, or None."""
        if self._proc is None or self._proc.poll() is not None:
            return "not running"
        try:
            cpu = sum(self._ps.cpu_times()[:2]) if self._ps is not None else 0.0
        except psutil.Error:
            return "not running"
        if cpu >= self.max_cpu_s:
            return f"used {cpu:.0f} s of CPU"
        if self.memory_mb is not None and tree_rss_mb(self._proc.pid) > self.recycle_fraction * self.memory_mb:
            return "holds too much memory"
        return None

    def _rss_mb(self) -> float:
        """Resident MiB of the worker.  A bare `lean --worker` starts no processes: reading its own
        status is enough, and much cheaper than walking the process table for descendants every
        poll; under `lake env` the worker is lake's child, and the whole tree is counted."""
        if self._proc is None or self._ps is None:
            return 0.0
        if self.toolchain.project is not None:
            return tree_rss_mb(self._proc.pid)
        try:
            return self._ps.memory_info().rss / (1 << 20)
        except psutil.Error:
            return 0.0

    # -- one call --------------------------------------------------------------------------------
    def run(self, source: str, cancel: threading.Event | None = None) -> LeanRun:
        """Elaborate `source` as the worker's document: its messages as `run_lean` would return them.
        Raises LeanTimeout, LeanMemoryExceeded, LeanCrashed or LeanInterrupted (the worker is killed)."""
        if stopping(cancel):
            raise LeanInterrupted("not started: the run is being interrupted")
        why = self._worn()
        if why is not None:
            if self._proc is not None:
                log.info("replacing the warm Lean worker: %s", why)
            self.close()
            self._start()
        self.calls += 1
        t0 = time.monotonic()
        self._version += 1
        v = self._version
        self._request += 1
        req = f"wait-{self._request}"
        doc = {"uri": self._uri, "version": v}
        try:
            if v == 1:
                self._send({"jsonrpc": "2.0", "method": "textDocument/didOpen",
                            "params": {"textDocument": {**doc, "languageId": "lean4", "text": source}}})
            else:
                self._send({"jsonrpc": "2.0", "method": "textDocument/didChange",
                            "params": {"textDocument": doc, "contentChanges": [{"text": source}]}})
            self._send({"jsonrpc": "2.0", "id": req, "method": "textDocument/waitForDiagnostics", "params": doc})
        except (OSError, ValueError) as e:
            self.close()
            err = self._stderr[0].decode(errors="replace")[-300:]
            raise LeanCrashed(f"the warm Lean worker is gone ({e}): {err}") from None
        diagnostics: list[dict] = []
        self.reports = {"full": 0, "incremental": 0}
        peak = 0.0
        while True:
            try:
                msg = self._frames.get(timeout=_POLL_S)
            except queue.Empty:
                msg = None
            if msg is _EOF:
                if stopping(cancel):
                    self.close()
                    raise LeanInterrupted("interrupted: the warm Lean worker was killed")
                rc = self._proc.wait() if self._proc is not None else None
                err = self._stderr[0].decode(errors="replace").strip()[-500:]
                self.close()
                raise LeanCrashed(f"the warm Lean worker died (exit {rc}): {err}")
            if isinstance(msg, dict):
                if msg.get("method") == "textDocument/publishDiagnostics":
                    params = msg.get("params") or {}
                    if params.get("version") == v:
                        if params.get("isIncremental"):
                            diagnostics += params.get("diagnostics") or []
                            self.reports["incremental"] += 1
                        else:
                            self.reports["full"] += 1
                            diagnostics = list(params.get("diagnostics") or [])
                elif msg.get("id") == req:
                    if "error" in msg:
                        self.close()
                        raise LeanCrashed(f"the warm Lean worker failed a request: {msg['error']}")
                    break
                continue
            if stopping(cancel):
                self.close()
                raise LeanInterrupted("interrupted: the warm Lean worker was killed")
            rss = self._rss_mb()
            peak = max(peak, rss)
            if self.memory_mb is not None and rss > self.memory_mb:
                self.close()
                raise LeanMemoryExceeded(f"lean used {rss:.0f} MiB > cap {self.memory_mb} MiB; killed")
            if time.monotonic() - t0 > self.timeout:
                self.close()
                raise LeanTimeout(f"lean ran past its {self.timeout:g} s limit; killed")
        elapsed = time.monotonic() - t0
        if elapsed > self.timeout:  # answered, but past its deadline: the same timeout as a kill
            self.close()
            raise LeanTimeout(f"lean ran past its {self.timeout:g} s limit ({elapsed:.2f} s)")
        messages = messages_from_diagnostics(diagnostics, source)
        rc = 1 if any(m.severity == "error" for m in messages) else 0
        return LeanRun(rc, messages, "", "", time.monotonic() - t0, peak)
