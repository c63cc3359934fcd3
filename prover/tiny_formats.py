"""Tiny models that speak a named prompt format (thoughts/prompts.py), for tests and for trying a
format end to end without downloading a checkpoint.

    rows = format_rows(world, "internlm2.5-step-prover")     # (prompt, target) from a world's proofs
    path = train_format_model(rows, "runs/tiny-internlm25", "internlm2.5-step-prover", steps=200)
    prover eval --policy model:runs/tiny-internlm25 ...       # speaks the format (prover_prompt.json)

One tiny architecture per kind of model the formats need: a small Llama (`prover.tiny`: a BPE
tokenizer trained on the rows) for the causal formats, a small T5 over ByT5's byte tokenizer (the
tokenizer ReProver's checkpoints use) for the seq2seq one.  Both are built from configs (nothing is
downloaded), trained for a few hundred steps with the project's optimizer loop (`prover.train.fit`)
until they write well-formed outputs, and saved with `save_pretrained` and `prover_prompt.json`.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from core.types import GOAL_SEPARATOR, Theorem
from thoughts.prompts import SEQ2SEQ, STEP, StepInput, get_prompt

log = logging.getLogger(__name__)


def format_rows(world: Any, prompt: str, max_depth: int = 12) -> list[tuple[str, str]]:
    """(prompt, target) pairs in format `prompt` from a scripted world's solutions: for a step format
    one pair per proof step (with the theorem's name and the steps before it), for a whole-proof
    format one pair per theorem (the whole script)."""
    from prover.tiny import examples_from_world

    fmt = get_prompt(prompt)
    by_name: dict[str, list[dict[str, Any]]] = {}
    for row in examples_from_world(world, max_depth=max_depth):
        by_name.setdefault(row["theorem"], []).append(row)
    theorems = {t.name: t.theorem() for t in world.theorems}
    pairs: list[tuple[str, str]] = []
    for name, rows in by_name.items():
        if fmt.kind == STEP:
            before: list[str] = []
            for r in rows:
                thought = f"Work on {r['state'].split(GOAL_SEPARATOR)[0].splitlines()[-1]}." if fmt.thought else ""
                pairs.append((fmt.prompt(StepInput(r["state"], name, tuple(before))),  # type: ignore[attr-defined]
                              fmt.target(thought, r["tactic"])))  # type: ignore[call-arg]
                before.append(r["tactic"])
        else:
            proof = "\n".join(r["tactic"] for r in rows)
            pairs.append((fmt.prompt(theorems[name]), fmt.target(proof)))  # type: ignore[arg-type, call-arg]
    if not pairs:
        raise ValueError("format_rows: the world has no solvable theorem")
    return pairs


def whole_rows(theorems: Sequence[Theorem], proofs: dict[str, str], prompt: str) -> list[tuple[str, str]]:
    """(prompt, target) pairs of a whole-proof format from theorems and their proof bodies."""
    fmt = get_prompt(prompt)
    return [(fmt.prompt(t), fmt.target(proofs[t.name])) for t in theorems if t.name in proofs]  # type: ignore[attr-defined, call-arg]


def _tiny_t5(seed: int) -> tuple[Any, Any]:
    import torch
    from transformers import ByT5Tokenizer, T5Config, T5ForConditionalGeneration

    tok = ByT5Tokenizer()
    cfg = T5Config(vocab_size=len(tok), d_model=96, d_kv=24, d_ff=256, num_layers=2, num_decoder_layers=2,
                   num_heads=4, pad_token_id=tok.pad_token_id, eos_token_id=tok.eos_token_id,
                   decoder_start_token_id=tok.pad_token_id, feed_forward_proj="relu", tie_word_embeddings=True)
    torch.manual_seed(seed)
    return T5ForConditionalGeneration(cfg), tok


def train_format_model(pairs: Sequence[tuple[str, str]], out_dir: str | Path, prompt: str, *, steps: int = 300,
                       lr: float = 3e-3, batch_size: int = 16, seed: int = 0, size: str = "micro",
                       max_len: int = 512) -> Path:
    """Build the tiny model format `prompt` needs, train it on `pairs` for `steps` optimizer steps and
    save it (with `prover_prompt.json`) to `out_dir`; returns `out_dir`.  An `out_dir` that already
    holds a model is returned as it is."""
    import math

    from prover.prompted import PROMPT_FILE
    from prover.train import TrainConfig, collate, encode, fit

    fmt = get_prompt(prompt)
    out = Path(out_dir)
    if (out / PROMPT_FILE).is_file() and (out / "config.json").is_file():
        return out
    if not pairs:
        raise ValueError("train_format_model: no training pairs")
    work = out.with_name(out.name + ".train")
    if fmt.arch == SEQ2SEQ:
        model, tok = _tiny_t5(seed)
        encoded = [(tok(p, truncation=True, max_length=max_len)["input_ids"],
                    tok(t, truncation=True, max_length=max_len)["input_ids"]) for p, t in pairs]
        pad = tok.pad_token_id
    else:
        from prover.policy import load_model_and_tokenizer
        from prover.tiny import make_tiny_model

        init = make_tiny_model([p + t for p, t in pairs], work / "init", size=size, seed=seed)
        model, tok = load_model_and_tokenizer(init, "cpu", dtype="float32")
        encoded = encode(list(pairs), tok, max_len)
        pad = tok.pad_token_id
    epochs = max(1, math.ceil(steps * batch_size / len(encoded)))
    config = TrainConfig(epochs=epochs, lr=lr, batch_size=batch_size, seed=seed, save_every=10**9, max_steps=steps,
                         device="cpu", log_every=max(1, steps // 5), max_len=max_len)

    def step_loss(micro: list[list[int]]) -> tuple[float, dict[str, Any]]:
        import torch

        total = 0.0
        for mb in micro:
            batch = [encoded[i] for i in mb]
            if fmt.arch == SEQ2SEQ:
                width_in = max(len(p) for p, _ in batch)
                width_out = max(len(t) for _, t in batch)
                ids = torch.tensor([p + [pad] * (width_in - len(p)) for p, _ in batch])
                labels = torch.tensor([t + [-100] * (width_out - len(t)) for _, t in batch])
                loss = model(input_ids=ids, attention_mask=(ids != pad).long(), labels=labels).loss / len(micro)
            else:
                b = collate(batch, pad)
                logits = model(input_ids=b["input_ids"], attention_mask=b["attention_mask"]).logits
                loss = torch.nn.functional.cross_entropy(logits[:, :-1].reshape(-1, logits.shape[-1]),
                                                         b["labels"][:, 1:].reshape(-1), ignore_index=-100) / len(micro)
            loss.backward()
            total += float(loss.detach())
        return total, {}

    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a model this small trains fastest on one thread (more only contend)
    try:
        fit(model, tok, work, config, len(encoded), step_loss, "cpu", desc=f"tiny {fmt.name}", progress=False)
    finally:
        torch.set_num_threads(threads)
    model.eval()
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    tok.save_pretrained(out)
    (out / PROMPT_FILE).write_text(json.dumps({"prompt": fmt.name}) + "\n", encoding="utf-8")
    log.info("tiny %s model for prompt format %s (%d pairs, %d steps) saved to %s", fmt.arch, fmt.name,
             len(encoded), steps, out)
    return out


__all__ = ["format_rows", "train_format_model", "whole_rows"]
