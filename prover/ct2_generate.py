"""Engine "ct2" behind `ModelPolicy`: CTranslate2 (a C++ inference engine for Transformer models,
https://github.com/OpenNMT/CTranslate2) runs beam search, greedy decoding and sampling.

Why: at one state per call (best-first search's shape) the torch engines spend most of a decoding
step dispatching ~100 small ops from Python; CTranslate2 runs the whole step in C++ (measured in
docs/generator.md).  The checkpoint is converted once per policy (`TransformersConverter`, float32,
into a temporary folder) and rebuilt when the model's weights change in place.

Beams and greedy: the reference's candidates to float rounding, not bit for bit (its own kernels
sum in another order; tested against engine "hf").  Sampling draws from the same distribution
(temperature applied, log-probabilities those of the untempered model, as the reference records
them) but with CTranslate2's own random generator, so a seed gives other samples than the torch
engines' at that seed; the same seed gives the same samples again (tested).  CTranslate2 seeds a
worker thread's generator when the thread starts, so `sample` rebuilds the generator (about 3 ms
for the demo model) after `ctranslate2.set_random_seed` whenever it is given a seed.  Its limits,
each reported by `unsupported` or by the policy: stop strings must be single tokens of the
vocabulary (they become CTranslate2 end tokens), and top-p below 1 is not wired (CTranslate2's
nucleus differs from transformers' at the boundary); the policy then logs why and runs the fast
engine.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from typing import Any

from prover.fast_generate import LlamaDecoder


def unsupported(model: Any, tokenizer: Any, stop: tuple[str, ...]) -> str | None:
    """Why engine "ct2" cannot decode `model` with these stop strings, or None when it can (the
    policy itself turns top-p sampling away)."""
    try:
        import ctranslate2  # noqa: F401
    except ImportError:
        return "the ctranslate2 package is not installed (pip install ctranslate2)"
    if getattr(getattr(model, "config", None), "model_type", None) != "llama":
        return f"model type {getattr(getattr(model, 'config', None), 'model_type', None)!r} (only 'llama' is wired)"
    if getattr(model, "device", None) is not None and str(model.device) != "cpu":
        return f"model on {model.device} (ct2 engine runs on CPU here)"
    for s in stop:
        if len(tokenizer(s, add_special_tokens=False)["input_ids"]) != 1:
            return f"stop string {s!r} is not a single token"
    return None


@dataclass(frozen=True)
class Hypothesis:
    ids: list[int]  # generated ids, the end token included when one ended it
    logprob: float  # sum of the generated tokens' log-probabilities


class Ct2Decoder:
    """One converted copy of `model` and the CTranslate2 generator over it."""

    def __init__(self, model: Any, tokenizer: Any, stop: tuple[str, ...], threads: int) -> None:
        import ctranslate2

        self._dir = tempfile.TemporaryDirectory(prefix="ct2-")
        src, dst = f"{self._dir.name}/hf", f"{self._dir.name}/ct2"
        model.save_pretrained(src)
        tokenizer.save_pretrained(src)
        ctranslate2.converters.TransformersConverter(src).convert(dst, quantization="float32")
        self._path, self._threads = dst, threads
        self._gen = self._generator()
        self._tok = tokenizer
        ends = [tokenizer.convert_ids_to_tokens(tokenizer(s, add_special_tokens=False)["input_ids"])[0] for s in stop]
        if tokenizer.eos_token is not None:
            ends.append(tokenizer.eos_token)
        self._ends = ends
        self._versions = LlamaDecoder.weight_versions(model)

    def _generator(self) -> Any:
        import ctranslate2

        return ctranslate2.Generator(self._path, device="cpu", compute_type="float32",
                                     intra_threads=self._threads, inter_threads=1)

    def stale(self, model: Any) -> bool:
        """Whether `model`'s weights changed in place since it was converted."""
        return LlamaDecoder.weight_versions(model) != self._versions

    def decode(self, prompt_ids: list[list[int]], beams: int, returned: int, max_new: int) -> list[list[Hypothesis]]:
        """`returned` hypotheses per prompt, best first; `beams` 1 with `returned` 1 is greedy."""
        return self._generate(prompt_ids, max_new, beam_size=beams, num_hypotheses=returned, sampling_topk=1)

    def sample(self, prompt_ids: list[list[int]], copies: int, max_new: int, temperature: float,
               seed: int | None) -> list[list[Hypothesis]]:
        """`copies` samples per prompt at `temperature` from the whole vocabulary, in the order drawn;
        `seed` (when given) restarts the random stream first, so the same seed gives the same samples."""
        import ctranslate2

        if seed is not None:
            ctranslate2.set_random_seed(int(seed))
            self._gen = self._generator()
        return self._generate(prompt_ids, max_new, beam_size=1, num_hypotheses=copies, sampling_topk=0,
                              sampling_temperature=float(temperature))

    def _generate(self, prompt_ids: list[list[int]], max_new: int, **decoding: Any) -> list[list[Hypothesis]]:
        """One `generate_batch` call: the prompts as tokens, the stop strings as end tokens, summed
        log-probabilities (length penalty 0), the decoding options `decoding`."""
        tokens = [self._tok.convert_ids_to_tokens(ids) for ids in prompt_ids]
        results = self._gen.generate_batch(tokens, max_length=max_new, return_scores=True,
                                           include_prompt_in_result=False, length_penalty=0.0, end_token=self._ends,
                                           return_end_token=True, **decoding)
        return [[Hypothesis(list(ids), float(score)) for ids, score in zip(r.sequences_ids, r.scores, strict=True)]
                for r in results]
