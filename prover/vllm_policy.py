"""An optional vLLM backend for the generator, for users' GPUs: the same interface and the same
parsing, dropping and dedup as `ModelPolicy` (`config_candidates`), generation by vLLM.

vLLM is not a dependency (`pip install .[vllm]`, and it needs a CUDA GPU); this module imports it
only when a `VLLMPolicy` is built (`make_policy("vllm:MODEL")`) and raises
`core.errors.MissingDependency` (an ImportError) with that hint otherwise.  vLLM is not installed on
the machines this project is developed on, so the conversion of vLLM's outputs into candidates
(`samples_from_vllm`) and the policy around a stand-in `vllm` module with vLLM's call and output
shapes are what is tested here; real vLLM generation is not.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from typing import Any

from core.errors import MissingDependency
from core.types import Candidate, Costed, State, Theorem, Usage
from prover.policy import GenerationConfig, PolicyStats, Sample, config_candidates
from thoughts.format import build_prompt, build_proof_prompt, check_format, parse_output, parse_proof_output

log = logging.getLogger(__name__)


def samples_from_vllm(request_output: Any, stop: Sequence[str]) -> list[Sample]:
    """`Sample`s of one vLLM `RequestOutput` (fields used: outputs[i].text, .token_ids,
    .cumulative_logprob, .finish_reason, .stop_reason).  vLLM strips a matched stop string from
    the text; it is put back so that parsing sees the same text as with transformers."""
    out = []
    for o in request_output.outputs:
        text = o.text or ""
        by_stop = o.finish_reason == "stop" and isinstance(o.stop_reason, str) and o.stop_reason in stop
        by_eos = o.finish_reason == "stop" and not by_stop
        if by_stop:
            text += o.stop_reason
        lp = o.cumulative_logprob if o.cumulative_logprob is not None else 0.0
        out.append(Sample(text=text, tokens=len(o.token_ids), logprob=float(lp), ended_by_eos=by_eos,
                          ended_by_stop=by_stop))
    return out


def count_parameters(model: str, trust_remote_code: bool = False) -> int:
    """The parameter count of `model`, from its config on the meta device (no weights loaded), for
    the FLOPs figures; 0 (with a warning) when the config cannot be read."""
    try:
        import torch
        from transformers import AutoConfig, AutoModelForCausalLM

        # local files only: vLLM has already fetched the model into the cache, and no call goes out
        cfg = AutoConfig.from_pretrained(model, trust_remote_code=trust_remote_code, local_files_only=True)
        with torch.device("meta"):
            net = AutoModelForCausalLM.from_config(cfg, trust_remote_code=trust_remote_code)
        return int(net.num_parameters())
    except Exception as e:  # FLOPs are then reported as 0, never a failed run
        log.warning("cannot count the parameters of %s (%s): FLOPs will read 0", model, e)
        return 0


class VLLMPolicy:
    """`Policy` and `WholeProofPolicy` on a vLLM engine (`vllm.LLM`)."""

    def __init__(self, model: str, fmt: str = "thought", config: GenerationConfig | None = None,
                 **engine_kwargs: Any) -> None:
        try:
            from vllm import LLM
        except ImportError as e:
            raise MissingDependency(
                "vllm is not installed: the vLLM backend (policy spec vllm:MODEL) needs "
                "`pip install 'lean-star-prover[vllm]'` and a CUDA GPU; use model:MODEL (transformers) "
                "on a machine without them") from e
        self.fmt = check_format(fmt)
        self.config = config or GenerationConfig()
        self.llm = LLM(model=model, seed=self.config.seed, **engine_kwargs)
        self.stats = PolicyStats()
        self._rng_calls = 0
        self.num_parameters = count_parameters(model, bool(engine_kwargs.get("trust_remote_code")))
        self.last_usage = Usage(parameters=self.num_parameters)

    def reseed(self, seed: int) -> None:
        """Start a new random stream (per search job), as `ModelPolicy.reseed`."""
        self.config = dataclasses.replace(self.config, seed=int(seed))
        self._rng_calls = 0

    def _params(self, n: int) -> Any:
        from vllm import SamplingParams

        cfg = self.config
        if cfg.num_beams > 0:
            log.warning("VLLMPolicy: num_beams is not supported; sampling greedily instead")
        greedy = cfg.temperature <= 0 or cfg.num_beams > 0
        return SamplingParams(n=1 if greedy else n, temperature=0.0 if greedy else cfg.temperature,
                              top_p=cfg.top_p, max_tokens=cfg.max_new_tokens, stop=list(cfg.stop),
                              logprobs=0, seed=cfg.seed * 1_000_003 + self._rng_calls)

    def generate(self, prompts: Sequence[str], n: int) -> list[list[Sample]]:
        """`n` samples per prompt from one `LLM.generate` call: the generator-backend interface that
        `prover.prompted.PromptedPolicy` (the published prompt formats) uses."""
        import time

        t0 = time.perf_counter()
        self.stats.calls += 1
        self._rng_calls += 1
        outputs = self.llm.generate(list(prompts), self._params(n), use_tqdm=False)
        per_prompt = [samples_from_vllm(ro, self.config.stop) for ro in outputs]
        read = sum(len(getattr(ro, "prompt_token_ids", None) or []) * max(1, len(ro.outputs)) for ro in outputs)
        self.last_usage = Usage(read, sum(s.tokens for ss in per_prompt for s in ss), self.num_parameters)
        for samples in per_prompt:
            self.stats.samples += len(samples)
            self.stats.tokens += sum(s.tokens for s in samples)
        self.stats.prompts += len(prompts)
        self.stats.model_seconds += time.perf_counter() - t0
        return per_prompt

    def _propose(self, prompts: list[str], n: int, parse: Any) -> list[list[Candidate]]:
        return Costed([config_candidates(samples, parse, self.config, self.stats)
                       for samples in self.generate(prompts, n)], self.last_usage)

    def propose(self, states: Sequence[State], n: int) -> list[list[Candidate]]:
        prompts = [build_prompt(s.text, self.fmt) for s in states]
        return self._propose(prompts, n, lambda s: parse_output(s.text, self.fmt, require_end=not s.ended_by_eos))

    def propose_proofs(self, theorems: Sequence[Theorem], n: int) -> list[list[Candidate]]:
        prompts = [build_proof_prompt(t.formal_statement) for t in theorems]
        return self._propose(prompts, n, lambda s: parse_proof_output(s.text, require_end=not s.ended_by_eos))
