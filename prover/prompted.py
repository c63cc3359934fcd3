"""A policy that speaks one named prompt format (`thoughts.prompts`) over any generator backend.

    policy = PromptedPolicy(ModelPolicy.load("internlm/internlm2_5-step-prover", ...),
                            get_prompt("internlm2.5-step-prover"))

The backend turns prompt strings into `Sample`s: `ModelPolicy` (a causal LM), `Seq2SeqGenerator`
(an encoder-decoder: ReProver) or `VLLMPolicy` (vLLM on a GPU), each through its `generate(prompts,
n)`.  This class builds the prompts, reads the outputs back with the format's extractor, and
drops, merges and ranks them with the same `config_candidates` as every backend.

It is a `Policy` and a `ContextPolicy` (step formats: the engine passes each state's theorem and
proof so far, which InternLM's prompts show), or a `WholeProofPolicy` and a `ResumablePolicy`
(whole-proof formats: `propose_proofs`, and `resume_proofs` for truncate and resume).

`decoding_for(fmt, overrides)` is the generation config a format's authors used, with the user's
settings on top; `make_policy("model:...", prompt=NAME)` (prover/factory.py) puts it together.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from core.types import GOAL_SEPARATOR, Candidate, Costed, ProofPrefix, State, StepContext, Theorem, Usage
from prover.policy import GenerationConfig, Sample, config_candidates
from thoughts.prompts import CAUSAL, SEQ2SEQ, STEP, WHOLE, PromptFormat, StepInput, get_prompt


def decoding_for(fmt: PromptFormat | str, overrides: Mapping[str, Any] | None = None,
                 where: str = "generation config") -> GenerationConfig:
    """The format's stop strings and decoding settings, then `overrides` (unknown keys and wrong types
    are a ValueError naming the field)."""
    fmt = get_prompt(fmt) if isinstance(fmt, str) else fmt
    d: dict[str, Any] = {**dict(fmt.decoding), "stop": list(fmt.stop)}
    d.update(overrides or {})
    return GenerationConfig.from_dict(d, where)


class PromptedPolicy:
    """See the module docstring."""

    def __init__(self, backend: Any, prompt: PromptFormat | str) -> None:
        self.prompt = get_prompt(prompt) if isinstance(prompt, str) else prompt
        if not callable(getattr(backend, "generate", None)):
            raise TypeError(f"{type(backend).__name__} has no generate(prompts, n): not a generator backend")
        self.backend = backend
        self.fmt = self.prompt.name

    # what callers read from a policy
    @property
    def config(self) -> GenerationConfig:
        return self.backend.config

    @property
    def stats(self) -> Any:
        return self.backend.stats

    def reseed(self, seed: int) -> None:
        reseed = getattr(self.backend, "reseed", None)
        if callable(reseed):
            reseed(seed)

    # --- step formats --------------------------------------------------------------------------
    def propose(self, states: Sequence[State], n: int) -> list[list[Candidate]]:
        return self._propose_steps(states, [None] * len(states), n)

    @property
    def propose_in_context(self) -> Callable[[Sequence[State], Sequence[StepContext | None], int],
                                             list[list[Candidate]]]:
        """Only for formats whose prompt reads more than the state (`uses`): the engine then passes
        each state's context; for the others it calls `propose` and computes no context."""
        if not self.prompt.uses:
            raise AttributeError(f"prompt format {self.fmt!r} reads only the state")
        return self._propose_steps

    def _propose_steps(self, states: Sequence[State], contexts: Sequence[StepContext | None],
                       n: int) -> list[list[Candidate]]:
        self._need(STEP, "propose", "propose_proofs (strategy 'whole' or 'truncate-resume')")
        if len(contexts) != len(states):
            raise ValueError(f"{len(contexts)} contexts for {len(states)} states")
        prompts = [self._step_prompt(s, c) for s, c in zip(states, contexts, strict=True)]
        return self._run(prompts, n)

    def _step_prompt(self, state: State, ctx: StepContext | None) -> str:
        name = ctx.theorem.name if ctx is not None else ""
        before = ctx.proof_before if ctx is not None else ()
        if "name" in self.prompt.uses and not name:
            raise ValueError(f"prompt format {self.fmt!r} shows the theorem's name: call propose_in_context "
                             "(the search engine does) with each state's StepContext")
        goals = list(state.goals)
        prompt = self.prompt.prompt(StepInput(GOAL_SEPARATOR.join(goals), name, before))  # type: ignore[attr-defined]
        fits = self._fits()
        while fits is not None and len(goals) > 1 and not fits(prompt):
            goals.pop()  # a step acts on the first goal: later goals go first when the prompt is too long
            prompt = self.prompt.prompt(StepInput(GOAL_SEPARATOR.join(goals), name, before))  # type: ignore[attr-defined]
        return prompt

    def _fits(self) -> Callable[[str], bool] | None:
        tok = getattr(self.backend, "tokenizer", None)
        if tok is None:
            return None
        limit = self.config.max_prompt_tokens
        return lambda p: len(tok(p, add_special_tokens=False)["input_ids"]) <= limit

    # --- whole-proof formats ---------------------------------------------------------------------
    def propose_proofs(self, theorems: Sequence[Theorem], n: int) -> list[list[Candidate]]:
        self._need(WHOLE, "propose_proofs", "propose (a step strategy such as 'best-first')")
        return self._run([self.prompt.prompt(t) for t in theorems], n)  # type: ignore[arg-type]

    def resume_proofs(self, theorems: Sequence[Theorem], prefixes: Sequence[ProofPrefix],
                      n: int) -> list[list[Candidate]]:
        self._need(WHOLE, "resume_proofs", "propose (a step strategy such as 'best-first')")
        if len(prefixes) != len(theorems):
            raise ValueError(f"{len(prefixes)} prefixes for {len(theorems)} theorems")
        prompts = [self.prompt.resume_prompt(t, p)  # type: ignore[attr-defined]
                   for t, p in zip(theorems, prefixes, strict=True)]
        return self._run(prompts, n)

    # --- shared ---------------------------------------------------------------------------------
    def _need(self, kind: str, method: str, instead: str) -> None:
        if self.prompt.kind != kind:
            raise ValueError(f"prompt format {self.fmt!r} is a {self.prompt.kind} format: {method} does not apply; "
                             f"use {instead}")

    def _run(self, prompts: list[str], n: int) -> list[list[Candidate]]:
        if n < 1:
            raise ValueError(f"n must be >= 1, got {n}")
        per_prompt: list[list[Sample]] = self.backend.generate(prompts, n)
        cfg = self.config

        def parse(s: Sample) -> Any:
            return self.prompt.parse(s.text, s.ended_by_eos)  # type: ignore[attr-defined]

        cands = [config_candidates(ss, parse, cfg, self.stats) for ss in per_prompt]
        usage = getattr(self.backend, "last_usage", None)
        return Costed(cands, usage if isinstance(usage, Usage) else None)


PROMPT_FILE = "prover_prompt.json"  # written next to a checkpoint trained in a named format: {"prompt": NAME}


def checkpoint_prompt(path: str) -> str | None:
    """The prompt format a local checkpoint folder says it was trained in (`prover_prompt.json`), or None."""
    import json
    from pathlib import Path

    f = Path(path).expanduser() / PROMPT_FILE
    if not f.is_file():
        return None
    name = json.loads(f.read_text(encoding="utf-8")).get("prompt")
    return get_prompt(name).name if name is not None else None


def default_prompt(model: str) -> str | None:
    """The prompt format a model speaks when none is given: what a local checkpoint folder says
    (`prover_prompt.json`), or the one format whose published checkpoints include this hub id; None
    otherwise (the project's own formats then apply).  A hub id of several formats (DeepSeek-Prover-V1.5
    with and without its chain of thought) is a ValueError asking for --prompt."""
    from pathlib import Path

    from thoughts.prompts import PROMPTS

    if Path(model).expanduser().is_dir():
        return checkpoint_prompt(model)
    names = [f.name for f in PROMPTS.values() if model in f.checkpoints]
    if len(names) > 1:
        raise ValueError(f"{model} speaks several prompt formats ({', '.join(names)}): choose one with --prompt")
    return names[0] if names else None


def effective_prompt(policy_spec: str, prompt: str | None = None, fmt: str | None = None) -> str | None:
    """The prompt format a policy spec will speak: `prompt`, else `fmt`, else `default_prompt`, else
    (a local folder) its `prover_format.json`; None for policies that are not models."""
    from pathlib import Path

    kind, _, arg = policy_spec.partition(":")
    if prompt is not None:
        return get_prompt(prompt).name
    if fmt is not None:
        return fmt
    if kind not in ("model", "vllm") or not arg:
        return None
    named = default_prompt(arg)
    if named is not None or not Path(arg).expanduser().is_dir():
        return named
    from prover.policy import read_format

    return read_format(Path(arg).expanduser())


def make_prompted_policy(kind: str, model: str, prompt: str, *, generation: Mapping[str, Any] | None = None,
                         device: str = "auto", trust_remote_code: bool = False) -> PromptedPolicy:
    """`model:`/`vllm:` + a named prompt format: the backend the format's architecture needs (a causal
    LM, an encoder-decoder, or vLLM), configured with the format's decoding settings under
    `generation` (the user's settings win)."""
    fmt = get_prompt(prompt)
    cfg = decoding_for(fmt, generation, where=f"policy {kind}:{model} (prompt {fmt.name})")
    if kind == "vllm":
        if fmt.arch != CAUSAL:
            raise ValueError(f"prompt format {fmt.name!r} needs a {fmt.arch} model; vLLM serves causal LMs here: "
                             f"use model:{model}")
        from prover.vllm_policy import VLLMPolicy

        return PromptedPolicy(VLLMPolicy(model, config=cfg, trust_remote_code=trust_remote_code), fmt)
    from prover.device import resolve_device

    dev = resolve_device(device)
    if fmt.arch == SEQ2SEQ:
        from prover.seq2seq_policy import Seq2SeqGenerator

        return PromptedPolicy(Seq2SeqGenerator.load(model, cfg, device=dev), fmt)
    from prover.policy import ModelPolicy, load_model_and_tokenizer

    net, tok = load_model_and_tokenizer(model, dev, trust_remote_code=trust_remote_code)
    if getattr(net.config, "is_encoder_decoder", False):
        raise ValueError(f"{model} is an encoder-decoder model; prompt format {fmt.name!r} is for causal LMs")
    return PromptedPolicy(ModelPolicy(net, tok, fmt="tactic", config=cfg, device=dev), fmt)


__all__ = ["PROMPT_FILE", "PromptedPolicy", "checkpoint_prompt", "decoding_for", "default_prompt", "effective_prompt",
           "make_prompted_policy"]
