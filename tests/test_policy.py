"""The transformers policy on a tiny model trained here from scratch, in the thought-then-tactic
format, on a scripted world's solutions with rule-teacher rationales: it proposes the right step
far above chance, its log-probabilities are the model's,
batching and dedup behave, the model survives a save/load round trip, and bad output is dropped."""

from __future__ import annotations

import dataclasses
import logging
import math
from pathlib import Path

import pytest
import torch

from core.types import Open, Policy, Proved, State
from doubles.scripted import ScriptedEnv
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


def test_frequency_scores_and_the_candidate_cap() -> None:
    """"frequency": log of the share of the samples (dropped ones counted) that gave a tactic, thoughts
    summed out; ties go to the better log-probability.  max_candidates keeps the best k."""
    import math

    def parse(s: Sample):
        return parse_output(s.text, "thought", require_end=False)

    samples = [Sample("a\n[TACTIC] h.1", 9, -6.0), Sample("b\n[TACTIC] h.1", 9, -7.0),
               Sample("c\n[TACTIC] h.1", 9, -5.5), Sample("d\n[TACTIC] h.2", 9, -1.0),
               Sample("e\n[TACTIC] h.3", 9, -2.0), Sample("f\n[TACTIC] h.3", 9, -3.0), Sample("no tactic", 9, -0.1)]
    by_logprob = samples_to_candidates(samples, parse)
    assert [c.tactic for c in by_logprob] == ["h.2", "h.3", "h.1"]
    freq = samples_to_candidates(samples, parse, score="frequency")
    assert [(c.tactic, c.thought) for c in freq] == [("h.1", "c"), ("h.3", "e"), ("h.2", "d")]
    assert [c.logprob for c in freq] == pytest.approx([math.log(3 / 7), math.log(2 / 7), math.log(1 / 7)])
    assert [c.tokens for c in freq] == [27, 18, 9]
    assert [c.tactic for c in samples_to_candidates(samples, parse, score="frequency", max_candidates=2)] == ["h.1", "h.3"]
    assert [c.tactic for c in samples_to_candidates(samples, parse, max_candidates=1)] == ["h.2"]
    with pytest.raises(ValueError, match="score must be one of"):
        samples_to_candidates(samples, parse, score="votes")
    with pytest.raises(ValueError, match="score must be one of"):
        GenerationConfig(score="votes")
    with pytest.raises(ValueError, match="max_candidates"):
        GenerationConfig(max_candidates=-1)


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


@pytest.mark.parametrize("engine", ["hf", "fast"])
def test_flops_of_a_search_are_two_times_parameters_times_tokens_processed(trained, engine: str) -> None:
    """The tokens the model processed are counted independently: for transformers' generate by a
    hook on its forward (each call's prefill reads the padded prompts of every row, each later
    forward one token a row) plus one token a row per call (the last generated token of a row is
    never fed back); for the fast engine by its own forward's count (each prompt read once) plus
    the same last token of every row."""
    from search.budget import Budget
    from search.strategies import run_strategy

    final, _ = trained
    world = synthetic_logic_world(12, seed=0)
    policy = ModelPolicy.load(final, config=GenerationConfig(num_beams=3, max_new_tokens=MAX_NEW, engine=engine),
                              device="cpu")
    seen: list[int] = []
    rows_per_call: list[int] = []
    fed_before = 0
    if engine == "hf":
        def count(_module, args, kwargs):
            ids = kwargs.get("input_ids") if kwargs.get("input_ids") is not None else args[0]
            seen.append(int(ids.numel()))
            return None

        real_generate = policy.model.generate

        def generate(**kw):
            rows_per_call.append(int(kw["input_ids"].shape[0]) * kw["num_beams"])
            return real_generate(**kw)

        hook = policy.model.register_forward_pre_hook(count, with_kwargs=True)
        policy.model.generate = generate
    else:
        decoder = policy._fast_decoder()
        assert decoder is not None
        fed_before = decoder.forward_tokens
        real_beam = decoder.beam_search

        def beam_search(ids, attention, **kw):
            rows_per_call.append(int(ids.shape[0]) * kw["beams"])
            return real_beam(ids, attention, **kw)

        decoder.beam_search = beam_search
    try:
        res = run_strategy("best-first", world.theorems[0].theorem(), ScriptedEnv(world), policy,
                           Budget(expansions=3), n=3)
    finally:
        if engine == "hf":
            hook.remove()
    acc = res.accounting
    fed = sum(seen) if engine == "hf" else decoder.forward_tokens - fed_before
    processed = fed + sum(rows_per_call)
    assert acc.prompt_tokens + acc.generated_tokens == processed > 0
    assert acc.flops == 2 * policy.model.num_parameters() * processed
    assert acc.policy_parameters == policy.model.num_parameters() and acc.model_calls == len(rows_per_call)


def _engine_samples(final: Path, prompts: list[str], n: int, **kw) -> dict[str, list]:
    out = {}
    for engine in ("hf", "fast"):
        policy = ModelPolicy.load(final, config=GenerationConfig(max_new_tokens=MAX_NEW, engine=engine, **kw),
                                  device="cpu")
        assert (policy._fast_decoder() is not None) == (engine == "fast")
        out[engine] = [policy.generate(prompts, n), policy.generate(prompts[:1], n)]  # a padded batch, then one prompt
    return out


@pytest.mark.parametrize("settings", [dict(num_beams=4), dict(temperature=0), dict(temperature=0.7, top_p=0.9, seed=5),
                                      dict(temperature=1.0, seed=2)], ids=["beam", "greedy", "sample-top-p", "sample"])
def test_fast_engine_gives_transformers_samples_bit_for_bit(trained, settings: dict) -> None:
    """The fast engine's samples (text, token count, log-probability to the last bit, how they
    ended) are those of transformers' generate at the same seed: prompts of different lengths in
    one call (left padding) and a single prompt (no padding, another attention path)."""
    final, rows = trained
    prompts = [build_prompt(r["state"], "thought") for r in rows[:5]]
    assert len({len(p) for p in prompts}) > 1
    got = _engine_samples(final, prompts, 4 if "num_beams" in settings or settings.get("temperature") else 1,
                          **settings)
    assert got["fast"] == got["hf"]
    assert any(s.ended_by_stop for ss in got["fast"][0] for s in ss)


def _same_to_rounding(ref: list, got: list, tol: float = 1e-4) -> None:
    """Samples equal in text, token count and ending; log-probabilities within `tol`."""
    def strip(calls: list) -> list:
        return [[[dataclasses.replace(x, logprob=0.0) for x in ss] for ss in call] for call in calls]

    assert strip(got) == strip(ref)
    lps = [(a.logprob, b.logprob) for ca, cb in zip(ref, got, strict=True) for sa, sb in zip(ca, cb, strict=True)
           for a, b in zip(sa, sb, strict=True)]
    assert lps and all(abs(a - b) <= tol for a, b in lps)


@pytest.mark.parametrize("settings", [dict(num_beams=4), dict(temperature=0), dict(temperature=1.0, seed=2)],
                         ids=["beam", "greedy", "sample"])
def test_shared_prefix_engine_gives_the_same_samples_to_float_rounding(trained, settings: dict) -> None:
    """Engine "fast-shared" (each prompt's keys read once a step for all its beams) gives the
    reference's samples, padded batch and single prompt, log-probabilities within 1e-4; and it does
    decode over the shared layout (one copy of each prompt's keys)."""
    from prover.fast_generate import _SharedCache

    final, rows = trained
    prompts = [build_prompt(r["state"], "thought") for r in rows[:5]]
    n = 4 if "num_beams" in settings or settings.get("temperature") else 1
    ref = _engine_samples(final, prompts, n, **settings)["hf"]
    policy = ModelPolicy.load(final, config=GenerationConfig(max_new_tokens=MAX_NEW, engine="fast-shared", **settings),
                              device="cpu")
    decoder = policy._fast_decoder()
    layouts = []
    real_forward = decoder.forward

    def forward(ids, positions, cache, mask):
        layouts.append((type(cache), int(ids.shape[1])))
        return real_forward(ids, positions, cache, mask)

    decoder.forward = forward
    got = [policy.generate(prompts, n), policy.generate(prompts[:1], n)]
    _same_to_rounding(ref, got)
    assert any(ss[0].ended_by_stop for ss in got[0])
    steps = [kind for kind, t in layouts if t == 1]
    assert steps and all(kind is _SharedCache for kind in steps)


def _ct2_policy(final: Path, **settings) -> ModelPolicy:
    return ModelPolicy.load(final, config=GenerationConfig(max_new_tokens=MAX_NEW, engine="ct2", **settings),
                            device="cpu")


def test_ct2_engine_gives_the_reference_greedy_samples_to_float_rounding(trained) -> None:
    """Engine "ct2" (CTranslate2), greedy: transformers' samples, padded batch and single prompt,
    same texts, token counts and endings, log-probabilities within 1e-4; it really decodes through
    CTranslate2, and a change of the weights in place converts the model again."""
    final, rows = trained
    prompts = [build_prompt(r["state"], "thought") for r in rows[:5]]
    ref = _engine_samples(final, prompts, 1, temperature=0)["hf"]
    policy = _ct2_policy(final, temperature=0)
    got = [policy.generate(prompts, 1), policy.generate(prompts[:1], 1)]
    decoder = policy._ct2
    assert decoder is not None and policy._ct2_why is None
    _same_to_rounding(ref, got)
    assert any(ss[0].ended_by_stop for ss in got[0])
    assert policy.last_usage.generated_tokens > 0 and policy.last_usage.prompt_tokens > 0
    with torch.no_grad():
        next(policy.model.parameters()).mul_(0.5)
    policy.generate(prompts[:1], 1)
    assert policy._ct2 is not decoder


def test_ct2_engine_beam_search_agrees_with_the_reference_where_both_keep_a_hypothesis(trained) -> None:
    """Engine "ct2", 4 beams: the best candidate of every prompt is the reference's, and every text
    both keep has the reference's token count and log-probability within 1e-4.  The lists are not
    always the same (measured here: CTranslate2 drops a hypothesis that ends at the first step,
    which transformers keeps), so most but not all texts are shared."""
    final, rows = trained
    prompts = [build_prompt(r["state"], "thought") for r in rows[:5]]
    ref = _engine_samples(final, prompts, 4, num_beams=4)["hf"][0]
    got = _ct2_policy(final, num_beams=4).generate(prompts, 4)
    shared = 0
    for rs, gs in zip(ref, got, strict=True):
        assert gs[0].text == rs[0].text and abs(gs[0].logprob - rs[0].logprob) <= 1e-4
        by_text = {(s.text, s.tokens): s.logprob for s in rs}
        for s in gs:
            if (s.text, s.tokens) in by_text:
                shared += 1
                assert abs(by_text[(s.text, s.tokens)] - s.logprob) <= 1e-4
    assert shared >= 0.75 * sum(len(rs) for rs in ref)


def test_ct2_engine_falls_back_to_the_fast_engine_where_it_cannot_run(trained, caplog) -> None:
    """Top-p sampling and a stop string of several tokens are beyond engine "ct2": it says why, once,
    and the fast engine's samples come back (bit for bit those of the reference)."""
    final, rows = trained
    prompts = [build_prompt(r["state"], "thought") for r in rows[:3]]
    settings = dict(temperature=1.0, top_p=0.9, seed=2)
    ref = _engine_samples(final, prompts, 4, **settings)["fast"]
    policy = ModelPolicy.load(final, config=GenerationConfig(max_new_tokens=MAX_NEW, engine="ct2", **settings),
                              device="cpu")
    with caplog.at_level(logging.INFO, logger="prover.policy"):
        got = [policy.generate(prompts, 4), policy.generate(prompts[:1], 4)]
    assert got == ref and policy._ct2 is None
    assert [r.getMessage() for r in caplog.records].count(
        "ct2 engine unavailable (top-p sampling (ct2 samples from the whole vocabulary only)); using the fast engine") == 1
    from prover.ct2_generate import unsupported

    why = unsupported(policy.model, policy.tokenizer, ("[END]", "no such token here"))
    assert why == "stop string 'no such token here' is not a single token"


def _ids_logprob(model: object, prompt: list[int], ids: list[int]) -> float:
    """The model's own log-probability of `ids` after `prompt` (teacher-forced)."""
    with torch.no_grad():
        lp = torch.log_softmax(model(torch.tensor([prompt + ids])).logits[0].float(), dim=-1)  # type: ignore[operator]
    return float(sum(lp[len(prompt) - 1 + i, x] for i, x in enumerate(ids)))


def test_ct2_engine_samples_with_the_models_log_probabilities_and_repeats_itself_at_a_seed(trained) -> None:
    """Engine "ct2", sampling (its own random generator): the same seed gives the same samples
    again, in a new policy and after `reseed`, and another seed other samples; a padded batch of
    several chunks gives n samples a prompt; usage counts every sample's prompt and tokens; the
    log-probability of each drawn sequence is the model's own (teacher-forced, untempered, at
    temperature 0.7) within 1e-4."""
    final, rows = trained
    prompts = [build_prompt(r["state"], "thought") for r in rows[:5]]
    def draw(seed: int) -> tuple[ModelPolicy, list]:
        policy = _ct2_policy(final, temperature=1.0, seed=seed, batch_size=2)
        return policy, [policy.generate(prompts, 6), policy.generate(prompts[:1], 6)]

    policy, first = draw(3)
    assert policy._ct2 is not None and policy._ct2_why is None
    assert draw(3)[1] == first and draw(4)[1] != first
    policy.reseed(3)
    assert [policy.generate(prompts, 6), policy.generate(prompts[:1], 6)] == first
    assert [len(ss) for ss in first[0]] == [6] * 5
    assert any(s.ended_by_stop for ss in first[0] for s in ss)
    u = policy.last_usage
    assert u.prompt_tokens == 6 * len(policy.tokenizer(prompts[0], add_special_tokens=False)["input_ids"])
    assert 0 < u.generated_tokens <= 6 * MAX_NEW
    ids = [policy.tokenizer(p, add_special_tokens=False)["input_ids"] for p in prompts]
    hyps = policy._ct2.sample(ids, copies=4, max_new=MAX_NEW, temperature=0.7, seed=0)
    gaps = [abs(_ids_logprob(policy.model, p, h.ids) - h.logprob) for p, hs in zip(ids, hyps, strict=True) for h in hs]
    assert len(gaps) == 20 and max(gaps) <= 1e-4


@pytest.mark.parametrize("temperature", [1.0, 0.6])
def test_ct2_engine_samples_the_tempered_distribution(trained, temperature: float) -> None:
    """One token sampled 4000 times after the prompt (of the first 30) whose next token the model
    is least sure of: the frequencies of the model's 8 likeliest tokens and of the rest are its
    probabilities at that temperature (total variation under 0.04, where the untempered ones are off
    by more; deterministic at its seed)."""
    final, rows = trained
    policy = _ct2_policy(final, temperature=temperature, seed=1)
    tok = policy.tokenizer
    def next_token(prompt: list[int]) -> torch.Tensor:
        with torch.no_grad():
            return policy.model(torch.tensor([prompt])).logits[0, -1].float()

    ids = [tok(build_prompt(r["state"], "thought"), add_special_tokens=False)["input_ids"] for r in rows[:30]]
    p = min(ids, key=lambda i: float(torch.softmax(next_token(i), dim=-1).max()))
    want = torch.softmax(next_token(p) / temperature, dim=-1)
    decoder = policy._ct2_decoder(greedy=False)
    (hyps,) = decoder.sample([p], copies=4000, max_new=1, temperature=temperature, seed=1)
    top = torch.argsort(want, descending=True)[:8]
    def buckets(probs: torch.Tensor) -> torch.Tensor:
        head = probs[top]
        return torch.cat([head, (1 - head.sum()).reshape(1)])

    got = torch.zeros_like(want)
    for h in hyps:
        got[h.ids[0]] += 1
    got = buckets(got / len(hyps))
    def distance(probs: torch.Tensor) -> float:
        return 0.5 * float((got - buckets(probs)).abs().sum())

    assert float(want.max()) < 0.95  # a distribution worth sampling
    assert distance(want) < 0.04
    if temperature != 1.0:
        assert distance(torch.softmax(next_token(p), dim=-1)) > 0.04


def test_fast_engine_matches_a_grouped_query_model_with_biases(tmp_path: Path, trained) -> None:
    """A Llama with 2 key/value heads for 4 query heads, projection biases and an untied output
    layer (random weights): logits of prefill and decode steps equal the transformers model's, and
    beam search gives the same samples."""
    from transformers import LlamaConfig, LlamaForCausalLM

    from prover.fast_generate import LlamaDecoder, _Cache

    final, rows = trained
    tok = ModelPolicy.load(final, device="cpu").tokenizer
    torch.manual_seed(0)
    cfg = LlamaConfig(vocab_size=len(tok), hidden_size=64, intermediate_size=96, num_hidden_layers=2,
                      num_attention_heads=4, num_key_value_heads=2, attention_bias=True, mlp_bias=True,
                      tie_word_embeddings=False, max_position_embeddings=512, pad_token_id=tok.pad_token_id,
                      eos_token_id=tok.eos_token_id, bos_token_id=tok.bos_token_id)
    model = LlamaForCausalLM(cfg).eval()
    for prm in model.parameters():
        torch.nn.init.normal_(prm, std=0.2)
    dec = LlamaDecoder(model)
    ids = torch.tensor([tok(build_prompt(rows[0]["state"], "thought"), add_special_tokens=False)["input_ids"]] * 3)
    length = ids.shape[1]
    with torch.inference_mode():
        cache = _Cache(2, 3, 2, length + 2, dec.head_dim, dec.embed)
        first = dec.logits(dec.forward(ids, torch.arange(length)[None].repeat(3, 1), cache, None))
        # logits of the last position only, as generate() asks for them (logits_to_keep=1): a product
        # over every position takes another BLAS path on some CPUs, with other rounding
        ref = model(ids, use_cache=True, logits_to_keep=1)
        assert torch.equal(first, ref.logits[:, -1])
        step = torch.tensor([[5], [6], [7]])
        nxt = dec.logits(dec.forward(step, torch.full((3, 1), length), cache, None))
        ref2 = model(step, cache=ref.past_key_values, position_ids=torch.full((3, 1), length), use_cache=True,
                     logits_to_keep=1)
        assert torch.equal(nxt, ref2.logits[:, -1])
    model.save_pretrained(tmp_path / "gqa")
    tok.save_pretrained(tmp_path / "gqa")
    prompts = [build_prompt(r["state"], "thought") for r in rows[:3]]
    got = {}
    for engine in ("hf", "fast", "fast-shared"):
        policy = ModelPolicy.load(tmp_path / "gqa", fmt="thought", device="cpu",
                                  config=GenerationConfig(num_beams=3, max_new_tokens=12, engine=engine))
        got[engine] = policy.generate(prompts, 3)
    assert got["fast"] == got["hf"]
    _same_to_rounding([got["hf"]], [got["fast-shared"]])


def test_fast_engine_declines_what_it_does_not_implement(trained) -> None:
    from prover.fast_generate import unsupported

    final, rows = trained
    policy = ModelPolicy.load(final, config=GenerationConfig(temperature=0, max_new_tokens=MAX_NEW), device="cpu")
    assert unsupported(policy.model) is None and policy._fast_decoder() is not None
    policy.model.generation_config.repetition_penalty = 1.3  # transformers would add a logits processor
    try:
        assert "repetition_penalty" in unsupported(policy.model)
        fallback = ModelPolicy(policy.model, policy.tokenizer, "thought", policy.config, "cpu")
        assert fallback._fast_decoder() is None  # transformers' generate runs instead
        out = fallback.propose([State((rows[0]["state"],))], 1)
        assert out and out.usage.prompt_tokens > 0
    finally:
        policy.model.generation_config.repetition_penalty = None
    with pytest.raises(ValueError, match="engine"):
        GenerationConfig(engine="turbo")


def test_fast_engine_follows_weights_changed_in_place(trained) -> None:
    final, rows = trained
    prompts = [build_prompt(r["state"], "thought") for r in rows[:3]]
    fast = ModelPolicy.load(final, config=GenerationConfig(num_beams=3, max_new_tokens=MAX_NEW), device="cpu")
    before = fast.generate(prompts, 3)
    with torch.no_grad():
        for prm in fast.model.model.layers[0].self_attn.parameters():
            prm.mul_(0.5)  # what an optimizer step does to the weights
    ref = ModelPolicy(fast.model, fast.tokenizer, "thought", GenerationConfig(num_beams=3, max_new_tokens=MAX_NEW,
                                                                              engine="hf"), "cpu")
    after = fast.generate(prompts, 3)
    assert after == ref.generate(prompts, 3) and after != before


def test_a_small_model_generates_on_one_cpu_thread_and_the_setting_is_restored(trained, monkeypatch) -> None:
    final, rows = trained
    seen: list[int] = []
    policy = ModelPolicy.load(final, config=GenerationConfig(temperature=0, max_new_tokens=8), device="cpu")
    real = policy._generate_chunk

    def chunk(prompts, n):
        seen.append(torch.get_num_threads())
        return real(prompts, n)

    monkeypatch.setattr(policy, "_generate_chunk", chunk)
    torch.set_num_threads(2)
    try:
        one = policy.propose([State((rows[0]["state"],))], 1)
        assert seen == [1] and torch.get_num_threads() == 2
        policy.config = GenerationConfig(temperature=0, max_new_tokens=8, threads=2)
        assert policy.propose([State((rows[0]["state"],))], 1) == one and seen == [1, 2]
    finally:
        torch.set_num_threads(1)
    with pytest.raises(ValueError, match="threads"):
        GenerationConfig(threads=-1)


def test_loaded_weights_lie_in_aligned_memory(trained) -> None:
    """A checkpoint's tensors can sit at any offset of its file; once loaded, every parameter and
    buffer is 64-byte aligned (on a misaligned weight a one-row product rounds otherwise on some
    CPUs, which made the reference's logits depend on the file's layout), with the same values."""
    from prover.policy import ALIGNMENT, _aligned, load_model_and_tokenizer

    final, _ = trained
    model, _ = load_model_and_tokenizer(final)
    assert all(t.data_ptr() % ALIGNMENT == 0 for t in list(model.parameters()) + list(model.buffers()))
    weight = model.model.layers[0].self_attn.q_proj.weight
    values = weight.detach().clone()
    backing = torch.empty(weight.numel() + 6)
    backing[6:] = values.flatten()
    weight.data = backing[6:].view_as(values)  # 24 bytes past an aligned start
    assert weight.data_ptr() % ALIGNMENT != 0
    _aligned(model)
    assert weight.data_ptr() % ALIGNMENT == 0 and torch.equal(weight, values)
