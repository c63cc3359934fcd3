"""The generator: a transformers causal LM behind the `Policy` seam.

`ModelPolicy.propose(states, n)` samples `n` continuations for every state with ONE `generate`
call per chunk of `config.batch_size` states (left padding, `num_return_sequences=n`), parses
each into (thought, tactic), drops malformed ones (counted by reason, logged at debug level),
merges identical tactics (keeping the best log-probability) and returns candidates best first.

Log-probabilities come from the generation scores (the model's raw next-token logits, so the
value does not depend on temperature/top-p); `Sample` keeps both the sum and the
length-normalised mean, and `GenerationConfig.length_normalize` picks which one ranks the
candidates and goes into `Candidate.logprob`.  `num_beams > 0` switches to beam search:
deterministic best-first proposals.  `propose_proofs` does the same for whole proofs.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import re
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.types import Candidate, State, Theorem
from thoughts.format import (
    FORMATS,
    PROOF_FORMAT,
    STOP_STRINGS,
    Dropped,
    ParsedProof,
    ParsedStep,
    build_prompt_fitting,
    build_proof_prompt,
    check_format,
    parse_output,
    parse_proof_output,
)

log = logging.getLogger(__name__)

FORMAT_FILE = "prover_format.json"  # written next to a trained checkpoint: which prompt format it speaks


@dataclass
class GenerationConfig:
    temperature: float = 1.0  # <= 0: greedy (one sample per state)
    top_p: float = 1.0
    max_new_tokens: int = 64
    num_beams: int = 0  # > 0: beam search with max(num_beams, n) beams, deterministic
    length_normalize: bool = False  # rank by mean token logprob instead of the sum
    batch_size: int = 16  # states per generate call
    seed: int = 0
    stop: tuple[str, ...] = STOP_STRINGS
    max_prompt_tokens: int = 1024  # longer prompts lose their beginning (the end holds the delimiter)
    dedup: bool = True

    def __post_init__(self) -> None:
        if not 0 < self.top_p <= 1:
            raise ValueError(f"top_p must be in (0, 1], got {self.top_p}")
        if self.max_new_tokens < 1 or self.batch_size < 1 or self.max_prompt_tokens < 1:
            raise ValueError("max_new_tokens, batch_size and max_prompt_tokens must be positive")
        if self.num_beams < 0:
            raise ValueError(f"num_beams must be >= 0, got {self.num_beams}")
        self.stop = tuple(self.stop)

    @classmethod
    def from_dict(cls, d: dict[str, Any], where: str = "generation config") -> GenerationConfig:
        known = set(cls.__dataclass_fields__)
        bad = sorted(set(d) - known)
        if bad:
            raise ValueError(f"{where}: unknown field(s) {', '.join(bad)}")
        return cls(**d)


@dataclass(frozen=True)
class Sample:
    """One generated continuation: its text (up to the stop), cost and log-probability."""

    text: str
    tokens: int
    logprob: float  # sum over the counted tokens
    ended_by_eos: bool = False
    ended_by_stop: bool = False

    @property
    def mean_logprob(self) -> float:
        return self.logprob / max(1, self.tokens)


@dataclass
class PolicyStats:
    calls: int = 0
    prompts: int = 0
    samples: int = 0
    tokens: int = 0  # generated tokens, dropped samples included
    model_seconds: float = 0.0
    dropped: Counter = field(default_factory=Counter)  # reason -> count

    def to_dict(self) -> dict[str, Any]:
        return {**{k: getattr(self, k) for k in ("calls", "prompts", "samples", "tokens", "model_seconds")},
                "dropped": dict(self.dropped)}


def _dedup_key(tactic: str) -> str:
    return re.sub(r"[ \t]+", " ", tactic.strip())


def samples_to_candidates(samples: Sequence[Sample], parse: Callable[[Sample], ParsedStep | ParsedProof | Dropped],
                          *, length_normalize: bool = False, dedup: bool = True,
                          stats: PolicyStats | None = None) -> list[Candidate]:
    """Parse, drop (counting reasons), merge identical tactics keeping the best log-probability
    (their token costs add up), and sort best first.  Shared by every backend."""
    best: dict[str, Candidate] = {}
    order: list[Candidate] = []
    for s in samples:
        p = parse(s)
        if isinstance(p, Dropped):
            if stats is not None:
                stats.dropped[p.reason] += 1
            log.debug("dropped a sample (%s): %r", p.reason, s.text[:200])
            continue
        tactic, thought = (p.proof, "") if isinstance(p, ParsedProof) else (p.tactic, p.thought)
        score = s.mean_logprob if length_normalize else s.logprob
        cand = Candidate(tactic=tactic, thought=thought, logprob=score, tokens=s.tokens)
        if not dedup:
            order.append(cand)
            continue
        key = _dedup_key(tactic)
        old = best.get(key)
        if old is None:
            best[key] = cand
        else:
            keep = cand if cand.logprob > old.logprob else old
            best[key] = Candidate(keep.tactic, keep.thought, keep.logprob, old.tokens + cand.tokens)
    out = list(best.values()) if dedup else order
    return sorted(out, key=lambda c: -c.logprob)


def resolve_device(device: str) -> str:
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"device {device!r} requested but CUDA is not available")
    return device


def read_format(path: str | Path, default: str = "thought") -> str:
    """The prompt format a checkpoint was trained on (from `prover_format.json`), else `default`."""
    f = Path(path) / FORMAT_FILE
    if f.is_file():
        fmt = json.loads(f.read_text(encoding="utf-8")).get("fmt", default)
        return fmt if fmt == PROOF_FORMAT else check_format(fmt)
    return default


def load_model_and_tokenizer(path_or_hub_id: str | Path, device: str = "cpu", dtype: str = "auto") -> tuple[Any, Any]:
    """AutoModelForCausalLM + AutoTokenizer from a local folder or a hub id; typed errors."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    name = str(path_or_hub_id)
    local = Path(name)
    if (name.startswith((".", "/", "~")) or local.exists()) and not local.is_dir():
        raise FileNotFoundError(f"model folder not found: {name}")
    if dtype == "auto":
        torch_dtype = torch.bfloat16 if device.startswith("cuda") and torch.cuda.is_bf16_supported() else torch.float32
    else:
        torch_dtype = getattr(torch, dtype)
    try:
        tokenizer = AutoTokenizer.from_pretrained(name)
        model = AutoModelForCausalLM.from_pretrained(name, dtype=torch_dtype)
    except OSError as e:
        raise ValueError(f"cannot load model {name!r}: {e}") from None
    return model, tokenizer


class ModelPolicy:
    """`Policy` and `WholeProofPolicy` over a transformers causal LM."""

    def __init__(self, model: Any, tokenizer: Any, fmt: str = "thought", config: GenerationConfig | None = None,
                 device: str = "auto") -> None:
        self.fmt = fmt if fmt == PROOF_FORMAT else check_format(fmt)
        self.config = config or GenerationConfig()
        self.device = resolve_device(device)
        self.model = model.to(self.device).eval()
        self.tokenizer = tokenizer
        tokenizer.padding_side = "left"
        tokenizer.truncation_side = "left"
        if tokenizer.pad_token_id is None:
            tokenizer.pad_token = tokenizer.eos_token
        self.stats = PolicyStats()
        self._rng_calls = 0  # generate calls since the last (re)seed
        ctx = getattr(model.config, "max_position_embeddings", None) or 10**9
        self._max_prompt = max(8, min(self.config.max_prompt_tokens, ctx - self.config.max_new_tokens))

    @classmethod
    def load(cls, path_or_hub_id: str | Path, fmt: str | None = None, config: GenerationConfig | None = None,
             device: str = "auto", dtype: str = "auto") -> ModelPolicy:
        dev = resolve_device(device)
        model, tokenizer = load_model_and_tokenizer(path_or_hub_id, dev, dtype)
        if fmt is None:
            fmt = read_format(path_or_hub_id) if Path(str(path_or_hub_id)).is_dir() else "thought"
        return cls(model, tokenizer, fmt=fmt, config=config, device=dev)

    # -- the seams -----------------------------------------------------------------------------

    def reseed(self, seed: int) -> None:
        """Start a new random stream: the n-th call after `reseed(s)` always samples the same way,
        whatever ran before (the search engine reseeds per job, so a resumed run repeats itself)."""
        self.config = dataclasses.replace(self.config, seed=int(seed))
        self._rng_calls = 0

    def propose(self, states: Sequence[State], n: int) -> list[list[Candidate]]:
        if self.fmt == PROOF_FORMAT:
            raise ValueError("this model was trained on whole proofs: use propose_proofs (strategy 'whole')")
        prompts = [build_prompt_fitting(s.text, self.fmt, self._prompt_fits) for s in states]
        return self._propose(prompts, n, lambda s: parse_output(s.text, self.fmt, require_end=not s.ended_by_eos))

    def propose_proofs(self, theorems: Sequence[Theorem], n: int) -> list[list[Candidate]]:
        prompts = [build_proof_prompt(t.formal_statement) for t in theorems]
        return self._propose(prompts, n, lambda s: parse_proof_output(s.text, require_end=not s.ended_by_eos))

    def _propose(self, prompts: list[str], n: int, parse: Callable[[Sample], Any]) -> list[list[Candidate]]:
        if n < 1:
            raise ValueError(f"n must be >= 1, got {n}")
        per_prompt = self.generate(prompts, n)
        cfg = self.config
        return [samples_to_candidates(ss, parse, length_normalize=cfg.length_normalize, dedup=cfg.dedup,
                                      stats=self.stats) for ss in per_prompt]

    def _prompt_fits(self, prompt: str) -> bool:
        return len(self.tokenizer(prompt, add_special_tokens=False)["input_ids"]) <= self._max_prompt

    # -- generation ----------------------------------------------------------------------------

    def generate(self, prompts: Sequence[str], n: int) -> list[list[Sample]]:
        """`n` samples per prompt (1 when greedy), in chunks of `batch_size` prompts, each chunk one
        `generate` call.  Prompts are sorted by length inside the call to limit padding."""
        import torch

        if not prompts:
            return []
        t0 = time.perf_counter()
        self.stats.calls += 1
        lengths = [len(p) for p in prompts]
        order = sorted(range(len(prompts)), key=lambda i: lengths[i])
        out: list[list[Sample] | None] = [None] * len(prompts)
        bs = self.config.batch_size
        self._rng_calls += 1
        seed = hash((self.config.seed, self._rng_calls)) & 0x7FFFFFFF
        devices = [torch.device(self.device).index or 0] if self.device.startswith("cuda") else []
        with torch.random.fork_rng(devices=devices):
            torch.manual_seed(seed)
            for i in range(0, len(order), bs):
                idx = order[i:i + bs]
                for j, samples in zip(idx, self._generate_chunk([prompts[j] for j in idx], n), strict=True):
                    out[j] = samples
        self.stats.prompts += len(prompts)
        self.stats.model_seconds += time.perf_counter() - t0
        return [s or [] for s in out]

    def _generate_chunk(self, prompts: list[str], n: int) -> list[list[Sample]]:
        import torch

        cfg, tok = self.config, self.tokenizer
        enc = tok(prompts, return_tensors="pt", padding=True, truncation=True, max_length=self._max_prompt,
                  add_special_tokens=False).to(self.device)
        greedy = cfg.num_beams == 0 and cfg.temperature <= 0
        k = 1 if greedy else n
        kw: dict[str, Any] = dict(max_new_tokens=cfg.max_new_tokens, num_return_sequences=k,
                                  return_dict_in_generate=True, pad_token_id=tok.pad_token_id,
                                  eos_token_id=tok.eos_token_id)
        if cfg.stop:
            kw.update(stop_strings=list(cfg.stop), tokenizer=tok)
        if cfg.num_beams > 0:
            kw.update(do_sample=False, num_beams=max(cfg.num_beams, n), output_scores=True, length_penalty=0.0,
                      early_stopping=True)
        elif greedy:
            kw.update(do_sample=False, output_logits=True)
        else:
            kw.update(do_sample=True, temperature=cfg.temperature, top_p=cfg.top_p, top_k=0, output_logits=True)
        with torch.inference_mode():
            res = self.model.generate(**enc, **kw)
            gen = res.sequences[:, enc["input_ids"].shape[1]:]
            if cfg.num_beams > 0:
                step_lp = self.model.compute_transition_scores(res.sequences, res.scores, res.beam_indices,
                                                               normalize_logits=False)
                step_lp = step_lp[:, : gen.shape[1]]
            else:
                step_lp = torch.stack([torch.log_softmax(lg.float(), dim=-1).gather(1, gen[:, t:t + 1]).squeeze(1)
                                       for t, lg in enumerate(res.logits)], dim=1)
        samples = [self._sample(gen[r], step_lp[r]) for r in range(gen.shape[0])]
        self.stats.samples += len(samples)
        self.stats.tokens += sum(s.tokens for s in samples)
        return [samples[i * k:(i + 1) * k] for i in range(len(prompts))]

    def _sample(self, ids: Any, step_lp: Any) -> Sample:
        """Cut one generated row at the end-of-sequence token or the first stop string."""
        tok = self.tokenizer
        ids = ids.tolist()
        eos = tok.eos_token_id
        end = ids.index(eos) if eos is not None and eos in ids else len(ids)
        if tok.pad_token_id is not None and tok.pad_token_id != eos:
            while end > 0 and ids[end - 1] == tok.pad_token_id:
                end -= 1
        text = tok.decode(ids[:end], skip_special_tokens=True, clean_up_tokenization_spaces=False)
        n_tok, by_eos, by_stop = end, end < len(ids) and ids[end] == eos, False
        stops = [s for s in self.config.stop if s in text]
        if stops:  # the fewest tokens whose text contains a stop string
            lo, hi = 1, end
            while lo < hi:
                mid = (lo + hi) // 2
                part = tok.decode(ids[:mid], skip_special_tokens=True, clean_up_tokenization_spaces=False)
                if any(s in part for s in stops):
                    hi = mid
                else:
                    lo = mid + 1
            n_tok, by_eos, by_stop = lo, False, True
            text = tok.decode(ids[:lo], skip_special_tokens=True, clean_up_tokenization_spaces=False)
            cut = min(text.index(s) + len(s) for s in stops)
            text = text[:cut]
        counted = n_tok + (1 if by_eos else 0)  # the end-of-sequence token is generated too
        lp = float(step_lp[:counted].float().sum()) if counted else 0.0
        return Sample(text=text, tokens=counted, logprob=lp, ended_by_eos=by_eos, ended_by_stop=by_stop)


__all__ = ["FORMATS", "GenerationConfig", "ModelPolicy", "PolicyStats", "Sample", "samples_to_candidates"]
