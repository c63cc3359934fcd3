"""Failed siblings as negative data: preference pairs from search trees, trained with DPO (trl).

BFS-Prover's recipe: at every state on a proof that Lean checked, the tactic the proof took is
*chosen* and each sibling tactic Lean rejected there is *rejected*; the policy is then trained
with Direct Preference Optimization against a frozen copy of itself (the SFT model).

    pairs = pairs_from_tree_files(["RUN/trees.jsonl"], fmt="tactic")      # {"prompt","chosen","rejected",...}
    final = train_dpo(pairs, "runs/sft/final", "runs/dpo", DPOTrainConfig(beta=0.1))

The trees are those `--save-trees` writes (`prover eval`, the campaign runner); they are read with
the evaluator's reader (`prover.value_data.read_trees`).  A node is on a checked proof when its
status is `proved` (the engine adds a proof's last edge only after `env.check` accepted the whole
proof), so a chosen tactic is an edge from a proved node to a proved node.  Rejected tactics are the
node's failures of the kinds in `REJECTED_KINDS` (Lean's own error, or no change of the goals);
timeouts, crashes and refusals before Lean are not the tactic's fault and are left out.

Training is trl's `DPOTrainer` (sigmoid DPO loss; `sft_weight` > 0 adds trl's SFT loss on the
chosen side, as RPO does), on the CPU or a GPU, with transformers' checkpoints in OUT: a killed
run resumes from its last checkpoint.  OUT/final holds the model, the tokenizer and the prompt
format file, so `model:OUT/final` is a policy like any SFT checkpoint.
"""

from __future__ import annotations

import logging
import math
import random
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from core.config import check_fields, from_dict
from core.jsonl import read_json
from thoughts.format import build_prompt, check_format, format_target

log = logging.getLogger(__name__)

REJECTED_KINDS = ("tactic_error", "no_progress")
PAIR_FIELDS = ("prompt", "chosen", "rejected", "theorem", "state")


@dataclass
class DPOTrainConfig:
    beta: float = 0.1  # DPO temperature: how far the policy may move from the reference
    lr: float = 1e-4
    epochs: int = 1
    batch_size: int = 16
    max_steps: int = -1  # > 0: stop after this many optimizer steps
    warmup_ratio: float = 0.05
    sft_weight: float = 0.0  # > 0: add trl's SFT loss on the chosen completions with this weight (RPO)
    max_pairs_per_state: int = 4  # rejected siblings kept per proof state (seeded sample)
    max_length: int = 1024  # prompt + completion tokens; longer pairs are left out
    seed: int = 0
    save_every: int = 200  # optimizer steps between checkpoints
    device: str = "auto"
    log_every: int = 10

    def __post_init__(self) -> None:
        check_fields(self, "dpo config")
        if self.beta <= 0 or self.lr <= 0:
            raise ValueError(f"dpo config: beta and lr must be positive, got beta={self.beta}, lr={self.lr}")
        for name in ("epochs", "batch_size", "max_pairs_per_state", "max_length", "save_every", "log_every"):
            if getattr(self, name) < 1:
                raise ValueError(f"dpo config: {name} must be >= 1, got {getattr(self, name)}")
        if self.sft_weight < 0 or not 0 <= self.warmup_ratio < 1:
            raise ValueError("dpo config: sft_weight must be >= 0 and warmup_ratio in [0, 1)")

    @classmethod
    def from_dict(cls, d: dict[str, Any], where: str = "dpo config") -> DPOTrainConfig:
        return from_dict(cls, d, where)

    @classmethod
    def load(cls, path: str | Path) -> DPOTrainConfig:
        return cls.from_dict(read_json(path, "dpo config"), where=str(path))


# --------------------------------------------------------------------------- pairs


def tree_pairs(name: str, tree: dict[str, Any], fmt: str) -> list[dict[str, Any]]:
    """Every (chosen, rejected) pair of one search tree (see the module docstring), in node order:
    each proved node's proof-path tactics against each of its rejected failures."""
    nodes = {n["id"]: n for n in tree.get("nodes", [])}
    chosen: dict[str, list[dict[str, Any]]] = {}
    for e in tree.get("edges", []):
        src, dst = nodes.get(e["source"]), nodes.get(e["target"])
        if src is not None and dst is not None and src["status"] == "proved" and dst["status"] == "proved":
            chosen.setdefault(e["source"], []).append(e)
    out = []
    for nid, node in nodes.items():
        if nid not in chosen or node.get("no_goals"):
            continue
        good = {e["tactic"].strip() for e in chosen[nid]}
        bad = [f for f in node.get("failures", []) if f.get("kind") in REJECTED_KINDS
               and f["tactic"].strip() not in good]
        prompt = build_prompt(node["goals"], fmt)
        for e in chosen[nid]:
            for f in bad:
                out.append({"prompt": prompt, "chosen": format_target(e.get("thought") or "", e["tactic"], fmt),
                            "rejected": format_target(f.get("thought") or "", f["tactic"], fmt),
                            "theorem": name, "state": node["goals"], "kind": f["kind"]})
    return out


def preference_pairs(trees: Iterable[tuple[str, dict[str, Any]]], fmt: str = "tactic", max_pairs_per_state: int = 4,
                     seed: int = 0) -> list[dict[str, Any]]:
    """Pairs from (theorem name, tree data) pairs: deduplicated by (state, chosen, rejected); at most
    `max_pairs_per_state` per (state, chosen) (a seeded sample); in reading order."""
    check_format(fmt)
    rng = random.Random(seed)
    seen: set[tuple[str, str, str]] = set()
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for name, tree in trees:
        for p in tree_pairs(name, tree, fmt):
            key = (p["state"], p["chosen"], p["rejected"])
            if key not in seen:
                seen.add(key)
                groups.setdefault((p["state"], p["chosen"]), []).append(p)
    out = []
    for group in groups.values():
        out += group if len(group) <= max_pairs_per_state else rng.sample(group, max_pairs_per_state)
    return out


def pairs_from_tree_files(paths: Sequence[str | Path], fmt: str = "tactic", max_pairs_per_state: int = 4,
                          seed: int = 0) -> list[dict[str, Any]]:
    """`preference_pairs` over trees files (`--save-trees` output); errors name the file and line."""
    from prover.value_data import read_trees

    trees = ((name, tree) for path in paths for name, _, tree in read_trees(path))
    return preference_pairs(trees, fmt, max_pairs_per_state, seed)


def check_pairs(rows: Sequence[Any], where: str = "pairs") -> list[dict[str, Any]]:
    """Pair rows need non-empty string 'prompt', 'chosen' and 'rejected' (chosen != rejected)."""
    for i, r in enumerate(rows, 1):
        if not isinstance(r, dict) or not all(isinstance(r.get(k), str) and r[k] for k in PAIR_FIELDS[:3]):
            raise ValueError(f"{where}: row {i} needs non-empty string fields 'prompt', 'chosen' and 'rejected'")
        if r["chosen"] == r["rejected"]:
            raise ValueError(f"{where}: row {i}: chosen and rejected are the same text")
    if not rows:
        raise ValueError(f"{where}: no preference pairs")
    return list(rows)


# --------------------------------------------------------------------------- training


def train_dpo(pairs: Sequence[dict[str, Any]] | str | Path, init: str | Path, out_dir: str | Path,
              config: DPOTrainConfig | None = None, progress: bool = True) -> Path:
    """DPO of the policy at `init` (its own frozen copy is the reference) on `pairs` (rows or a JSONL
    file); returns OUT/final.  Resumes from OUT's latest checkpoint; returns at once when done."""
    import torch
    from datasets import Dataset
    from trl import DPOConfig, DPOTrainer

    from core.jsonl import read_jsonl
    from eval.identity import bind_run, digest
    from prover.device import resolve_device
    from prover.policy import FORMAT_FILE, load_model_and_tokenizer, read_format
    from prover.train import _save_model_dir

    config = config or DPOTrainConfig()
    where = str(pairs) if isinstance(pairs, (str, Path)) else "pairs"
    rows = check_pairs(list(read_jsonl(Path(pairs))) if isinstance(pairs, (str, Path)) else list(pairs), where)
    out = Path(out_dir)
    final = out / "final"
    out.mkdir(parents=True, exist_ok=True)
    bound = final.is_dir() or any(out.glob("checkpoint-*"))
    pairs_digest = digest([[r[k] for k in PAIR_FIELDS[:3]] for r in rows])
    bind_run(out / "run.json", {"config": asdict(config), "init": str(init), "pairs": pairs_digest},
             ignore={"config.device", "config.log_every", "config.save_every"}, bound=bound, what="DPO run",
             hint="use a new output folder")
    if (final / "config.json").is_file():
        return final
    device = resolve_device(config.device, "dpo config: device")
    model, tokenizer = load_model_and_tokenizer(init, device, dtype="float32")
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    tokenizer.padding_side = "right"
    fmt = read_format(init, default="tactic")
    fits = [r for r in rows if len(tokenizer(r["prompt"] + max(r["chosen"], r["rejected"], key=len),
                                                 add_special_tokens=False)["input_ids"]) < config.max_length]
    if len(fits) < len(rows):
        log.warning("%d pair(s) longer than max_length=%d tokens left out", len(rows) - len(fits), config.max_length)
    data = Dataset.from_list([{k: r[k] for k in PAIR_FIELDS[:3]} for r in fits])
    total = config.max_steps if config.max_steps > 0 else math.ceil(len(fits) / config.batch_size) * config.epochs
    losses, weights = (["sigmoid", "sft"], [1.0, config.sft_weight]) if config.sft_weight > 0 else (["sigmoid"], None)
    args = DPOConfig(
        output_dir=str(out), per_device_train_batch_size=config.batch_size, learning_rate=config.lr,
        num_train_epochs=config.epochs, max_steps=config.max_steps,
        warmup_steps=int(config.warmup_ratio * total),
        lr_scheduler_type="linear", beta=config.beta, loss_type=losses, loss_weights=weights,
        max_length=config.max_length, seed=config.seed, data_seed=config.seed, logging_steps=config.log_every,
        save_strategy="steps", save_steps=config.save_every, save_total_limit=1, report_to=[],
        use_cpu=not device.startswith("cuda"), bf16=False, gradient_checkpointing=False,
        precompute_ref_log_probs=True, disable_dropout=True, dataloader_num_workers=0,
        disable_tqdm=not progress,
    )
    torch.manual_seed(config.seed)
    trainer = DPOTrainer(model=model, args=args, train_dataset=data, processing_class=tokenizer)
    resume = any(out.glob("checkpoint-*"))
    result = trainer.train(resume_from_checkpoint=True if resume else None)
    history = [h for h in trainer.state.log_history if "loss" in h]
    model = trainer.model
    model.eval()
    tokenizer.padding_side = "left"
    _save_model_dir(final, model, tokenizer, {FORMAT_FILE: {"fmt": fmt}, "dpo_config.json": asdict(config),
                                             "dpo_log.json": {"pairs": len(fits), "train_loss": result.training_loss,
                                                              "steps": result.global_step, "history": history}})
    log.info("DPO: %d pairs, %d steps, loss %.4f -> %s", len(fits), result.global_step, result.training_loss, final)
    return final

