"""Distributed search: in-process and on Ray; resume, retries, same rows as the sequential run.

The envs, policies and job functions below travel to Ray workers by value (the fixture registers
this module with cloudpickle), so workers need not import the test module."""

from __future__ import annotations

import os
import random
import sys
from collections.abc import Sequence
from pathlib import Path

import pytest

from core.jsonl import read_jsonl
from core.types import Candidate, Failed, Open, Proved, State, Theorem
from doubles.scripted import ScriptedEnv, ScriptedWorld
from lean_env.errors import LeanCrashed
from prover.distributed import SearchJob, init_ray, search_many, seed_everything
from search.replay import replay_states

WORLD = Path(__file__).resolve().parent / "data" / "distributed_world.json"


def world() -> ScriptedWorld:
    return ScriptedWorld.load(WORLD)


def theorems() -> list[Theorem]:
    return [t.theorem() for t in world().theorems]


class NoisyPolicy:
    """The world's proposals with Gaussian noise on the logprobs, drawn from the global `random`:
    its output depends on how the RNG was seeded, so worker order would show."""

    def __init__(self, noise: float = 1.0) -> None:
        self.world = world()
        self.noise = noise

    def propose(self, states: Sequence[State], n: int) -> list[list[Candidate]]:
        out = []
        for s in states:
            cands = [Candidate(t, "", lp + (random.gauss(0, self.noise) if self.noise else 0.0), 1)
                     for t, lp in self.world.proposals.get(s.goals[0], [])]
            out.append(sorted(cands, key=lambda c: -c.logprob)[:n])
        return out


class GreedyPolicy(NoisyPolicy):
    def __init__(self) -> None:
        super().__init__(noise=0.0)


class CrashOnceEnv(ScriptedEnv):
    """Raises LeanCrashed on `start` of one theorem (the first time only, with a marker file), like a
    dead REPL; with `kill` the whole worker process dies instead."""

    def __init__(self, victim: str, marker: str | None, kill: bool = False) -> None:
        super().__init__(world())
        self.victim, self.marker, self.kill = victim, marker, kill

    def start(self, theorem: Theorem) -> State:
        if theorem.name == self.victim and not (self.marker and os.path.exists(self.marker)):
            if self.marker:
                Path(self.marker).write_text(str(os.getpid()))
            if self.kill:
                os._exit(1)  # the worker process dies mid-job
            raise LeanCrashed("scripted crash")
        return super().start(theorem)


def walk_job(job: SearchJob, env, policy, strategy: str, budget, config: dict, evaluator=None) -> dict:
    """A tiny stand-in strategy: up to `tries` random rollouts of at most 4 steps each."""
    seed_everything(job.seed, policy)
    for _ in range(config.get("tries", 3)):
        state, proof = env.start(job.theorem), []
        for _step in range(4):
            cands = policy.propose([state], 2)[0]
            if not cands:
                break
            cand = cands[0] if random.random() < 0.7 else cands[-1]
            out = env.apply(state, cand.tactic)
            if isinstance(out, Failed):
                break
            proof.append(cand.tactic)
            if isinstance(out, Proved):
                return {"name": job.theorem.name, "attempt": job.attempt, "seed": job.seed,
                        "status": "proved", "proof": proof}
            assert isinstance(out, Open)
            state = out.state
    return {"name": job.theorem.name, "attempt": job.attempt, "seed": job.seed, "status": "failed", "proof": []}


# --------------------------------------------------------------------------- helpers for the tests


def jobs(k: int = 8, attempts: int = 1) -> list[SearchJob]:
    return [SearchJob(t, a, seed=1000 * a + i) for i, t in enumerate(theorems()[:k]) for a in range(attempts)]


def env_factory() -> ScriptedEnv:
    return ScriptedEnv(world())


def key_rows(rows) -> dict:
    return {(r["name"], r["attempt"]): r for r in rows}


def run(js, **kw) -> dict:
    kw.setdefault("run_job", walk_job)
    kw.setdefault("config", {"tries": 3})
    return key_rows(search_many(js, kw.pop("env_factory", env_factory), kw.pop("policy_factory", NoisyPolicy),
                                "walk", None, **kw))


def campaign_rows(out: Path, **kw) -> dict:
    """The search engine over 8 theorems x 2 attempts as a campaign writing `out` (timings dropped)."""
    import functools

    from eval.campaign import Campaign, run_campaign
    from search.budget import Budget

    ths = theorems()[:8]
    c = Campaign(ths, env_factory, NoisyPolicy, "best-first", {"n": 2}, Budget(expansions=3), out=out, attempts=2,
                 job_seed=lambda t, a: 1000 * a + [x.name for x in ths].index(t.name), progress=False,
                 executor=functools.partial(search_many, **kw))
    rows = run_campaign(c).rows
    return {k: {f: v for f, v in r.items() if "seconds" not in f and f != "first_proof_at"}
            for k, r in key_rows(rows).items()}


# --------------------------------------------------------------------------- in this process


def test_sequential_rows_depend_on_each_jobs_seed_only():
    js = jobs(8, attempts=2)
    a = run(js)
    assert len(a) == 16 and {r["status"] for r in a.values()} <= {"proved", "failed"}
    assert any(r["status"] == "proved" for r in a.values()) and any(r["status"] == "failed" for r in a.values())
    b = run(list(reversed(js)))  # another order: the same row for every job
    assert a == b


def test_a_campaign_killed_midway_resumes_to_the_rows_of_an_uninterrupted_one(tmp_path, monkeypatch):
    """search_many as the campaign's executor: killed after three rows, the rerun runs only the rest."""
    full = campaign_rows(tmp_path / "full.jsonl")
    real, seen = search_many, {"rows": 0}

    def dies_after_three(*a, **kw):
        for row in real(*a, **kw):
            if seen["rows"] == 3:
                raise KeyboardInterrupt
            seen["rows"] += 1
            yield row

    monkeypatch.setattr(sys.modules[__name__], "search_many", dies_after_three)
    with pytest.raises(KeyboardInterrupt):
        campaign_rows(tmp_path / "rows.jsonl")
    assert len(list(read_jsonl(tmp_path / "rows.jsonl"))) == 3
    monkeypatch.setattr(sys.modules[__name__], "search_many", real)
    assert campaign_rows(tmp_path / "rows.jsonl") == full
    assert len(list(read_jsonl(tmp_path / "rows.jsonl"))) == 16


def test_bad_arguments_are_refused():
    js = jobs(2)
    with pytest.raises(ValueError, match="duplicate job"):
        run(js + js[:1])
    with pytest.raises(ValueError, match="workers"):
        run(js, workers=0)
    with pytest.raises(ValueError, match="generation"):
        run(js, generation="gpu")


def test_a_crashing_env_is_rebuilt_and_the_job_retried(tmp_path):
    js = jobs(4)
    marker = tmp_path / "crashed"
    rows = run(js, env_factory=lambda: CrashOnceEnv("chain2", str(marker)))
    assert marker.exists() and rows == run(js)
    # a theorem that crashes every time is given up after its retries: an error row (which a
    # campaign reports and does not write; see test_campaign)
    always = run(js, env_factory=lambda: CrashOnceEnv("chain1", None), max_retries=1)
    assert always[("chain1", 0)]["status"] == "error" and "LeanCrashed" in always[("chain1", 0)]["error"]


def engine_rows(js, **kw) -> dict:
    from search.budget import Budget

    rows = search_many(js, env_factory, kw.pop("policy_factory", NoisyPolicy), "best-first",
                       Budget(expansions=3), {"n": 2}, **kw)
    return {k: {f: v for f, v in r.items() if "seconds" not in f and f != "first_proof_at"}
            for k, r in key_rows(rows).items()}


def test_the_search_engine_rows_carry_the_states_of_each_proof():
    rows = engine_rows(jobs(8, attempts=2))
    proved = [r for r in rows.values() if r["status"] == "proved"]
    assert proved and len(proved) < len(rows)  # the noise makes some searches fail within the budget
    for r in proved:
        th = next(t for t in theorems() if t.name == r["name"])
        assert r["states"] == replay_states(env_factory(), [(th, r["proof"])])[0]
    assert rows == engine_rows(list(reversed(jobs(8, attempts=2))))


def test_replay_states_replays_the_proofs_together():
    th, other = theorems()[0], theorems()[1]
    good = ["apply p_of_q", "apply q_of_s", "exact s_all"]
    texts = replay_states(env_factory(), [(th, good), (other, ["apply p_of_r", "simp"])], strict=False)
    assert texts == [["x0 : Nat\n⊢ P0 x0", "x0 : Nat\n⊢ Q0 x0", "x0 : Nat\n⊢ S0 x0"], None]
    with pytest.raises(ValueError, match="failed on replay"):
        replay_states(env_factory(), [(th, ["apply p_of_r", "simp"])])
    with pytest.raises(ValueError, match="goals left after the last of 1 steps"):
        replay_states(env_factory(), [(th, ["apply p_of_q"])])


# --------------------------------------------------------------------------- on Ray (one session, 2 CPUs)


@pytest.fixture(scope="module")
def ray_session():
    ray = pytest.importorskip("ray")
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
    started = init_ray(num_cpus=2)
    yield ray
    if started:
        ray.shutdown()


def test_two_ray_workers_give_the_sequential_rows(ray_session, tmp_path):
    js = jobs(8, attempts=2)
    assert run(js, workers=2) == run(js)
    # the same through a campaign: Ray workers as its executor write the rows of the local run
    assert campaign_rows(tmp_path / "ray.jsonl", workers=2) == campaign_rows(tmp_path / "local.jsonl")
    assert len(list(read_jsonl(tmp_path / "ray.jsonl"))) == 16


def test_two_ray_workers_run_the_search_engine_like_one(ray_session):
    js = jobs(8, attempts=2)
    assert engine_rows(js, workers=2) == engine_rows(js)


def test_a_dead_worker_has_its_job_retried_elsewhere(ray_session, tmp_path):
    js = jobs(6)
    marker = tmp_path / "killed"
    rows = run(js, workers=2, env_factory=lambda: CrashOnceEnv("chain3", str(marker), kill=True))
    assert marker.exists()  # a worker process really died on chain3
    assert rows == run(js)


def test_shared_generation_actor_batches_and_gives_the_same_rows(ray_session):
    js = jobs(8)
    assert run(js, workers=2, generation="actor", policy_factory=GreedyPolicy, cpus_per_worker=0.5) == run(
        js, policy_factory=GreedyPolicy)


def test_a_sampling_policy_through_the_generation_actor_gives_the_sequential_rows(ray_session):
    """The noise is drawn inside the generation actor: every job must still sample as in the
    sequential run, whatever the other worker asked for in between."""
    js = jobs(8, attempts=2)
    seq = run(js)
    assert run(js, workers=2, generation="actor", cpus_per_worker=0.5) == seq
    assert run(list(reversed(js)), workers=2, generation="actor", cpus_per_worker=0.5) == seq


class RecordingPolicy(NoisyPolicy):
    """Records the number of states of each call; greedy unless given noise."""

    def __init__(self, noise: float = 0.0) -> None:
        super().__init__(noise)
        self.calls: list[int] = []

    def propose(self, states, n):
        self.calls.append(len(states))
        return super().propose(states, n)


def test_generation_server_serves_concurrent_requests_as_one_batch():
    import asyncio

    from prover.distributed import _GenerationServer

    server = _GenerationServer(RecordingPolicy, wait_s=0.01)
    goals = [(t.goal,) for t in world().theorems]
    reqs = [[State(goals[0]), State(goals[1])], [State(goals[2])], [State(goals[3])]]

    async def main():
        return await asyncio.gather(*(server.propose(r, 2) for r in reqs))

    answers = asyncio.run(main())
    assert server.policy.calls == [4]  # three workers' requests, one model call
    assert answers == [GreedyPolicy().propose(r, 2) for r in reqs]


def test_seeded_requests_are_served_alone_and_sample_as_in_a_worker():
    """Three workers' requests arrive together: each is served under its own seed, so each answer is
    the one a worker's own JobSeededPolicy gives for that seed, and merged requests stay merged."""
    import asyncio

    from prover.distributed import JobSeededPolicy, _GenerationServer, call_seed

    goals = [(t.goal,) for t in world().theorems]
    reqs = [[State(goals[0]), State(goals[1])], [State(goals[2])], [State(goals[3])]]
    seeds = [call_seed(11, 1), call_seed(12, 1), call_seed(13, 1)]

    async def main(server, with_seeds):
        return await asyncio.gather(*(server.propose(r, 2, s if with_seeds else None)
                                      for r, s in zip(reqs, seeds, strict=True)))

    server = _GenerationServer(lambda: RecordingPolicy(noise=1.0), wait_s=0.01)
    answers = asyncio.run(main(server, True))
    assert server.policy.calls == [2, 1, 1]  # one model call per seeded request
    local = []
    for r, job_seed_ in zip(reqs, (11, 12, 13), strict=True):
        pol = JobSeededPolicy(NoisyPolicy())
        pol.reseed(job_seed_)
        local.append(pol.propose(r, 2))
    assert answers == local
    merged = _GenerationServer(lambda: RecordingPolicy(noise=1.0), wait_s=0.01)
    asyncio.run(main(merged, False))
    assert merged.policy.calls == [4]  # no seeds: the three requests in one model call


def test_a_job_seeded_policy_keeps_its_draws_apart_from_the_strategys():
    from prover.distributed import JobSeededPolicy

    state = State((world().theorems[0].goal,))
    random.seed(5)
    alone = [random.random() for _ in range(3)]
    pol = JobSeededPolicy(NoisyPolicy())
    pol.reseed(1)
    random.seed(5)
    mixed, props = [], []
    for _ in range(3):
        mixed.append(random.random())
        props.append(pol.propose([state], 2))
    assert mixed == alone  # the policy's gauss draws did not move the strategy's stream
    pol.reseed(1)
    assert [pol.propose([state], 2) for _ in range(3)] == props  # the k-th call after reseed repeats
    assert props[0] != props[1]  # ... and each call has a seed of its own
    assert getattr(pol, "propose_proofs", None) is None  # NoisyPolicy writes no whole proofs
    from doubles.scripted_policy import ScriptedPolicy

    assert callable(getattr(JobSeededPolicy(ScriptedPolicy(world())), "propose_proofs", None))
