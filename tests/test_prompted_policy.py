"""The policy that speaks a named prompt format over a generator backend (prover/prompted.py): the
prompts the engine makes it build (theorem name, proof so far), decoding defaults, the factory
specs, and the job-seeded wrapper keeping its seeding for the new methods."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import pytest

from core.types import Costed, State, StepContext, Theorem, Usage
from doubles.scripted import ScriptedEnv, ScriptedWorld
from prover.distributed import JobSeededPolicy
from prover.factory import make_policy
from prover.policy import GenerationConfig, PolicyStats, Sample
from prover.prompted import PROMPT_FILE, PromptedPolicy, decoding_for
from search.budget import Budget
from search.strategies import run_strategy

WORLD = Path(__file__).parent / "data" / "worlds" / "backoff.json"


class TableBackend:
    """Answers a prompt with the outputs listed for the first key it ends with (or contains)."""

    def __init__(self, table: dict[str, list[str]], config: GenerationConfig | None = None) -> None:
        self.table = table
        self.config = config or GenerationConfig(stop=("<|im_end|>",))
        self.stats = PolicyStats()
        self.prompts: list[str] = []
        self.seeds: list[int] = []
        self.last_usage = Usage(parameters=10)

    def reseed(self, seed: int) -> None:
        self.seeds.append(seed)

    def generate(self, prompts: Sequence[str], n: int) -> list[list[Sample]]:
        self.prompts.extend(prompts)
        self.last_usage = Usage(prompt_tokens=len(prompts), generated_tokens=n, parameters=10)
        out = []
        for p in prompts:
            texts = next((v for k, v in self.table.items() if k in p), [])
            out.append([Sample(t, tokens=3, logprob=-0.1 * (i + 1), ended_by_stop=True) for i, t in enumerate(texts[:n])])
        return out


def test_the_engine_shows_internlm25_the_theorem_name_and_the_proof_so_far() -> None:
    world = ScriptedWorld.load(WORLD)
    thm = world.find("and_swap").theorem()
    backend = TableBackend({
        "STATE_BEFORE: p q : Prop\nh : p ∧ q\n⊢ q ∧ p": ["constructor<|im_end|>"],
        "STATE_BEFORE: case left": ["exact h.2<|im_end|>"],
        "STATE_BEFORE: case right": ["exact h.1<|im_end|>"],
    })
    policy = PromptedPolicy(backend, "internlm2.5-step-prover")
    r = run_strategy("best-first", thm, ScriptedEnv(world), policy, Budget(expansions=8), {"n": 1})
    assert r.status == "proved" and [s.tactic for s in r.steps] == ["constructor", "exact h.2", "exact h.1"]
    assert backend.prompts[0].startswith("<|im_start|>user\n---\nNAME: and_swap\n\n---\nPROOF_BEFORE: \n\n")
    assert "PROOF_BEFORE: constructor\n\n---\nSTATE_BEFORE: case left" in backend.prompts[1]
    assert "PROOF_BEFORE: constructor\nexact h.2\n\n---\nSTATE_BEFORE: case right" in backend.prompts[2]
    assert r.accounting.flops > 0  # the backend's usage reached the meter (Costed)


def test_a_format_that_shows_the_name_needs_the_context() -> None:
    policy = PromptedPolicy(TableBackend({}), "internlm2-step-prover")
    with pytest.raises(ValueError, match="shows the theorem's name: call propose_in_context"):
        policy.propose([State(("⊢ p",))], 1)
    out = policy.propose_in_context([State(("⊢ p",))], [StepContext(Theorem("t", "", "theorem t : p := by"))], 1)
    assert isinstance(out, Costed) and out.usage.parameters == 10


def test_later_goals_are_dropped_until_the_prompt_fits() -> None:
    class Tok:
        def __call__(self, text: str, add_special_tokens: bool = False) -> dict:
            return {"input_ids": text.split()}

    backend = TableBackend({"⊢ first": ["rfl"]}, GenerationConfig(max_prompt_tokens=8))
    backend.tokenizer = Tok()  # type: ignore[attr-defined]
    policy = PromptedPolicy(backend, "bfs-prover")
    cands = policy.propose([State(("x : T\n⊢ first", "y : T\n⊢ second goal here", "z : T\n⊢ third"))], 2)
    assert backend.prompts == ["x : T\n⊢ first:::"] and [c.tactic for c in cands[0]] == ["rfl"]


def test_kinds_are_enforced_and_outputs_deduplicated() -> None:
    step = PromptedPolicy(TableBackend({}), "lean-star")
    with pytest.raises(ValueError, match="is a step format: propose_proofs does not apply"):
        step.propose_proofs([Theorem("t", "", "theorem t : p := by")], 1)
    whole = PromptedPolicy(TableBackend({}), "goedel-prover")
    with pytest.raises(ValueError, match="is a whole format: propose does not apply"):
        whole.propose([State(("⊢ p",))], 1)
    dup = PromptedPolicy(TableBackend({"⊢ p": ["x\n```lean\nsimp\n```", "y\n```lean\nsimp\n```", "```lean\nrfl\n```"]}),
                         "lean-star")
    cands = dup.propose([State(("⊢ p",))], 3)[0]
    assert [(c.tactic, c.thought) for c in cands] == [("simp", "x"), ("rfl", "")]
    assert cands[0].tokens == 6  # merged samples add their costs


def test_decoding_defaults_come_from_the_format_and_the_user_wins() -> None:
    cfg = decoding_for("lean-star")
    assert (cfg.temperature, cfg.max_new_tokens, cfg.stop) == (0.7, 512, ("<|im_end|>",))
    cfg = decoding_for("reprover", {"num_beams": 4})
    assert (cfg.num_beams, cfg.max_new_tokens, cfg.length_normalize, cfg.stop) == (4, 512, False, ())
    with pytest.raises(ValueError, match="bogus"):
        decoding_for("bfs-prover", {"bogus": 1})


def test_the_factory_builds_prompted_policies_and_refuses_mixed_formats(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="not both"):
        make_policy(f"model:{tmp_path}", prompt="lean-star", fmt="tactic")
    with pytest.raises(ValueError, match="unknown prompt format 'nope'"):
        make_policy(f"model:{tmp_path}", prompt="nope")
    with pytest.raises(ValueError, match="vLLM serves causal LMs here: use model:"):
        make_policy("vllm:kaiyuy/leandojo-lean4-tacgen-byt5-small", prompt="reprover")


def test_a_checkpoint_folder_names_its_own_format(tmp_path: Path) -> None:
    from prover.prompted import checkpoint_prompt

    assert checkpoint_prompt(str(tmp_path)) is None
    (tmp_path / PROMPT_FILE).write_text(json.dumps({"prompt": "bfs-prover"}))
    assert checkpoint_prompt(str(tmp_path)) == "bfs-prover"
    (tmp_path / PROMPT_FILE).write_text(json.dumps({"prompt": "no-such"}))
    with pytest.raises(ValueError, match="unknown prompt format"):
        checkpoint_prompt(str(tmp_path))


def test_the_job_seeded_wrapper_seeds_every_new_method_call() -> None:
    backend = TableBackend({"⊢ p": ["PROOFSTEP rfl<|im_end|>"]})
    wrapped = JobSeededPolicy(PromptedPolicy(backend, "internlm2-step-prover"))
    wrapped.reseed(7)
    ctx = [StepContext(Theorem("t", "", "theorem t : p := by"))]
    a = wrapped.propose_in_context([State(("⊢ p",))], ctx, 1)
    b = wrapped.propose_in_context([State(("⊢ p",))], ctx, 1)
    assert a[0][0].tactic == b[0][0].tactic == "rfl"
    assert len(backend.seeds) == 2 and backend.seeds[0] != backend.seeds[1]  # a seed per call
    wrapped.reseed(7)
    wrapped.propose_in_context([State(("⊢ p",))], ctx, 1)
    assert backend.seeds[2] == backend.seeds[0]  # the n-th call of a job always gets the same seed
    assert getattr(JobSeededPolicy(object()), "propose_in_context", None) is None  # absent stays absent
    assert getattr(JobSeededPolicy(object()), "resume_proofs", None) is None
