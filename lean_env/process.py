"""Running one `lean` process on a file, with a wall-clock timeout and a memory cap.

Every Lean process in the project that checks a whole file goes through `run_lean`:
it never hangs (the process group is killed at the deadline) and never grows past
its memory cap (a watchdog reads the resident size of the whole process tree).
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from lean_env.errors import LeanCrashed, LeanMemoryExceeded, LeanTimeout
from lean_env.toolchain import LeanToolchain

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT_S = 60.0
DEFAULT_MEMORY_MB = 4096
_POLL_S = 0.02


@dataclass(frozen=True)
class Pos:
    line: int
    column: int


@dataclass(frozen=True)
class LeanMessage:
    """One message of `lean --json`: severity is 'error', 'warning' or 'information'."""

    severity: str
    data: str
    pos: Pos
    end_pos: Pos | None = None
    kind: str = ""

    @classmethod
    def from_json(cls, obj: dict) -> LeanMessage:
        p = obj.get("pos") or {}
        e = obj.get("endPos")
        return cls(
            severity=str(obj.get("severity", "")),
            data=str(obj.get("data", "")),
            pos=Pos(int(p.get("line", 0)), int(p.get("column", 0))),
            end_pos=Pos(int(e.get("line", 0)), int(e.get("column", 0))) if isinstance(e, dict) else None,
            kind=str(obj.get("kind", "")),
        )

    def to_dict(self) -> dict:
        d = {"severity": self.severity, "data": self.data, "line": self.pos.line, "column": self.pos.column}
        if self.kind:
            d["kind"] = self.kind
        return d


@dataclass
class LeanRun:
    """What one `lean --json FILE` run said."""

    returncode: int
    messages: list[LeanMessage]
    stdout: str
    stderr: str
    seconds: float
    peak_rss_mb: float = 0.0
    unparsed: list[str] = field(default_factory=list)

    @property
    def errors(self) -> list[LeanMessage]:
        return [m for m in self.messages if m.severity == "error"]


def parse_json_messages(stdout: str) -> tuple[list[LeanMessage], list[str]]:
    msgs: list[LeanMessage] = []
    rest: list[str] = []
    for line in stdout.splitlines():
        s = line.strip()
        if not s:
            continue
        try:
            obj = json.loads(s)
        except json.JSONDecodeError:
            rest.append(line)
            continue
        if isinstance(obj, dict) and "severity" in obj:
            msgs.append(LeanMessage.from_json(obj))
        else:
            rest.append(line)
    return msgs, rest


def _tree_rss_mb(proc: psutil.Process) -> float:
    try:
        procs = [proc, *proc.children(recursive=True)]
    except psutil.Error:
        return 0.0
    total = 0
    for p in procs:
        try:
            total += p.memory_info().rss
        except psutil.Error:
            pass
    return total / (1 << 20)


def tree_rss_mb(pid: int) -> float:
    """Resident memory (MiB) of process `pid` and all its descendants; 0.0 once it is gone."""
    try:
        return _tree_rss_mb(psutil.Process(pid))
    except psutil.Error:
        return 0.0


def kill_process_group(p: subprocess.Popen) -> None:
    """SIGKILL the process group `p` leads (started with start_new_session=True) and `p` itself."""
    _kill_group(p)


def _kill_group(p: subprocess.Popen) -> None:
    try:
        os.killpg(p.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    try:
        p.kill()
    except ProcessLookupError:
        pass


def run_process(argv: Sequence[str], *, timeout: float, memory_mb: int | None, cwd: str | Path | None = None,
                stdin_text: str | None = None) -> tuple[int, str, str, float, float]:
    """Run `argv` to completion under a deadline and an RSS cap on its whole process tree.

    Returns (returncode, stdout, stderr, seconds, peak_rss_mb); raises LeanTimeout or
    LeanMemoryExceeded after killing the process group.
    """
    t0 = time.monotonic()
    p = subprocess.Popen(
        list(argv), cwd=cwd, stdin=subprocess.PIPE if stdin_text is not None else subprocess.DEVNULL,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, encoding="utf-8", errors="replace",
        start_new_session=True,
    )
    ps = psutil.Process(p.pid)
    peak = 0.0
    pending_input = stdin_text
    try:
        while True:
            try:
                out, err = p.communicate(input=pending_input, timeout=_POLL_S)
                break
            except subprocess.TimeoutExpired:
                pending_input = None
            elapsed = time.monotonic() - t0
            rss = _tree_rss_mb(ps)
            peak = max(peak, rss)
            if memory_mb is not None and rss > memory_mb:
                _kill_group(p)
                p.communicate()
                raise LeanMemoryExceeded(f"lean used {rss:.0f} MiB > cap {memory_mb} MiB; killed")
            if elapsed > timeout:
                _kill_group(p)
                p.communicate()
                raise LeanTimeout(f"lean ran past its {timeout:g} s limit; killed")
    finally:
        if p.poll() is None:
            _kill_group(p)
            p.wait()
    return p.returncode, out, err, time.monotonic() - t0, peak


def run_lean(toolchain: LeanToolchain, source: str, *, timeout: float = DEFAULT_TIMEOUT_S,
             memory_mb: int | None = DEFAULT_MEMORY_MB, filename: str = "Check.lean",
             extra_args: Sequence[str] = ()) -> LeanRun:
    """Elaborate `source` as one file with `lean --json`; typed errors for timeouts, memory and crashes.

    Exit code 1 (Lean reported errors) is a normal result; a signal or any other code is LeanCrashed.
    """
    with tempfile.TemporaryDirectory(prefix="lean-check-") as tmp:
        path = Path(tmp) / filename
        path.write_text(source, encoding="utf-8")
        argv = toolchain.argv(*extra_args, "--json", str(path))
        rc, out, err, secs, peak = run_process(argv, timeout=timeout, memory_mb=memory_mb, cwd=toolchain.cwd)
    msgs, rest = parse_json_messages(out)
    if rc not in (0, 1):
        how = f"signal {-rc}" if rc < 0 else f"exit code {rc}"
        raise LeanCrashed(f"lean died with {how}: {(err or out).strip()[-500:]}")
    return LeanRun(rc, msgs, out, err, secs, peak, rest)
