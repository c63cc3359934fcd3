"""The campaign runner: one search strategy over many theorems, K attempts each, resumable, every
row tied to what it ran.  `prover eval`, `prover search`, `prover demo`, the logic baseline and
expert iteration all run their searches through `run_campaign`.

    result = run_campaign(Campaign(theorems, env_factory, policy_factory, "best-first", {"n": 8},
                                   Budget(expansions=64), out=Path("runs/x/results.jsonl"),
                                   identity={"env": "lean-term", "policy": "vocab", ...}))

What it does, in order:

1. checks the settings (strategy config, unique theorem names, attempts) and that `out` holds
   only result rows (a verifier's verdicts there are refused, the file untouched);
2. ties the output to the **run identity** (`identity` + strategy, its config, budget, seed) in the
   identity file (`bind_run`): a rerun with other settings is refused, naming what changed;
3. matches the rows already in `out` to the jobs: a row counts as done only when its
   `content_hash` (the theorem's header and statement, `theorem_hash`) and `run_hash` (the run
   identity's digest) are today's.  Any other row of these theorems is *stale*: the run stops with
   StaleRows naming them, or with `rerun_stale` moves them to `X.stale.jsonl` and runs them again;
4. runs the remaining jobs through `executor` (in this process by default; `prover` passes
   `prover.distributed.search_many` for Ray workers), appending each row the moment it
   arrives, with one progress bar; rows of jobs that ended in an error are reported, never written,
   so a rerun tries them again;
5. optionally writes each search tree (`save_trees`: `search.export.to_data` plus name, attempt and
   the two hashes, one JSON line each, to `trees_file`) and graph files (`export_graphs`).

Attempt `a` of a theorem runs with seed `seed + a` (or `job_seed(theorem, a)`).
"""

from __future__ import annotations

import logging
import random
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tqdm import tqdm

from core.jsonl import append_jsonl
from core.types import Evaluator, Policy, ProofEnv, Theorem
from eval.identity import StaleRows, bind_run, digest, require_rows, set_aside, sibling, theorem_hash
from lean_env.errors import LeanError

if TYPE_CHECKING:
    from search.budget import Budget

log = logging.getLogger(__name__)

RESULT_FIELDS = ("name", "attempt", "status")


@dataclass(frozen=True)
class SearchJob:
    """One search to run: the theorem, which attempt this is (pass@k), and its own seed."""

    theorem: Theorem
    attempt: int = 0
    seed: int = 0

    @property
    def key(self) -> tuple[str, int]:
        return (self.theorem.name, self.attempt)


# (job, env, policy, strategy, budget, config, evaluator) -> result row
JobFn = Callable[[SearchJob, ProofEnv, Policy, str, "Budget", dict, "Evaluator | None"], dict]
# (jobs, env_factory, policy_factory, strategy, budget, config, *, run_job) -> rows as they finish
Executor = Callable[..., Iterator[dict]]


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


def error_row(job: SearchJob, err: BaseException) -> dict:
    """A job that could not be run: yielded to the caller, never written, so that a rerun tries it again."""
    return {"name": job.theorem.name, "attempt": job.attempt, "seed": job.seed, "status": "error",
            "error": f"{type(err).__name__}: {err}"}


def _search(job: SearchJob, env: ProofEnv, policy: Policy, strategy: str, budget: Budget, config: dict,
            evaluator: Evaluator | None) -> Any:
    from search.strategies import run_strategy

    seed_everything(job.seed, policy)
    return run_strategy(strategy, job.theorem, env, policy, budget, seed=job.seed, attempt=job.attempt,
                        config=config, evaluator=evaluator)


def _row(job: SearchJob, result: Any) -> dict:
    row = result.to_row()
    row["name"], row["attempt"], row["seed"] = job.theorem.name, job.attempt, job.seed
    return row


def run_search_job(job: SearchJob, env: ProofEnv, policy: Policy, strategy: str, budget: Budget,
                   config: dict, evaluator: Evaluator | None = None) -> dict:
    """Run one strategy on one theorem; the result row (its `states` give the state text before each
    proof step, so training examples need no second pass).  A theorem the env or the strategy
    refuses (ValueError, KeyError: a statement that does not elaborate, a theorem the env does not
    know) gives an error row; a LeanError propagates (the executor rebuilds the env and retries)."""
    try:
        return _row(job, _search(job, env, policy, strategy, budget, config, evaluator))
    except (ValueError, KeyError) as e:
        return error_row(job, e)


def run_tree_job(job: SearchJob, env: ProofEnv, policy: Policy, strategy: str, budget: Budget,
                 config: dict, evaluator: Evaluator | None = None) -> dict:
    """`run_search_job`, with the search tree (a `SearchTree`, needs keep_graph) under `_tree`."""
    try:
        result = _search(job, env, policy, strategy, budget, config, evaluator)
    except (ValueError, KeyError) as e:
        return error_row(job, e)
    row = _row(job, result)
    row["_tree"] = result.tree
    return row


def close_env(env: ProofEnv) -> None:
    try:
        env.close()
    except Exception as e:  # a broken env must not hide the error that broke it
        log.warning("closing env failed: %s", e)


def run_local(jobs: Sequence[SearchJob], env_factory: Callable[[], ProofEnv], policy_factory: Callable[[], Policy],
              strategy: str, budget: Budget, config: dict | None = None, *, run_job: JobFn = run_search_job,
              max_retries: int = 2, evaluator_factory: Callable[[], Evaluator | None] | None = None
              ) -> Iterator[dict]:
    """The in-process executor: the jobs in order, one env, one policy, one evaluator (if any).  A
    LeanError rebuilds the env and runs the job again, up to `max_retries` times, then gives an
    error row."""
    if not jobs:
        return
    cfg = dict(config or {})
    env = env_factory()
    try:
        policy = policy_factory()
        evaluator = evaluator_factory() if evaluator_factory is not None else None
        for job in jobs:
            for tries in range(max_retries + 1):
                try:
                    yield run_job(job, env, policy, strategy, budget, cfg, evaluator)
                    break
                except LeanError as e:
                    log.warning("%s attempt %d: %s: %s (try %d)", *job.key, type(e).__name__, e, tries + 1)
                    close_env(env)
                    env = env_factory()
                    if tries == max_retries:
                        yield error_row(job, e)
    finally:
        close_env(env)


# --------------------------------------------------------------------------- the campaign


@dataclass
class Campaign:
    """What to run and where its rows go (see the module docstring).

    `identity`: everything else the rows depend on, as plain JSON (dataset, env and policy specs and
    fingerprints, toolchain identity, format, ...); `runtime`: facts recorded in the identity file
    that a rerun may change (label, attempts, theorems, workers).  `identity_file` defaults to
    `X.run.json` beside `out` = `X.jsonl`, `trees_file` to `X.trees.jsonl`.
    """

    theorems: Sequence[Theorem]
    env_factory: Callable[[], ProofEnv]
    policy_factory: Callable[[], Policy]
    strategy: str
    config: Mapping[str, Any] | None
    budget: Budget
    out: Path
    attempts: int = 1
    seed: int = 0
    job_seed: Callable[[Theorem, int], int] | None = None
    identity: Mapping[str, Any] = field(default_factory=dict)
    runtime: Mapping[str, Any] = field(default_factory=dict)
    identity_file: Path | None = None
    executor: Executor | None = None
    row_fields: Sequence[str] = ()  # fields of theorem.extra copied into each of its rows
    save_trees: bool = False
    trees_file: Path | None = None
    export_graphs: Path | None = None
    rerun_stale: bool = False
    hint: str = "use another output"  # how to proceed, appended to a refusal
    stale_hint: str = "rerun with rerun_stale to run them again"
    label: str = ""
    progress: bool = True
    evaluator_factory: Callable[[], Evaluator | None] | None = None  # built once per worker, like the policy

    def seed_of(self, theorem: Theorem, attempt: int) -> int:
        return self.job_seed(theorem, attempt) if self.job_seed is not None else self.seed + attempt


@dataclass
class CampaignResult:
    rows: list[dict]  # the row of every job (earlier runs' and this one's), in job order
    new: list[dict]  # rows written by this call, in the order they finished
    skipped: int  # jobs already done before this call
    errors: list[dict]  # error rows of this call (not written)
    set_aside: int = 0  # stale rows moved to the .stale.jsonl file

    @property
    def solved(self) -> set[str]:
        return {r["name"] for r in self.rows if r.get("status") == "proved"}


def run_identity(c: Campaign) -> dict[str, Any]:
    """The run identity of `c` (keep_graph, which changes nothing in a result, left out)."""
    from search.strategies import make_config

    cfg = asdict(make_config(c.strategy, dict(c.config or {})))
    cfg.pop("keep_graph", None)
    return {**c.identity, "strategy": c.strategy, "config": cfg, "budget": str(c.budget), "seed": c.seed}


def _stale_reason(row: dict, hashes: dict[str, str], run_hash: str) -> str | None:
    name = row.get("name")
    if name not in hashes:
        return "no longer among the theorems"
    if row.get("content_hash") != hashes[name]:
        return ("its statement or header changed since it ran" if row.get("content_hash")
                else "written before rows were tied to their theorem")
    if row.get("run_hash") != run_hash:
        return "written by a run with other settings"
    return None


def _describe(stale: list[tuple[dict, str]]) -> str:
    shown = "; ".join(f"{r.get('name')} attempt {r.get('attempt')} ({why})" for r, why in stale[:5])
    more = f"; and {len(stale) - 5} more" if len(stale) > 5 else ""
    return shown + more


def run_campaign(c: Campaign) -> CampaignResult:
    """Run (or resume) campaign `c`; see the module docstring.  Raises ValueError (bad settings, an
    output of another kind), RunMismatch and StaleRows before anything is written."""
    from search.export import export_graph, to_data

    if isinstance(c.attempts, bool) or not isinstance(c.attempts, int) or c.attempts < 1:
        raise ValueError(f"attempts must be an integer >= 1, got {c.attempts!r}")
    names = [t.name for t in c.theorems]
    if len(set(names)) != len(names):
        dup = next(n for n in names if names.count(n) > 1)
        raise ValueError(f"theorem names must be unique (rows are keyed by name): {dup!r} appears twice")
    from search.strategies import check_evaluator, make_config

    check_evaluator(make_config(c.strategy, dict(c.config or {})), c.evaluator_factory is not None)
    identity = run_identity(c)
    run_hash = digest(identity)
    out = Path(c.out)
    rows = require_rows(out, RESULT_FIELDS, "search results")
    identity_file = c.identity_file or sibling(out, "run", ".json")
    record = {**identity, **c.runtime}
    bind_run(identity_file, record, ignore=set(c.runtime), bound=bool(rows), hint=c.hint, write=False)

    hashes = {t.name: theorem_hash(t) for t in c.theorems}
    trees_file = c.trees_file or sibling(out, "trees")
    stale = [(r, why) for r in rows if (why := _stale_reason(r, hashes, run_hash)) is not None]
    moved = 0
    if stale:
        if not c.rerun_stale:
            raise StaleRows(f"{out}: {len(stale)} row(s) no longer match what they ran: {_describe(stale)}; "
                            f"{c.stale_hint}")
        is_stale = lambda r: _stale_reason(r, hashes, run_hash) is not None  # noqa: E731
        moved = set_aside(out, is_stale, sibling(out, "stale"))
        set_aside(trees_file, is_stale, sibling(trees_file, "stale"))
        rows = [r for r in rows if not is_stale(r)]
    # written only now: a run refused for stale rows leaves the record of the rows it kept as it was
    bind_run(identity_file, record, ignore=set(c.runtime), bound=bool(rows), hint=c.hint)
    done: dict[tuple[str, int], dict] = {}
    for r in rows:
        done.setdefault((r["name"], r["attempt"]), r)

    jobs = [SearchJob(t, a, c.seed_of(t, a)) for a in range(c.attempts) for t in c.theorems]
    todo = [j for j in jobs if j.key not in done]
    if len(todo) < len(jobs):
        log.info("resuming %s: %d of %d jobs already done", out, len(jobs) - len(todo), len(jobs))
    want_tree = c.save_trees or c.export_graphs is not None
    config = asdict(make_config(c.strategy, dict(c.config or {}), keep_graph=want_tree))
    by_name = {t.name: t for t in c.theorems}
    new: list[dict] = []
    errors: list[dict] = []
    solved = {r["name"] for r in done.values() if r.get("status") == "proved"}
    bar = tqdm(total=len(jobs), initial=len(jobs) - len(todo), desc=c.label or c.strategy, unit="attempt",
               disable=not c.progress, file=sys.stderr)
    bar.set_postfix(solved=f"{len(solved)}/{len(c.theorems)}")
    run_job = run_tree_job if want_tree else run_search_job
    extra = {} if c.evaluator_factory is None else {"evaluator_factory": c.evaluator_factory}
    rows_iter = ((c.executor or run_local)(todo, c.env_factory, c.policy_factory, c.strategy, c.budget, config,
                                           run_job=run_job, **extra) if todo else iter(()))
    try:
        for row in rows_iter:
            tree = row.pop("_tree", None)
            bar.update(1)
            if row.get("status") == "error":
                errors.append(row)
                log.warning("%s attempt %s: %s (not recorded; a rerun tries it again)", row.get("name"),
                            row.get("attempt"), row.get("error"))
                continue
            theorem = by_name[row["name"]]
            row["content_hash"], row["run_hash"] = hashes[theorem.name], run_hash
            for f in c.row_fields:
                row.setdefault(f, theorem.extra.get(f))
            if c.save_trees and tree is not None:  # the tree first: a kill in between reruns the job
                append_jsonl(trees_file, {"name": theorem.name, "attempt": row["attempt"],
                                          "content_hash": row["content_hash"], "run_hash": run_hash, **to_data(tree)})
            append_jsonl(out, row)
            if c.export_graphs is not None and tree is not None:
                suffix = f"-{row['attempt']}" if c.attempts > 1 else ""
                export_graph(tree, c.export_graphs, f"{theorem.name}{suffix}")
            new.append(row)
            if row.get("status") == "proved":
                solved.add(theorem.name)
            bar.set_postfix(solved=f"{len(solved)}/{len(c.theorems)}")
    finally:
        bar.close()
        close = getattr(rows_iter, "close", None)
        if callable(close):
            close()
    for r in new:
        done.setdefault((r["name"], r["attempt"]), r)
    ordered = [done[j.key] for j in jobs if j.key in done]
    return CampaignResult(ordered, new, len(jobs) - len(todo), errors, moved)


__all__ = ["Campaign", "CampaignResult", "Executor", "JobFn", "SearchJob", "StaleRows", "error_row", "run_campaign",
           "run_identity", "run_local", "run_search_job", "run_tree_job", "seed_everything"]
