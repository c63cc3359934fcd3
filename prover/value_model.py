"""The learned evaluator: a small transformer with a scalar head that reads a proof state and says how
likely it is to be provable (a critic, as in InternLM2.5-StepProver), behind the `Evaluator` seam.

The model is a transformers sequence-classification model with one output (a Llama from the
tiny-model recipe, or any checkpoint's backbone with a fresh head), trained on the rows of
`prover.value_data` with binary cross-entropy on its logit; its score is the sigmoid.  The input is
the state as the policy sees it (`value_input`).  Training reuses the SFT loop (`prover.train.fit`):
the same config (`TrainConfig`), data order, atomic checkpoints and exact resumption.

    out_dir/
      run.json                 config + data fingerprint (a rerun must match it)
      init/                    the fresh model when no `init` is given (or the init model with its head)
      checkpoints/step-NNNNNN/ model, tokenizer, optimizer.pt
      train_log.jsonl          loss per logged step
      final/                   the trained evaluator + prover_value.json (what `evaluator:DIR` loads)
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from core.types import Costed, State, Usage
from prover.train import TrainConfig, _check_run, _fingerprint, _save_model_dir, fit, latest_checkpoint
from thoughts.format import GOALS

log = logging.getLogger(__name__)

VALUE_FILE = "prover_value.json"  # marks an evaluator folder: {"kind": "value", "max_len": N}


def value_input(state_text: str) -> str:
    """The text the evaluator reads for a state: the goals under the format's goals delimiter."""
    return f"{GOALS}\n{state_text.strip()}\n"


def make_value_model(texts: Sequence[str], out_dir: str | Path, size: str = "tiny", seed: int = 0) -> Path:
    """A fresh evaluator: the tiny-model recipe's tokenizer (trained on `texts`) and a randomly
    initialised Llama with a one-output classification head, saved to `out_dir`."""
    import torch
    from transformers import LlamaConfig, LlamaForSequenceClassification

    from prover.tiny import SIZES, train_tokenizer

    if size not in SIZES:
        raise ValueError(f"unknown tiny size {size!r}; expected one of {', '.join(SIZES)}")
    texts = [t for t in texts if t]
    if not texts:
        raise ValueError("make_value_model: no texts to train the tokenizer on")
    s = SIZES[size]
    tokenizer = train_tokenizer(texts, s.vocab)
    cfg = LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=s.hidden, intermediate_size=s.intermediate,
        num_hidden_layers=s.layers, num_attention_heads=s.heads, num_key_value_heads=s.heads,
        max_position_embeddings=s.context, pad_token_id=tokenizer.pad_token_id, num_labels=1,
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id)
    torch.manual_seed(seed)
    model = LlamaForSequenceClassification(cfg)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    log.info("fresh evaluator (%s, %.2fM parameters) saved to %s", size, model.num_parameters() / 1e6, out)
    return out


def value_model_from(init: str, out_dir: str | Path, seed: int = 0) -> Path:
    """An evaluator from a checkpoint's backbone (e.g. the policy's) with a fresh one-output head
    (initialised under `seed`), saved to `out_dir`."""
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(init)
        if tokenizer.pad_token_id is None:
            tokenizer.pad_token = tokenizer.eos_token
        torch.manual_seed(seed)
        model = AutoModelForSequenceClassification.from_pretrained(
            init, num_labels=1, pad_token_id=tokenizer.pad_token_id, dtype=torch.float32)
    except OSError as e:
        raise ValueError(f"cannot load model {init!r}: {e}") from None
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out


def _load(path: str | Path, device: str) -> tuple[Any, Any]:
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(str(path))
        model = AutoModelForSequenceClassification.from_pretrained(str(path), dtype=torch.float32)
    except OSError as e:
        raise ValueError(f"cannot load evaluator model {str(path)!r}: {e}") from None
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    if model.config.pad_token_id is None:
        model.config.pad_token_id = tokenizer.pad_token_id
    tokenizer.truncation_side = "left"  # like the policy's prompts: a long state loses its beginning
    return model.to(device), tokenizer


def _encode(tokenizer: Any, texts: Sequence[str], max_len: int) -> list[list[int]]:
    return [ids[-max_len:] for ids in tokenizer([value_input(t) for t in texts], add_special_tokens=False)["input_ids"]]


def _batch(ids: Sequence[list[int]], pad_id: int, device: str) -> dict[str, Any]:
    """Right-padded ids and mask (the classification head reads the last non-pad position)."""
    import torch

    width = max(len(x) for x in ids)
    input_ids = torch.full((len(ids), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(ids), width), dtype=torch.long)
    for i, x in enumerate(ids):
        input_ids[i, : len(x)] = torch.tensor(x, dtype=torch.long)
        mask[i, : len(x)] = 1
    return {"input_ids": input_ids.to(device), "attention_mask": mask.to(device)}


def train_evaluator(rows: Sequence[dict[str, Any]], out_dir: str | Path, config: TrainConfig | None = None,
                    init: str | None = None, on_step: Callable[[int, float], None] | None = None,
                    progress: bool = True, data_name: str = "rows") -> Path:
    """Train an evaluator on checked rows (`prover.value_data.load_value_rows`) and return its final
    folder.  `init`: a model folder whose backbone to start from (None: a fresh tiny model of
    `config.tiny_size` made from the data).  Resumes from the latest checkpoint in `out_dir`; returns
    at once when the run already finished.  Labels may be fractional (soft targets)."""
    import torch

    from prover.device import resolve_device

    config = config or TrainConfig()
    if not rows:
        raise ValueError(f"{data_name}: no rows to train the evaluator on")
    out = Path(out_dir)
    final = out / "final"
    device = resolve_device(config.device, "train config: device")
    texts = [r["state"] for r in rows]
    labels = [float(r["label"]) for r in rows]
    init_dir = out / "init"
    if not (init_dir / "config.json").is_file():
        if init is None:
            make_value_model([value_input(t) for t in texts], init_dir, size=config.tiny_size, seed=config.seed)
        else:
            value_model_from(init, init_dir, seed=config.seed)
    init_name = "tiny:" + config.tiny_size if init is None else init

    ckpt = latest_checkpoint(out)
    model, tokenizer = _load(ckpt or init_dir, device)
    encoded = _encode(tokenizer, texts, config.max_len)
    fingerprint = _fingerprint([(ids, [int(round(y * 1e6))]) for ids, y in zip(encoded, labels, strict=True)])
    _check_run(out, {"config": asdict(config), "kind": "value", "init": init_name, "data": fingerprint})
    if (final / "config.json").is_file():
        log.info("%s: training already finished", out)
        return final

    pad = tokenizer.pad_token_id
    use_bf16 = config.bf16 and device.startswith("cuda")
    target = torch.tensor(labels, dtype=torch.float32)

    def step_loss(micro: list[list[int]]) -> tuple[float, dict[str, Any]]:
        n = sum(len(mb) for mb in micro)
        total = 0.0
        for mb in micro:
            batch = _batch([encoded[i] for i in mb], pad, device)
            with torch.autocast("cuda", dtype=torch.bfloat16, enabled=use_bf16):
                logits = model(**batch).logits[:, 0].float()
            loss = torch.nn.functional.binary_cross_entropy_with_logits(
                logits, target[mb].to(device), reduction="sum") / n
            loss.backward()
            total += loss.detach().item()
        return total, {"states": n}

    t0 = time.perf_counter()
    ran = fit(model, tokenizer, out, config, len(encoded), step_loss, device, desc="evaluator", on_step=on_step,
              progress=progress)
    model.eval()
    _save_model_dir(final, model, tokenizer, {VALUE_FILE: {"kind": "value", "max_len": config.max_len},
                                             "train_config.json": asdict(config)})
    log.info("trained evaluator %s for %d steps in %.1fs -> %s", init_name, ran, time.perf_counter() - t0, final)
    return final


class ModelEvaluator:
    """`Evaluator` over a trained value model: `score(states)` runs the model on chunks of
    `batch_size` states (sorted by length to limit padding) and returns sigmoid(logit) per state as a
    `Costed` list, with the tokens it processed (padding included) and its parameter count."""

    def __init__(self, model: Any, tokenizer: Any, max_len: int = 512, batch_size: int = 32,
                 device: str = "cpu") -> None:
        if batch_size < 1 or max_len < 1:
            raise ValueError("evaluator batch_size and max_len must be positive")
        self.model, self.tokenizer = model.to(device).eval(), tokenizer
        self.max_len, self.batch_size, self.device = max_len, batch_size, device
        self.num_parameters = int(model.num_parameters())
        self.calls = 0

    @classmethod
    def load(cls, path: str | Path, device: str = "auto", batch_size: int = 32) -> ModelEvaluator:
        from prover.device import resolve_device

        p = Path(path)
        marker = p / VALUE_FILE
        if not marker.is_file():
            raise FileNotFoundError(f"{p} is not an evaluator folder (no {VALUE_FILE}); train one with "
                                    "`prover train-evaluator` and use its final/ folder")
        meta = json.loads(marker.read_text(encoding="utf-8"))
        dev = resolve_device(device)
        model, tokenizer = _load(p, dev)
        return cls(model, tokenizer, max_len=int(meta.get("max_len", 512)), batch_size=batch_size, device=dev)

    def score(self, states: Sequence[State]) -> list[float]:
        return self.score_texts([s.text for s in states])

    def score_texts(self, texts: Sequence[str]) -> Costed:
        import torch

        self.calls += 1
        encoded = _encode(self.tokenizer, texts, self.max_len) if texts else []
        order = sorted(range(len(encoded)), key=lambda i: len(encoded[i]))
        values: list[float] = [0.0] * len(encoded)
        tokens = 0
        with torch.inference_mode():
            for k in range(0, len(order), self.batch_size):
                idx = order[k:k + self.batch_size]
                batch = _batch([encoded[i] for i in idx], self.tokenizer.pad_token_id, self.device)
                tokens += int(batch["input_ids"].numel())
                probs = torch.sigmoid(self.model(**batch).logits[:, 0].float()).tolist()
                for i, v in zip(idx, probs, strict=True):
                    values[i] = float(v)
        return Costed(values, Usage(prompt_tokens=tokens, generated_tokens=0, parameters=self.num_parameters))
