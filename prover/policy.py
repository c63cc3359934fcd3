"""The generator: a transformers causal LM behind the `Policy` seam.

`ModelPolicy.propose(states, n)` samples `n` continuations for every state with ONE generation
call per chunk of `config.batch_size` states (left padding, `n` sequences per prompt), parses
each into (thought, tactic), drops malformed ones (counted by reason, logged at debug level),
merges identical tactics (keeping the best log-probability) and returns candidates best first.

Log-probabilities come from the generation scores (the model's raw next-token logits, so the
value does not depend on temperature/top-p); `Sample` keeps both the sum and the
length-normalised mean, and `GenerationConfig.length_normalize` picks which one ranks the
candidates and goes into `Candidate.logprob`.  `num_beams > 0` switches to beam search:
deterministic best-first proposals.  `propose_proofs` does the same for whole proofs.

Two engines compute the same samples bit for bit (`GenerationConfig.engine`): transformers'
`generate` ("hf", the reference) and prover/fast_generate.py ("fast", the default: each prompt
prefilled once for all its beams, a plain forward over the model's weights; Llama-family
checkpoints, anything else falls back to "hf").  A third, "fast-shared", is "fast" with each
prompt's keys and values read once per decoding step for all its beams instead of once per beam:
the same candidates in the tests, log-probabilities equal to float rounding (not to the bit).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import math
import os
import re
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.config import check_fields, from_dict
from core.types import Candidate, Costed, State, Theorem, Usage
from prover.device import resolve_device
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

ENGINES = ("fast", "fast-shared", "hf", "ct2")
SCORES = ("logprob", "frequency")  # how a state's distinct candidates are scored and ranked
FAST_ENGINES = ("fast", "fast-shared")
# Below this many parameters a model's products are too small to split across threads: on CPU it
# generates with one torch thread (measured on a shared 2-core machine: never slower idle, 10-30x
# faster while another process holds a core, when two threads wait on each other every op)
SMALL_MODEL = 20_000_000
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
    score: str = "logprob"  # candidate score: "logprob", the best sample's (length_normalize: its mean); "frequency":
    # log of the share of a state's samples that gave the tactic (an estimate of its probability, thoughts summed out)
    max_candidates: int = 0  # > 0: only the k best-scored distinct candidates of a state go to Lean
    engine: str = "fast"  # "fast": prover/fast_generate.py (same results, Llama models); "hf": transformers' generate;
    # "fast-shared": "fast" reading each prompt's keys once a step for all its beams (equal to float rounding);
    # "ct2": CTranslate2 (prover/ct2_generate.py; beams and greedy equal to float rounding; samples from the same
    # distribution with its own random generator; threads 0: one for a model under SMALL_MODEL, else one per core)
    threads: int = 0  # torch CPU threads while generating; 0: one for a CPU model under SMALL_MODEL, else torch's

    def __post_init__(self) -> None:
        self.stop = tuple(self.stop)
        check_fields(self, "generation config")
        if self.engine not in ENGINES:
            raise ValueError(f"generation config: engine must be one of {', '.join(ENGINES)}, got {self.engine!r}")
        if not 0 < self.top_p <= 1:
            raise ValueError(f"top_p must be in (0, 1], got {self.top_p}")
        if self.max_new_tokens < 1 or self.batch_size < 1 or self.max_prompt_tokens < 1:
            raise ValueError("max_new_tokens, batch_size and max_prompt_tokens must be positive")
        if self.num_beams < 0:
            raise ValueError(f"num_beams must be >= 0, got {self.num_beams}")
        if self.threads < 0:
            raise ValueError(f"generation config: threads must be >= 0, got {self.threads}")
        if self.score not in SCORES:
            raise ValueError(f"generation config: score must be one of {', '.join(SCORES)}, got {self.score!r}")
        if self.max_candidates < 0:
            raise ValueError(f"generation config: max_candidates must be >= 0, got {self.max_candidates}")

    @classmethod
    def from_dict(cls, d: dict[str, Any], where: str = "generation config") -> GenerationConfig:
        """Unknown keys and values of the wrong type are a ValueError naming the field (core.config)."""
        return from_dict(cls, d, where)


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
                          *, length_normalize: bool = False, dedup: bool = True, score: str = "logprob",
                          max_candidates: int = 0, stats: PolicyStats | None = None) -> list[Candidate]:
    """Parse, drop (counting reasons), merge identical tactics keeping the best log-probability
    (their token costs add up), and sort best first; with `score="frequency"` a merged tactic's
    score is log(k / len(samples)) for the k samples that gave it (ties: the best log-probability
    first); `max_candidates` > 0 keeps the best that many.  Shared by every backend."""
    if score not in SCORES:
        raise ValueError(f"score must be one of {', '.join(SCORES)}, got {score!r}")
    best: dict[str, Candidate] = {}
    counts: Counter[str] = Counter()
    order: list[Candidate] = []
    for s in samples:
        p = parse(s)
        if isinstance(p, Dropped):
            if stats is not None:
                stats.dropped[p.reason] += 1
            log.debug("dropped a sample (%s): %r", p.reason, s.text[:200])
            continue
        tactic, thought = (p.proof, "") if isinstance(p, ParsedProof) else (p.tactic, p.thought)
        lp = s.mean_logprob if length_normalize else s.logprob
        cand = Candidate(tactic=tactic, thought=thought, logprob=lp, tokens=s.tokens)
        if not dedup:
            order.append(cand)
            continue
        key = _dedup_key(tactic)
        counts[key] += 1
        old = best.get(key)
        if old is None:
            best[key] = cand
        else:
            keep = cand if cand.logprob > old.logprob else old
            best[key] = Candidate(keep.tactic, keep.thought, keep.logprob, old.tokens + cand.tokens)
    if not dedup:
        out = sorted(order, key=lambda c: -c.logprob)
    elif score == "frequency":
        ranked = sorted(best.items(), key=lambda kv: (-counts[kv[0]], -kv[1].logprob))
        out = [dataclasses.replace(c, logprob=math.log(counts[k] / len(samples))) for k, c in ranked]
    else:
        out = sorted(best.values(), key=lambda c: -c.logprob)
    return out[:max_candidates] if max_candidates else out


def config_candidates(samples: Sequence[Sample], parse: Callable[[Sample], ParsedStep | ParsedProof | Dropped],
                      cfg: GenerationConfig, stats: PolicyStats | None = None) -> list[Candidate]:
    """`samples_to_candidates` with a generation config's ranking settings (every backend's way in)."""
    return samples_to_candidates(samples, parse, length_normalize=cfg.length_normalize, dedup=cfg.dedup,
                                 score=cfg.score, max_candidates=cfg.max_candidates, stats=stats)


def read_format(path: str | Path, default: str = "thought") -> str:
    """The prompt format a checkpoint was trained on (from `prover_format.json`), else `default`."""
    f = Path(path) / FORMAT_FILE
    if f.is_file():
        fmt = json.loads(f.read_text(encoding="utf-8")).get("fmt", default)
        return fmt if fmt == PROOF_FORMAT else check_format(fmt)
    return default


def load_model_and_tokenizer(path_or_hub_id: str | Path, device: str = "cpu", dtype: str = "auto",
                             trust_remote_code: bool = False) -> tuple[Any, Any]:
    """AutoModelForCausalLM + AutoTokenizer from a local folder or a hub id; typed errors.
    `trust_remote_code` runs the checkpoint's own model code (InternLM2-based provers need it)."""
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
        tokenizer = AutoTokenizer.from_pretrained(name, trust_remote_code=trust_remote_code)
        model = AutoModelForCausalLM.from_pretrained(name, dtype=torch_dtype, trust_remote_code=trust_remote_code)
    except OSError as e:
        raise ValueError(f"cannot load model {name!r}: {e}") from None
    return _aligned(model), tokenizer


ALIGNMENT = 64  # bytes: what torch's CPU allocator gives every new tensor


def _aligned(model: Any) -> Any:
    """`model` with every parameter and buffer in memory aligned to `ALIGNMENT` bytes (a copy of
    those that are not).  A checkpoint's tensors can lie at any offset of the loaded file, and a
    one-row matrix product sums in another order over a misaligned weight on some CPUs (an AMD
    EPYC here), so the reference's logits would depend on where the file put each tensor, and
    differ from those of the same weights copied (the fast engine's joined projections)."""
    import torch

    with torch.no_grad():
        for t in list(model.parameters()) + list(model.buffers()):
            if t.device.type == "cpu" and t.numel() and t.data_ptr() % ALIGNMENT:
                t.data = t.data.clone()
    return model


def _warpers(temperature: float, top_p: float) -> Any:
    """The logits processors transformers' `generate` applies when sampling with these settings."""
    from transformers.generation.logits_process import (
        LogitsProcessorList,
        TemperatureLogitsWarper,
        TopPLogitsWarper,
    )

    procs = LogitsProcessorList()
    if temperature != 1.0:
        procs.append(TemperatureLogitsWarper(temperature))
    if top_p < 1.0:
        procs.append(TopPLogitsWarper(top_p))
    return procs


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
        self.num_parameters = int(model.num_parameters())
        self.last_usage = Usage(parameters=self.num_parameters)  # what the latest generate computed
        self._rng_calls = 0  # generate calls since the last (re)seed
        self._decoder: Any = None  # the fast engine's decoder, built for `_decoder_for` (the model)
        self._decoder_for: Any = None
        self._stop: Any = None  # the stop-string test, built for the stop strings `_stop_for`
        self._stop_for: tuple[str, ...] | None = None
        self._ct2: Any = None  # engine "ct2": the converted model, built for `_ct2_for` (the model)
        self._ct2_for: Any = None
        self._ct2_stop: tuple[str, ...] | None = None  # ... and for these stop strings
        self._ct2_unfit: str | None = None  # why that model or those stop strings cannot go to ct2
        self._ct2_why: str | None = None  # why engine "ct2" last fell back to the fast engine (logged once)
        self._ct2_seed: int | None = None  # the seed engine "ct2" restarts its sampler with at the next chunk
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
        return Costed([config_candidates(ss, parse, cfg, self.stats) for ss in per_prompt], self.last_usage)

    def _prompt_fits(self, prompt: str) -> bool:
        return len(self.tokenizer(prompt, add_special_tokens=False)["input_ids"]) <= self._max_prompt

    # -- generation ----------------------------------------------------------------------------

    def generate(self, prompts: Sequence[str], n: int) -> list[list[Sample]]:
        """`n` samples per prompt (1 when greedy), in chunks of `batch_size` prompts, each chunk one
        `generate` call.  Prompts are sorted by length inside the call to limit padding."""
        import torch

        self.last_usage = Usage(parameters=self.num_parameters)
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
        with torch.random.fork_rng(devices=devices), self._cpu_threads():
            torch.manual_seed(seed)
            self._ct2_seed = seed  # engine "ct2" samples from its own generator, restarted at this call's first chunk
            for i in range(0, len(order), bs):
                idx = order[i:i + bs]
                for j, samples in zip(idx, self._generate_chunk([prompts[j] for j in idx], n), strict=True):
                    out[j] = samples
        self.stats.prompts += len(prompts)
        self.stats.model_seconds += time.perf_counter() - t0
        return [s or [] for s in out]

    @contextlib.contextmanager
    def _cpu_threads(self) -> Iterator[None]:
        """torch's CPU thread count for one generate call (`config.threads`; 0: one for a small model
        on CPU, else unchanged), restored afterwards."""
        import torch

        want = self.config.threads
        if want == 0 and self.device == "cpu" and self.num_parameters < SMALL_MODEL:
            want = 1
        have = torch.get_num_threads()
        if want == 0 or want == have:
            yield
            return
        torch.set_num_threads(want)
        try:
            yield
        finally:
            torch.set_num_threads(have)

    def _generate_chunk(self, prompts: list[str], n: int) -> list[list[Sample]]:
        import torch

        cfg, tok = self.config, self.tokenizer
        greedy = cfg.num_beams == 0 and cfg.temperature <= 0
        ct2 = self._ct2_decoder(greedy)
        if ct2 is not None:
            return self._run_ct2(ct2, prompts, n, greedy)
        enc = tok(prompts, return_tensors="pt", padding=True, truncation=True, max_length=self._max_prompt,
                  add_special_tokens=False).to(self.device)
        k = 1 if greedy else n
        with torch.inference_mode():
            decoder = self._fast_decoder()
            run = self._run_fast if decoder is not None else self._run_hf
            gen, step_lp, prompt_tokens, generated = run(enc, n, k, greedy)
        u = self.last_usage
        self.last_usage = Usage(u.prompt_tokens + prompt_tokens, u.generated_tokens + generated, u.parameters)
        samples = [self._sample(gen[r], step_lp[r]) for r in range(gen.shape[0])]
        self.stats.samples += len(samples)
        self.stats.tokens += sum(s.tokens for s in samples)
        return [samples[i * k:(i + 1) * k] for i in range(len(prompts))]

    def _run_hf(self, enc: Any, n: int, k: int, greedy: bool) -> tuple[Any, Any, int, int]:
        """transformers' `generate` (the reference engine): generated ids, their log-probabilities,
        and the tokens computed (every prompt once per beam or sample, padding included)."""
        import torch

        cfg, tok = self.config, self.tokenizer
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
        res = self.model.generate(**enc, **kw)
        gen = res.sequences[:, enc["input_ids"].shape[1]:]
        if cfg.num_beams > 0:
            step_lp = self.model.compute_transition_scores(res.sequences, res.scores, res.beam_indices,
                                                           normalize_logits=False)
            step_lp = step_lp[:, : gen.shape[1]]
        else:
            step_lp = torch.stack([torch.log_softmax(lg.float(), dim=-1).gather(1, gen[:, t:t + 1]).squeeze(1)
                                   for t, lg in enumerate(res.logits)], dim=1)
        rows = max(cfg.num_beams, n) if cfg.num_beams > 0 else k  # sequences computed per prompt
        prompts = int(enc["input_ids"].shape[0])
        return gen, step_lp, int(enc["input_ids"].numel()) * rows, int(gen.shape[1]) * prompts * rows

    def _fast_decoder(self) -> Any:
        """The fast engine's decoder for this model (built once), or None: engine "hf", or a model
        the fast engine does not implement (logged once, then transformers' `generate` runs)."""
        if self.config.engine not in (*FAST_ENGINES, "ct2"):  # "ct2" falls back to "fast" where it cannot run
            return None
        if self._decoder_for is not self.model or (self._decoder is not None and self._decoder.stale(self.model)):
            from prover.fast_generate import LlamaDecoder, unsupported

            why = unsupported(self.model)
            if why is not None:
                log.info("fast generation engine unavailable (%s); using transformers' generate", why)
            self._decoder = (None if why is not None
                             else LlamaDecoder(self.model, shared_prefix=self.config.engine == "fast-shared"))
            self._decoder_for = self.model
        return self._decoder

    def _ct2_decoder(self, greedy: bool) -> Any:
        """Engine "ct2"'s converted model (built once per model and stop strings), or None: another
        engine, or settings CTranslate2 cannot run here (logged once; the fast engine runs)."""
        if self.config.engine != "ct2":
            return None
        from prover.ct2_generate import Ct2Decoder, unsupported

        cfg, stop = self.config, tuple(self.config.stop)
        if cfg.num_beams == 0 and not greedy and cfg.top_p < 1:
            why: str | None = "top-p sampling (ct2 samples from the whole vocabulary only)"
        else:  # the model's and stop strings' checks and the conversion run once per model and stop strings
            if (self._ct2_for is not self.model or self._ct2_stop != stop
                    or (self._ct2 is not None and self._ct2.stale(self.model))):
                self._ct2_unfit = unsupported(self.model, self.tokenizer, stop)
                threads = cfg.threads or (1 if self.num_parameters < SMALL_MODEL else (os.cpu_count() or 1))
                self._ct2 = None if self._ct2_unfit else Ct2Decoder(self.model, self.tokenizer, stop, threads)
                self._ct2_for, self._ct2_stop = self.model, stop
            why = self._ct2_unfit
        if why is not None:
            if why != self._ct2_why:
                log.info("ct2 engine unavailable (%s); using the fast engine", why)
            self._ct2_why = why
            return None
        return self._ct2

    def _run_ct2(self, decoder: Any, prompts: list[str], n: int, greedy: bool) -> list[list[Sample]]:
        """Engine "ct2": `n` beams or samples (1 greedy) per prompt; counts every prompt once per beam
        or sample, every beam as long as its prompt's longest, every sample as long as itself."""
        cfg = self.config
        ids = self.tokenizer(prompts, truncation=True, max_length=self._max_prompt, add_special_tokens=False)["input_ids"]
        if cfg.num_beams == 0 and not greedy:
            hyps = decoder.sample(ids, copies=n, max_new=cfg.max_new_tokens, temperature=cfg.temperature,
                                  seed=self._ct2_seed)
            self._ct2_seed = None  # the later chunks of this call continue the stream
            rows, generated = n, sum(len(h.ids) for hs in hyps for h in hs)
        else:
            rows, k = (1, 1) if greedy else (max(cfg.num_beams, n), n)
            hyps = decoder.decode(ids, beams=rows, returned=k, max_new=cfg.max_new_tokens)
            generated = sum(max((len(h.ids) for h in hs), default=0) for hs in hyps) * rows
        out = [[self._sample(h.ids, None, total=h.logprob) for h in hs] for hs in hyps]
        u = self.last_usage
        self.last_usage = Usage(u.prompt_tokens + sum(len(i) for i in ids) * rows, u.generated_tokens + generated,
                                u.parameters)
        self.stats.samples += sum(len(ss) for ss in out)
        self.stats.tokens += sum(s.tokens for ss in out for s in ss)
        return out

    def _stop_criterion(self) -> Any:
        """transformers' own stop-string test for `config.stop` (built once per stop tuple)."""
        stop = tuple(self.config.stop)
        if not stop:
            return None
        if self._stop_for != stop:
            from prover.fast_generate import StopTest

            self._stop = StopTest(self.tokenizer, stop, int(self.model.config.vocab_size))
            self._stop_for = stop
        return self._stop

    def _run_fast(self, enc: Any, n: int, k: int, greedy: bool) -> tuple[Any, Any, int, int]:
        """The fast engine (prover/fast_generate.py): the same ids and log-probabilities as `_run_hf`;
        each prompt is computed once, whatever the number of beams or samples."""
        cfg, tok = self.config, self.tokenizer
        decoder = self._fast_decoder()
        ids, attention = enc["input_ids"], enc["attention_mask"]
        eos, pad = tok.eos_token_id, tok.pad_token_id
        stop = self._stop_criterion()
        if cfg.num_beams > 0:
            fill = (pad or eos) if eos is not None else -1  # what transformers fills a finished beam with
            out = decoder.beam_search(ids, attention, beams=max(cfg.num_beams, n), returned=k,
                                      max_new=cfg.max_new_tokens, stop=stop, eos=eos, fill=fill)
        else:
            out = decoder.sample(ids, attention, copies=k, max_new=cfg.max_new_tokens, do_sample=not greedy,
                                 warp=None if greedy else _warpers(cfg.temperature, cfg.top_p), stop=stop,
                                 eos=eos, pad=pad)
        return out.tokens, out.step_logprobs, out.prompt_tokens, out.generated_tokens

    def _sample(self, ids: Any, step_lp: Any, total: float | None = None) -> Sample:
        """Cut one generated row at the end-of-sequence token or the first stop string; its
        log-probability sums `step_lp` over the kept tokens, or is `total` (engine "ct2", whose rows
        end at their end token)."""
        tok = self.tokenizer
        ids = ids if isinstance(ids, list) else ids.tolist()
        eos = tok.eos_token_id
        end = ids.index(eos) if eos is not None and eos in ids else len(ids)
        if tok.pad_token_id is not None and tok.pad_token_id != eos:
            while end > 0 and ids[end - 1] == tok.pad_token_id:
                end -= 1
        def decode(k: int) -> str:
            return tok.decode(ids[:k], skip_special_tokens=True, clean_up_tokenization_spaces=False)

        text = decode(end)
        n_tok, by_eos, by_stop = end, end < len(ids) and ids[end] == eos, False
        stops = [s for s in self.config.stop if s in text]
        if stops:  # the fewest tokens whose text contains a stop string
            lo, hi = 1, end
            if all(s.isascii() for s in stops) and not any(s in decode(end - 1) for s in stops):
                lo = hi  # the usual case, the last token completes the stop (an ASCII match never vanishes)
            while lo < hi:
                mid = (lo + hi) // 2
                if any(s in decode(mid) for s in stops):
                    hi = mid
                else:
                    lo = mid + 1
            n_tok, by_eos, by_stop = lo, False, True
            text = text if lo == end else decode(lo)
            cut = min(text.index(s) + len(s) for s in stops)
            text = text[:cut]
        counted = n_tok + (1 if by_eos else 0)  # the end-of-sequence token is generated too
        if total is not None:
            lp = total
        else:
            lp = float(step_lp[:counted].float().sum()) if counted else 0.0
        return Sample(text=text, tokens=counted, logprob=lp, ended_by_eos=by_eos, ended_by_stop=by_stop)


__all__ = ["FORMATS", "GenerationConfig", "ModelPolicy", "PolicyStats", "Sample", "resolve_device", "samples_to_candidates"]
