"""Prompt formats as data: one named entry per published prover checkpoint family, plus the
project's own `[GOALS]` formats (`thoughts.format`), in one registry (`PROMPTS`).

    fmt = get_prompt("internlm2.5-step-prover")
    text = fmt.prompt(StepInput(state, name="mathd_algebra_10", proof_before=("intro x",)))
    fmt.parse(model_output)          # ParsedStep | Dropped  (never raises on model output)
    fmt.stop, fmt.decoding           # where generation stops; the authors' decoding settings

Each entry says what the authors' evaluation code does, from the source named in `source`
(the repositories and commits are listed in docs/generator.md):

* `kind`: "step" (a proof state in, one tactic and maybe a thought out: `Policy.propose`) or
  "whole" (the statement in, a whole proof out: `WholeProofPolicy.propose_proofs`; a whole format
  also continues from an accepted prefix, `resume_prompt`, for DeepSeek-Prover's truncate and
  resume);
* `arch`: "causal" (AutoModelForCausalLM; the prompt is one plain string, chat markers included as
  text, the way the eval scripts send it to vLLM) or "seq2seq" (AutoModelForSeq2SeqLM: ReProver);
* `uses`: which inputs the prompt reads besides the state (`name`: the theorem's name;
  `proof_before`: the tactics already applied on the search path);
* `prompt` / `parse`: the authors' template and output extractor; `stop`: their stop strings
  (generation also stops at the end-of-sequence token); `decoding`: the `GenerationConfig` fields
  they used; `search`: their search, mapped onto this project's strategies (docs/reproduce.md);
* `target`: a training continuation in the checkpoint's output shape.  This one is ours (the
  authors' training data is not part of their eval code): it is what fine-tuning in that format
  trains on, and how the tiny test models learn to speak it.
"""

from __future__ import annotations

import re
import textwrap
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from core.types import ProofPrefix, Theorem
from thoughts.format import (
    Dropped,
    ParsedProof,
    ParsedStep,
    build_prompt,
    build_proof_prompt,
    format_proof_target,
    format_target,
    parse_output,
    parse_proof_output,
)

STEP, WHOLE = "step", "whole"
CAUSAL, SEQ2SEQ = "causal", "seq2seq"
KINDS, ARCHS = (STEP, WHOLE), (CAUSAL, SEQ2SEQ)

# DeepSeek-Prover-V1.5 prover/utils.py: the header its prompts fall back to (reused by Goedel-Prover)
LEAN4_DEFAULT_HEADER = ("import Mathlib\nimport Aesop\n\nset_option maxHeartbeats 0\n\n"
                        "open BigOperators Real Nat Topology Rat\n\n")
IM_START, IM_END = "<|im_start|>", "<|im_end|>"  # InternLM2's chat markers, sent as text


def chatml_user(content: str) -> str:
    """One user turn and the opening of the assistant's, as InternLM's eval scripts build it by hand."""
    return f"{IM_START}user\n{content}{IM_END}\n{IM_START}assistant\n"


@dataclass(frozen=True)
class StepInput:
    """What a step prompt may read: the state (goals as Lean prints them), the theorem's name and
    the tactics applied on the way to this state (root first)."""

    state: str
    name: str = ""
    proof_before: tuple[str, ...] = ()


Parsed = ParsedStep | ParsedProof | Dropped


def _check_text(value: str, what: str) -> Dropped | None:
    if not value:
        return Dropped(f"empty {what}")
    if "\ufffd" in value:
        return Dropped(f"{what} contains undecodable bytes")
    return None


def cut_at_stop(text: str, stop: Sequence[str]) -> str:
    """`text` up to the first of the stop strings (the generator may leave the stop string in)."""
    cuts = [text.index(s) for s in stop if s and s in text]
    return text[: min(cuts)] if cuts else text


@dataclass(frozen=True)
class PromptFormat:
    """One named format (see the module docstring).  Subclasses fill in `prompt`/`parse`/`target`."""

    name: str
    family: str
    kind: str
    arch: str = CAUSAL
    checkpoints: tuple[str, ...] = ()
    stop: tuple[str, ...] = ()
    uses: tuple[str, ...] = ()
    thought: bool = False  # the output carries a thought before the tactic
    decoding: Mapping[str, Any] = field(default_factory=dict, compare=False, hash=False)
    search: Mapping[str, Any] = field(default_factory=dict, compare=False, hash=False)
    source: str = ""
    notes: str = ""

    def __post_init__(self) -> None:
        if self.kind not in KINDS or self.arch not in ARCHS:
            raise ValueError(f"prompt format {self.name!r}: kind must be one of {KINDS}, arch one of {ARCHS}")

    def describe(self) -> dict[str, Any]:
        """The format as plain data (for run.json and docs)."""
        return {"name": self.name, "family": self.family, "kind": self.kind, "arch": self.arch,
                "checkpoints": list(self.checkpoints), "stop": list(self.stop), "uses": list(self.uses),
                "decoding": dict(self.decoding), "search": dict(self.search), "source": self.source}


# --------------------------------------------------------------------------- step formats


@dataclass(frozen=True)
class StepFormat(PromptFormat):
    """A step format: `template` with `{state}`, `{name}`, `{proof_before}` placeholders; `extract`
    is the authors' reading of one output (already cut at the stop strings) into (thought, tactic);
    `render` the training continuation of (thought, tactic)."""

    template: str = "{state}"
    extract: Callable[[str], tuple[str, str]] = lambda text: ("", text.strip())
    render: Callable[[str, str], str] = lambda thought, tactic: tactic
    drop: Callable[[str], str | None] = lambda tactic: None  # why a tactic is refused, or None

    def prompt(self, x: StepInput) -> str:
        return self.template.format(state=x.state, name=x.name, proof_before="\n".join(x.proof_before))

    def parse(self, text: object, ended_by_eos: bool = False) -> Parsed:
        if not isinstance(text, str):
            return Dropped(f"output is not text ({type(text).__name__})")
        thought, tactic = self.extract(cut_at_stop(text, self.stop))
        bad = _check_text(tactic, "tactic") or (Dropped(why) if (why := self.drop(tactic)) else None)
        return bad or ParsedStep(thought.strip() if self.thought else "", tactic)

    def target(self, thought: str, tactic: str) -> str:
        tactic = tactic.strip()
        if not tactic:
            raise ValueError("empty tactic")
        return self.render(thought.strip(), tactic)


@dataclass(frozen=True)
class GoalsStepFormat(StepFormat):
    """The project's own `[GOALS]` formats (thoughts.format): `fmt` is "tactic" or "thought"."""

    fmt: str = "tactic"

    def prompt(self, x: StepInput) -> str:
        return build_prompt(x.state, self.fmt)

    def parse(self, text: object, ended_by_eos: bool = False) -> Parsed:
        return parse_output(text, self.fmt, require_end=not ended_by_eos)  # type: ignore[arg-type]

    def target(self, thought: str, tactic: str) -> str:
        return format_target(thought, tactic, self.fmt)


def _lean_star_extract(text: str) -> tuple[str, str]:
    # cot_sample.py: s.split("```lean\n")[-1].split('```')[0].split('---')[0].strip()
    thought, _, last = text.rpartition("```lean\n")
    return thought, last.split("```")[0].split("---")[0].strip()


_PLUS_PREFIX = "Here is the predicted next tactic:\n```lean\n"


def _plus_extract(text: str) -> tuple[str, str]:
    text = text.removeprefix(_PLUS_PREFIX)
    return "", text.removesuffix("\n```").strip()


def _prefix_extract(prefix: str) -> Callable[[str], tuple[str, str]]:
    return lambda text: ("", text.removeprefix(prefix).strip())


def _remove_marks(text: str) -> str:
    """ReProver's `remove_marks`: premise markers `<a>`/`</a>` out of a generated tactic."""
    return text.replace("<a>", "").replace("</a>", "")


_BFS_REFUSED = re.compile(r"\b(sorry|admit|native_decide)\b")


def _bfs_drop(tactic: str) -> str | None:
    m = _BFS_REFUSED.search(tactic)
    return f"tactic uses {m.group(1)} (refused, as BFS-Prover's search does)" if m else None


# --------------------------------------------------------------------------- whole proofs


def proof_steps(body: str) -> list[tuple[str, str]]:
    """The top-level steps of a proof body, each as (thought, tactic): a line at the body's base
    indentation starts a step, deeper lines continue it; comment lines at the base indentation
    (`-- ...` lines and `/- ... -/` blocks) before a step become its thought.  Steps are what an env
    runs one at a time (truncate and resume keeps the longest accepted run of them)."""
    lines = [ln.rstrip() for ln in body.splitlines() if ln.strip()]
    if not lines:
        return []
    base = min(len(ln) - len(ln.lstrip()) for ln in lines)
    steps: list[tuple[str, list[str]]] = []
    thought: list[str] = []
    in_block = False
    for ln in lines:
        indent, s = len(ln) - len(ln.lstrip()), ln.strip()
        if in_block or (indent == base and s.startswith("/-")):  # a base-level /- ... -/ comment
            inner = s if in_block else s[2:].lstrip("-")
            end = inner.find("-/")
            thought.append((inner[:end] if end >= 0 else inner).strip())
            in_block = end < 0
        elif indent == base and s.startswith("--"):
            thought.append(s[2:].strip())
        elif indent == base or not steps:
            steps.append((" ".join(t for t in thought if t), [ln[base:]]))
            thought = []
        else:
            steps[-1][1].append(ln[base:])
    return [(th, "\n".join(tac)) for th, tac in steps]


def join_steps(steps: Sequence[tuple[str, str]], indent: str = "") -> str:
    """A proof body from (thought, tactic) steps: each thought as `--` comment lines above its tactic."""
    out: list[str] = []
    for thought, tactic in steps:
        out.extend(f"{indent}-- {t.strip()}" for t in thought.splitlines() if t.strip())
        out.extend(indent + t for t in tactic.splitlines())
    return "\n".join(out)


def normal_body(text: str) -> str:
    """A generated proof body, dedented, its base-level comments as `--` lines (every env reads those
    alike; Lean gives comments no meaning)."""
    return join_steps(proof_steps(textwrap.dedent(text.strip("\n"))))


@dataclass(frozen=True)
class WholeFormat(PromptFormat):
    """A whole-proof format: `template` with `{header}`, `{informal_prefix}`, `{formal_statement}`.
    The statement is taken as the row gives it, with a newline after its final `:= by` (the shape of
    DeepSeek's rows, so the model continues on a new line); `{header}` is the row's header.
    `closed`: an output counts only when its code block is closed (Goedel-Prover's regex); else it
    is cut at the first fence, closed or not (DeepSeek's `post_process_output`)."""

    template: str = ""
    closed: bool = False
    indent: str = "  "  # how an accepted prefix is written back into a resumed prompt

    def statement(self, theorem: Theorem) -> str:
        s = theorem.formal_statement
        return s if s.endswith("\n") else s + "\n"

    def prompt(self, theorem: Theorem) -> str:
        prefix = theorem.extra.get("informal_prefix", "")
        return self.template.format(header=theorem.header, informal_prefix=prefix if isinstance(prefix, str) else "",
                                    formal_statement=self.statement(theorem))

    def prefix_text(self, prefix: ProofPrefix) -> str:
        """The accepted steps as the prompt continues with them, then DeepSeek's tactic-state comment
        (`/- tactic state:` with the goals, `-/`, at the steps' indentation) when `prefix.state`."""
        code = join_steps(prefix.steps(), self.indent)
        text = code + "\n" if code else ""
        if prefix.state:
            nl = "\n" + self.indent
            text += nl.join([self.indent + "/- tactic state:", "  " + prefix.state.replace("\n", nl + "  "), "-/\n"])
        return text

    def resume_prompt(self, theorem: Theorem, prefix: ProofPrefix) -> str:
        """DeepSeek's `_extra_prompt`: the prompt, then the accepted code (and the state comment)."""
        return self.prompt(theorem) + self.prefix_text(prefix)

    def parse(self, text: object, ended_by_eos: bool = False) -> Parsed:
        if not isinstance(text, str):
            return Dropped(f"output is not text ({type(text).__name__})")
        if self.closed:
            # Goedel: re.search(r'```lean4\n(.*?)\n```', prompt + output); the prompt ends in a newline
            block = "\n" + text
            end = block.find("\n```")
            if end < 0:
                return Dropped("no closing ``` (the code block is unfinished)")
            text = block[1:end]
        else:
            text = text.split("```")[0]
        body = normal_body(text)
        return _check_text(body, "proof") or ParsedProof(body)

    def target(self, proof: str) -> str:
        body = normal_body(proof)
        if not body:
            raise ValueError("empty proof")
        return textwrap.indent(body, self.indent) + "\n```"


@dataclass(frozen=True)
class GoalsWholeFormat(WholeFormat):
    """The project's own whole-proof format (`[THEOREM] ... [PROOF]`, thoughts.format)."""

    def prompt(self, theorem: Theorem) -> str:
        return build_proof_prompt(theorem.formal_statement)

    def prefix_text(self, prefix: ProofPrefix) -> str:
        code = join_steps(prefix.steps())
        return code + "\n" if code else ""

    def parse(self, text: object, ended_by_eos: bool = False) -> Parsed:
        p = parse_proof_output(text, require_end=not ended_by_eos)  # type: ignore[arg-type]
        if isinstance(p, Dropped):
            return p
        return ParsedProof(normal_body(p.proof) or p.proof)

    def target(self, proof: str) -> str:
        return format_proof_target(proof)


# --------------------------------------------------------------------------- the registry

_DS_NON_COT = "Complete the following Lean 4 code:\n\n```lean4\n{header}{informal_prefix}{formal_statement}"
_DS_COT = ("Complete the following Lean 4 code with explanatory comments preceding each line of code:\n\n"
           "```lean4\n{header}{informal_prefix}{formal_statement}")
_INTERNLM = "InternLM/InternLM-Math @eaead17 minif2f/"

_ENTRIES: list[PromptFormat] = [
    GoalsStepFormat(
        name="tactic", family="this project", kind=STEP, fmt="tactic", stop=("[END]",),
        decoding={"temperature": 1.0, "max_new_tokens": 64},
        search={"strategy": "best-first", "config": "n=8"},
        source="thoughts/format.py", notes="state -> tactic, bracketed delimiters; any causal LM can learn it"),
    GoalsStepFormat(
        name="thought", family="this project", kind=STEP, fmt="thought", thought=True, stop=("[END]",),
        decoding={"temperature": 1.0, "max_new_tokens": 128},
        search={"strategy": "best-first", "config": "n=8"},
        source="thoughts/format.py", notes="state -> thought -> tactic (Lean-STaR's idea, our delimiters)"),
    GoalsWholeFormat(
        name="proof", family="this project", kind=WHOLE, stop=("[END]",),
        decoding={"temperature": 1.0, "max_new_tokens": 256},
        search={"strategy": "whole", "config": "samples=8"},
        source="thoughts/format.py", notes="statement -> whole proof body, one step a line"),
    StepFormat(
        name="lean-star", family="Lean-STaR", kind=STEP, thought=True,
        checkpoints=("ScalableMath/Lean-STaR-plus", "ScalableMath/Lean-STaR-base"),
        template=chatml_user("My LEAN 4 state is:\n```lean\n{state}```\nPlease write down the reasoning that leads to "
                             "the possible next tactic and then predict the tactic to help me prove the theorem."),
        extract=_lean_star_extract, stop=(IM_END,),
        render=lambda thought, tactic: f"{thought}\n```lean\n{tactic}\n```{IM_END}",
        decoding={"temperature": 0.7, "top_p": 1.0, "max_new_tokens": 512},
        search={"strategy": "sample", "config": "samples=32,retries=50,max_depth=50", "budget": "expansions=1600",
                "attempts": 4, "note": "32 trajectories, a failed step resampled, 50 iterations, 600 s; "
                                       "cot_sample.py repeats the attempt up to 4 times"},
        source="Lagooon/LeanSTaR @0f9c69a gpt-accelera/cot_sample.py, scripts_intern/sample_cot_7b.sh"),
    StepFormat(
        name="internlm2-math-plus", family="InternLM2-Math-Plus", kind=STEP,
        checkpoints=("internlm/internlm2-math-plus-7b", "internlm/internlm2-math-plus-1_8b",
                     "internlm/internlm2-math-plus-20b"),
        template=chatml_user("My LEAN 4 state is:\n```lean\n{state}```\nPlease predict a possible tactic to help me "
                             "prove the theorem."),
        extract=_plus_extract, stop=(IM_END,),
        render=lambda thought, tactic: f"{_PLUS_PREFIX}{tactic}\n```{IM_END}",
        decoding={"num_beams": 32, "max_new_tokens": 256, "length_normalize": True},
        search={"strategy": "best-first", "config": "n=32,length_normalize=false", "budget": "expansions=100"},
        source=_INTERNLM + "proofsearch_internLM2-plus.py, scripts/eval_internLM2-plus_7b.sh"),
    StepFormat(
        name="internlm2-step-prover", family="InternLM2-StepProver", kind=STEP, uses=("name",),
        checkpoints=("internlm/internlm2-step-prover",),
        template=chatml_user("DECL {name}\nGOAL {state}\n"),
        extract=_prefix_extract("PROOFSTEP "), stop=(IM_END,),
        render=lambda thought, tactic: f"PROOFSTEP {tactic}{IM_END}",
        decoding={"num_beams": 32, "max_new_tokens": 256, "length_normalize": True},
        search={"strategy": "best-first", "config": "n=32", "budget": "expansions=4000"},
        source=_INTERNLM + "proofsearch_internLM2-StepProver.py, scripts/eval_internLM2-step-prover.sh"),
    StepFormat(
        name="internlm2.5-step-prover", family="InternLM2.5-StepProver", kind=STEP, uses=("name", "proof_before"),
        checkpoints=("internlm/internlm2_5-step-prover",),
        template=chatml_user("---\nNAME: {name}\n\n---\nPROOF_BEFORE: {proof_before}\n\n---\nSTATE_BEFORE: {state}\n\n"
                             "---\nTACTIC: "),
        stop=(IM_END,), render=lambda thought, tactic: f"{tactic}{IM_END}",
        decoding={"num_beams": 32, "max_new_tokens": 256, "length_normalize": True},
        search={"strategy": "best-first", "config": "n=32", "budget": "expansions=100",
                "note": "plain best-first as released (the paper's 65.9% uses the critic, not wired in)"},
        source=_INTERNLM + "proofsearch_internLM2.5-StepProver.py; HF card internlm/internlm2_5-step-prover"),
    StepFormat(
        name="bfs-prover", family="BFS-Prover", kind=STEP,
        checkpoints=("ByteDance-Seed/BFS-Prover-V1-7B", "ByteDance-Seed/BFS-Prover-V2-7B",
                     "ByteDance-Seed/BFS-Prover-V2-32B"),
        template="{state}:::", drop=_bfs_drop,
        render=lambda thought, tactic: tactic,
        decoding={"temperature": 1.3, "top_p": 1.0, "max_new_tokens": 2048, "length_normalize": True},
        search={"strategy": "best-first", "config": "n=4,length_normalize=true", "budget": "seconds=600",
                "note": "BFS-Prover divides the path logprob by depth**2.0 (depth_reward); ours by depth"},
        source="zeyu-zheng/BFS-Prover-V2 @6118f5f src/search/prover_manager.py, run_local_search.sh; "
               "HF card ByteDance-Seed/BFS-Prover-V1-7B"),
    StepFormat(
        name="reprover", family="ReProver", kind=STEP, arch=SEQ2SEQ,
        checkpoints=("kaiyuy/leandojo-lean4-tacgen-byt5-small",),
        template="{state}", extract=lambda text: ("", _remove_marks(text).strip()),
        render=lambda thought, tactic: tactic,
        decoding={"num_beams": 64, "max_new_tokens": 512, "length_normalize": False, "max_prompt_tokens": 2048},
        search={"strategy": "best-first", "config": "n=64", "budget": "seconds=600"},
        source="lean-dojo/ReProver @fd6d99c prover/tactic_generator.py, prover/evaluate.py",
        notes="no retrieval: the retriever-augmented checkpoint also needs premises, not built here"),
    WholeFormat(
        name="deepseek-prover-v1.5", family="DeepSeek-Prover-V1.5", kind=WHOLE, template=_DS_NON_COT,
        checkpoints=("deepseek-ai/DeepSeek-Prover-V1.5-RL", "deepseek-ai/DeepSeek-Prover-V1.5-SFT",
                     "deepseek-ai/DeepSeek-Prover-V1.5-Base"),
        stop=("```",),
        decoding={"temperature": 1.0, "top_p": 0.95, "max_new_tokens": 2048},
        search={"strategy": "whole", "config": "samples=32,proof_batch=8", "budget": "unlimited"},
        source="deepseek-ai/DeepSeek-Prover-V1.5 @2c4ba91 prover/utils.py (non_cot_prompt, post_process_output)",
        notes="the authors run to EOS and cut at the first ```; stopping there gives the same text"),
    WholeFormat(
        name="deepseek-prover-v1.5-cot", family="DeepSeek-Prover-V1.5", kind=WHOLE, template=_DS_COT, thought=True,
        checkpoints=("deepseek-ai/DeepSeek-Prover-V1.5-RL", "deepseek-ai/DeepSeek-Prover-V1.5-SFT"),
        stop=("```",),
        decoding={"temperature": 1.0, "top_p": 0.95, "max_new_tokens": 2048},
        search={"strategy": "whole", "config": "samples=32,proof_batch=8", "budget": "unlimited",
                "note": "RMaxTS resumes from the accepted prefix: strategy truncate-resume"},
        source="deepseek-ai/DeepSeek-Prover-V1.5 @2c4ba91 prover/utils.py (cot_prompt), configs/sampling.py, "
               "prover/lean/proof.py, prover/algorithms/rmax_tree_search.py"),
    WholeFormat(
        name="goedel-prover", family="Goedel-Prover", kind=WHOLE, template=_DS_COT, thought=True, closed=True,
        checkpoints=("Goedel-LM/Goedel-Prover-SFT",),
        decoding={"temperature": 1.0, "top_p": 0.95, "max_new_tokens": 2048},
        search={"strategy": "whole", "config": "samples=32,proof_batch=32", "budget": "unlimited"},
        source="Goedel-LM/Goedel-Prover @d80349d eval/step1_inference.py",
        notes="same prompt as DeepSeek's CoT; an unclosed code block is no proof"),
]

PROMPTS: dict[str, PromptFormat] = {}
for _fmt in _ENTRIES:
    if _fmt.name in PROMPTS:
        raise ValueError(f"prompt format {_fmt.name!r} is registered twice")
    PROMPTS[_fmt.name] = _fmt


def get_prompt(name: str) -> PromptFormat:
    """The format named `name`; ValueError listing the known ones otherwise."""
    fmt = PROMPTS.get(name) if isinstance(name, str) else None
    if fmt is None:
        raise ValueError(f"unknown prompt format {name!r}; choose one of {', '.join(PROMPTS)}")
    return fmt


__all__ = ["CAUSAL", "LEAN4_DEFAULT_HEADER", "PROMPTS", "SEQ2SEQ", "STEP", "WHOLE", "GoalsStepFormat",
           "GoalsWholeFormat", "PromptFormat", "StepFormat", "StepInput", "WholeFormat", "chatml_user",
           "cut_at_stop", "get_prompt", "join_steps", "normal_body", "proof_steps"]
