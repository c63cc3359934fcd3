"""`prover demo`: the whole pipeline on the real-Lean logic benchmark, with no setup beyond install.

    prover demo --out runs/demo

1. replays the reference proofs of `logic:train`, of the first `extra_theorems` extra training
   theorems (`logic:extra`, none of whose statements is in valid or test) and of the first
   `varied_theorems` varied ones (`logic:extra_varied`) in the real Lean
   (term-refinement env) and writes one training row per step (DIR/examples.jsonl); the
   reference proofs of `logic:valid` give the validation loss (DIR/valid_examples.jsonl, never
   trained on);
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
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from prover.campaign import EvalSpec

DEFAULT_CONFIG = Path(__file__).resolve().parents[2] / "configs" / "demo.json"
DECODINGS = ("beam", "sample")


@dataclass
class DemoConfig:
    """The demo recipe: `train` holds TrainConfig fields, `generation` GenerationConfig fields
    (num_beams is always `n`; max_new_tokens comes from `max_new_tokens[fmt]`, since a thought
    costs several times the tokens of its tactic), `search` best-first config fields (n is always `n`)."""

    fmt: str = "tactic"
    train_steps: int = 800
    extra_theorems: int = 0  # the first N theorems of logic:extra join logic:train as training data
    varied_theorems: int = 0  # and the first N of logic:extra_varied (hypotheses named by convention, True/False)
    canonical_names: bool = False  # generated reference proofs get predictable binder names (eval/logic/binders.py)
    valid_loss: bool = True  # validation loss during training, on the valid split's reference steps
    decoding: str = "beam"  # "beam": n beams (deterministic); "sample": n samples (generation's temperature)
    save_trees: bool = False  # keep every search tree (DIR/eval/trees.jsonl): DPO pairs, dry-search analysis
    lean_workers: int = 1  # Lean processes for the replay and the search: one expansion's candidates split across them
    n: int = 8
    budget: str = "expansions=32"
    max_new_tokens: dict[str, int] = field(default_factory=lambda: {"tactic": 32, "thought": 96})
    train: dict[str, Any] = field(default_factory=dict)
    generation: dict[str, Any] = field(default_factory=dict)
    search: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        from core.config import check_fields
        from prover.policy import GenerationConfig
        from prover.train import TrainConfig
        from search.strategies import make_config
        from thoughts.format import check_format

        check_fields(self, "demo config")
        check_format(self.fmt)
        for name in ("train_steps", "n", "lean_workers"):
            v = getattr(self, name)
            if v < 1:
                raise ValueError(f"demo config: {name} must be a positive integer, got {v!r}")
        for name in ("extra_theorems", "varied_theorems"):
            if getattr(self, name) < 0:
                raise ValueError(f"demo config: {name} must be >= 0, got {getattr(self, name)!r}")
        if self.decoding not in DECODINGS:
            raise ValueError(f"demo config: decoding must be one of {', '.join(DECODINGS)}, got {self.decoding!r}")
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
        """Unknown keys and values of the wrong type are a ValueError naming the file and field (core.config)."""
        from core.config import from_dict
        from core.jsonl import read_json

        return from_dict(cls, read_json(Path(path), "demo config"), where=str(Path(path)))


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


def eval_spec(cfg: DemoConfig, model: Path, args: argparse.Namespace) -> EvalSpec:
    """The evaluation of step 4 (the same run as `prover eval` with these settings)."""
    from prover.campaign import EvalSpec

    return EvalSpec(
        dataset=f"logic:{args.split}", env=lean_env_spec(cfg), policy=f"model:{model}", strategy="best-first",
        out=args.out / "eval", budget=cfg.budget, config={"n": cfg.n, **cfg.search},
        generation={"num_beams": cfg.n if cfg.decoding == "beam" else 0, "max_new_tokens": cfg.max_new_tokens[cfg.fmt],
                    **cfg.generation},
        fmt=cfg.fmt, device="cpu", workers=args.workers, limit=args.limit, lean=args.lean,
        label=f"demo best-first/{cfg.fmt}", progress=not args.no_progress, save_trees=cfg.save_trees,
    )


def lean_env_spec(cfg: DemoConfig) -> str:
    """The term-refinement env with the recipe's number of Lean processes."""
    return "lean-term" if cfg.lean_workers == 1 else f"lean-term:workers={cfg.lean_workers}"


def training_theorems(cfg: DemoConfig) -> list[Any]:
    """logic:train, the first `extra_theorems` of logic:extra and the first `varied_theorems` of
    logic:extra_varied."""
    from eval.logic import EXTRA, EXTRA_VARIED, load_split

    out = load_split("train")
    for split, want, name in ((EXTRA, cfg.extra_theorems, "extra_theorems"),
                              (EXTRA_VARIED, cfg.varied_theorems, "varied_theorems")):
        extra = load_split(split) if want else []
        if want > len(extra):
            raise ValueError(f"demo config: {name}={want} but logic:{split} has {len(extra)}")
        out += extra[:want]
    return out


def check_examples(path: Path, theorems: list[Any]) -> None:
    """The examples file must come from these theorems (a rerun with another `extra_theorems` in the
    same folder would otherwise train on the old data): ValueError naming the file."""
    from core.jsonl import read_jsonl

    names = {t.name for t in theorems}
    have = {r.get("theorem") for r in read_jsonl(path)}
    if have - names or len(have) < 0.95 * len(names):
        raise ValueError(f"{path} holds the steps of {len(have)} theorems, {len(have - names)} of them not in this "
                         f"recipe's {len(names)}: it was made for another recipe; use another --out")


def run(args: argparse.Namespace) -> int:
    from core.jsonl import read_json, write_jsonl_atomic
    from eval.logic import load_split
    from eval.logic.examples import reference_examples
    from prover.campaign import run_eval
    from prover.commands.eval import print_summary
    from prover.factory import make_env
    from prover.train import TrainConfig, train_sft
    from thoughts.rationale import RuleTeacher, add_rationales

    cfg = resolve(args)
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    progress = not args.no_progress

    examples, valid_examples = out / "examples.jsonl", out / "valid_examples.jsonl"
    theorems = training_theorems(cfg)
    what = (f"logic:train{f' + {cfg.extra_theorems} of logic:extra' if cfg.extra_theorems else ''}"
            f"{f' + {cfg.varied_theorems} of logic:extra_varied' if cfg.varied_theorems else ''}")
    if not examples.is_file() or (cfg.valid_loss and not valid_examples.is_file()):
        env = make_env(lean_env_spec(cfg), lean=args.lean)
        try:
            if not examples.is_file():
                rows = reference_examples(env, theorems, canonical_names=cfg.canonical_names)
                write_jsonl_atomic(examples, rows)
                print(f"[1/4] {len(rows)} training steps from the reference proofs of {what} -> {examples}")
            if cfg.valid_loss and not valid_examples.is_file():
                write_jsonl_atomic(valid_examples, reference_examples(env, load_split("valid"),
                                                                      canonical_names=cfg.canonical_names))
        finally:
            env.close()
    else:
        print(f"[1/4] reusing {examples}")
    check_examples(examples, theorems)

    data = examples
    if cfg.fmt == "thought":
        data = out / "examples_thought.jsonl"
        added = add_rationales(examples, data, RuleTeacher(), progress=progress)
        print(f"[2/4] rule-teacher thoughts: {added} new rows -> {data}")
    else:
        print("[2/4] no thoughts (fmt tactic)")

    config = TrainConfig.from_dict(dict(cfg.train), where=f"{args.config} 'train'")
    config.max_steps = cfg.train_steps
    val = None
    if cfg.valid_loss:
        val = valid_examples
        if cfg.fmt == "thought":
            val = out / "valid_examples_thought.jsonl"
            add_rationales(valid_examples, val, RuleTeacher(), progress=False)
    model = train_sft(data, out / "policy", config, init=None, fmt=cfg.fmt, progress=progress, val_examples=val)
    loss = f", validation loss {read_json(model / 'val_loss.json', 'val loss')['val_loss']:.3f}" if val else ""
    print(f"[3/4] tiny {cfg.fmt} policy ({config.tiny_size}, {cfg.train_steps} steps) trained -> {model}{loss}")

    print(f"[4/4] best-first search of logic:{args.split} in real Lean ({cfg.n} {cfg.decoding} candidates, "
          f"budget {cfg.budget})")
    code = print_summary(run_eval(eval_spec(cfg, model, args)), attempts=1)
    if code:
        print(f"prover demo: the search step exited {code}; rerun to resume", file=sys.stderr)
    return code
