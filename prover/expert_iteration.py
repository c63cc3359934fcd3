"""Expert iteration (the Lean-STaR loop): search with the current model, keep what Lean verified,
fine-tune on it, repeat, on the same engine and distribution machinery as evaluation.

    cfg = EIConfig.load("configs/ei_logic_tiny.json")
    metrics = run_expert_iteration(cfg)        # one dict per round, also in RUN/metrics.jsonl

Round r = 0..R uses model M_r:
  1. search the training pool with M_r (the campaign runner, `eval.campaign.run_campaign`, rows
     appended to roundR/train.jsonl, tied to the theorem and to M_r's files in roundR/train.run.json);
  2. evaluate M_r on the valid split (roundR/valid.jsonl);
  3. every verified proof (status "proved": the engine says so only after `env.check` accepted the
     whole proof) becomes (state, thought, tactic) examples, deduplicated against every earlier
     example and tagged with round r (roundR/examples.jsonl); a rationale teacher can write the
     thoughts (roundR/examples_final.jsonl);
  4. per-round metrics go to metrics.jsonl and metrics.png.
M_0 is the base model fine-tuned on the seed set (the reference proofs of a random share of the
training split, replayed through the env to get their states); those theorems leave the training
pool (the rest of the split, or `train_limit` random ones of it), so every proof counted later was found
by search.  M_{r+1} is trained on the seed
set plus the examples of rounds 0..r, from the base model or from M_r (`finetune_from`).

Everything is written as it goes under `run_dir`; a killed run resumes at the theorem where it
stopped (the search files), in the middle of a training run (`train_sft`'s checkpoints), or at
the next round.  Theorems solved in an earlier round are not searched again unless
`search_solved`; with it, `curriculum` still skips those solved in every earlier round.
"""

from __future__ import annotations

import functools
import logging
import os
import random
import time
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from core.config import check_fields, from_dict
from core.jsonl import append_jsonl, read_json, read_jsonl, write_jsonl_atomic
from core.types import ProofEnv, Theorem
from eval.campaign import Campaign, run_campaign
from eval.identity import bind_run
from prover.distributed import init_ray, search_many
from search.replay import replay_states

if TYPE_CHECKING:
    from prover.train import TrainConfig

log = logging.getLogger(__name__)

# fields a resumed run may change; every other field must match the run's config.json
RUNTIME_FIELDS = ("run_dir", "rounds", "workers", "ray_address", "device", "generation_actor", "torch_threads")
FINETUNE_FROM = ("base", "last")
THOUGHT_SOURCES = ("model", "teacher")
EVALUATOR_FROM = ("policy", "fresh")


@dataclass
class EIConfig:
    run_dir: str = "runs/ei"
    # theorems (eval.datasets specs) and how many of each to use (None: all)
    train: str = "logic:train"
    valid: str = "logic:valid"
    train_limit: int | None = None  # the search pool: N random training theorems not in the seed set
    valid_limit: int | None = None
    max_difficulty: int | None = None  # keep theorems whose extra["difficulty"] is at most this
    rounds: int = 2  # rounds 0..rounds are searched; `rounds` fine-tunes happen in between
    seed: int = 0
    # the initial model: `base_model` (a checkpoint) or a fresh tiny model, fine-tuned on the seed set
    base_model: str | None = None
    tiny_size: str = "tiny"
    seed_fraction: float = 0.1  # share of the training split whose reference proofs are the seed set
    seed_count: int | None = None  # or an exact number of seed theorems
    # or every training theorem of difficulty <= seed_max_difficulty (an easy-only initial policy; the
    # harder ones form the pool, searched without their reference proofs)
    seed_max_difficulty: int | None = None
    # a curriculum by difficulty: round r searches the pool theorems of difficulty at most
    # seed_max_difficulty + (r + 1) x difficulty_step (None: the whole pool every round)
    difficulty_step: int | None = None
    canonical_names: bool = False  # the seed set's generated logic proofs get predictable binder names
    # search
    env: str = "lean-term"
    env_workers: int = 1
    lean: str | None = None
    timeout: float = 60.0
    memory_mb: int = 4096
    strategy: str = "best-first"
    search: dict[str, Any] = field(default_factory=dict)  # the strategy's config fields
    budget: str = "expansions=16"  # no `seconds` here if runs must be reproducible
    attempts: int = 1  # searches per theorem per round, each with its own seed
    generation: dict[str, Any] = field(default_factory=dict)  # GenerationConfig fields
    device: str = "auto"
    workers: int = 1  # > 1: Ray workers
    ray_address: str | None = None
    generation_actor: bool = False  # one shared generation actor (GPU) instead of a model per worker
    torch_threads: int | None = 1  # per process (a tiny model on a busy CPU is fastest on one thread)
    # data and training
    fmt: str = "thought"
    teacher: str | None = "rule"  # writes the seed set's thoughts, and EI thoughts when thoughts="teacher"
    thoughts: str = "model"  # keep the thoughts the model wrote on its verified proofs, or "teacher"
    search_solved: bool = False  # search theorems solved in an earlier round again
    curriculum: bool = False  # with search_solved: skip theorems solved in every earlier round
    train_config: dict[str, Any] = field(default_factory=dict)  # prover.train.TrainConfig fields
    finetune_from: str = "base"  # "base": each round from the base model; "last": from M_r
    # the learned evaluator (docs/evaluator.md): `evaluator` is the spec round 0 searches with (none,
    # oracle:W, evaluator:DIR); with `train_evaluator` every round also trains E_r on the labelled
    # states of rounds 0..r's training-pool search trees and round r+1 searches with E_r
    evaluator: str | None = None
    train_evaluator: bool = False
    evaluator_config: dict[str, Any] = field(default_factory=dict)  # TrainConfig fields of E_r
    evaluator_from: str = "policy"  # E_r starts from M_r's backbone ("policy") or a fresh tiny model

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Everything a run will need, checked before any work starts: field types, the train
        config (as round 0 will build it), generation, device, strategy config, budget, env and
        teacher specs.  ValueError naming the field."""
        from prover.device import check_device
        from prover.factory import check_env_spec
        from prover.policy import GenerationConfig
        from prover.tiny import SIZES
        from search.budget import Budget
        from search.strategies import STRATEGIES, make_config
        from thoughts.format import FORMATS
        from thoughts.rationale import check_teacher_spec

        where = "expert-iteration config"

        def bad(msg: str) -> ValueError:
            return ValueError(f"{where}: {msg}")

        check_fields(self, where)
        for name in ("rounds", "attempts", "workers", "env_workers"):
            v = getattr(self, name)
            if v < (0 if name == "rounds" else 1):
                raise bad(f"{name} must be an integer >= {0 if name == 'rounds' else 1}, got {v!r}")
        if not 0.0 <= self.seed_fraction <= 1.0:
            raise bad(f"seed_fraction must be in [0, 1], got {self.seed_fraction}")
        if self.difficulty_step is not None and (self.seed_max_difficulty is None or self.difficulty_step < 1):
            raise bad("difficulty_step needs seed_max_difficulty and must be >= 1")
        if self.strategy not in STRATEGIES:
            raise bad(f"unknown strategy {self.strategy!r}; choose one of {', '.join(STRATEGIES)}")
        if self.fmt not in FORMATS:
            raise bad(f"fmt must be one of {FORMATS}, got {self.fmt!r}")
        if self.finetune_from not in FINETUNE_FROM:
            raise bad(f"finetune_from must be one of {FINETUNE_FROM}, got {self.finetune_from!r}")
        if self.thoughts not in THOUGHT_SOURCES:
            raise bad(f"thoughts must be one of {THOUGHT_SOURCES}, got {self.thoughts!r}")
        if self.thoughts == "teacher" and not self.teacher:
            raise bad('thoughts="teacher" needs a teacher')
        if self.tiny_size not in SIZES:
            raise bad(f"tiny_size {self.tiny_size!r} is unknown; use one of {', '.join(SIZES)}")
        check_device(self.device, f"{where}: device")
        check_env_spec(self.env, f"{where}: env")
        if self.teacher:
            check_teacher_spec(self.teacher, f"{where}: teacher")
        try:
            Budget.parse(self.budget)
        except ValueError as e:
            raise bad(f"budget: {e}") from None
        make_config(self.strategy, dict(self.search))
        GenerationConfig.from_dict(dict(self.generation), where=f"{where}: generation")
        self.round_train_config()
        self._validate_evaluator(where)

    def _validate_evaluator(self, where: str) -> None:
        from prover.factory import check_evaluator_spec
        from search.strategies import check_evaluator, make_config

        check_evaluator_spec(self.evaluator, f"{where}: evaluator")
        if self.evaluator_from not in EVALUATOR_FROM:
            raise ValueError(f"{where}: evaluator_from must be one of {EVALUATOR_FROM}, got {self.evaluator_from!r}")
        try:
            check_evaluator(make_config(self.strategy, dict(self.search)), self.evaluator not in (None, "none"))
        except ValueError as e:
            raise ValueError(f"{where}: round 0: {e}; set 'evaluator' (later rounds use E_r with "
                             "train_evaluator)") from None
        self.evaluator_train_config()

    def evaluator_train_config(self) -> TrainConfig:
        """The TrainConfig of every round's evaluator (the run's seed unless evaluator_config sets one)."""
        from prover.train import TrainConfig

        return TrainConfig.from_dict({"seed": self.seed, **self.evaluator_config},
                                     where="expert-iteration config: evaluator_config")

    def round_train_config(self) -> TrainConfig:
        """The TrainConfig every round trains with (the run's seed unless train_config sets one)."""
        from prover.train import TrainConfig

        return TrainConfig.from_dict({"seed": self.seed, **self.train_config},
                                     where="expert-iteration config: train_config")

    @classmethod
    def from_dict(cls, d: dict[str, Any], where: str = "expert-iteration config") -> EIConfig:
        """Unknown keys and values of the wrong type are a ValueError naming the field (core.config)."""
        return from_dict(cls, d, where)

    @classmethod
    def load(cls, path: str | Path) -> EIConfig:
        return cls.from_dict(read_json(path, "expert-iteration config"), where=str(path))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


# --------------------------------------------------------------------------- small pieces


def job_seed(seed: int, round_: int, name: str, attempt: int) -> int:
    """A job's seed: a function of the run seed, the round, the theorem and the attempt only."""
    return zlib.crc32(f"{seed}/{round_}/{name}/{attempt}".encode()) & 0x7FFFFFFF


def examples_from_rows(rows: Iterable[dict[str, Any]], round_: int, seen: set[tuple[str, str, str]]) -> list[dict]:
    """Training examples from the verified proofs among `rows`, in (name, attempt) order, skipping
    (theorem, state, tactic) keys already in `seen` (which is updated)."""
    out = []
    for row in sorted(rows, key=lambda r: (r["name"], r["attempt"])):
        if row.get("status") != "proved":
            continue
        states, proof = row.get("states") or [], row.get("proof") or []
        if len(states) != len(proof):
            raise ValueError(f"result row {row['name']}: {len(states)} states for {len(proof)} proof steps")
        thoughts = list(row.get("thoughts") or []) + [""] * len(proof)
        for state, tactic, thought in zip(states, proof, thoughts, strict=False):
            key = (row["name"], state, tactic)
            if key in seen:
                continue
            seen.add(key)
            out.append({"state": state, "thought": thought, "tactic": tactic, "theorem": row["name"],
                        "source": f"ei-round{round_}", "round": round_})
    return out


def pick_seed_set(theorems: Sequence[Theorem], fraction: float, count: int | None, seed: int) -> list[Theorem]:
    with_ref = sorted((t for t in theorems if t.extra.get("reference_proof")), key=lambda t: t.name)
    k = count if count is not None else round(fraction * len(theorems))
    if k > len(with_ref):
        raise ValueError(f"seed set of {k} theorems asked, only {len(with_ref)} have a reference proof")
    return sorted(random.Random(seed).sample(with_ref, k), key=lambda t: t.name)


def _make_env(spec: str, lean: str | None, timeout: float, memory_mb: int, workers: int) -> ProofEnv:
    from prover.factory import make_env

    return make_env(spec, lean=lean, timeout=timeout, memory_mb=memory_mb, workers=workers)


def _set_threads(n: int | None) -> None:
    if n:
        import torch

        torch.set_num_threads(n)


def _make_policy(model_dir: str, fmt: str, device: str, generation: dict[str, Any], threads: int | None) -> Any:
    from prover.factory import make_policy

    _set_threads(threads)
    return make_policy(f"model:{model_dir}", fmt=fmt, device=device, generation=dict(generation))


# --------------------------------------------------------------------------- the loop


class _Run:
    """The files of one expert-iteration run and the steps that fill them (each one resumable)."""

    def __init__(self, cfg: EIConfig, progress: bool) -> None:
        from eval.datasets import load_dataset

        self.cfg, self.progress = cfg, progress
        self.dir = Path(cfg.run_dir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self._check_config()
        from prover.campaign import env_identity

        self.env_id = env_identity(cfg.env, lean=cfg.lean)
        train = self._easy(load_dataset(cfg.train))
        self.valid = self._easy(load_dataset(cfg.valid))[: cfg.valid_limit]
        if cfg.seed_max_difficulty is not None:
            self.seed_set = [t for t in train if t.extra.get("reference_proof")
                             and t.extra.get("difficulty", 0) <= cfg.seed_max_difficulty]
        else:
            self.seed_set = pick_seed_set(train, cfg.seed_fraction, cfg.seed_count, cfg.seed)
        seed_names = {t.name for t in self.seed_set}
        rest = [t for t in train if t.name not in seed_names]
        if cfg.train_limit is not None and cfg.train_limit < len(rest):  # a random pool, in file order
            keep = set(random.Random(cfg.seed + 1).sample(range(len(rest)), cfg.train_limit))
            rest = [t for i, t in enumerate(rest) if i in keep]
        self.pool = rest
        self.env_factory = functools.partial(_make_env, cfg.env, cfg.lean, cfg.timeout, cfg.memory_mb,
                                             cfg.env_workers)
        from search.budget import Budget

        self.budget = Budget.parse(cfg.budget)

    def _easy(self, theorems: list[Theorem]) -> list[Theorem]:
        top = self.cfg.max_difficulty
        return theorems if top is None else [t for t in theorems if t.extra.get("difficulty", 0) <= top]

    def _check_config(self) -> None:
        """The run directory belongs to one config (RUNTIME_FIELDS may change): `bind_run` on config.json.
        A directory with nothing in it but config.json (a run that failed before its first output)
        takes the new config."""
        bound = any(p.name != "config.json" for p in self.dir.iterdir())
        bind_run(self.dir / "config.json", self.cfg.to_dict(), ignore=RUNTIME_FIELDS, bound=bound,
                 what="expert-iteration run", hint="use a new run_dir")

    def round_dir(self, r: int) -> Path:
        d = self.dir / f"round{r}"
        d.mkdir(parents=True, exist_ok=True)
        return d

    # -- data ----------------------------------------------------------------------------------
    def _with_thoughts(self, src: Path, overwrite: bool) -> Path:
        """`src` with the teacher's thoughts (resumable), or `src` itself when none are wanted."""
        cfg = self.cfg
        if cfg.fmt != "thought" or not cfg.teacher:
            return src
        from thoughts.rationale import add_rationales, make_teacher

        dst = src.with_name(src.stem + "_final.jsonl")
        add_rationales(src, dst, make_teacher(cfg.teacher), overwrite=overwrite, progress=self.progress)
        return dst

    def seed_examples(self) -> Path:
        """The seed set's reference proofs as examples (states by replay through the env)."""
        d = self.dir / "seed"
        d.mkdir(exist_ok=True)
        f = d / "examples.jsonl"
        if not f.is_file():
            from eval.logic.examples import reference_proof

            proofs = [(t, reference_proof(t, self.cfg.canonical_names)) for t in self.seed_set]
            env = self.env_factory()
            try:
                states = replay_states(env, proofs)
            finally:
                env.close()
            rows = [{"state": s, "thought": "", "tactic": tac, "theorem": t.name, "source": "seed", "round": -1}
                    for (t, proof), ss in zip(proofs, states, strict=True) for s, tac in zip(ss, proof, strict=True)]
            write_jsonl_atomic(f, rows)
        return self._with_thoughts(f, overwrite=False)

    def round_examples(self, r: int, rows: list[dict], seen: set[tuple[str, str, str]]) -> Path:
        f = self.round_dir(r) / "examples.jsonl"
        new = examples_from_rows(rows, r, seen)
        if not f.is_file():
            write_jsonl_atomic(f, new)
        return self._with_thoughts(f, overwrite=self.cfg.thoughts == "teacher")

    # -- models --------------------------------------------------------------------------------
    def base(self, seed_file: Path) -> str:
        cfg = self.cfg
        if cfg.base_model:
            return cfg.base_model
        d = self.dir / "base"
        if not (d / "config.json").is_file() or not any(d.glob("tokenizer*")):
            from prover.tiny import make_tiny_model
            from thoughts.format import build_prompt, format_target

            texts = [build_prompt(r["state"], cfg.fmt) + format_target(r["thought"], r["tactic"], cfg.fmt)
                     for r in read_jsonl(seed_file)]
            texts += [t.formal_statement for t in self.pool]
            make_tiny_model(texts, d, size=cfg.tiny_size, seed=cfg.seed)
        return str(d)

    def model(self, r: int, base: str, data: list[Path]) -> tuple[str, float, int]:
        """M_r: (folder, seconds spent training it now, examples it was trained on)."""
        from prover.train import train_sft

        rows = [row for f in data for row in read_jsonl(f)]
        if not rows:
            if r == 0 and self.cfg.base_model:
                return self.cfg.base_model, 0.0, 0
            raise ValueError("no training examples for the first model: give a seed set or a base_model")
        tc = self.cfg.round_train_config()
        init = base if (r == 0 or self.cfg.finetune_from == "base") else str(self.dir / f"round{r - 1}" / "model" / "final")
        t0 = time.perf_counter()
        final = train_sft(rows, self.round_dir(r) / "model", tc, init=init, fmt=self.cfg.fmt, progress=self.progress)
        return str(final), time.perf_counter() - t0, len(rows)

    # -- search --------------------------------------------------------------------------------
    def search(self, r: int, theorems: Sequence[Theorem], model_dir: str, out: Path,
               evaluator: str | None = None) -> tuple[list[dict], int]:
        """All result rows of round r for `theorems` (those of an interrupted earlier call included)
        and the number of jobs given up with an error this time (one campaign, see eval.campaign).
        With `evaluator` (a spec) the searches use it; with train_evaluator the trees are kept
        (OUT.trees.jsonl beside OUT)."""
        from prover.campaign import evaluator_factory, evaluator_identity, policy_identity

        cfg = self.cfg
        policy_factory = functools.partial(_make_policy, model_dir, cfg.fmt, cfg.device, cfg.generation,
                                           cfg.torch_threads)
        campaign = Campaign(
            theorems=list(theorems), env_factory=self.env_factory, policy_factory=policy_factory,
            strategy=cfg.strategy, config=cfg.search, budget=self.budget, out=out, attempts=cfg.attempts,
            seed=cfg.seed, job_seed=lambda t, a: job_seed(cfg.seed, r, t.name, a),
            identity={"round": r, "env": cfg.env, "env_id": self.env_id, "fmt": cfg.fmt,
                      "generation": cfg.generation, "policy_id": policy_identity(f"model:{model_dir}")},
            runtime={"model": model_dir, "attempts": cfg.attempts, "theorems": len(theorems)},
            executor=functools.partial(search_many, workers=cfg.workers, ray_address=cfg.ray_address,
                                       generation="actor" if cfg.generation_actor else "worker"),
            label=f"round {r} {out.stem}", progress=self.progress, hint="use a new run_dir",
            save_trees=cfg.train_evaluator, evaluator_factory=evaluator_factory(evaluator, cfg.device),
        )
        if evaluator not in (None, "none"):  # only then: runs without one keep their identity
            campaign.identity = {**campaign.identity, "evaluator": evaluator, "evaluator_id": evaluator_identity(evaluator)}
        result = run_campaign(campaign)
        return result.rows, len(result.errors)

    def evaluator_of(self, r: int) -> str | None:
        """The evaluator spec round r searches with: E_{r-1} with train_evaluator (once it exists),
        else the configured one."""
        if self.cfg.train_evaluator and r > 0:
            final = self.dir / f"round{r - 1}" / "evaluator" / "final"
            if (final / "config.json").is_file():
                return f"evaluator:{final}"
        return self.cfg.evaluator

    def train_round_evaluator(self, r: int, model_dir: str) -> dict[str, Any]:
        """E_r: trained on the labelled states of rounds 0..r's training-pool trees (rows in
        roundR/evaluator_data.jsonl), measured on round r's valid trees; its metrics."""
        from prover.value_data import rows_from_tree_files
        from prover.value_model import train_evaluator
        from prover.value_report import evaluator_report

        trees = [p for k in range(r + 1) if (p := self.dir / f"round{k}" / "train.trees.jsonl").is_file()]
        difficulty = {t.name: t.extra["difficulty"] for t in [*self.pool, *self.valid]
                      if isinstance(t.extra.get("difficulty"), int)}
        rows = rows_from_tree_files(trees, difficulty, source="expert-iteration")
        write_jsonl_atomic(self.round_dir(r) / "evaluator_data.jsonl", rows)
        if len({row["label"] for row in rows}) < 2:
            log.warning("round %d: %d labelled states, not both kinds: no evaluator this round", r, len(rows))
            return {"evaluator_states": len(rows)}
        init = model_dir if self.cfg.evaluator_from == "policy" else None
        final = train_evaluator(rows, self.round_dir(r) / "evaluator", self.cfg.evaluator_train_config(), init=init,
                                progress=self.progress)
        m: dict[str, Any] = {"evaluator": str(final), "evaluator_states": len(rows)}
        valid_trees = self.round_dir(r) / "valid.trees.jsonl"
        test = rows_from_tree_files([valid_trees], difficulty) if valid_trees.is_file() else []
        if len({row["label"] for row in test}) == 2:
            from prover.factory import make_evaluator

            rep = evaluator_report(make_evaluator(f"evaluator:{final}", device=self.cfg.device), test, reps=0)
            m["evaluator_auc_valid"] = rep["overall"]["auc"]
        return m

    def to_search(self, r: int, history: list[dict[str, set[str]]]) -> list[Theorem]:
        """The pool minus what earlier rounds solved (unless search_solved; then, with curriculum,
        minus what every earlier round solved or skipped); with difficulty_step, only the theorems
        round r's difficulty cap lets in."""
        pool = self.pool
        if self.cfg.difficulty_step is not None:
            cap = (self.cfg.seed_max_difficulty or 0) + (r + 1) * self.cfg.difficulty_step
            pool = [t for t in pool if t.extra.get("difficulty", 0) <= cap]
        if not history:
            return list(pool)
        if not self.cfg.search_solved:
            done = set().union(*(h["solved"] for h in history))
        elif self.cfg.curriculum:
            done = set.intersection(*(h["solved"] | h["skipped"] for h in history))
        else:
            done = set()
        return [t for t in pool if t.name not in done]


def _solved(rows: Iterable[dict]) -> set[str]:
    return {r["name"] for r in rows if r.get("status") == "proved"}


def run_expert_iteration(config: EIConfig, progress: bool = True) -> list[dict]:
    """Run (or resume) the loop; the per-round metrics, also in RUN/metrics.jsonl (+ metrics.png)."""
    cfg = config
    run = _Run(cfg, progress)
    _set_threads(cfg.torch_threads)
    metrics_file = run.dir / "metrics.jsonl"
    metrics = {m["round"]: m for m in read_jsonl(metrics_file)}
    started_ray = cfg.workers > 1 or cfg.ray_address is not None
    if started_ray:
        started_ray = init_ray(num_cpus=cfg.workers + int(cfg.generation_actor), address=cfg.ray_address)
    try:
        seed_file = run.seed_examples()
        base = run.base(seed_file) if run.seed_set or cfg.base_model else None
        if base is None:
            raise ValueError("no seed set and no base_model: nothing to start from")
        data = [seed_file]
        seen = {(r["theorem"], r["state"], r["tactic"]) for r in read_jsonl(seed_file)}
        history: list[dict[str, set[str]]] = []
        for r in range(cfg.rounds + 1):
            t0 = time.perf_counter()
            rd = run.round_dir(r)
            todo = run.to_search(r, history)
            if r in metrics:  # finished earlier: rebuild what later rounds need from its files
                rows = [row for row in read_jsonl(rd / "train.jsonl")]
                history.append({"solved": _solved(rows), "skipped": {t.name for t in run.pool} - {t.name for t in todo}})
                data.append(run.round_examples(r, rows, seen))
                continue
            model_dir, train_s, n_train = run.model(r, base, data)
            log.info("round %d: searching %d of %d training theorems with %s", r, len(todo), len(run.pool), model_dir)
            ev = run.evaluator_of(r)
            train_rows, err_t = run.search(r, todo, model_dir, rd / "train.jsonl", ev)
            valid_rows, err_v = run.search(r, run.valid, model_dir, rd / "valid.jsonl", ev)
            solved = _solved(train_rows)
            before = set().union(*(h["solved"] for h in history)) if history else set()
            history.append({"solved": solved, "skipped": {t.name for t in run.pool} - {t.name for t in todo}})
            n_seen = len(seen)
            data.append(run.round_examples(r, train_rows, seen))
            everything = train_rows + valid_rows
            m = {
                "round": r, "model": model_dir,
                "train_total": len(run.pool), "train_searched": len(todo), "train_solved": len(solved),
                "train_new": len(solved - before), "train_solved_cum": len(solved | before),
                "valid_total": len(run.valid), "valid_solved": len(_solved(valid_rows)),
                "errors": err_t + err_v,
                "seed_examples": sum(1 for _ in read_jsonl(data[0])),
                "examples_trained_on": n_train, "examples_new": len(seen) - n_seen,
                "examples_total": sum(1 for f in data for _ in read_jsonl(f)),
                "search_tokens": sum(int(x.get("tokens", 0)) for x in everything),
                "search_seconds": round(sum(float(x.get("wall_seconds", 0.0)) for x in everything), 3),
                "train_seconds": round(train_s, 3), "round_seconds": round(time.perf_counter() - t0, 3),
            }
            if cfg.train_evaluator:
                m.update({"searched_with": ev, **run.train_round_evaluator(r, model_dir)})
                m["round_seconds"] = round(time.perf_counter() - t0, 3)
            append_jsonl(metrics_file, m)
            metrics[r] = m
            plot_metrics([metrics[k] for k in sorted(metrics)], run.dir / "metrics.png")
            log.info("round %d: train %d/%d solved (%d new), valid %d/%d, %d new examples", r, m["train_solved"],
                     m["train_searched"], m["train_new"], m["valid_solved"], m["valid_total"], m["examples_new"])
    finally:
        if started_ray:
            import ray

            ray.shutdown()
    return [metrics[k] for k in sorted(metrics)]


def plot_metrics(rows: Sequence[dict], path: Path) -> None:
    """Solved counts (train, cumulative train, valid) and examples per round, as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rounds = [m["round"] for m in rows]
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 4))
    a.plot(rounds, [m["train_solved"] for m in rows], "o-", label="train solved (this round)")
    a.plot(rounds, [m["train_solved_cum"] for m in rows], "s--", label="train solved (so far)")
    a.plot(rounds, [m["valid_solved"] for m in rows], "^-", label="valid solved")
    a.set(xlabel="round", ylabel="theorems", title="solved per round")
    a.set_xticks(rounds)
    a.legend()
    b.bar(rounds, [m["examples_total"] for m in rows], color="tab:gray")
    b.set(xlabel="round", ylabel="examples", title="training examples (seed + verified proofs)")
    b.set_xticks(rounds)
    fig.tight_layout()
    tmp = path.with_name(path.stem + ".tmp.png")
    fig.savefig(tmp, dpi=100)
    plt.close(fig)
    os.replace(tmp, path)
