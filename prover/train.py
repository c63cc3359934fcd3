"""Supervised fine-tuning of the generator on training-example rows
{"state", "thought", "tactic", "theorem", "source"}: the prompt is `build_prompt(state)`, the
target `format_target(thought, tactic)` plus end-of-sequence, and the loss covers the target only.

    out_dir/
      run.json                 config + data fingerprint (a rerun must match it)
      init/                    the tiny model made from the data when no `init` is given
      checkpoints/step-NNNNNN/ model, tokenizer, optimizer.pt (written atomically)
      train_log.jsonl          loss, lr, tokens per logged step (appended); with validation
                               examples and `eval_every`, rows {"step", "val_loss"} too
      final/                   the trained model + tokenizer + prover_format.json

A killed run restarts from its latest checkpoint; the data order is a function of the seed
and epoch, so a resumed run ends with the same weights as an uninterrupted one.  The optimizer
loop itself (`fit`) is shared with the evaluator's training (prover/value_model.py).
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from core.config import check_fields, from_dict
from core.jsonl import read_json
from prover.device import check_device
from prover.tiny import SIZES
from thoughts.format import (
    PROOF_FORMAT,
    build_prompt,
    build_proof_prompt,
    check_format,
    format_proof_target,
    format_target,
)

log = logging.getLogger(__name__)

# fields that may change between a run and its resumption
_RUNTIME_FIELDS = ("device", "log_every", "save_every", "keep_checkpoints", "eval_every")
SCHEDULES = ("linear", "cosine")


@dataclass
class TrainConfig:
    epochs: int = 3
    lr: float = 5e-5
    batch_size: int = 8
    max_len: int = 1024  # prompt + target tokens; long prompts lose their beginning
    seed: int = 0
    save_every: int = 0  # optimizer steps between checkpoints; 0: at the end of each epoch
    warmup_steps: int = 0
    weight_decay: float = 0.0
    grad_accum: int = 1
    max_grad_norm: float = 1.0
    max_steps: int | None = None
    device: str = "auto"
    bf16: bool = False  # autocast to bfloat16 on CUDA
    log_every: int = 10
    keep_checkpoints: int = 2
    tiny_size: str = "tiny"  # the tiny-model recipe used when no `init` model is given
    lr_schedule: str = "linear"  # after warmup: "linear" decay to 0, or "cosine" down to min_lr_ratio x lr
    min_lr_ratio: float = 0.0
    eval_every: int = 0  # optimizer steps between validation losses (needs validation examples; 0: only at the end)
    group_by_length: bool = False  # batches of similar lengths (less padding); batch order still shuffled

    def __post_init__(self) -> None:
        check_fields(self, "train config")
        check_device(self.device, "train config: device")
        if self.lr_schedule not in SCHEDULES:
            raise ValueError(f"train config: lr_schedule must be one of {', '.join(SCHEDULES)}, got {self.lr_schedule!r}")
        if not 0.0 <= self.min_lr_ratio <= 1.0:
            raise ValueError(f"train config: min_lr_ratio must be in [0, 1], got {self.min_lr_ratio}")
        if self.eval_every < 0:
            raise ValueError(f"train config: eval_every must be >= 0, got {self.eval_every}")
        for name in ("epochs", "batch_size", "max_len", "grad_accum", "log_every", "keep_checkpoints"):
            if getattr(self, name) < 1:
                raise ValueError(f"train config: {name} must be >= 1, got {getattr(self, name)}")
        if self.lr <= 0:
            raise ValueError(f"train config: lr must be positive, got {self.lr}")
        if self.tiny_size not in SIZES:
            raise ValueError(f"train config: tiny_size {self.tiny_size!r} is unknown; use one of {', '.join(SIZES)}")

    @classmethod
    def from_dict(cls, d: dict[str, Any], where: str = "train config") -> TrainConfig:
        """Unknown keys and values of the wrong type are a ValueError naming the field (core.config)."""
        return from_dict(cls, d, where)

    @classmethod
    def load(cls, path: str | Path) -> TrainConfig:
        return cls.from_dict(read_json(path, "train config"), where=str(Path(path)))


# ---------------------------------------------------------------------------------------------
# data


def load_examples(examples: str | Path | list[dict[str, Any]], fmt: str = "thought") -> list[dict[str, Any]]:
    """Training rows, checked: step formats need non-empty string 'state' and 'tactic'; the
    whole-proof format needs 'formal_statement' and 'proof'."""
    from core.jsonl import read_jsonl

    if isinstance(examples, (str, Path)):
        p = Path(examples)
        if not p.is_file():
            raise FileNotFoundError(f"training examples not found: {p}")
        rows, where = list(read_jsonl(p)), str(p)
    else:
        rows, where = list(examples), "examples"
    need = ("formal_statement", "proof") if fmt == PROOF_FORMAT else ("state", "tactic")
    for i, r in enumerate(rows, 1):
        if not isinstance(r, dict) or not all(isinstance(r.get(k), str) and r[k].strip() for k in need):
            raise ValueError(f"{where}: row {i} needs non-empty string fields {need[0]!r} and {need[1]!r}")
        if r.get("thought") is not None and not isinstance(r["thought"], str):
            raise ValueError(f"{where}: row {i}: 'thought' must be a string")
    if not rows:
        raise ValueError(f"{where}: no training examples")
    return rows


def example_texts(rows: list[dict[str, Any]], fmt: str) -> list[tuple[str, str]]:
    """(prompt, target) pairs; rows that cannot be formatted raise ValueError naming the row."""
    out = []
    for i, r in enumerate(rows, 1):
        try:
            if fmt == PROOF_FORMAT:
                out.append((build_proof_prompt(r["formal_statement"]), format_proof_target(r["proof"])))
            else:
                out.append((build_prompt(r["state"], fmt), format_target(r.get("thought") or "", r["tactic"], fmt)))
        except ValueError as e:
            raise ValueError(f"training example {i} ({r.get('theorem', r.get('name', '?'))}): {e}") from None
    return out


def encode(pairs: list[tuple[str, str]], tokenizer: Any, max_len: int) -> list[tuple[list[int], list[int]]]:
    """Token ids of (prompt, target + eos); prompts cut from the left to fit `max_len`;
    examples whose target alone does not fit are left out (logged)."""
    eos = tokenizer.eos_token_id
    out, skipped = [], 0
    for prompt, target in pairs:
        p = tokenizer(prompt, add_special_tokens=False)["input_ids"]
        t = tokenizer(target, add_special_tokens=False)["input_ids"] + ([eos] if eos is not None else [])
        if len(t) >= max_len:
            skipped += 1
            continue
        out.append((p[-(max_len - len(t)):], t))
    if skipped:
        log.warning("%d example(s) left out: target longer than max_len=%d tokens", skipped, max_len)
    if not out:
        raise ValueError(f"no training example fits in max_len={max_len} tokens")
    return out


def collate(batch: list[tuple[list[int], list[int]]], pad_id: int) -> dict[str, Any]:
    """Right-padded input ids, attention mask and labels (-100 on prompt and padding)."""
    import torch

    width = max(len(p) + len(t) for p, t in batch)
    ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
    labels = torch.full((len(batch), width), -100, dtype=torch.long)
    mask = torch.zeros((len(batch), width), dtype=torch.long)
    for i, (p, t) in enumerate(batch):
        seq = p + t
        ids[i, : len(seq)] = torch.tensor(seq)
        labels[i, len(p): len(seq)] = torch.tensor(t)
        mask[i, : len(seq)] = 1
    return {"input_ids": ids, "attention_mask": mask, "labels": labels}


LENGTH_GROUP = 64  # batches per group sorted by length (group_by_length)


def schedule(n_examples: int, config: TrainConfig, lengths: list[int] | None = None) -> list[list[list[int]]]:
    """The whole run as optimizer steps, each a list of micro-batches of example indices.
    Epoch e shuffles with seed (config.seed, e): a pure function, which makes resuming exact.
    With `config.group_by_length` (and the examples' `lengths`), each run of LENGTH_GROUP batches
    of the shuffled order is sorted by length before it is cut into batches, and the batches are
    shuffled again: about the same padding as sorting the whole set, in a random order."""
    import torch

    steps: list[list[list[int]]] = []
    for epoch in range(config.epochs):
        g = torch.Generator().manual_seed(config.seed * 100_003 + epoch)
        perm = torch.randperm(n_examples, generator=g).tolist()
        bs = config.batch_size
        if config.group_by_length and lengths is not None:
            span = bs * LENGTH_GROUP
            perm = [i for k in range(0, n_examples, span) for i in sorted(perm[k:k + span], key=lambda i: lengths[i])]
            micro = [perm[i:i + bs] for i in range(0, n_examples, bs)]
            micro = [micro[j] for j in torch.randperm(len(micro), generator=g).tolist()]
        else:
            micro = [perm[i:i + bs] for i in range(0, n_examples, bs)]
        steps.extend(micro[i:i + config.grad_accum] for i in range(0, len(micro), config.grad_accum))
    return steps[: config.max_steps] if config.max_steps else steps


# ---------------------------------------------------------------------------------------------
# checkpoints


def _checkpoints(out_dir: Path) -> list[Path]:
    d = out_dir / "checkpoints"
    if not d.is_dir():
        return []
    return sorted((p for p in d.iterdir() if p.name.startswith("step-") and not p.name.endswith(".tmp")
                   and (p / "optimizer.pt").is_file()), key=lambda p: int(p.name[5:]))


def _save_model_dir(dest: Path, model: Any, tokenizer: Any, extra: dict[str, Any]) -> None:
    """Write a model folder atomically (a temporary folder renamed into place)."""
    tmp = dest.with_name(dest.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    model.save_pretrained(tmp)
    tokenizer.save_pretrained(tmp)
    for name, value in extra.items():
        if name.endswith(".pt"):
            import torch

            torch.save(value, tmp / name)
        else:
            (tmp / name).write_text(json.dumps(value, indent=1), encoding="utf-8")
    shutil.rmtree(dest, ignore_errors=True)
    os.replace(tmp, dest)


def _fingerprint(encoded: list[tuple[list[int], list[int]]]) -> str:
    h = hashlib.sha256()
    for p, t in encoded:
        h.update(json.dumps([p, t]).encode())
    return h.hexdigest()[:16]


def _check_run(out_dir: Path, run: dict[str, Any]) -> None:
    """The folder belongs to one training run (`eval.identity.bind_run` on run.json; the config's
    runtime fields may change).  A folder with no checkpoint and no final model yet takes the new run."""
    from eval.identity import bind_run

    bound = (out_dir / "checkpoints").is_dir() or (out_dir / "final").is_dir()
    bind_run(out_dir / "run.json", run, ignore={f"config.{k}" for k in _RUNTIME_FIELDS}, bound=bound,
             what="training run", hint="it was trained with another config, data or init: "
             "use a new output folder (or delete this one)")


# ---------------------------------------------------------------------------------------------
# the loop


def train_sft(examples: str | Path | list[dict[str, Any]], out_dir: str | Path, config: TrainConfig | None = None,
              init: str | None = None, fmt: str = "thought",
              on_step: Callable[[int, float], None] | None = None, progress: bool = True,
              val_examples: str | Path | list[dict[str, Any]] | None = None) -> Path:
    """Fine-tune `init` (a model folder or hub id; None: the tiny-model recipe on this data) on
    `examples` and return the final model folder.  `fmt` is a step format ("thought", "tactic")
    or "proof" (rows {"formal_statement", "proof"}: a whole-proof model for `propose_proofs`).  Resumes from the latest checkpoint in
    `out_dir`; returns at once if the run already finished.  `on_step(step, loss)` is called
    after every optimizer step (and after any checkpoint of that step).  `val_examples` (rows of
    the same kind, never trained on) give a validation loss, nanoGPT's `estimate_loss`: the mean
    target-token loss over all of them, every `config.eval_every` steps and at the end, logged as
    {"step", "val_loss"} rows of train_log.jsonl; the last one also goes to final/val_loss.json."""
    import torch

    from prover.device import resolve_device
    from prover.policy import FORMAT_FILE, load_model_and_tokenizer
    from prover.tiny import make_tiny_model

    config = config or TrainConfig()
    if fmt != PROOF_FORMAT:
        check_format(fmt)
    out = Path(out_dir)
    final = out / "final"
    pairs = example_texts(load_examples(examples, fmt), fmt)
    device = resolve_device(config.device, "train config: device")

    if init is None:
        init_dir = out / "init"
        if not (init_dir / "config.json").is_file():
            make_tiny_model([p + t for p, t in pairs], init_dir, size=config.tiny_size, seed=config.seed)
        init_name = "tiny:" + config.tiny_size
        init = str(init_dir)
    else:
        init_name = init

    ckpt = latest_checkpoint(out)
    model, tokenizer = load_model_and_tokenizer(ckpt or init, device, dtype="float32")
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    encoded = encode(pairs, tokenizer, config.max_len)
    val_encoded = (encode(example_texts(load_examples(val_examples, fmt), fmt), tokenizer, config.max_len)
                   if val_examples is not None else None)
    _check_run(out, {"config": asdict(config), "fmt": fmt, "init": init_name, "data": _fingerprint(encoded)})
    if (final / "config.json").is_file():
        log.info("%s: training already finished", out)
        return final

    use_bf16 = config.bf16 and device.startswith("cuda")

    def step_loss(micro: list[list[int]]) -> tuple[float, dict[str, Any]]:
        n_tokens = sum(len(encoded[i][1]) for mb in micro for i in mb)
        loss_total = 0.0
        for mb in micro:
            batch = {k: v.to(device) for k, v in collate([encoded[i] for i in mb], tokenizer.pad_token_id).items()}
            with torch.autocast("cuda", dtype=torch.bfloat16, enabled=use_bf16):
                logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
            loss = torch.nn.functional.cross_entropy(
                logits[:, :-1].float().reshape(-1, logits.shape[-1]), batch["labels"][:, 1:].reshape(-1),
                ignore_index=-100, reduction="sum") / n_tokens
            loss.backward()
            loss_total += loss.detach().item()
        return loss_total, {"tokens": n_tokens}

    evaluate = None
    if val_encoded is not None:
        def evaluate() -> float:
            return mean_loss(model, val_encoded, tokenizer.pad_token_id, device, config.batch_size, use_bf16)

    t0 = time.perf_counter()
    lengths = [len(p) + len(t) for p, t in encoded]
    ran = fit(model, tokenizer, out, config, len(encoded), step_loss, device, desc="sft", on_step=on_step,
              progress=progress, evaluate=evaluate, lengths=lengths)
    model.eval()
    extra: dict[str, Any] = {FORMAT_FILE: {"fmt": fmt}, "train_config.json": asdict(config)}
    if evaluate is not None:
        from core.jsonl import append_jsonl

        v = evaluate()
        append_jsonl(out / "train_log.jsonl", {"step": len(schedule(len(encoded), config, lengths)), "val_loss": v,
                                               "seconds": round(time.perf_counter() - t0, 3)})
        extra["val_loss.json"] = {"val_loss": v, "examples": len(val_encoded or [])}
    _save_model_dir(final, model, tokenizer, extra)
    log.info("trained %s for %d steps in %.1fs -> %s", init_name, ran, time.perf_counter() - t0, final)
    return final


def mean_loss(model: Any, encoded: list[tuple[list[int], list[int]]], pad_id: int, device: str,
              batch_size: int = 16, bf16: bool = False) -> float:
    """The mean cross-entropy per target token over `encoded` (no gradient; the model is put back
    in the mode it was in)."""
    import torch

    was_training = model.training
    model.eval()
    total, tokens = 0.0, 0
    order = sorted(range(len(encoded)), key=lambda i: len(encoded[i][0]) + len(encoded[i][1]))
    with torch.no_grad():
        for i in range(0, len(order), batch_size):
            batch = {k: v.to(device) for k, v in collate([encoded[j] for j in order[i:i + batch_size]], pad_id).items()}
            with torch.autocast("cuda", dtype=torch.bfloat16, enabled=bf16):
                logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
            labels = batch["labels"][:, 1:]
            total += float(torch.nn.functional.cross_entropy(
                logits[:, :-1].float().reshape(-1, logits.shape[-1]), labels.reshape(-1), ignore_index=-100,
                reduction="sum"))
            tokens += int((labels != -100).sum())
    model.train(was_training)
    return total / max(tokens, 1)


def lr_factor(step: int, total: int, config: TrainConfig) -> float:
    """The learning rate at optimizer step `step` as a share of `config.lr`: linear warmup, then
    linear decay to 0 or a cosine down to `min_lr_ratio`."""
    warm = config.warmup_steps
    if warm and step < warm:
        return min(1.0, (step + 1) / warm)
    if config.lr_schedule == "cosine":
        progress = min(1.0, (step - warm) / max(1, total - warm))
        lo = config.min_lr_ratio
        return lo + (1 - lo) * 0.5 * (1 + math.cos(math.pi * progress))
    return max(0.0, (total - step) / max(1, total - warm))


def latest_checkpoint(out_dir: str | Path) -> Path | None:
    """The newest complete checkpoint folder of a training run, or None."""
    ckpts = _checkpoints(Path(out_dir))
    return ckpts[-1] if ckpts else None


def fit(model: Any, tokenizer: Any, out: Path, config: TrainConfig, n_examples: int,
        step_loss: Callable[[list[list[int]]], tuple[float, dict[str, Any]]], device: str, desc: str = "train",
        on_step: Callable[[int, float], None] | None = None, progress: bool = True,
        evaluate: Callable[[], float] | None = None, lengths: list[int] | None = None) -> int:
    """The optimizer loop every trainer here shares (the generator's SFT, the evaluator's): AdamW with
    linear warmup and decay over `schedule(n_examples, config)`, gradient clipping, a log line every
    `log_every` steps (train_log.jsonl), atomic checkpoints (model, tokenizer, optimizer, scheduler,
    step) and resumption from the latest one.  `model` must already hold the latest checkpoint's
    weights (load it from `latest_checkpoint(out)`).  `step_loss(micro_batches)` runs forward and
    backward over one optimizer step's micro-batches of example indices and returns the loss and
    any extra log fields.  `evaluate()` (a validation loss) is logged every `config.eval_every`
    steps.  `lengths` (tokens per example) serve `config.group_by_length`.  Returns the number of
    steps run."""
    import torch
    from tqdm import tqdm

    from core.jsonl import append_jsonl

    plan = schedule(n_examples, config, lengths)
    steps_per_epoch = math.ceil(math.ceil(n_examples / config.batch_size) / config.grad_accum)
    model.to(device).train()
    opt = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    total = len(plan)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: lr_factor(s, total, config))
    start = 0
    ckpt = latest_checkpoint(out)
    if ckpt is not None:
        state = torch.load(ckpt / "optimizer.pt", map_location=device, weights_only=True)
        opt.load_state_dict(state["optimizer"])
        sched.load_state_dict(state["scheduler"])
        start = int(state["step"])
        log.info("resuming %s from step %d of %d", out, start, total)

    def save_checkpoint(step: int) -> None:
        dest = out / "checkpoints" / f"step-{step:06d}"
        _save_model_dir(dest, model, tokenizer, {"optimizer.pt": {"optimizer": opt.state_dict(),
                                                                  "scheduler": sched.state_dict(), "step": step}})
        for old in _checkpoints(out)[: -config.keep_checkpoints]:
            shutil.rmtree(old, ignore_errors=True)

    t0, c0 = time.perf_counter(), time.process_time()  # wall and CPU time of this process (all its threads)
    bar = tqdm(total=total, initial=start, desc=desc, unit="step", disable=not progress)
    for step in range(start, total):
        loss_total, fields = step_loss(plan[step])
        if config.max_grad_norm:
            torch.nn.utils.clip_grad_norm_(model.parameters(), config.max_grad_norm)
        opt.step()
        sched.step()
        opt.zero_grad(set_to_none=True)
        done = step + 1
        bar.update(1)
        bar.set_postfix(loss=f"{loss_total:.3f}")
        if done % config.log_every == 0 or done == total:
            append_jsonl(out / "train_log.jsonl", {"step": done, "epoch": step // steps_per_epoch, "loss": loss_total,
                                                   "lr": sched.get_last_lr()[0], **fields,
                                                   "seconds": round(time.perf_counter() - t0, 3),
                                                   "cpu_seconds": round(time.process_time() - c0, 3)})
        if evaluate is not None and config.eval_every and done % config.eval_every == 0 and done < total:
            append_jsonl(out / "train_log.jsonl", {"step": done, "val_loss": evaluate(),
                                                   "seconds": round(time.perf_counter() - t0, 3)})
        end_of_epoch = done % steps_per_epoch == 0
        if done < total and ((config.save_every and done % config.save_every == 0)
                             or (not config.save_every and end_of_epoch)):
            save_checkpoint(done)
        if on_step is not None:
            on_step(done, loss_total)
    bar.close()
    return total - start
