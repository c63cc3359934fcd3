"""Campaigns from the prover's side: specs to factories, the fingerprints of what the specs name,
the executor (in this process or on Ray), and the evaluation run `prover eval` and `prover demo`
share.  The runner itself is `eval.campaign.run_campaign` (below `prover` so the logic baseline
can use it too).

    outcome = run_eval(EvalSpec(dataset="logic:valid", env="lean-term", policy="vocab",
                                strategy="best-first", budget="expansions=16", out=Path("runs/vocab")))

What a run's identity holds besides the strategy, its config, the budget and the seed
(`eval.campaign.run_identity`): the specs themselves and what they point at, so that a rerun
with the same words but other things behind them is a different run:

* `env_id`: for `lean-term` and `repl` the Lean toolchain's identity (version, the binary's
  bytes, its shared library, a workspace's manifest: `lean_env.verify_cache.toolchain_identity`);
  for `scripted:`/`double:` the world file's digest;
* `policy_id`: for `model:`/`vllm:` a local checkpoint folder's digest (every file; large ones by
  size, time and ends), a hub id as given; for `scripted:` the world file's digest.
"""

from __future__ import annotations

import functools
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from eval.campaign import Campaign, CampaignResult, Executor, run_campaign
from eval.identity import path_fingerprint
from eval.report import RESULTS_FILE, RUN_FILE
from search.budget import Budget

TREES_FILE = "trees.jsonl"
DEFAULT_BUDGET = "expansions=64"
UNLIMITED = "unlimited"


def parse_budget(text: str) -> Budget:
    """A budget flag: `expansions=64,tokens=5000,...`, or `unlimited` for none.  An empty text is an
    error (it used to mean "no limit" silently)."""
    if text.strip().lower() == UNLIMITED:
        return Budget()
    if not text.strip():
        raise ValueError(f"budget is empty: give NAME=VALUE parts (e.g. {DEFAULT_BUDGET}), or '{UNLIMITED}' for none")
    return Budget.parse(text)


def check_number(value: float | int | None, flag: str, *, low: float = 1, integer: bool = True,
                 optional: bool = False) -> None:
    """A numeric setting that means something: finite, an integer where one is needed, and >= low
    (low=0 with integer=False: strictly positive).  ValueError naming the flag."""
    if value is None and optional:
        return
    finite = (value is not None and not isinstance(value, bool) and isinstance(value, int | float)
              and math.isfinite(value))
    if integer:
        if not (finite and float(value).is_integer() and value >= low):
            raise ValueError(f"{flag} must be an integer >= {low:g}, got {value!r}")
    elif not (finite and (value > low if low == 0 else value >= low)):
        raise ValueError(f"{flag} must be a finite number {'> 0' if low == 0 else f'>= {low:g}'}, got {value!r}")


def env_identity(spec: str, *, lean: str | None = None, project: str | None = None) -> dict[str, Any]:
    """What an env spec runs on (see the module docstring)."""
    from prover.factory import _WORLD_KINDS, _world_path, parse_env_spec

    kind, _ = parse_env_spec(spec)
    if kind in _WORLD_KINDS:
        return {"world": path_fingerprint(_world_path(spec, "env"))}
    if kind in ("lean-term", "repl"):
        from lean_env.toolchain import find_toolchain
        from lean_env.verify_cache import toolchain_identity

        return {"lean": toolchain_identity(find_toolchain(lean=lean, project=project))}
    return {}


def policy_identity(spec: str) -> dict[str, Any]:
    """What a policy spec loads (see the module docstring)."""
    kind, _, arg = spec.partition(":")
    if kind == "scripted":
        return {"world": path_fingerprint(Path(arg).expanduser())}
    if kind in ("model", "vllm") and arg:
        p = Path(arg).expanduser()
        return {"checkpoint": path_fingerprint(p)} if p.exists() else {"hub": arg}
    return {}


def evaluator_identity(spec: str | None) -> dict[str, Any]:
    """What an evaluator spec loads: the world file or the value model folder's digest."""
    if not spec or spec == "none":
        return {}
    kind, _, arg = spec.partition(":")
    return {"world" if kind == "oracle" else "checkpoint": path_fingerprint(Path(arg).expanduser())}


def evaluator_factory(spec: str | None, device: str | None = None) -> Any:
    """A picklable factory of the evaluator `spec` names (None for no evaluator)."""
    if not spec or spec == "none":
        return None
    from prover.factory import make_evaluator

    return functools.partial(make_evaluator, spec, device=device or "auto")


def executor(workers: int = 1, ray_address: str | None = None, **kw: Any) -> Executor:
    """`search_many` as a campaign's executor: in this process (workers=1) or on Ray."""
    from prover.distributed import search_many

    return functools.partial(search_many, workers=workers, ray_address=ray_address, **kw)


# --------------------------------------------------------------------------- an evaluation run


@dataclass
class EvalSpec:
    """One `prover eval` run (the flags of that command, as fields)."""

    dataset: str
    env: str
    policy: str
    strategy: str
    out: Path
    attempts: int = 1
    budget: str = DEFAULT_BUDGET
    config: dict[str, Any] = field(default_factory=dict)
    fmt: str | None = None
    prompt: str | None = None  # a named prompt format (thoughts.prompts); default: the checkpoint's own
    trust_remote_code: bool = False
    temperature: float | None = None
    sample: bool = False
    generation: dict[str, Any] = field(default_factory=dict)
    device: str | None = None
    workers: int = 1
    ray_address: str | None = None
    limit: int | None = None
    seed: int = 0
    label: str | None = None
    ks: list[int] | None = None
    lean: str | None = None
    project: str | None = None
    timeout: float = 60.0
    memory_mb: int = 4096
    save_trees: bool = False
    rerun_stale: bool = False
    progress: bool = True
    evaluator: str | None = None  # an evaluator spec (prover.factory.make_evaluator): none, oracle:W, evaluator:DIR

    def check(self) -> Budget:
        """The numbers (named by their flags), then the budget."""
        check_number(self.attempts, "--attempts", low=1)
        check_number(self.limit, "--limit", low=1, optional=True)
        check_number(self.timeout, "--timeout", low=0, integer=False)
        check_number(self.memory_mb, "--memory-mb", low=1)
        check_number(self.workers, "--workers", low=1)
        from prover.factory import check_evaluator_spec

        check_evaluator_spec(self.evaluator, "--evaluator")
        try:
            return parse_budget(self.budget)
        except ValueError as e:
            raise ValueError(f"--budget: {e}") from None


@dataclass
class EvalOutcome:
    label: str
    theorems: int
    budget: Budget
    result: CampaignResult
    paths: dict[str, Path]
    summary: dict[str, Any]


def _policy_name(spec: str) -> str:
    """A short name for labels: the checkpoint folder of a model (its parent for .../final), else the kind."""
    kind, _, arg = spec.partition(":")
    if kind not in ("model", "vllm") or not arg:
        return kind
    p = Path(arg)
    return p.parent.name if p.name in ("final", "") and p.parent.name else p.name


def run_eval(spec: EvalSpec) -> EvalOutcome:
    """Run (or resume) an evaluation into `spec.out` (results.jsonl, run.json, trees.jsonl with
    save_trees) and write its report (report.json, report.md, the plot)."""
    import json

    from eval.datasets import load_dataset
    from eval.report import load_run, write_report
    from prover.factory import make_env, make_policy

    budget = spec.check()
    theorems = load_dataset(spec.dataset)
    if spec.limit is not None:
        theorems = theorems[: spec.limit]
    if not theorems:
        raise ValueError(f"dataset {spec.dataset!r} has no theorems")
    from eval.dataset_identity import dataset_identity
    from prover.prompted import effective_prompt

    prompt = effective_prompt(spec.policy, spec.prompt, spec.fmt)
    dataset_id = dataset_identity(spec.dataset, theorems)
    label = spec.label or f"{spec.strategy}/{_policy_name(spec.policy)}" + (f"/{prompt}" if prompt else "")
    # the dataset's content hash is recorded (runtime) but not part of the identity: a changed
    # statement makes its own rows stale (content_hash per row), not the whole run a different one
    identity = {"dataset": spec.dataset, "env": spec.env,
                "policy": spec.policy, "fmt": spec.fmt, "prompt": prompt,
                "limit": spec.limit, "temperature": spec.temperature, "sample": spec.sample,
                "generation": spec.generation,
                "env_id": env_identity(spec.env, lean=spec.lean, project=spec.project),
                "policy_id": policy_identity(spec.policy),
                "evaluator": spec.evaluator or "none", "evaluator_id": evaluator_identity(spec.evaluator)}
    runtime = {"label": label, "attempts": spec.attempts, "theorems": len(theorems),
               "dataset_hash": dataset_id["content_hash"], "dataset_id": dataset_id,
               "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    policy_kw: dict[str, Any] = {k: v for k, v in (("fmt", spec.fmt), ("temperature", spec.temperature),
                                                   ("device", spec.device)) if v is not None}
    if spec.prompt is not None:
        policy_kw["prompt"] = spec.prompt
    if spec.trust_remote_code:
        policy_kw["trust_remote_code"] = True
    if spec.sample:
        policy_kw["sample"] = True
    if spec.generation:
        policy_kw["generation"] = spec.generation
    out = Path(spec.out)
    campaign = Campaign(
        theorems=theorems,
        env_factory=functools.partial(make_env, spec.env, lean=spec.lean, project=spec.project,
                                      timeout=spec.timeout, memory_mb=spec.memory_mb),
        policy_factory=functools.partial(make_policy, spec.policy, **policy_kw),
        evaluator_factory=evaluator_factory(spec.evaluator, spec.device),
        strategy=spec.strategy, config=spec.config, budget=budget, out=out / RESULTS_FILE,
        attempts=spec.attempts, seed=spec.seed, identity=identity, runtime=runtime,
        identity_file=out / RUN_FILE, trees_file=out / TREES_FILE,
        executor=executor(spec.workers, spec.ray_address), save_trees=spec.save_trees,
        rerun_stale=spec.rerun_stale, label=f"eval {label}", progress=spec.progress,
        hint="use another --out",
        stale_hint=(f"rerun with --rerun-stale to run them again (their rows move to "
                    f"{out / 'results.stale.jsonl'}), or use another --out"),
    )
    result = run_campaign(campaign)
    paths = write_report([load_run(out)], out, ks=spec.ks, seed=spec.seed)
    summary = json.loads(paths["json"].read_text(encoding="utf-8"))["runs"][0]
    return EvalOutcome(label, len(theorems), budget, result, paths, summary)
