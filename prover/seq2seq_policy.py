"""A generator over a transformers encoder-decoder (`AutoModelForSeq2SeqLM`): ReProver's ByT5
tactic generator reads the state and writes one tactic.

`Seq2SeqGenerator.generate(prompts, n)` is the backend interface `prover.prompted.PromptedPolicy`
uses (as for `ModelPolicy` and `VLLMPolicy`): `n` `Sample`s per prompt, with their token counts and
log-probabilities, under the same `GenerationConfig` (beam search when `num_beams > 0`, as
ReProver decodes: `length_penalty=0`, the beams' summed log-probabilities as scores; sampling
otherwise).  The encoder reads each prompt once; `last_usage` counts its tokens once and every
generated position of every returned row.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from core.types import Usage
from prover.device import resolve_device
from prover.policy import GenerationConfig, PolicyStats, Sample

log = logging.getLogger(__name__)


def load_seq2seq(path_or_hub_id: str | Path, device: str = "cpu", dtype: str = "auto") -> tuple[Any, Any]:
    """AutoModelForSeq2SeqLM + AutoTokenizer from a folder or a hub id; ValueError naming it otherwise."""
    import torch
    from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

    name = str(path_or_hub_id)
    local = Path(name).expanduser()
    if (name.startswith((".", "/", "~")) or local.exists()) and not local.is_dir():
        raise FileNotFoundError(f"model folder not found: {name}")
    if dtype == "auto":
        torch_dtype = torch.bfloat16 if device.startswith("cuda") and torch.cuda.is_bf16_supported() else torch.float32
    else:
        torch_dtype = getattr(torch, dtype)
    try:
        tokenizer = AutoTokenizer.from_pretrained(name)
        model = AutoModelForSeq2SeqLM.from_pretrained(name, dtype=torch_dtype)
    except (OSError, ValueError) as e:
        raise ValueError(f"cannot load sequence-to-sequence model {name!r}: {e}") from None
    return model, tokenizer


class Seq2SeqGenerator:
    """Prompts in, `Sample`s out, over an encoder-decoder model."""

    def __init__(self, model: Any, tokenizer: Any, config: GenerationConfig | None = None,
                 device: str = "auto") -> None:
        if not getattr(model.config, "is_encoder_decoder", False):
            raise ValueError(f"{type(model).__name__} is not an encoder-decoder model; "
                             "use a causal prompt format for it")
        self.config = config or GenerationConfig()
        self.device = resolve_device(device)
        self.model = model.to(self.device).eval()
        self.tokenizer = tokenizer
        self.stats = PolicyStats()
        self.num_parameters = int(model.num_parameters())
        self.last_usage = Usage(parameters=self.num_parameters)
        self._rng_calls = 0

    @classmethod
    def load(cls, path_or_hub_id: str | Path, config: GenerationConfig | None = None, device: str = "auto",
             dtype: str = "auto") -> Seq2SeqGenerator:
        dev = resolve_device(device)
        model, tokenizer = load_seq2seq(path_or_hub_id, dev, dtype)
        return cls(model, tokenizer, config=config, device=dev)

    def reseed(self, seed: int) -> None:
        """A new random stream: the n-th call after `reseed(s)` samples the same way (as ModelPolicy)."""
        self.config = dataclasses.replace(self.config, seed=int(seed))
        self._rng_calls = 0

    def generate(self, prompts: Sequence[str], n: int) -> list[list[Sample]]:
        """`n` samples per prompt (1 when greedy), `batch_size` prompts per `generate` call."""
        import torch

        if n < 1:
            raise ValueError(f"n must be >= 1, got {n}")
        self.last_usage = Usage(parameters=self.num_parameters)
        if not prompts:
            return []
        t0 = time.perf_counter()
        self.stats.calls += 1
        self._rng_calls += 1
        seed = hash((self.config.seed, self._rng_calls)) & 0x7FFFFFFF
        devices = [torch.device(self.device).index or 0] if self.device.startswith("cuda") else []
        out: list[list[Sample]] = []
        with torch.random.fork_rng(devices=devices):
            torch.manual_seed(seed)
            bs = self.config.batch_size
            for i in range(0, len(prompts), bs):
                out.extend(self._chunk(list(prompts[i:i + bs]), n))
        self.stats.prompts += len(prompts)
        self.stats.model_seconds += time.perf_counter() - t0
        return out

    def _chunk(self, prompts: list[str], n: int) -> list[list[Sample]]:
        import torch

        cfg, tok = self.config, self.tokenizer
        enc = tok(prompts, return_tensors="pt", padding=True, truncation=True,
                  max_length=cfg.max_prompt_tokens).to(self.device)
        greedy = cfg.num_beams == 0 and cfg.temperature <= 0
        k = 1 if greedy else n
        kw: dict[str, Any] = dict(max_new_tokens=cfg.max_new_tokens, num_return_sequences=k,
                                  return_dict_in_generate=True)
        if cfg.num_beams > 0:
            kw.update(do_sample=False, num_beams=max(cfg.num_beams, n), output_scores=True, length_penalty=0.0,
                      early_stopping=False)
        elif greedy:
            kw.update(do_sample=False, output_logits=True)
        else:
            kw.update(do_sample=True, temperature=cfg.temperature, top_p=cfg.top_p, top_k=0, output_logits=True)
        with torch.inference_mode():
            res = self.model.generate(**enc, **kw)
            gen = res.sequences[:, 1:]  # after the decoder start token
            if cfg.num_beams > 0:
                step_lp = self.model.compute_transition_scores(res.sequences, res.scores, res.beam_indices,
                                                               normalize_logits=False)
            else:
                step_lp = torch.stack([torch.log_softmax(lg.float(), dim=-1).gather(1, gen[:, t:t + 1]).squeeze(1)
                                       for t, lg in enumerate(res.logits)], dim=1)
            step_lp = step_lp[:, : gen.shape[1]]
        u = self.last_usage
        self.last_usage = Usage(u.prompt_tokens + int(enc["input_ids"].numel()),
                                u.generated_tokens + int(gen.shape[1]) * gen.shape[0], u.parameters)
        samples = [self._sample(gen[r].tolist(), step_lp[r]) for r in range(gen.shape[0])]
        self.stats.samples += len(samples)
        self.stats.tokens += sum(s.tokens for s in samples)
        return [samples[i * k:(i + 1) * k] for i in range(len(prompts))]

    def _sample(self, ids: list[int], step_lp: Any) -> Sample:
        """Cut one row at the end-of-sequence token (then at the first stop string, if any)."""
        tok = self.tokenizer
        eos = tok.eos_token_id
        end = ids.index(eos) if eos in ids else len(ids)
        by_eos = end < len(ids)
        text = tok.decode(ids[:end], skip_special_tokens=True)
        counted = end + (1 if by_eos else 0)
        by_stop = False
        for s in self.config.stop:
            if s and s in text:
                text, by_stop, by_eos = text[: text.index(s) + len(s)], True, False
        lp = float(step_lp[:counted].float().sum()) if counted else 0.0
        return Sample(text=text, tokens=counted, logprob=lp, ended_by_eos=by_eos, ended_by_stop=by_stop)


__all__ = ["Seq2SeqGenerator", "load_seq2seq"]
