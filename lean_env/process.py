"""Running one `lean` process on a file under limits that hold even when this Python process is gone.

Every Lean process in the project that checks a whole file goes through `run_lean`:

* the watchdog here kills the process group at the wall-clock deadline and once the resident size
  of the whole tree passes `memory_mb` (exact, while this process lives);
* the kernel holds the child to limits of its own, set between fork and exec (`child_limits`):
  PR_SET_PDEATHSIG (SIGKILL as soon as the thread that started it dies, so a SIGKILLed parent
  takes its Lean along), RLIMIT_CPU (`cpu_limit_s(timeout)` seconds of CPU, then SIGXCPU and
  SIGKILL) and RLIMIT_AS (`address_space_limit_mb(memory_mb)`: the cap plus the address space
  Lean reserves at start without using it);
* a `cancel` event, or `stop_all()` (what Ctrl-C and SIGTERM do under `interrupts_stop_lean`),
  kills it within one poll (20 ms) and raises LeanInterrupted;
* the file lives in this process's scratch folder (`scratch_dir()`), removed when the process
  exits (or the CLI command ends); the folder of a process that died without cleaning up
  (SIGKILL) is removed by the next process that makes one, and by every `prover` command at start.
"""

from __future__ import annotations

import atexit
import ctypes
import json
import logging
import math
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from lean_env.errors import LeanCrashed, LeanInterrupted, LeanMemoryExceeded, LeanTimeout
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


# --------------------------------------------------------------------------- limits in the child

_PR_SET_PDEATHSIG = 1
# Lean 4 reserves about 1.1 GiB of address space per thread of its task manager (one per CPU) and
# a few of its own, and touches little of it: 6.5 GiB of address space at 110 MiB resident for the
# embedded Lean 4.35 on 2 CPUs.  RLIMIT_AS below the reservation stops Lean from starting.
_RESERVED_MB_PER_THREAD = 1152
_EXTRA_THREADS = 6
AS_LIMIT_ENV = "PROVER_LEAN_AS_MB"  # an explicit address-space limit in MiB; 0: none


def _load_prctl() -> Callable[..., int] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        fn = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    fn.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
    fn.restype = ctypes.c_int
    return fn


_PRCTL = _load_prctl()


def _cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def cpu_limit_s(timeout: float) -> int:
    """RLIMIT_CPU of a Lean child: twice its wall-clock timeout plus 5 s of CPU time (Lean may
    elaborate on several threads, so CPU time can run ahead of the clock)."""
    return int(math.ceil(2 * timeout)) + 5


def address_space_limit_mb(memory_mb: int) -> int:
    """RLIMIT_AS of a Lean child (MiB): the memory cap plus the address space Lean reserves without
    using it (see `_RESERVED_MB_PER_THREAD`).  `PROVER_LEAN_AS_MB` overrides it; 0 means no limit."""
    override = os.environ.get(AS_LIMIT_ENV, "").strip()
    if override:
        try:
            value = int(override)
        except ValueError:
            raise ValueError(f"{AS_LIMIT_ENV}={override!r}: expected a whole number of MiB (0: no limit)") from None
        if value < 0:
            raise ValueError(f"{AS_LIMIT_ENV}={override!r}: must be >= 0")
        return value
    return memory_mb + _RESERVED_MB_PER_THREAD * (_cpus() + _EXTRA_THREADS)


@dataclass(frozen=True)
class ChildLimits:
    """Kernel limits set in a child before it runs: CPU seconds (RLIMIT_CPU) and address space
    (RLIMIT_AS, MiB); None: not limited.  Every child also gets PR_SET_PDEATHSIG(SIGKILL)."""

    cpu_s: int | None = None
    address_space_mb: int | None = None

    @classmethod
    def for_lean(cls, timeout: float, memory_mb: int | None) -> ChildLimits:
        space = address_space_limit_mb(memory_mb) if memory_mb is not None else 0
        return cls(cpu_limit_s(timeout), space or None)


def _clamp(resource_id: int, soft: int, hard: int) -> tuple[int, int]:
    """(soft, hard) no higher than the hard limit this process already has (it cannot be raised)."""
    _, have = resource.getrlimit(resource_id)
    if have != resource.RLIM_INFINITY:
        soft, hard = min(soft, have), min(hard, have)
    return soft, hard


def child_limits(limits: ChildLimits | None, death_signal: bool = True) -> Callable[[], None]:
    """The `preexec_fn` that applies `limits` and (with `death_signal`) the parent-death signal in
    the child.  The kernel sends that signal when the *thread* that started the child ends, so a
    child that outlives the thread starting it (a REPL started by a pool's worker thread) must
    not ask for it.

    Everything is computed here, in the parent: the function itself runs between fork and exec,
    where it must not import, log or take locks.
    """
    parent = os.getpid()
    prctl = _PRCTL if death_signal else None
    cpu = as_space = None
    if limits is not None and limits.cpu_s is not None:
        cpu = _clamp(resource.RLIMIT_CPU, limits.cpu_s, limits.cpu_s + 2)
    if limits is not None and limits.address_space_mb is not None:
        n = limits.address_space_mb << 20
        as_space = _clamp(resource.RLIMIT_AS, n, n)
    rlimit_cpu, rlimit_as, setrlimit = resource.RLIMIT_CPU, resource.RLIMIT_AS, resource.setrlimit
    sigkill, deathsig = int(signal.SIGKILL), _PR_SET_PDEATHSIG

    def setup() -> None:
        if prctl is not None:
            prctl(deathsig, sigkill, 0, 0, 0)
            if os.getppid() != parent:  # the parent died before the signal was armed
                os._exit(137)
        if cpu is not None:
            setrlimit(rlimit_cpu, cpu)
        if as_space is not None:
            setrlimit(rlimit_as, as_space)

    return setup


# --------------------------------------------------------------------------- stopping everything

_LIVE: set[subprocess.Popen] = set()
_LIVE_LOCK = threading.Lock()
_STOPPING = threading.Event()


def stop_all() -> int:
    """Kill every process `run_process` is waiting on, in every thread, and make new ones raise
    LeanInterrupted until `resume_all()`.  Returns how many were killed."""
    _STOPPING.set()
    with _LIVE_LOCK:
        live = list(_LIVE)
    for p in live:
        _kill_group(p)
    return len(live)


def resume_all() -> None:
    _STOPPING.clear()


@contextmanager
def interrupts_stop_lean(signals: Sequence[signal.Signals] = (signal.SIGINT, signal.SIGTERM)) -> Iterator[None]:
    """Within the block, SIGINT and SIGTERM kill every running Lean process at once (`stop_all`) and
    raise LeanInterrupted (a KeyboardInterrupt carrying the signal number) in the main thread, so
    that cleanup runs and finished results stay written.  Outside the main thread it does nothing."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    interrupted: list[int] = []

    def handler(signum: int, frame: object) -> None:
        interrupted.append(signum)
        stop_all()
        raise LeanInterrupted(f"interrupted by {signal.Signals(signum).name}", signum)

    resume_all()
    if scratch_root().is_dir():  # the folders of commands killed earlier go now, Lean or not
        sweep_scratch()
    old = {s: signal.signal(s, handler) for s in signals}
    try:
        yield
    finally:
        release_scratch()  # while the handlers still stand: a SIGTERM now cannot leave the folder behind
        for s, h in old.items():
            signal.signal(s, h)
        if not interrupted:  # after an interrupt nothing may start Lean again (threads still unwinding)
            resume_all()


def _stopped(cancel: threading.Event | None) -> bool:
    return _STOPPING.is_set() or (cancel is not None and cancel.is_set())


@contextmanager
def stoppable(p: subprocess.Popen) -> Iterator[None]:
    """Within the block, `stop_all()` kills `p` too (a long-lived Lean process not started by
    `run_process`, e.g. lean_env/lean_server.py's warm worker)."""
    with _LIVE_LOCK:
        _LIVE.add(p)
    try:
        yield
    finally:
        with _LIVE_LOCK:
            _LIVE.discard(p)


def stopping(cancel: threading.Event | None = None) -> bool:
    """Whether Lean work must stop now: `stop_all()` was called, or `cancel` is set."""
    return _stopped(cancel)


# --------------------------------------------------------------------------- scratch folders

_SCRATCH_LOCK = threading.Lock()
_scratch: tuple[int, Path] | None = None


def scratch_root() -> Path:
    """Where every process's scratch folder lives: `$TMPDIR/lean-star-prover-UID`."""
    return Path(tempfile.gettempdir()) / f"lean-star-prover-{os.getuid()}"


def _process_tag(pid: int) -> str:
    """`PID-STARTTIME`: names a process so that a later process with the same pid is another name."""
    try:
        return f"{pid}-{int(psutil.Process(pid).create_time() * 100)}"
    except psutil.Error:
        return f"{pid}-gone"


def sweep_scratch(root: Path | None = None) -> list[Path]:
    """Remove the scratch folders of processes that no longer run (killed before they could clean
    up); the folders of live processes are left alone.  Returns what was removed."""
    root = root or scratch_root()
    removed = []
    try:
        entries = list(root.iterdir())
    except OSError:
        return removed
    for d in entries:
        pid, sep, _ = d.name.partition("-")
        if not sep or not pid.isdigit() or _process_tag(int(pid)) == d.name:
            continue
        shutil.rmtree(d, ignore_errors=True)
        removed.append(d)
    if removed:
        log.info("removed %d scratch folder(s) of dead runs under %s", len(removed), root)
    return removed


def release_scratch() -> None:
    """Remove this process's scratch folder now (a later `scratch_dir()` makes a new one)."""
    global _scratch
    with _SCRATCH_LOCK:
        if _scratch is not None and _scratch[0] == os.getpid():
            shutil.rmtree(_scratch[1], ignore_errors=True)
        _scratch = None


def scratch_dir() -> Path:
    """This process's scratch folder (made on first use, after sweeping those of dead processes;
    removed when this process exits normally)."""
    global _scratch
    pid = os.getpid()
    with _SCRATCH_LOCK:
        if _scratch is not None and _scratch[0] == pid and _scratch[1].is_dir():
            return _scratch[1]
        root = scratch_root()
        root.mkdir(mode=0o700, parents=True, exist_ok=True)
        sweep_scratch(root)
        d = root / _process_tag(pid)
        d.mkdir(mode=0o700, exist_ok=True)
        if _scratch is None or _scratch[0] != pid:
            atexit.register(shutil.rmtree, d, True)
        _scratch = (pid, d)
        return d


# --------------------------------------------------------------------------- running


def run_process(argv: Sequence[str], *, timeout: float, memory_mb: int | None, cwd: str | Path | None = None,
                stdin_text: str | None = None, limits: ChildLimits | None = None,
                cancel: threading.Event | None = None) -> tuple[int, str, str, float, float]:
    """Run `argv` to completion under a deadline and an RSS cap on its whole process tree.

    The child dies with the thread that started it (PR_SET_PDEATHSIG) and carries `limits`.
    Returns (returncode, stdout, stderr, seconds, peak_rss_mb); raises LeanTimeout or
    LeanMemoryExceeded after killing the process group, LeanInterrupted when `cancel` is set or
    `stop_all()` was called.
    """
    if _stopped(cancel):
        raise LeanInterrupted("not started: the run is being interrupted")
    t0 = time.monotonic()
    p = subprocess.Popen(
        list(argv), cwd=cwd, stdin=subprocess.PIPE if stdin_text is not None else subprocess.DEVNULL,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, encoding="utf-8", errors="replace",
        start_new_session=True, preexec_fn=child_limits(limits),
    )
    with _LIVE_LOCK:
        _LIVE.add(p)
    peak = 0.0
    pending_input = stdin_text
    try:
        ps = psutil.Process(p.pid)
        while True:
            try:
                out, err = p.communicate(input=pending_input, timeout=_POLL_S)
                elapsed = time.monotonic() - t0
                if elapsed > timeout:  # it finished, but past its deadline: the same timeout as a kill
                    raise LeanTimeout(f"lean ran past its {timeout:g} s limit ({elapsed:.2f} s)")
                break
            except subprocess.TimeoutExpired:
                pending_input = None
            if _stopped(cancel):
                _kill_group(p)
                p.communicate()
                raise LeanInterrupted("interrupted: lean was killed")
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
        with _LIVE_LOCK:
            _LIVE.discard(p)
    return p.returncode, out, err, time.monotonic() - t0, peak


_OUT_OF_MEMORY = ("out of memory", "failed to create thread", "bad_alloc", "Cannot allocate memory")


def run_lean(toolchain: LeanToolchain, source: str, *, timeout: float = DEFAULT_TIMEOUT_S,
             memory_mb: int | None = DEFAULT_MEMORY_MB, filename: str = "Check.lean",
             extra_args: Sequence[str] = (), cancel: threading.Event | None = None) -> LeanRun:
    """Elaborate `source` as one file with `lean --json`; typed errors for timeouts, memory and crashes.

    Exit code 1 (Lean reported errors) is a normal result; a signal or any other code is LeanCrashed,
    except the kernel's limits: SIGXCPU is LeanTimeout, a failed allocation LeanMemoryExceeded.
    """
    if _stopped(cancel):
        raise LeanInterrupted("not started: the run is being interrupted")
    limits = ChildLimits.for_lean(timeout, memory_mb)
    with tempfile.TemporaryDirectory(prefix="lean-check-", dir=scratch_dir()) as tmp:
        path = Path(tmp) / filename
        path.write_text(source, encoding="utf-8")
        argv = toolchain.argv(*extra_args, "--json", str(path))
        rc, out, err, secs, peak = run_process(argv, timeout=timeout, memory_mb=memory_mb, cwd=toolchain.cwd,
                                               limits=limits, cancel=cancel)
    msgs, rest = parse_json_messages(out)
    if rc == -signal.SIGXCPU:
        raise LeanTimeout(f"lean used up its {limits.cpu_s} s CPU-time limit; stopped by the kernel")
    out_of_memory = any(w in err for w in _OUT_OF_MEMORY)
    if out_of_memory and (rc not in (0, 1) or not msgs):
        raise LeanMemoryExceeded(f"lean could not allocate memory under its {limits.address_space_mb} MiB "
                                 f"address-space limit: {err.strip()[-300:]}")
    if rc not in (0, 1):
        how = f"signal {-rc}" if rc < 0 else f"exit code {rc}"
        raise LeanCrashed(f"lean died with {how}: {(err or out).strip()[-500:]}")
    return LeanRun(rc, msgs, out, err, secs, peak, rest)
