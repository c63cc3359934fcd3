"""A client for the Lean REPL (leanprover-community/repl): one persistent process, JSON over stdio.

The protocol (see docs/repl.md and ../shared/data/lean-repl-transcripts):
  request   one JSON object, followed by a blank line, on the REPL's stdin;
  response  one (pretty-printed) JSON object, followed by a blank line, on its stdout.
Requests: `{"cmd", "env"?}` runs commands (no `env` = a fresh environment, the only place
`import` is allowed); `{"tactic", "proofState"}` runs a tactic on a recorded proof state;
`{"pickleTo", "env"|"proofState"}`, `{"unpickleEnvFrom"}`, `{"unpickleProofStateFrom", "env"?}`;
`{"path", "env"?}` runs a file.  A request the REPL refuses gets `{"message": ...}`.

Every request has a deadline; while it waits, the client reads stdout and stderr without
blocking (selectors) and checks the resident size of the process tree every `watch_interval`
seconds.  A hang, a crash, garbage on stdout or a memory cap overrun kills the process group and
raises LeanTimeout / LeanCrashed / LeanProtocolError / LeanMemoryExceeded; the next request
starts a fresh process and re-elaborates the header first (`generation` counts the processes).
"""

from __future__ import annotations

import json
import logging
import os
import selectors
import subprocess
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lean_env.errors import (
    LeanCrashed,
    LeanError,
    LeanMemoryExceeded,
    LeanNotFound,
    LeanProtocolError,
    LeanTimeout,
)
from lean_env.process import (
    ChildLimits,
    address_space_limit_mb,
    child_limits,
    kill_process_group,
    tree_rss_mb,
)

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT_S = 60.0
DEFAULT_MEMORY_MB = 8192
_READ_CHUNK = 1 << 16
_STDERR_KEEP = 8192


class ReplCommandError(LeanError):
    """The REPL answered `{"message": ...}`: it refused the request (unknown env or proof state,
    a tactic that threw, a file it could not read).  The process is fine and keeps its state."""

    def __init__(self, message: str, request: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.request = request


# ----------------------------------------------------------------------------- typed responses

@dataclass(frozen=True)
class ReplPos:
    line: int
    column: int

    @classmethod
    def parse(cls, obj: Any) -> ReplPos | None:
        if not isinstance(obj, dict):
            return None
        return cls(int(obj.get("line", 0)), int(obj.get("column", 0)))


@dataclass(frozen=True)
class ReplMessage:
    """One Lean message: severity is 'error', 'warning' or 'info'."""

    severity: str
    data: str
    pos: ReplPos | None = None
    end_pos: ReplPos | None = None

    @classmethod
    def parse(cls, obj: Any) -> ReplMessage:
        if not isinstance(obj, dict):
            raise LeanProtocolError(f"REPL message is not an object: {obj!r}"[:300])
        return cls(str(obj.get("severity", "")), str(obj.get("data", "")),
                   ReplPos.parse(obj.get("pos")), ReplPos.parse(obj.get("endPos")))

    def __str__(self) -> str:
        where = f"{self.pos.line}:{self.pos.column}: " if self.pos else ""
        return f"{where}{self.severity}: {self.data}"


@dataclass(frozen=True)
class ReplSorry:
    """A `sorry` Lean met: its goal text and the proof state recorded there (if any)."""

    goal: str
    proof_state: int | None = None
    pos: ReplPos | None = None
    end_pos: ReplPos | None = None

    @classmethod
    def parse(cls, obj: Any) -> ReplSorry:
        if not isinstance(obj, dict):
            raise LeanProtocolError(f"REPL sorry is not an object: {obj!r}"[:300])
        ps = obj.get("proofState")
        return cls(str(obj.get("goal", "")), int(ps) if isinstance(ps, int) else None,
                   ReplPos.parse(obj.get("pos")), ReplPos.parse(obj.get("endPos")))


def _parse_list(raw: dict[str, Any], key: str, parse: Any) -> list[Any]:
    val = raw.get(key, [])
    if not isinstance(val, list):
        raise LeanProtocolError(f"REPL field {key!r} is not a list: {val!r}"[:300])
    return [parse(v) for v in val]


@dataclass(frozen=True)
class CommandResult:
    """The answer to `cmd`, `path`, `unpickleEnvFrom` or an env `pickleTo`."""

    env: int
    messages: list[ReplMessage] = field(default_factory=list)
    sorries: list[ReplSorry] = field(default_factory=list)
    tactics: list[dict[str, Any]] = field(default_factory=list)
    infotree: Any = None
    raw: dict[str, Any] = field(default_factory=dict, repr=False)

    @classmethod
    def parse(cls, raw: dict[str, Any]) -> CommandResult:
        env = raw.get("env")
        if not isinstance(env, int):
            raise LeanProtocolError(f"REPL command response has no integer 'env': {raw!r}"[:300])
        return cls(env, _parse_list(raw, "messages", ReplMessage.parse), _parse_list(raw, "sorries", ReplSorry.parse),
                   list(raw.get("tactics", []) or []), raw.get("infotree"), raw)

    @property
    def errors(self) -> list[ReplMessage]:
        return [m for m in self.messages if m.severity == "error"]


@dataclass(frozen=True)
class TacticResult:
    """The answer to `tactic` (and to proof-state pickling): a new proof state and its goals."""

    proof_state: int
    goals: list[str]
    messages: list[ReplMessage] = field(default_factory=list)
    sorries: list[ReplSorry] = field(default_factory=list)
    traces: list[str] = field(default_factory=list)
    proof_status: str | None = None
    raw: dict[str, Any] = field(default_factory=dict, repr=False)

    @classmethod
    def parse(cls, raw: dict[str, Any]) -> TacticResult:
        ps, goals = raw.get("proofState"), raw.get("goals")
        if not isinstance(ps, int) or not isinstance(goals, list) or not all(isinstance(g, str) for g in goals):
            raise LeanProtocolError(f"REPL tactic response needs 'proofState' and 'goals': {raw!r}"[:300])
        status = raw.get("proofStatus")
        return cls(ps, list(goals), _parse_list(raw, "messages", ReplMessage.parse),
                   _parse_list(raw, "sorries", ReplSorry.parse), [str(t) for t in raw.get("traces", []) or []],
                   str(status) if status is not None else None, raw)

    @property
    def errors(self) -> list[ReplMessage]:
        return [m for m in self.messages if m.severity == "error"]

    @property
    def complete(self) -> bool:
        """No goals left and Lean's own status check (when the REPL reports one) says Completed."""
        return not self.goals and (self.proof_status is None or self.proof_status == "Completed")


def parse_response(request: dict[str, Any], raw: dict[str, Any]) -> CommandResult | TacticResult:
    """Type a raw response by the kind of request that produced it; `{"message"}` raises ReplCommandError."""
    if "message" in raw and "env" not in raw and "proofState" not in raw:
        raise ReplCommandError(str(raw["message"]), request)
    if "tactic" in request or "unpickleProofStateFrom" in request or (
            "pickleTo" in request and "proofState" in request):
        return TacticResult.parse(raw)
    return CommandResult.parse(raw)


# ----------------------------------------------------------------------------- the client

@dataclass
class _Proc:
    popen: subprocess.Popen
    sel: selectors.BaseSelector
    out_buf: bytearray = field(default_factory=bytearray)
    err_tail: bytearray = field(default_factory=bytearray)
    last_rss_check: float = 0.0
    peak_rss_mb: float = 0.0


class ReplClient:
    """One REPL process, started lazily, restarted after any fault with the header re-elaborated.

    `command` is the REPL's command line (`lake env repl` in a Mathlib workspace, or
    `python -m doubles.repl_double --world W.json` here).  `header` (e.g. `import Mathlib`) is
    elaborated once per process; `header_env` is its environment id for later commands.
    """

    def __init__(self, command: Sequence[str], *, cwd: str | Path | None = None, timeout: float = DEFAULT_TIMEOUT_S,
                 memory_mb: int | None = DEFAULT_MEMORY_MB, header: str | None = None,
                 header_timeout: float | None = None, watch_interval: float = 0.1,
                 env: dict[str, str] | None = None) -> None:
        if not command:
            raise ValueError("ReplClient: the REPL command line is empty")
        self.argv = [str(c) for c in command]
        self.cwd = str(cwd) if cwd is not None else None
        self.timeout = float(timeout)
        self.memory_mb = memory_mb
        self.header = header
        self.header_timeout = header_timeout
        self.watch_interval = watch_interval
        self.env_vars = env
        self.generation = 0            # how many processes were started
        self.requests = 0              # requests answered by the current process
        self.total_requests = 0
        self.faults = 0
        self.header_env: int | None = None
        self._header_envs: dict[str, int] = {}
        self._proc: _Proc | None = None
        self._lock = threading.RLock()

    # -- lifecycle
    @property
    def alive(self) -> bool:
        return self._proc is not None and self._proc.popen.poll() is None

    @property
    def pid(self) -> int | None:
        return self._proc.popen.pid if self._proc is not None else None

    def start(self) -> ReplClient:
        """Start the process (if not running) and elaborate the header.  Returns self."""
        with self._lock:
            if not self.alive:
                self._spawn()
            return self

    def restart(self) -> None:
        with self._lock:
            self._kill()
            self._spawn()

    def close(self) -> None:
        with self._lock:
            if self._proc is None:
                return
            p = self._proc
            self._proc = None
            try:
                if p.popen.stdin is not None:
                    p.popen.stdin.close()       # EOF: the REPL's loop ends
                p.popen.wait(timeout=1.0)
            except (OSError, subprocess.TimeoutExpired):
                pass
            kill_process_group(p.popen)
            p.popen.wait()
            self._close_pipes(p)

    def __enter__(self) -> ReplClient:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:  # a forgotten client must not leave a process behind
        try:
            if self._proc is not None:
                kill_process_group(self._proc.popen)
        except Exception:
            pass

    def rss_mb(self) -> float:
        """Resident size of the REPL's process tree now (MiB); 0 when not running."""
        return tree_rss_mb(self._proc.popen.pid) if self._proc is not None else 0.0

    def child_limits(self) -> ChildLimits:
        """The kernel limits of the REPL process: its address space (`memory_mb` plus Lean's
        per-thread reserve, as for `lean` itself: lean_env.process).  No CPU-seconds limit: the
        process lives across many requests, each bounded by its own timeout.  Started from the
        main thread it also gets the parent-death signal; started from another thread it does
        not (see `child_limits`), and relies on the REPL ending at EOF on its stdin when the
        parent dies."""
        space = address_space_limit_mb(self.memory_mb) if self.memory_mb is not None else 0
        return ChildLimits(cpu_s=None, address_space_mb=space or None)

    def _spawn(self) -> None:
        try:
            popen = subprocess.Popen(
                self.argv, cwd=self.cwd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                bufsize=0, start_new_session=True,
                env={**os.environ, **self.env_vars} if self.env_vars else None,
                # the parent-death signal only from the main thread: the kernel sends it when the
                # starting thread ends, and a pool's worker threads end before their REPLs
                preexec_fn=child_limits(self.child_limits(),
                                        death_signal=threading.current_thread() is threading.main_thread()),
            )
        except OSError as e:
            raise LeanNotFound(f"cannot start the REPL `{' '.join(self.argv)}`: {e}") from None
        for f in (popen.stdin, popen.stdout, popen.stderr):
            assert f is not None
            os.set_blocking(f.fileno(), False)
        sel = selectors.DefaultSelector()
        sel.register(popen.stdout, selectors.EVENT_READ, "out")   # type: ignore[arg-type]
        sel.register(popen.stderr, selectors.EVENT_READ, "err")   # type: ignore[arg-type]
        self._proc = _Proc(popen, sel)
        self.generation += 1
        self.requests = 0
        self.header_env = None
        self._header_envs = {}
        log.debug("started REPL pid %s (generation %d): %s", popen.pid, self.generation, " ".join(self.argv))
        if self.header is not None:
            self.header_env = self.env_for_header(self.header)

    def _kill(self) -> None:
        p, self._proc = self._proc, None
        if p is None:
            return
        kill_process_group(p.popen)
        try:
            p.popen.wait(timeout=5.0)
        except subprocess.TimeoutExpired:
            log.warning("REPL pid %s did not die after SIGKILL", p.popen.pid)
        self._close_pipes(p)

    @staticmethod
    def _close_pipes(p: _Proc) -> None:
        p.sel.close()
        for f in (p.popen.stdin, p.popen.stdout, p.popen.stderr):
            try:
                if f is not None:
                    f.close()
            except OSError:
                pass

    # -- headers
    def env_for_header(self, header: str, timeout: float | None = None) -> int:
        """The env id where `header` is elaborated in this process (elaborated on first use)."""
        with self._lock:
            if not self.alive:
                self._spawn()
            if header in self._header_envs:
                return self._header_envs[header]
            res = self.command_raw(header, None, timeout=timeout or self.header_timeout or self.timeout)
            if res.errors:
                raise ReplCommandError("the header does not elaborate: " + "; ".join(str(m) for m in res.errors)[:2000])
            self._header_envs[header] = res.env
            return res.env

    # -- requests
    def request(self, obj: dict[str, Any], timeout: float | None = None) -> dict[str, Any]:
        """Send one raw request and return the raw response object.  Faults raise typed errors
        after the process is killed; the next request starts a fresh one."""
        if not isinstance(obj, dict):
            raise ValueError(f"REPL request must be a JSON object, got {type(obj).__name__}")
        data = (json.dumps(obj, ensure_ascii=False) + "\n\n").encode("utf-8")
        with self._lock:
            if not self.alive:
                if self._proc is not None:       # died while idle
                    self._kill()
                self._spawn()
            assert self._proc is not None
            deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
            try:
                self._write(self._proc, data, deadline)
                raw = self._read_response(self._proc, deadline)
            except LeanError:
                self.faults += 1
                self._kill()
                raise
            self.requests += 1
            self.total_requests += 1
            return raw

    def send(self, obj: dict[str, Any], timeout: float | None = None) -> CommandResult | TacticResult:
        """`request` plus typing of the response (ReplCommandError for `{"message"}`)."""
        return parse_response(obj, self.request(obj, timeout))

    def command_raw(self, cmd: str, env: int | None = None, *, timeout: float | None = None,
                    all_tactics: bool = False, root_goals: bool = False,
                    infotree: str | None = None) -> CommandResult:
        req: dict[str, Any] = {"cmd": cmd}
        if env is not None:
            req["env"] = env
        if all_tactics:
            req["allTactics"] = True
        if root_goals:
            req["rootGoals"] = True
        if infotree is not None:
            req["infotree"] = infotree
        res = self.send(req, timeout)
        assert isinstance(res, CommandResult)
        return res

    def command(self, cmd: str, env: int | None = None, **kw: Any) -> CommandResult:
        """Run Lean commands, in environment `env` (None: a fresh one, where `import` is allowed)."""
        return self.command_raw(cmd, env, **kw)

    def run_file(self, path: str | Path, env: int | None = None, *, all_tactics: bool = False,
                 timeout: float | None = None) -> CommandResult:
        req: dict[str, Any] = {"path": str(path)}
        if env is not None:
            req["env"] = env
        if all_tactics:
            req["allTactics"] = True
        res = self.send(req, timeout)
        assert isinstance(res, CommandResult)
        return res

    def run_tactic(self, tactic: str, proof_state: int, timeout: float | None = None) -> TacticResult:
        """Run `tactic` on recorded proof state `proof_state`; the answer is a new proof state."""
        res = self.send({"tactic": tactic, "proofState": proof_state}, timeout)
        assert isinstance(res, TacticResult)
        return res

    def pickle_env(self, env: int, path: str | Path, timeout: float | None = None) -> int:
        res = self.send({"pickleTo": str(path), "env": env}, timeout)
        assert isinstance(res, CommandResult)
        return res.env

    def unpickle_env(self, path: str | Path, timeout: float | None = None) -> int:
        res = self.send({"unpickleEnvFrom": str(path)}, timeout)
        assert isinstance(res, CommandResult)
        return res.env

    def pickle_proof_state(self, proof_state: int, path: str | Path, timeout: float | None = None) -> TacticResult:
        res = self.send({"pickleTo": str(path), "proofState": proof_state}, timeout)
        assert isinstance(res, TacticResult)
        return res

    def unpickle_proof_state(self, path: str | Path, env: int | None = None,
                             timeout: float | None = None) -> TacticResult:
        req: dict[str, Any] = {"unpickleProofStateFrom": str(path)}
        if env is not None:
            req["env"] = env
        res = self.send(req, timeout)
        assert isinstance(res, TacticResult)
        return res

    # -- I/O with deadlines
    def _watch(self, p: _Proc, now: float) -> None:
        """The memory watchdog: called at most every `watch_interval` s while a request waits."""
        if self.memory_mb is None or now - p.last_rss_check < self.watch_interval:
            return
        p.last_rss_check = now
        rss = tree_rss_mb(p.popen.pid)
        p.peak_rss_mb = max(p.peak_rss_mb, rss)
        if rss > self.memory_mb:
            raise LeanMemoryExceeded(f"REPL pid {p.popen.pid} used {rss:.0f} MiB > cap {self.memory_mb} MiB; killed")

    def _timeout_error(self, p: _Proc, what: str) -> LeanTimeout:
        return LeanTimeout(f"REPL pid {p.popen.pid} gave no {what} before the deadline; killed")

    def _crash_error(self, p: _Proc) -> LeanCrashed:
        try:
            rc = p.popen.wait(timeout=1.0)
        except subprocess.TimeoutExpired:
            rc = None
        how = "closed its stdout" if rc is None else (f"died with signal {-rc}" if rc < 0 else f"exited with code {rc}")
        for _ in range(64):  # what it wrote to stderr before dying may still sit in the pipe
            before = len(p.err_tail)
            self._drain_stderr(p)
            if len(p.err_tail) == before:
                break
        err = p.err_tail.decode("utf-8", "replace").strip()[-500:]
        return LeanCrashed(f"REPL pid {p.popen.pid} {how}" + (f": {err}" if err else ""))

    def _drain_stderr(self, p: _Proc) -> None:
        assert p.popen.stderr is not None
        try:
            chunk = os.read(p.popen.stderr.fileno(), _READ_CHUNK)
        except BlockingIOError:
            return
        except OSError:
            chunk = b""
        if not chunk:
            try:
                p.sel.unregister(p.popen.stderr)
            except (KeyError, ValueError):
                pass
            return
        p.err_tail += chunk
        del p.err_tail[:-_STDERR_KEEP]

    def _write(self, p: _Proc, data: bytes, deadline: float) -> None:
        assert p.popen.stdin is not None
        fd = p.popen.stdin.fileno()
        view = memoryview(data)
        with selectors.DefaultSelector() as wsel:
            wsel.register(fd, selectors.EVENT_WRITE)
            while view:
                now = time.monotonic()
                if now >= deadline:
                    raise self._timeout_error(p, "room for the request")
                self._watch(p, now)
                if not wsel.select(min(deadline - now, self.watch_interval)):
                    continue
                try:
                    n = os.write(fd, view)
                except BlockingIOError:
                    continue
                except (BrokenPipeError, ConnectionResetError):
                    raise self._crash_error(p) from None
                view = view[n:]

    def _read_response(self, p: _Proc, deadline: float) -> dict[str, Any]:
        while True:
            raw = self._take_response(p)
            if raw is not None:
                return raw
            now = time.monotonic()
            if now >= deadline:
                raise self._timeout_error(p, "response")
            self._watch(p, now)
            for key, _ in p.sel.select(min(deadline - now, self.watch_interval)):
                if key.data == "err":
                    self._drain_stderr(p)
                    continue
                try:
                    chunk = os.read(key.fd, _READ_CHUNK)
                except BlockingIOError:
                    continue
                if not chunk:
                    if self._take_response(p) is None:
                        if self.memory_mb is not None and p.peak_rss_mb > self.memory_mb:
                            raise LeanMemoryExceeded(f"REPL pid {p.popen.pid} died over its memory cap")
                        raise self._crash_error(p)
                p.out_buf += chunk

    @staticmethod
    def _take_response(p: _Proc) -> dict[str, Any] | None:
        """Cut one complete response (JSON text up to a blank line) off the stdout buffer."""
        buf = p.out_buf
        start = 0
        while start < len(buf) and buf[start] in b" \t\r\n":
            start += 1
        if start == len(buf):
            return None
        if buf[start] != ord("{"):
            line = bytes(buf[start:start + 200]).decode("utf-8", "replace")
            raise LeanProtocolError(f"REPL pid {p.popen.pid} wrote something that is not a JSON response: {line!r}")
        end = buf.find(b"\n\n", start)
        if end < 0:
            return None
        text = bytes(buf[start:end]).decode("utf-8", "replace")
        del buf[:end + 2]
        try:
            obj = json.loads(text, strict=False)
        except json.JSONDecodeError as e:
            raise LeanProtocolError(f"REPL pid {p.popen.pid} wrote invalid JSON ({e.msg}): {text[:200]!r}") from None
        if not isinstance(obj, dict):
            raise LeanProtocolError(f"REPL pid {p.popen.pid} answered with a non-object: {text[:200]!r}")
        return obj
