"""Search over many theorems: in this process (workers=1) or spread over Ray actors (workers>1).

    rows = search_many(jobs, env_factory, policy_factory, "best_first", budget, workers=4, out=path)

Each job is one (theorem, attempt, seed).  Each worker builds its own env (and, by default, its
own policy) from picklable factories.  With `generation="actor"` one generation actor holds the
model and batches the `propose` calls of every worker (the GPU setup); the workers then talk to
it through `ActorPolicy`.  A worker that dies (its process killed, or its Lean env raising a
`LeanError`) is replaced and its job runs again elsewhere, up to `max_retries` times.

Rows come back as jobs finish and are appended to `out` at once; jobs whose (name, attempt) is
already in `out` are skipped, so a killed run resumes where it stopped.  Every job is seeded by
its own seed before it runs, never by worker order, so the rows equal those of the sequential
run (for a policy whose output does not depend on how requests were batched).
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import sys
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tqdm import tqdm

from core.jsonl import append_jsonl, done_keys
from core.types import Candidate, Policy, ProofEnv, State, Theorem
from lean_env.errors import LeanError

if TYPE_CHECKING:
    from search.budget import Budget

log = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parent.parent
GENERATION_MODES = ("worker", "actor")


@dataclass(frozen=True)
class SearchJob:
    """One search to run: the theorem, which attempt this is (pass@k), and its own seed."""

    theorem: Theorem
    attempt: int = 0
    seed: int = 0

    @property
    def key(self) -> tuple[str, int]:
        return (self.theorem.name, self.attempt)


# (job, env, policy, strategy, budget, config) -> result row
JobFn = Callable[[SearchJob, ProofEnv, Policy, str, "Budget", dict], dict]


def seed_everything(seed: int, policy: object | None = None) -> None:
    """Seed every RNG a job may draw from, so a job's result depends on its seed alone."""
    random.seed(seed)
    if "numpy" in sys.modules:
        sys.modules["numpy"].random.seed(seed % 2**32)
    if "torch" in sys.modules:
        sys.modules["torch"].manual_seed(seed)
    reseed = getattr(policy, "reseed", None)
    if callable(reseed):
        reseed(seed)


def run_search_job(
    job: SearchJob, env: ProofEnv, policy: Policy, strategy: str, budget: Budget, config: dict
) -> dict:
    """Run one strategy on one theorem; the result row (its `states` give the state text before each
    proof step, so training examples need no second pass)."""
    from search.strategies import run_strategy

    seed_everything(job.seed, policy)
    result = run_strategy(strategy, job.theorem, env, policy, budget, seed=job.seed, attempt=job.attempt,
                          config=config)
    row = result.to_row()
    row["name"], row["attempt"], row["seed"] = job.theorem.name, job.attempt, job.seed
    return row


# --------------------------------------------------------------------------- in this process


def _run_local(
    todo: Sequence[SearchJob],
    env_factory: Callable[[], ProofEnv],
    policy_factory: Callable[[], Policy],
    strategy: str,
    budget: Budget,
    config: dict,
    run_job: JobFn,
    max_retries: int,
) -> Iterator[dict]:
    env = env_factory()
    policy = policy_factory()
    try:
        for job in todo:
            for tries in range(max_retries + 1):
                try:
                    yield run_job(job, env, policy, strategy, budget, config)
                    break
                except LeanError as e:
                    log.warning("%s attempt %d: %s: %s (try %d)", *job.key, type(e).__name__, e, tries + 1)
                    _close(env)
                    env = env_factory()
                    if tries == max_retries:
                        yield _error_row(job, e)
    finally:
        _close(env)


def _close(env: ProofEnv) -> None:
    try:
        env.close()
    except Exception as e:  # a broken env must not hide the error that broke it
        log.warning("closing env failed: %s", e)


def _error_row(job: SearchJob, err: BaseException) -> dict:
    """A job given up after its retries: yielded to the caller, never written to `out`,
    so that a rerun tries it again."""
    return {"name": job.theorem.name, "attempt": job.attempt, "seed": job.seed, "status": "error",
            "error": f"{type(err).__name__}: {err}"}


# --------------------------------------------------------------------------- Ray


def init_ray(num_cpus: int | None = None, address: str | None = None) -> bool:
    """Start (or join, with `address`) a Ray session whose workers can import this project.
    Returns True if this call started it (then the caller shuts it down)."""
    import ray

    if ray.is_initialized():
        return False
    if address:
        ray.init(address=address, log_to_driver=False)
    else:
        path = os.pathsep.join(p for p in (str(REPO_ROOT), os.environ.get("PYTHONPATH", "")) if p)
        ray.init(num_cpus=num_cpus, include_dashboard=False, log_to_driver=False,
                 runtime_env={"env_vars": {"PYTHONPATH": path}})
    return True


class _SearchWorker:
    """A Ray actor: its own env, its own policy (or a proxy to the generation actor)."""

    def __init__(self, env_factory, policy_factory, generator=None) -> None:
        self.env = env_factory()
        self.policy = ActorPolicy(generator) if generator is not None else policy_factory()

    def run(self, job: SearchJob, strategy: str, budget, config: dict, run_job: JobFn) -> dict:
        return run_job(job, self.env, self.policy, strategy, budget, config)

    def pid(self) -> int:
        return os.getpid()


class _GenerationServer:
    """A Ray actor holding the one model: `propose` calls arriving together are run as one batch."""

    def __init__(self, policy_factory, wait_s: float = 0.005, max_states: int = 64) -> None:
        self.policy = policy_factory()
        self.wait_s = wait_s
        self.max_states = max_states
        self.pending: list[tuple[list[State], int, asyncio.Future]] = []
        self.lock: asyncio.Lock | None = None
        self.batches = 0

    async def propose(self, states: list[State], n: int) -> list[list[Candidate]]:
        fut = asyncio.get_running_loop().create_future()
        self.pending.append((states, n, fut))
        if self.lock is None:
            self.lock = asyncio.Lock()
        async with self.lock:
            if not fut.done():
                await asyncio.sleep(self.wait_s)  # let the other workers' requests arrive
                self._serve()
        return await fut

    def _serve(self) -> None:
        take, total = 0, 0
        while take < len(self.pending) and (take == 0 or total + len(self.pending[take][0]) <= self.max_states):
            total += len(self.pending[take][0])
            take += 1
        batch, self.pending = self.pending[:take], self.pending[take:]
        by_n: dict[int, list[tuple[list[State], asyncio.Future]]] = {}
        for states, n, fut in batch:
            by_n.setdefault(n, []).append((states, fut))
        for n, group in by_n.items():
            flat = [s for states, _ in group for s in states]
            try:
                out = self.policy.propose(flat, n)
                self.batches += 1
            except Exception as e:
                for _, fut in group:
                    fut.set_exception(e)
                continue
            i = 0
            for states, fut in group:
                fut.set_result(out[i : i + len(states)])
                i += len(states)

    async def propose_proofs(self, theorems: list[Theorem], n: int) -> list[list[Candidate]]:
        return self.policy.propose_proofs(theorems, n)

    async def reseed(self, seed: int) -> None:
        seed_everything(seed, self.policy)

    async def stats(self) -> dict:
        return {"batches": self.batches}


class ActorPolicy:
    """A `Policy` that asks the shared generation actor (states travel without their handles)."""

    def __init__(self, handle: Any) -> None:
        self.handle = handle

    def propose(self, states: Sequence[State], n: int) -> list[list[Candidate]]:
        import ray

        return ray.get(self.handle.propose.remote([State(s.goals) for s in states], n))

    def propose_proofs(self, theorems: Sequence[Theorem], n: int) -> list[list[Candidate]]:
        import ray

        return ray.get(self.handle.propose_proofs.remote(list(theorems), n))


def _is_retryable(err: BaseException) -> bool:
    import ray.exceptions as rex

    if isinstance(err, rex.RayActorError | rex.WorkerCrashedError | rex.ObjectLostError):
        return True
    return isinstance(err, rex.RayTaskError) and isinstance(err.cause, LeanError)


def _run_ray(
    todo: Sequence[SearchJob],
    env_factory: Callable[[], ProofEnv],
    policy_factory: Callable[[], Policy],
    strategy: str,
    budget: Budget,
    config: dict,
    run_job: JobFn,
    max_retries: int,
    workers: int,
    ray_address: str | None,
    generation: str,
    generation_gpus: float,
    cpus_per_worker: float,
) -> Iterator[dict]:
    import ray

    started = init_ray(num_cpus=workers + (1 if generation == "actor" else 0), address=ray_address)
    worker_cls = ray.remote(num_cpus=cpus_per_worker, max_restarts=0)(_SearchWorker)
    generator = None
    if generation == "actor":
        gen_cls = ray.remote(num_cpus=cpus_per_worker, num_gpus=generation_gpus)(_GenerationServer)
        generator = gen_cls.remote(policy_factory)
    queue: deque[SearchJob] = deque(todo)
    tries: dict[tuple[str, int], int] = {}
    idle = [worker_cls.remote(env_factory, policy_factory, generator) for _ in range(min(workers, len(todo)))]
    running: dict[Any, tuple[Any, SearchJob]] = {}
    try:
        while queue or running:
            while queue and idle:
                actor, job = idle.pop(), queue.popleft()
                running[actor.run.remote(job, strategy, budget, config, run_job)] = (actor, job)
            done, _ = ray.wait(list(running), num_returns=1)
            actor, job = running.pop(done[0])
            try:
                row = ray.get(done[0])
            except Exception as e:
                if not _is_retryable(e):
                    raise
                n = tries[job.key] = tries.get(job.key, 0) + 1
                log.warning("%s attempt %d: worker lost (%s); try %d of %d",
                            *job.key, type(e).__name__, n + 1, max_retries + 1)
                ray.kill(actor)
                idle.append(worker_cls.remote(env_factory, policy_factory, generator))
                if n > max_retries:
                    yield _error_row(job, e)
                else:
                    queue.appendleft(job)
                continue
            idle.append(actor)
            yield row
    finally:
        for actor, _ in running.values():
            ray.kill(actor)
        for actor in idle:
            ray.kill(actor)
        if generator is not None:
            ray.kill(generator)
        if started:
            ray.shutdown()


# --------------------------------------------------------------------------- the entry point


def search_many(
    jobs: Iterable[SearchJob],
    env_factory: Callable[[], ProofEnv],
    policy_factory: Callable[[], Policy],
    strategy: str,
    budget: Budget,
    config: dict | None = None,
    workers: int = 1,
    ray_address: str | None = None,
    out: Path | str | None = None,
    progress: bool = True,
    *,
    generation: str = "worker",
    generation_gpus: float = 0.0,
    cpus_per_worker: float = 1.0,
    max_retries: int = 2,
    run_job: JobFn = run_search_job,
) -> Iterator[dict]:
    """Run `strategy` on every job; yield each result row as it finishes (appended to `out`).

    workers=1 runs in this process, in job order; workers>1 (or a `ray_address`) uses Ray.
    generation: "worker" (each worker builds its own policy) or "actor" (one shared
    generation actor, `generation_gpus` GPUs, batches every worker's requests).
    A job whose worker died or whose env raised a LeanError is retried up to `max_retries`
    times; a job that still fails yields a row with status "error" that is not written to
    `out` (a rerun tries it again).
    """
    jobs = list(jobs)
    if workers < 1:
        raise ValueError(f"workers must be at least 1, got {workers}")
    if generation not in GENERATION_MODES:
        raise ValueError(f"generation must be one of {GENERATION_MODES}, got {generation!r}")
    keys = [j.key for j in jobs]
    if len(set(keys)) != len(keys):
        dup = next(k for k in keys if keys.count(k) > 1)
        raise ValueError(f"duplicate job (name, attempt) {dup}: each job must be unique")
    done = done_keys(out, "name", "attempt") if out is not None else set()
    todo = [j for j in jobs if j.key not in done]
    if len(todo) < len(jobs):
        log.info("resuming: %d of %d jobs already in %s", len(jobs) - len(todo), len(jobs), out)
    if not todo:
        return
    cfg = dict(config or {})
    if workers == 1 and ray_address is None:
        rows = _run_local(todo, env_factory, policy_factory, strategy, budget, cfg, run_job, max_retries)
    else:
        rows = _run_ray(todo, env_factory, policy_factory, strategy, budget, cfg, run_job, max_retries,
                        workers, ray_address, generation, generation_gpus, cpus_per_worker)
    bar = tqdm(total=len(todo), desc=f"search {strategy}", unit="thm", disable=not progress)
    t0, solved = time.monotonic(), 0
    try:
        for row in rows:
            if out is not None and row.get("status") != "error":
                append_jsonl(out, row)
            solved += row.get("status") == "proved"
            bar.update(1)
            bar.set_postfix(proved=solved)
            yield row
    finally:
        bar.close()
        rows.close()
        log.info("searched %d jobs in %.1fs, %d proved", len(todo), time.monotonic() - t0, solved)
