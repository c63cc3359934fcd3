"""A pool of header-warm REPL processes: check one out, use it, give it back.

    pool = ReplPool(["lake", "env", "repl"], size=4, header="import Mathlib", cwd=workspace)
    with pool.client() as repl:              # blocks until a process is free
        env = repl.header_env                # the header is already elaborated in it
        repl.command("theorem ... := by sorry", env)
    pool.close()

`ReplEnv(..., workers=N)` (or `ReplEnv(pool=pool)`) answers one `apply_batch` with all the pool's
processes; since a proof-state id means something only in the process that made it, such an env
checks out a *particular* process with `checkout(index=i)` (see lean_env/repl_env.py).

Every process elaborates the header when it starts (in parallel at pool creation), so a checked-out
client never pays for it.  When a client comes back it is recycled (killed and restarted, header
re-elaborated) after `max_requests` requests or when its process tree is past `memory_mark_mb`,
and restarted if a fault killed it.  Faults themselves surface in the caller as typed errors.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from lean_env.errors import LeanError, LeanTimeout
from lean_env.repl import DEFAULT_MEMORY_MB, DEFAULT_TIMEOUT_S, ReplClient

log = logging.getLogger(__name__)


@dataclass
class PoolStats:
    checkouts: int = 0
    recycled_requests: int = 0     # recycled because they served max_requests
    recycled_memory: int = 0       # recycled because they were past the memory mark
    restarted_dead: int = 0        # restarted on return because a fault had killed them


class ReplPool:
    def __init__(self, command: Sequence[str], *, size: int = 2, header: str | None = None,
                 cwd: str | Path | None = None, timeout: float = DEFAULT_TIMEOUT_S,
                 memory_mb: int | None = DEFAULT_MEMORY_MB, max_requests: int | None = 10_000,
                 memory_mark_mb: float | None = None, header_timeout: float | None = None,
                 warm: bool = True) -> None:
        if size < 1:
            raise ValueError(f"ReplPool: size must be >= 1, got {size}")
        if max_requests is not None and max_requests < 1:
            raise ValueError(f"ReplPool: max_requests must be >= 1 or None, got {max_requests}")
        self.max_requests = max_requests
        self.memory_mark_mb = memory_mark_mb
        self.stats = PoolStats()
        self._clients = [ReplClient(command, cwd=cwd, timeout=timeout, memory_mb=memory_mb, header=header,
                                    header_timeout=header_timeout) for _ in range(size)]
        self._idle: deque[ReplClient] = deque(self._clients)
        self._cond = threading.Condition()
        self._closed = False
        if warm:
            self._start_all()

    def _start_all(self) -> None:
        with ThreadPoolExecutor(max_workers=len(self._clients)) as ex:
            errors = [f.exception() for f in [ex.submit(c.start) for c in self._clients]]
        bad = [e for e in errors if e is not None]
        if bad:
            self.close()
            raise bad[0]

    @property
    def size(self) -> int:
        return len(self._clients)

    @property
    def clients(self) -> tuple[ReplClient, ...]:
        """Every process of the pool, by index (for `checkout(index=...)`); do not use one unchecked out."""
        return tuple(self._clients)

    def _take(self, index: int | None) -> ReplClient | None:
        if index is None:
            return self._idle.popleft() if self._idle else None
        want = self._clients[index]
        if want in self._idle:
            self._idle.remove(want)
            return want
        return None

    def checkout(self, timeout: float | None = None, index: int | None = None) -> ReplClient:
        """A free, started client (the one at `index` when given: its proof states live in it); waits
        up to `timeout` s (None: forever) and raises LeanTimeout after."""
        if index is not None and not 0 <= index < self.size:
            raise ValueError(f"ReplPool.checkout: index {index} is not in 0..{self.size - 1}")
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while True:
                if self._closed:
                    raise LeanError("ReplPool is closed")
                client = self._take(index)
                if client is not None:
                    break
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    which = f"process {index}" if index is not None else f"process of the pool ({self.size})"
                    raise LeanTimeout(f"no REPL {which} became free within {timeout:g} s")
                self._cond.wait(remaining)
            self.stats.checkouts += 1
        try:
            client.start()
        except BaseException:
            self.checkin(client)
            raise
        return client

    def checkin(self, client: ReplClient) -> None:
        """Give a client back; recycle it first if it is worn out, past the memory mark or dead."""
        if client not in self._clients:
            raise ValueError("ReplPool.checkin: this client does not belong to the pool")
        try:
            if not self._closed:
                self._maybe_recycle(client)
        except LeanError as e:   # the restart failed; the next checkout tries again
            log.warning("restarting a pooled REPL failed: %s", e)
        finally:
            with self._cond:
                self._idle.append(client)
                self._cond.notify_all()  # a waiter may want this very process

    def _maybe_recycle(self, client: ReplClient) -> None:
        if not client.alive:
            self.stats.restarted_dead += 1
            client.restart()
        elif self.max_requests is not None and client.requests >= self.max_requests:
            self.stats.recycled_requests += 1
            client.restart()
        elif self.memory_mark_mb is not None and client.rss_mb() > self.memory_mark_mb:
            self.stats.recycled_memory += 1
            client.restart()

    @contextmanager
    def client(self, timeout: float | None = None) -> Iterator[ReplClient]:
        c = self.checkout(timeout)
        try:
            yield c
        finally:
            self.checkin(c)

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        for c in self._clients:
            c.close()

    def __enter__(self) -> ReplPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
