"""The transformers policy on a tiny model trained here from scratch, in the thought-then-tactic
format, on a scripted world's solutions with rule-teacher rationales: it proposes the right step
far above chance, its log-probabilities are the model's,
batching and dedup behave, the model survives a save/load round trip, and bad output is dropped."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from core.types import Open, Policy, Proved, State
from lean_env.scripted import ScriptedEnv
from prover.policy import GenerationConfig, ModelPolicy, Sample, samples_to_candidates
from prover.tiny import examples_from_world, synthetic_logic_world
from prover.train import TrainConfig, train_sft
from thoughts.format import build_prompt, parse_output
from thoughts.rationale import RuleTeacher

MAX_NEW = 80


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[dict]]:
    torch.set_num_threads(1)  # on a loaded 2-core machine one thread is faster than two
    world = synthetic_logic_world(12, seed=0)
    rows = examples_from_world(world)
    thoughts = RuleTeacher().explain_batch([(r["state"], r["tactic"]) for r in rows])
    rows = [{**r, "thought": t} for r, t in zip(rows, thoughts, strict=True)]
    cfg = TrainConfig(epochs=40, lr=5e-3, batch_size=16, tiny_size="micro", warmup_steps=5, save_every=10**6)
    final = train_sft(rows, tmp_path_factory.mktemp("sft"), cfg, fmt="thought", progress=False)
    return final, rows


def test_world_solutions_are_valid_training_rows() -> None:
    world = synthetic_logic_world(12, seed=1)
    rows = examples_from_world(world)
    env = ScriptedEnv(world)
    by_thm: dict[str, list[dict]] = {}
    for r in rows:
        by_thm.setdefault(r["theorem"], []).append(r)
    assert len(by_thm) == 12
    for t in world.theorems:  # each row sequence replays to a proof in the world
        state = env.start(t.theorem())
        for r in by_thm[t.name]:
            assert state.text == r["state"]
            out = env.apply(state, r["tactic"])
            assert isinstance(out, Open | Proved)
            state = out.state if isinstance(out, Open) else None
        assert state is None


def test_trained_tiny_model_proposes_the_right_step(trained: tuple[Path, list[dict]]) -> None:
    final, rows = trained
    policy = ModelPolicy.load(final, config=GenerationConfig(temperature=0, max_new_tokens=MAX_NEW), device="cpu")
    assert policy.fmt == "thought"  # read from the checkpoint
    assert isinstance(policy, Policy)
    out = policy.propose([State((r["state"],)) for r in rows], 1)
    top1 = sum(bool(c) and c[0].tactic == r["tactic"] for c, r in zip(out, rows, strict=True)) / len(rows)
    chance = 1 / len({r["tactic"] for r in rows})
    assert top1 >= 0.6 > 10 * chance, (top1, chance)
    with_thought = [c[0] for c in out if c and c[0].thought]
    assert len(with_thought) >= len(rows) // 2  # it writes thoughts too
    assert any("conjunction" in c.thought for c in with_thought)


def test_sampling_candidates(trained: tuple[Path, list[dict]]) -> None:
    final, rows = trained
    policy = ModelPolicy.load(final, config=GenerationConfig(temperature=0.7, max_new_tokens=MAX_NEW, seed=3), device="cpu")
    states = [State((r["state"],)) for r in rows[:6]]
    out = policy.propose(states, 8)
    assert len(out) == 6
    hits = 0
    for r, cands in zip(rows[:6], out, strict=True):
        tactics = [c.tactic for c in cands]
        assert len(tactics) == len(set(tactics)) >= 1  # dedup
        assert [c.logprob for c in cands] == sorted((c.logprob for c in cands), reverse=True)
        assert all(c.logprob <= 0 and c.tokens >= 2 for c in cands)
        hits += r["tactic"] in tactics
    assert hits >= 4
    st = policy.stats
    assert st.samples == 48 and st.prompts == 6 and st.tokens > 0
    # token costs of merged duplicates add up: nothing generated goes uncounted except drops
    assert sum(c.tokens for cs in out for c in cs) <= st.tokens
    again = ModelPolicy.load(final, config=GenerationConfig(temperature=0.7, max_new_tokens=MAX_NEW, seed=3), device="cpu")
    assert again.propose(states, 8) == out  # seeded
    again.propose(states[:2], 3)  # some history ...
    again.reseed(11)  # ... that a reseed makes irrelevant (the search engine reseeds per job)
    fresh = ModelPolicy(again.model, again.tokenizer, "thought", GenerationConfig(temperature=0.7, max_new_tokens=MAX_NEW),
                        "cpu")
    fresh.reseed(11)
    assert again.propose(states, 8) == fresh.propose(states, 8)


def test_logprob_is_the_models_own(trained: tuple[Path, list[dict]]) -> None:
    final, rows = trained
    policy = ModelPolicy.load(final, config=GenerationConfig(temperature=0.7, top_p=0.9, max_new_tokens=MAX_NEW), device="cpu")
    prompt = build_prompt(rows[0]["state"], policy.fmt)
    samples = policy.generate([prompt, build_prompt(rows[5]["state"], policy.fmt)], 3)[0]
    tok, model = policy.tokenizer, policy.model
    p_ids = tok(prompt, add_special_tokens=False)["input_ids"]
    for s in samples:
        g_ids = tok(s.text, add_special_tokens=False)["input_ids"] + ([tok.eos_token_id] if s.ended_by_eos else [])
        with torch.no_grad():
            logits = model(torch.tensor([p_ids + g_ids])).logits[0]
        lp = torch.log_softmax(logits[len(p_ids) - 1:-1], -1).gather(1, torch.tensor(g_ids)[:, None]).sum()
        if len(g_ids) == s.tokens:  # same tokenisation as generated
            assert math.isclose(float(lp), s.logprob, rel_tol=1e-3, abs_tol=1e-3)
        assert math.isclose(s.mean_logprob, s.logprob / s.tokens)


def test_beam_search_is_deterministic_and_best_first(trained: tuple[Path, list[dict]]) -> None:
    final, rows = trained
    cfg = GenerationConfig(num_beams=4, max_new_tokens=MAX_NEW)
    policy = ModelPolicy.load(final, config=cfg, device="cpu")
    states = [State((r["state"],)) for r in rows[:4]]
    a, b = policy.propose(states, 4), policy.propose(states, 4)
    assert a == b
    greedy = ModelPolicy.load(final, config=GenerationConfig(temperature=0, max_new_tokens=MAX_NEW), device="cpu")
    for beams, g in zip(a, greedy.propose(states, 1), strict=True):
        assert beams and beams[0].logprob >= g[0].logprob - 1e-4  # beam search finds at least the greedy score


def test_batched_equals_one_at_a_time_and_length_normalisation(trained: tuple[Path, list[dict]]) -> None:
    final, rows = trained
    cfg = GenerationConfig(temperature=0, max_new_tokens=MAX_NEW, batch_size=5)
    policy = ModelPolicy.load(final, config=cfg, device="cpu")
    states = [State((r["state"],)) for r in rows[:7]]
    batched = policy.propose(states, 1)
    single = [policy.propose([s], 1)[0] for s in states]
    for x, y in zip(batched, single, strict=True):
        assert [c.tactic for c in x] == [c.tactic for c in y]
        assert all(math.isclose(a.logprob, b.logprob, abs_tol=1e-3) for a, b in zip(x, y, strict=True))
    norm = ModelPolicy(policy.model, policy.tokenizer, "thought", GenerationConfig(temperature=0, max_new_tokens=MAX_NEW,
                                                                                   length_normalize=True), "cpu")
    for x, y in zip(batched, norm.propose(states, 1), strict=True):
        assert math.isclose(y[0].logprob, x[0].logprob / x[0].tokens, abs_tol=1e-4)


def test_too_long_prompt_keeps_the_first_goal(trained: tuple[Path, list[dict]]) -> None:
    final, rows = trained
    policy = ModelPolicy.load(final, config=GenerationConfig(temperature=0, max_new_tokens=MAX_NEW), device="cpu")
    row = next(r for r in rows if "\n\n" not in r["state"])
    need = len(policy.tokenizer(build_prompt(row["state"], "thought"), add_special_tokens=False)["input_ids"])
    cfg = GenerationConfig(temperature=0, max_new_tokens=MAX_NEW, max_prompt_tokens=need + 3)
    tight = ModelPolicy(policy.model, policy.tokenizer, "thought", cfg, "cpu")
    junk = tuple(f"x{i} : Prop\n⊢ Or x{i} (Not x{i})" for i in range(6))  # later goals that do not fit
    long_state, alone = State((row["state"], *junk)), State((row["state"],))
    assert len(policy.tokenizer(build_prompt(long_state.text, "thought"))["input_ids"]) > need + 3
    got, want = tight.propose([long_state], 1)[0], policy.propose([alone], 1)[0]
    assert got and [(c.tactic, c.thought) for c in got] == [(c.tactic, c.thought) for c in want]


def test_save_load_round_trip(trained: tuple[Path, list[dict]], tmp_path: Path) -> None:
    final, rows = trained
    cfg = GenerationConfig(temperature=0, max_new_tokens=MAX_NEW)
    a = ModelPolicy.load(final, config=cfg, device="cpu")
    a.model.save_pretrained(tmp_path / "copy")
    a.tokenizer.save_pretrained(tmp_path / "copy")
    b = ModelPolicy.load(tmp_path / "copy", fmt="thought", config=cfg, device="cpu")
    for (n1, p1), (n2, p2) in zip(a.model.state_dict().items(), b.model.state_dict().items(), strict=True):
        assert n1 == n2 and torch.equal(p1, p2)
    text = rows[3]["state"] + " ∧ ⊢ → ¬ [TACTIC] x"
    assert b.tokenizer.decode(b.tokenizer(text)["input_ids"], clean_up_tokenization_spaces=False) == text
    states = [State((r["state"],)) for r in rows[:5]]
    assert a.propose(states, 1) == b.propose(states, 1)


def test_malformed_samples_are_dropped_and_counted() -> None:
    from prover.policy import PolicyStats

    stats = PolicyStats()
    samples = [Sample("exact h\n[END]", 4, -1.0), Sample("exact  h\n[END]", 5, -0.5), Sample("exact h", 16, -9.0),
               Sample("\n[END]", 2, -0.1), Sample("rfl", 2, -0.2, ended_by_eos=True)]
    cands = samples_to_candidates(samples, lambda s: parse_output(s.text, "tactic", require_end=not s.ended_by_eos),
                                  stats=stats)
    assert [(c.tactic, c.logprob, c.tokens) for c in cands] == [("rfl", -0.2, 2), ("exact  h", -0.5, 9)]
    assert sum(stats.dropped.values()) == 2 and any("no [END]" in r for r in stats.dropped)


def test_whole_proof_proposals_and_bad_inputs(trained: tuple[Path, list[dict]], tmp_path: Path) -> None:
    from core.types import Theorem

    final, _ = trained
    policy = ModelPolicy.load(final, config=GenerationConfig(max_new_tokens=8), device="cpu")
    thms = [Theorem("t", "", "theorem t (p : Prop) (hp : p) : p := by")]
    out = policy.propose_proofs(thms, 4)  # a step model writes no proofs: drops are counted, no crash
    assert len(out) == 1 and policy.stats.samples == 4
    assert len(out[0]) + sum(policy.stats.dropped.values()) >= 1
    with pytest.raises(ValueError):
        policy.propose([State(("⊢ p",))], 0)
    with pytest.raises(FileNotFoundError):
        ModelPolicy.load(tmp_path / "no-such-model")
    with pytest.raises(ValueError, match="top_p"):
        GenerationConfig(top_p=0)
    assert policy.propose([], 3) == []


def test_vllm_backend_conversion_and_missing_package() -> None:
    from types import SimpleNamespace

    from prover.vllm_policy import VLLMPolicy, samples_from_vllm

    outs = SimpleNamespace(outputs=[
        SimpleNamespace(text="h.1\n", token_ids=[1, 2, 3], cumulative_logprob=-0.3, finish_reason="stop", stop_reason="[END]"),
        SimpleNamespace(text="h.2", token_ids=[1, 2], cumulative_logprob=-0.2, finish_reason="stop", stop_reason=None),
        SimpleNamespace(text="h.", token_ids=[1] * 8, cumulative_logprob=-4.0, finish_reason="length", stop_reason=None)])
    samples = samples_from_vllm(outs, ("[END]",))
    cands = samples_to_candidates(samples, lambda s: parse_output(s.text, "tactic", require_end=not s.ended_by_eos))
    assert [(c.tactic, c.tokens) for c in cands] == [("h.2", 2), ("h.1", 3)]
    try:
        import vllm  # noqa: F401
    except ImportError:
        with pytest.raises(ImportError, match="pip install"):
            VLLMPolicy("some/model")
