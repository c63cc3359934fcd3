"""The tiny-model recipe: a byte-level BPE tokenizer trained on the data itself and a small Llama
causal LM (random init), saved with `save_pretrained` so that everything downstream
(`ModelPolicy.load`, `train_sft`, teachers) uses the same code path as a real checkpoint.

Tests and CI train these from scratch on the CPU in seconds; users point `--model` / `init`
at a real checkpoint instead.  Also here: `examples_from_world`, the training rows a scripted
world's solutions give (a state, the step taken there), for tests and demos.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.types import GOAL_SEPARATOR
from thoughts.format import DELIMITERS

log = logging.getLogger(__name__)

PAD, BOS, EOS, UNK = "<pad>", "<s>", "</s>", "<unk>"


@dataclass(frozen=True)
class TinySize:
    hidden: int
    layers: int
    heads: int
    intermediate: int
    vocab: int
    context: int


SIZES: dict[str, TinySize] = {
    "micro": TinySize(hidden=64, layers=2, heads=4, intermediate=192, vocab=512, context=512),  # ~0.15M
    "tiny": TinySize(hidden=128, layers=4, heads=4, intermediate=384, vocab=1024, context=1024),  # ~1M
    "small": TinySize(hidden=256, layers=6, heads=8, intermediate=768, vocab=4096, context=2048),  # ~6M
}


def train_tokenizer(texts: Iterable[str], vocab_size: int = 1024) -> Any:
    """A byte-level BPE tokenizer (lossless on any text) trained on `texts`, with the format
    delimiters as single tokens, wrapped as a transformers fast tokenizer."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE(unk_token=None))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, special_tokens=[PAD, BOS, EOS, UNK],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(texts, trainer=trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, pad_token=PAD, bos_token=BOS, eos_token=EOS,
                                   unk_token=UNK, clean_up_tokenization_spaces=False)
    fast.add_tokens(list(DELIMITERS))  # plain (non-special) tokens: they survive decoding
    return fast


def make_tiny_model(texts: Iterable[str], out_dir: str | Path, size: str = "tiny", seed: int = 0) -> Path:
    """Train a tokenizer on `texts`, build a randomly initialised small Llama, save both to
    `out_dir` and return it.  Loadable with `ModelPolicy.load(out_dir)` or `train_sft(init=...)`."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    if size not in SIZES:
        raise ValueError(f"unknown tiny size {size!r}; expected one of {', '.join(SIZES)}")
    texts = [t for t in texts if t]
    if not texts:
        raise ValueError("make_tiny_model: no texts to train the tokenizer on")
    s = SIZES[size]
    tokenizer = train_tokenizer(texts, s.vocab)
    cfg = LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=s.hidden, intermediate_size=s.intermediate,
        num_hidden_layers=s.layers, num_attention_heads=s.heads, num_key_value_heads=s.heads,
        max_position_embeddings=s.context, tie_word_embeddings=True, pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id)
    torch.manual_seed(seed)
    model = LlamaForCausalLM(cfg)
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    n = sum(p.numel() for p in model.parameters())
    log.info("tiny model (%s, %.2fM parameters, vocab %d) saved to %s", size, n / 1e6, len(tokenizer), out)
    return out


def examples_from_world(world: Any, max_depth: int = 12, source: str = "scripted") -> list[dict[str, Any]]:
    """Training rows {"state","thought","tactic","theorem","source"} from a scripted world: for
    each theorem, the first proof found by depth-first search over the world's transitions
    (trying tactics in the order the world lists them), one row per step."""
    rows: list[dict[str, Any]] = []

    def solve(goals: tuple[str, ...], depth: int, seen: frozenset[tuple[str, ...]]) -> list[tuple[str, str]] | None:
        if not goals:
            return []
        if depth >= max_depth or goals in seen:
            return None
        for tac, res in world.transitions.get(goals[0], {}).items():
            if isinstance(res, str):
                continue
            nxt = (*res, *goals[1:])
            rest = solve(nxt, depth + 1, seen | {goals})
            if rest is not None:
                return [(GOAL_SEPARATOR.join(goals), tac), *rest]
        return None

    for t in world.theorems:
        proof = solve((t.goal,), 0, frozenset())
        if proof is None:
            log.info("no proof of %s in the scripted world", t.name)
            continue
        rows.extend({"state": st, "thought": "", "tactic": tac, "theorem": t.name, "source": source}
                    for st, tac in proof)
    return rows


def synthetic_logic_world(n_theorems: int = 24, seed: int = 0, notation: bool = False) -> Any:
    """A small scripted world of propositional-logic theorems in the logic benchmark's style
    (Lean-printed goals, term-filling steps such as `And.intro ?_ ?_`, `h.1`, `fun hp => ?_`),
    with wrong steps that fail or lead nowhere.  For tests, demos and the generator benchmark."""
    import random

    from doubles.scripted import ScriptedTheorem, ScriptedWorld

    rng = random.Random(seed)
    letters = ["p", "q", "r", "s", "a", "b", "c"]
    trans: dict[str, dict[str, list[str] | str]] = {}
    theorems: list[ScriptedTheorem] = []

    def op(name: str, x: str, y: str = "") -> str:
        if notation:
            return {"And": f"{x} ∧ {y}", "Or": f"{x} ∨ {y}", "Not": f"¬{x}"}[name]
        return f"{name} {x} {y}".strip()

    def add(goal: str, steps: dict[str, list[str] | str]) -> None:
        trans.setdefault(goal, {}).update(steps)

    for i in range(n_theorems):
        p, q = rng.sample(letters, 2)
        h = rng.choice(["h", "h0", "h1", "hx", "hy"])
        ctx = f"{p} {q} : Prop"
        kind = i % 6
        if kind == 0:  # And swap
            g = f"{ctx}\n{h} : {op('And', p, q)}\n⊢ {op('And', q, p)}"
            gq, gp = f"{ctx}\n{h} : {op('And', p, q)}\n⊢ {q}", f"{ctx}\n{h} : {op('And', p, q)}\n⊢ {p}"
            add(g, {f"{h}.1": "type mismatch", "And.intro ?_ ?_": [gq, gp]})
            add(gq, {f"{h}.1": "type mismatch", f"{h}.2": []})
            add(gp, {f"{h}.2": "type mismatch", f"{h}.1": []})
        elif kind == 1:  # implication intro
            g = f"{ctx}\n{h} : {q}\n⊢ {p} → {q}"
            g2 = f"{ctx}\n{h} : {q}\nhp : {p}\n⊢ {q}"
            add(g, {f"{h}": "type mismatch", "fun hp => ?_": [g2]})
            add(g2, {"hp": "type mismatch", h: []})
        elif kind in (2, 3):  # Or intro, left or right
            left = kind == 2
            g = f"{ctx}\n{h} : {p}\n⊢ " + (op("Or", p, q) if left else op("Or", q, p))
            right_goal = f"{ctx}\n{h} : {p}\n⊢ {q}"
            good = f"{ctx}\n{h} : {p}\n⊢ {p}"
            add(g, {("Or.inr ?_" if left else "Or.inl ?_"): [right_goal], ("Or.inl ?_" if left else "Or.inr ?_"): [good]})
            add(good, {h: []})
        elif kind == 4:  # contradiction
            g = f"{ctx}\nhp : {p}\n{h} : {op('Not', p)}\n⊢ {q}"
            gf = f"{ctx}\nhp : {p}\n{h} : {op('Not', p)}\n⊢ False"
            gp = f"{ctx}\nhp : {p}\n{h} : {op('Not', p)}\n⊢ {p}"
            add(g, {"hp": "type mismatch", "False.elim ?_": [gf]})
            add(gf, {f"{h} ?_": [gp]})
            add(gp, {"hp": []})
        else:  # Or elimination
            g = f"{ctx}\n{h} : {op('Or', p, q)}\n⊢ {op('Or', q, p)}"
            ga, gb = f"{ctx}\n{h} : {op('Or', p, q)}\n⊢ {p} → {op('Or', q, p)}", f"{ctx}\n{h} : {op('Or', p, q)}\n⊢ {q} → {op('Or', q, p)}"
            add(g, {"Or.inl ?_": "type mismatch", f"Or.elim {h} ?_ ?_": [ga, gb]})
            ha, hb = f"{ctx}\n{h} : {op('Or', p, q)}\nhp : {p}\n⊢ {op('Or', q, p)}", f"{ctx}\n{h} : {op('Or', p, q)}\nhq : {q}\n⊢ {op('Or', q, p)}"
            add(ga, {"fun hp => ?_": [ha]})
            add(gb, {"fun hq => ?_": [hb]})
            hap, hbq = f"{ctx}\n{h} : {op('Or', p, q)}\nhp : {p}\n⊢ {p}", f"{ctx}\n{h} : {op('Or', p, q)}\nhq : {q}\n⊢ {q}"
            add(ha, {"Or.inr ?_": [hap]})
            add(hb, {"Or.inl ?_": [hbq]})
            add(hap, {"hp": []})
            add(hbq, {"hq": []})
        stmt = f"theorem syn_{i} : {g.split('⊢ ', 1)[1]}"
        theorems.append(ScriptedTheorem(f"syn_{i}", stmt, g))
    return ScriptedWorld(theorems, trans)
