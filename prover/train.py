"""Supervised fine-tuning of the generator on training-example rows
{"state", "thought", "tactic", "theorem", "source"}: the prompt is `build_prompt(state)`, the
target `format_target(thought, tactic)` plus end-of-sequence, and the loss covers the target only.

    out_dir/
      run.json                 config + data fingerprint (a rerun must match it)
      init/                    the tiny model made from the data when no `init` is given
      checkpoints/step-NNNNNN/ model, tokenizer, optimizer.pt (written atomically)
      train_log.jsonl          loss, lr, tokens per logged step (appended)
      final/                   the trained model + tokenizer + prover_format.json

A killed run restarts from its latest checkpoint; the data order is a function of the seed
and epoch, so a resumed run ends with the same weights as an uninterrupted one.
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

from core.jsonl import read_json
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
_RUNTIME_FIELDS = ("device", "log_every", "save_every", "keep_checkpoints")


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

    def __post_init__(self) -> None:
        for name in ("epochs", "batch_size", "max_len", "grad_accum", "log_every", "keep_checkpoints"):
            if getattr(self, name) < 1:
                raise ValueError(f"train config: {name} must be >= 1, got {getattr(self, name)}")
        if self.lr <= 0:
            raise ValueError(f"train config: lr must be positive, got {self.lr}")

    @classmethod
    def from_dict(cls, d: dict[str, Any], where: str = "train config") -> TrainConfig:
        if not isinstance(d, dict):
            raise ValueError(f"{where}: expected a JSON object")
        bad = sorted(set(d) - set(cls.__dataclass_fields__))
        if bad:
            raise ValueError(f"{where}: unknown field(s) {', '.join(bad)}")
        try:
            return cls(**d)
        except TypeError as e:
            raise ValueError(f"{where}: {e}") from None

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


def schedule(n_examples: int, config: TrainConfig) -> list[list[list[int]]]:
    """The whole run as optimizer steps, each a list of micro-batches of example indices.
    Epoch e shuffles with seed (config.seed, e): a pure function, which makes resuming exact."""
    import torch

    steps: list[list[list[int]]] = []
    for epoch in range(config.epochs):
        g = torch.Generator().manual_seed(config.seed * 100_003 + epoch)
        perm = torch.randperm(n_examples, generator=g).tolist()
        micro = [perm[i:i + config.batch_size] for i in range(0, n_examples, config.batch_size)]
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
    f = out_dir / "run.json"
    if f.is_file():
        old = json.loads(f.read_text(encoding="utf-8"))
        strip = lambda r: {**r, "config": {k: v for k, v in r["config"].items() if k not in _RUNTIME_FIELDS}}  # noqa: E731
        if strip(old) != strip(run):
            raise ValueError(f"{out_dir} holds a training run with another config, data or init; "
                             "use a new output folder (or delete this one)")
    else:
        out_dir.mkdir(parents=True, exist_ok=True)
        f.write_text(json.dumps(run, indent=1), encoding="utf-8")


# ---------------------------------------------------------------------------------------------
# the loop


def train_sft(examples: str | Path | list[dict[str, Any]], out_dir: str | Path, config: TrainConfig | None = None,
              init: str | None = None, fmt: str = "thought",
              on_step: Callable[[int, float], None] | None = None, progress: bool = True) -> Path:
    """Fine-tune `init` (a model folder or hub id; None: the tiny-model recipe on this data) on
    `examples` and return the final model folder.  `fmt` is a step format ("thought", "tactic")
    or "proof" (rows {"formal_statement", "proof"}: a whole-proof model for `propose_proofs`).  Resumes from the latest checkpoint in
    `out_dir`; returns at once if the run already finished.  `on_step(step, loss)` is called
    after every optimizer step (and after any checkpoint of that step)."""
    import torch
    from tqdm import tqdm

    from prover.policy import FORMAT_FILE, load_model_and_tokenizer, resolve_device
    from prover.tiny import make_tiny_model

    config = config or TrainConfig()
    if fmt != PROOF_FORMAT:
        check_format(fmt)
    out = Path(out_dir)
    final = out / "final"
    pairs = example_texts(load_examples(examples, fmt), fmt)
    device = resolve_device(config.device)

    if init is None:
        init_dir = out / "init"
        if not (init_dir / "config.json").is_file():
            make_tiny_model([p + t for p, t in pairs], init_dir, size=config.tiny_size, seed=config.seed)
        init_name = "tiny:" + config.tiny_size
        init = str(init_dir)
    else:
        init_name = init

    ckpts = _checkpoints(out)
    model, tokenizer = load_model_and_tokenizer(ckpts[-1] if ckpts else init, device, dtype="float32")
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    encoded = encode(pairs, tokenizer, config.max_len)
    _check_run(out, {"config": asdict(config), "fmt": fmt, "init": init_name, "data": _fingerprint(encoded)})
    if (final / "config.json").is_file():
        log.info("%s: training already finished", out)
        return final

    plan = schedule(len(encoded), config)
    steps_per_epoch = math.ceil(math.ceil(len(encoded) / config.batch_size) / config.grad_accum)
    model.to(device).train()
    opt = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    total = len(plan)
    warm = config.warmup_steps
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1.0, (s + 1) / warm) if warm and s < warm else max(0.0, (total - s) / max(1, total - warm)))
    start = 0
    if ckpts:
        state = torch.load(ckpts[-1] / "optimizer.pt", map_location=device, weights_only=True)
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

    from core.jsonl import append_jsonl

    use_bf16 = config.bf16 and device.startswith("cuda")
    t0 = time.perf_counter()
    bar = tqdm(total=total, initial=start, desc="sft", unit="step", disable=not progress)
    for step in range(start, total):
        micro = plan[step]
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
                                                   "lr": sched.get_last_lr()[0], "tokens": n_tokens,
                                                   "seconds": round(time.perf_counter() - t0, 3)})
        end_of_epoch = done % steps_per_epoch == 0
        if done < total and ((config.save_every and done % config.save_every == 0)
                             or (not config.save_every and end_of_epoch)):
            save_checkpoint(done)
        if on_step is not None:
            on_step(done, loss_total)
    bar.close()
    model.eval()
    _save_model_dir(final, model, tokenizer, {FORMAT_FILE: {"fmt": fmt}, "train_config.json": asdict(config)})
    log.info("trained %s for %d steps in %.1fs -> %s", init_name, total - start, time.perf_counter() - t0, final)
    return final
