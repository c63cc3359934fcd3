"""`prover demo`: the whole pipeline on the real-Lean logic benchmark, with no setup beyond install.

    prover demo --out runs/demo

1. replays the reference proofs of `logic:train` in the real Lean (term-refinement env) and
   writes one training row per step (DIR/examples.jsonl);
2. adds a thought to every row with the rule-based rationale teacher (DIR/examples_thought.jsonl;
   only with `--fmt thought`);
3. trains a tiny policy from scratch on them (DIR/policy/final);
4. searches `logic:valid` with best-first search, every step and every final proof checked by Lean
   (DIR/eval: results.jsonl, report.md, solve_rate_vs_budget.png), and prints the solved counts.

The recipe (format, model size, steps, beams, budget, generation) comes from configs/demo.json;
every command-line flag given overrides its field.  Every step resumes: rerun the same command
after an interruption.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

DEFAULT_CONFIG = Path(__file__).resolve().parents[2] / "configs" / "demo.json"


@dataclass
class DemoConfig:
    """The demo recipe: `train` holds TrainConfig fields, `generation` GenerationConfig fields
    (num_beams is always `n`; max_new_tokens comes from `max_new_tokens[fmt]`, since a thought
    costs several times the tokens of its tactic), `search` best-first config fields (n is always `n`)."""

    fmt: str = "tactic"
    train_steps: int = 800
    n: int = 8
    budget: str = "expansions=32"
    max_new_tokens: dict[str, int] = field(default_factory=lambda: {"tactic": 32, "thought": 96})
    train: dict[str, Any] = field(default_factory=dict)
    generation: dict[str, Any] = field(default_factory=dict)
    search: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        from prover.policy import GenerationConfig
        from prover.train import TrainConfig
        from search.strategies import make_config
        from thoughts.format import check_format

        check_format(self.fmt)
        for name in ("train_steps", "n"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"demo config: {name} must be a positive integer, got {v!r}")
        if "num_beams" in self.generation or "n" in self.search:
            raise ValueError("demo config: set beams with the top-level 'n', not generation.num_beams or search.n")
        if "max_new_tokens" in self.generation:
            raise ValueError("demo config: set the top-level 'max_new_tokens' (per format), not generation's")
        mnt = self.max_new_tokens.get(self.fmt) if isinstance(self.max_new_tokens, dict) else None
        if isinstance(mnt, bool) or not isinstance(mnt, int) or mnt < 1:
            raise ValueError(f"demo config: max_new_tokens needs a positive integer for {self.fmt!r}, "
                             f"got {self.max_new_tokens!r}")
        TrainConfig.from_dict(dict(self.train), where="demo config 'train'")
        GenerationConfig.from_dict(dict(self.generation), where="demo config 'generation'")
        make_config("best-first", {"n": self.n, **self.search})

    @classmethod
    def load(cls, path: str | Path) -> DemoConfig:
        from core.jsonl import read_json

        p = Path(path)
        d = read_json(p, "demo config")
        if not isinstance(d, dict):
            raise ValueError(f"{p}: expected a JSON object")
        bad = sorted(set(d) - {f.name for f in fields(cls)})
        if bad:
            raise ValueError(f"{p}: unknown field(s) {', '.join(bad)}")
        return cls(**d)


def _kv(d: dict[str, Any]) -> str:
    return ",".join(f"{k}={str(v).lower() if isinstance(v, bool) else v}" for k, v in d.items())


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="train a tiny policy on the logic benchmark and search its valid split in real Lean",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", type=Path, default=Path("runs/demo"), help="run directory")
    p.add_argument("--config", type=Path, default=DEFAULT_CONFIG, help="demo recipe (JSON, default configs/demo.json)")
    p.add_argument("--fmt", choices=("thought", "tactic"), default=None, help="with or without thoughts")
    p.add_argument("--train-config", type=Path, default=None,
                   help="SFT config (TrainConfig JSON) replacing the recipe's 'train' fields")
    p.add_argument("--train-steps", type=int, default=None, help="optimizer steps")
    p.add_argument("--budget", default=None, help="search budget per theorem, e.g. expansions=32")
    p.add_argument("--n", type=int, default=None, help="candidates per expansion (beam-decoded)")
    p.add_argument("--split", default="valid", help="the split to search: valid or test")
    p.add_argument("--limit", type=int, default=None, help="only the first N theorems of the split")
    p.add_argument("--workers", type=int, default=1, help="parallel search workers (Ray when > 1)")
    p.add_argument("--lean", default=None, help="lean executable (default: found or the embedded one)")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=run)


def resolve(args: argparse.Namespace) -> DemoConfig:
    """The recipe file with the command-line overrides applied (checked)."""
    cfg = DemoConfig.load(args.config)
    over = {k: getattr(args, a) for k, a in (("fmt", "fmt"), ("train_steps", "train_steps"), ("n", "n"),
                                             ("budget", "budget")) if getattr(args, a) is not None}
    if args.train_config is not None:
        from core.jsonl import read_json

        over["train"] = read_json(args.train_config, "train config")
    d = {f.name: getattr(cfg, f.name) for f in fields(cfg)}
    d.update(over)
    return DemoConfig(**d)


def eval_argv(cfg: DemoConfig, model: Path, args: argparse.Namespace) -> list[str]:
    """The `prover eval` command line of step 4."""
    search = _kv({"n": cfg.n, **cfg.search})
    generation = _kv({"num_beams": cfg.n, "max_new_tokens": cfg.max_new_tokens[cfg.fmt], **cfg.generation})
    argv = ["eval", "--dataset", f"logic:{args.split}", "--env", "lean-term", "--policy", f"model:{model}",
            "--strategy", "best-first", "--config", search, "--generation", generation,
            "--budget", cfg.budget, "--fmt", cfg.fmt, "--device", "cpu", "--workers", str(args.workers),
            "--label", f"demo best-first/{cfg.fmt}", "--out", str(args.out / "eval")]
    if args.limit:
        argv += ["--limit", str(args.limit)]
    if args.lean:
        argv += ["--lean", args.lean]
    if args.no_progress:
        argv.append("--no-progress")
    return argv


def run(args: argparse.Namespace) -> int:
    from core.jsonl import write_jsonl_atomic
    from eval.logic import load_split
    from eval.logic.examples import reference_examples
    from prover.cli import main as prover
    from prover.factory import make_env
    from prover.train import TrainConfig, train_sft
    from thoughts.rationale import RuleTeacher, add_rationales

    cfg = resolve(args)
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    progress = not args.no_progress

    examples = out / "examples.jsonl"
    if not examples.is_file():
        env = make_env("lean-term", lean=args.lean)
        try:
            rows = reference_examples(env, load_split("train"))
        finally:
            env.close()
        write_jsonl_atomic(examples, rows)
        print(f"[1/4] {len(rows)} training steps from the reference proofs of logic:train -> {examples}")
    else:
        print(f"[1/4] reusing {examples}")

    data = examples
    if cfg.fmt == "thought":
        data = out / "examples_thought.jsonl"
        added = add_rationales(examples, data, RuleTeacher(), progress=progress)
        print(f"[2/4] rule-teacher thoughts: {added} new rows -> {data}")
    else:
        print("[2/4] no thoughts (fmt tactic)")

    config = TrainConfig.from_dict(dict(cfg.train), where=f"{args.config} 'train'")
    config.max_steps = cfg.train_steps
    model = train_sft(data, out / "policy", config, init=None, fmt=cfg.fmt, progress=progress)
    print(f"[3/4] tiny {cfg.fmt} policy ({config.tiny_size}, {cfg.train_steps} steps) trained -> {model}")

    print(f"[4/4] best-first search of logic:{args.split} in real Lean (n={cfg.n}, budget {cfg.budget})")
    code = prover(eval_argv(cfg, model, args))
    if code:
        print(f"prover demo: the search step exited {code}; rerun to resume", file=sys.stderr)
    return code
