"""Search over many theorems: in this process (workers=1) or spread over Ray actors (workers>1).

    rows = search_many(jobs, env_factory, policy_factory, "best-first", budget, workers=4)

Each job is one (theorem, attempt, seed).  Each worker builds its own env (and, by default, its
own policy) from picklable factories.  With `generation="actor"` one generation actor holds the
model and batches the `propose` calls of every worker (the GPU setup); the workers then talk to
it through `ActorPolicy`.  A worker that dies (its process killed, or its Lean env raising a
`LeanError`) is replaced and its job runs again elsewhere, up to `max_retries` times.

Rows come back as jobs finish.  Writing them, resuming a killed run and tying each row to what
it ran is the campaign runner's work (`eval.campaign.run_campaign`), which uses `search_many` as
its executor; the in-process path is the campaign's own `run_local`, given job-seeded policies.

Reproducibility: a job's rows depend on its seed alone, never on worker order or on what other
jobs asked the model for.  Every job is seeded by its own seed before it runs, and every proposal
call of a job runs under a seed of its own, `call_seed(job seed, call number)`: the policy is
reseeded with it and the global RNGs (random, numpy, torch) are seeded with it for the time of the
call and then put back, so a policy's draws never mix with the strategy's.  `JobSeededPolicy`
does this in a worker; `ActorPolicy` sends the seed along with the request and the generation
actor serves each seeded request on its own under that seed.  The sequential run, Ray workers and
the shared generation actor therefore give the same rows.  The price: the actor batches the states
of one request (one expansion), not the requests of several workers, since one model call has one
random stream.  `merge_requests=True` merges requests arriving together into one model call, for
throughput, and gives up that guarantee for sampling policies (their rows then depend on timing).
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import sys
import time
import zlib
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from core.types import Candidate, Policy, ProofEnv, State, Theorem
from eval.campaign import JobFn, SearchJob, error_row, run_local, run_search_job, seed_everything
from lean_env.errors import LeanError

if TYPE_CHECKING:
    from search.budget import Budget

log = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parent.parent
GENERATION_MODES = ("worker", "actor")
WORKER_START_TIMEOUT_S = 600.0  # no Ray worker running and none started for this long: the cluster lacks CPUs


def call_seed(seed: int, call: int) -> int:
    """The seed of the `call`-th proposal call (1, 2, ...) of a job seeded with `seed`."""
    return zlib.crc32(f"{seed}:{call}".encode()) & 0x7FFFFFFF


@contextmanager
def private_rngs(seed: int) -> Iterator[None]:
    """The global RNGs (random, numpy, torch) seeded with `seed` inside the block and put back as
    they were after it, so that what runs inside neither sees nor moves the caller's streams."""
    np, torch = sys.modules.get("numpy"), sys.modules.get("torch")
    saved_random = random.getstate()
    saved_np = np.random.get_state() if np is not None else None
    saved_torch = torch.get_rng_state() if torch is not None else None
    saved_cuda = (torch.cuda.get_rng_state_all()
                  if torch is not None and torch.cuda.is_available() and torch.cuda.is_initialized() else None)
    seed_everything(seed)
    try:
        yield
    finally:
        random.setstate(saved_random)
        if saved_np is not None:
            np.random.set_state(saved_np)
        if saved_torch is not None:
            torch.set_rng_state(saved_torch)
        if saved_cuda is not None:
            torch.cuda.set_rng_state_all(saved_cuda)


def seeded_call(policy: object, seed: int, call: Callable[[], Any]) -> Any:
    """`call()` with `policy` reseeded with `seed` and the global RNGs private to it (`private_rngs`)."""
    with private_rngs(seed):
        reseed = getattr(policy, "reseed", None)
        if callable(reseed):
            reseed(seed)
        return call()


class JobSeededPolicy:
    """A policy whose every proposal call runs under its own seed, `call_seed(job seed, call number)`
    (see the module docstring); `reseed` (called with the job's seed) restarts the count.  Other
    attributes are the wrapped policy's."""

    def __init__(self, policy: Policy) -> None:
        self.policy = policy
        self.seed = 0
        self.calls = 0

    def reseed(self, seed: int) -> None:
        self.seed, self.calls = int(seed), 0

    def next_seed(self) -> int:
        self.calls += 1
        return call_seed(self.seed, self.calls)

    def propose(self, states: Sequence[State], n: int) -> list[list[Candidate]]:
        return seeded_call(self.policy, self.next_seed(), lambda: self.policy.propose(states, n))

    @property
    def propose_proofs(self) -> Callable[[Sequence[Theorem], int], list[list[Candidate]]]:
        return self._seeded("propose_proofs")

    @property
    def propose_in_context(self) -> Callable[..., list[list[Candidate]]]:
        return self._seeded("propose_in_context")

    @property
    def resume_proofs(self) -> Callable[..., list[list[Candidate]]]:
        return self._seeded("resume_proofs")

    def _seeded(self, method: str) -> Callable[..., list[list[Candidate]]]:
        """The wrapped policy's optional `method`, each call under its own seed (AttributeError when the
        policy has no such method, so `getattr(policy, method, None)` tells the engine it is absent)."""
        inner = getattr(self.policy, method)

        def call(*args: Any) -> list[list[Candidate]]:
            return seeded_call(self.policy, self.next_seed(), lambda: inner(*args))

        return call

    def __getattr__(self, name: str) -> Any:
        if name == "policy":
            raise AttributeError(name)
        return getattr(self.policy, name)


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
    evaluator_factory: Callable[[], Any] | None,
) -> Iterator[dict]:
    """The campaign's in-process executor, with the policy job-seeded like a Ray worker's."""
    return run_local(todo, env_factory, lambda: JobSeededPolicy(policy_factory()), strategy, budget, config,
                     run_job=run_job, max_retries=max_retries, evaluator_factory=evaluator_factory)


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
    """A Ray actor: its own env, its own policy (or a proxy to the generation actor), its own evaluator."""

    def __init__(self, env_factory, policy_factory, generator=None, merge_requests: bool = False,
                 evaluator_factory=None) -> None:
        self.env = env_factory()
        self.policy = (ActorPolicy(generator, seeded=not merge_requests) if generator is not None
                       else JobSeededPolicy(policy_factory()))
        self.evaluator = evaluator_factory() if evaluator_factory is not None else None

    def run(self, job: SearchJob, strategy: str, budget, config: dict, run_job: JobFn) -> dict:
        return run_job(job, self.env, self.policy, strategy, budget, config, self.evaluator)

    def pid(self) -> int:
        return os.getpid()


class _GenerationServer:
    """A Ray actor holding the one model.  A request with a seed is served on its own under that seed
    (`seeded_call`), so what a job samples does not depend on the other workers; requests without a
    seed (`merge_requests`) that arrive together are merged into one model call."""

    def __init__(self, policy_factory, wait_s: float = 0.005, max_states: int = 64) -> None:
        self.policy = policy_factory()
        self.wait_s = wait_s
        self.max_states = max_states
        self.pending: list[tuple[list[State], int, int | None, asyncio.Future]] = []
        self.lock: asyncio.Lock | None = None
        self.batches = 0

    async def propose(self, states: list[State], n: int, seed: int | None = None) -> list[list[Candidate]]:
        fut = asyncio.get_running_loop().create_future()
        self.pending.append((states, n, seed, fut))
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
        for states, n, seed, fut in batch:
            if seed is None:
                by_n.setdefault(n, []).append((states, fut))
                continue
            try:
                fut.set_result(seeded_call(self.policy, seed, lambda s=states, k=n: self.policy.propose(s, k)))
                self.batches += 1
            except Exception as e:  # the error belongs to the worker that asked
                fut.set_exception(e)
        for n, group in by_n.items():
            flat = [s for states, _ in group for s in states]
            try:
                out = self.policy.propose(flat, n)
                self.batches += 1
            except Exception as e:  # the error belongs to the workers that asked
                for _, fut in group:
                    fut.set_exception(e)
                continue
            i = 0
            for states, fut in group:
                fut.set_result(out[i : i + len(states)])
                i += len(states)

    async def propose_proofs(self, theorems: list[Theorem], n: int, seed: int | None = None) -> list[list[Candidate]]:
        if seed is None:
            return self.policy.propose_proofs(theorems, n)
        return seeded_call(self.policy, seed, lambda: self.policy.propose_proofs(theorems, n))

    async def call(self, method: str, args: tuple, seed: int | None = None) -> list[list[Candidate]]:
        """An optional policy method (`propose_in_context`, `resume_proofs`) served alone under `seed`;
        `propose_in_context` on a policy without it is `propose` (the contexts are dropped)."""
        if method == "propose_in_context" and not callable(getattr(self.policy, method, None)):
            method, args = "propose", (args[0], args[2])
        fn = getattr(self.policy, method)
        if seed is None:
            return fn(*args)
        return seeded_call(self.policy, seed, lambda: fn(*args))

    async def stats(self) -> dict:
        return {"batches": self.batches}


class ActorPolicy:
    """A `Policy` that asks the shared generation actor (states travel without their handles).  Like
    `JobSeededPolicy`, each call carries its own seed (`seeded=False`: none, the actor may merge)."""

    def __init__(self, handle: Any, seeded: bool = True) -> None:
        self.handle = handle
        self.seeded = seeded
        self.seed = 0
        self.calls = 0

    def reseed(self, seed: int) -> None:
        self.seed, self.calls = int(seed), 0

    def _next_seed(self) -> int | None:
        if not self.seeded:
            return None
        self.calls += 1
        return call_seed(self.seed, self.calls)

    def propose(self, states: Sequence[State], n: int) -> list[list[Candidate]]:
        import ray

        return ray.get(self.handle.propose.remote([State(s.goals) for s in states], n, self._next_seed()))

    def propose_proofs(self, theorems: Sequence[Theorem], n: int) -> list[list[Candidate]]:
        import ray

        return ray.get(self.handle.propose_proofs.remote(list(theorems), n, self._next_seed()))

    def propose_in_context(self, states: Sequence[State], contexts: Sequence[Any], n: int) -> list[list[Candidate]]:
        import ray

        args = ([State(s.goals) for s in states], list(contexts), n)
        return ray.get(self.handle.call.remote("propose_in_context", args, self._next_seed()))

    def resume_proofs(self, theorems: Sequence[Theorem], prefixes: Sequence[Any], n: int) -> list[list[Candidate]]:
        import ray

        return ray.get(self.handle.call.remote("resume_proofs", (list(theorems), list(prefixes), n),
                                               self._next_seed()))


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
    merge_requests: bool,
    evaluator_factory: Callable[[], Any] | None,
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

    def new_worker() -> tuple[Any, Any]:
        actor = worker_cls.remote(env_factory, policy_factory, generator, merge_requests, evaluator_factory)
        return actor.pid.remote(), actor  # the probe resolves once the actor runs somewhere

    # A worker gets jobs only once it has started: a replacement for a worker lost with its node may
    # wait for resources the cluster no longer has, and a job given to it would wait with it.
    starting = dict(new_worker() for _ in range(min(workers, len(todo))))
    idle: list[Any] = []
    running: dict[Any, tuple[Any, SearchJob]] = {}
    try:
        while queue or running:
            while queue and idle:
                actor, job = idle.pop(), queue.popleft()
                running[actor.run.remote(job, strategy, budget, config, run_job)] = (actor, job)
            done, _ = ray.wait([*running, *starting], num_returns=1,
                               timeout=None if running or idle else WORKER_START_TIMEOUT_S)
            if not done:
                raise RuntimeError(f"no Ray worker started within {WORKER_START_TIMEOUT_S:.0f}s "
                                   f"({len(queue)} job(s) left): does the cluster have {cpus_per_worker} free CPU(s)?")
            if done[0] in starting:
                actor = starting.pop(done[0])
                try:
                    ray.get(done[0])
                    idle.append(actor)
                except Exception as e:
                    if not _is_retryable(e):
                        raise
                    log.warning("a Ray worker died while starting (%s); starting another", type(e).__name__)
                    ray.kill(actor)
                    starting.update([new_worker()])
                continue
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
                starting.update([new_worker()])
                if n > max_retries:
                    yield error_row(job, e)
                else:
                    queue.appendleft(job)
                continue
            idle.append(actor)
            yield row
    finally:
        for actor, _ in running.values():
            ray.kill(actor)
        for actor in [*idle, *starting.values()]:
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
    *,
    generation: str = "worker",
    generation_gpus: float = 0.0,
    cpus_per_worker: float = 1.0,
    max_retries: int = 2,
    run_job: JobFn = run_search_job,
    merge_requests: bool = False,
    evaluator_factory: Callable[[], Any] | None = None,
) -> Iterator[dict]:
    """Run `strategy` on every job; yield each result row as it finishes (the campaign's executor).

    workers=1 runs in this process, in job order; workers>1 (or a `ray_address`) uses Ray.
    generation: "worker" (each worker builds its own policy) or "actor" (one shared
    generation actor, `generation_gpus` GPUs); with the actor, `merge_requests` merges the
    requests of several workers into one model call (faster, not reproducible when sampling).
    A job whose worker died or whose env raised a LeanError is retried up to `max_retries`
    times; a job that still fails yields a row with status "error" (the campaign does not
    write it, so a rerun tries it again).
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
    if not jobs:
        return
    cfg = dict(config or {})
    if workers == 1 and ray_address is None:
        rows = _run_local(jobs, env_factory, policy_factory, strategy, budget, cfg, run_job, max_retries,
                          evaluator_factory)
    else:
        rows = _run_ray(jobs, env_factory, policy_factory, strategy, budget, cfg, run_job, max_retries,
                        workers, ray_address, generation, generation_gpus, cpus_per_worker, merge_requests,
                        evaluator_factory)
    t0, n = time.monotonic(), 0
    try:
        for row in rows:
            n += 1
            yield row
    finally:
        rows.close()
        log.info("searched %d of %d jobs in %.1fs", n, len(jobs), time.monotonic() - t0)
