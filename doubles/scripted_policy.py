"""A policy that reads its proposals from a scripted world: every strategy runs end to end without a model.

For a state it looks up `proposals[state text]`, else `proposals[first goal]` (a tactic acts on the
first goal), and proposes the listed tactics with their logprobs: the top `n` by logprob, or, when
`sample=True` and `temperature > 0`, `n` distinct ones drawn with probability proportional to
`exp(logprob / temperature)` from a seeded RNG.  An unknown state gets no candidates.

Two optional keys of the world file feed it as well (the env ignores them):
    "thoughts": {"<goal>": {"<tactic>": "<thought>"}}     the thought shown with a tactic
    "proofs":   {"<theorem name>": [["<whole script>", logprob], ...]}   for whole-proof sampling
A candidate's token cost is the number of whitespace-separated words of its thought and tactic.
"""

from __future__ import annotations

import json
import math
import random
from collections.abc import Mapping, Sequence
from pathlib import Path

from core.types import Candidate, ProofPrefix, State, Theorem
from doubles.scripted import ScriptedWorld
from thoughts.prompts import proof_steps


def _tokens(thought: str, tactic: str) -> int:
    return max(1, len(thought.split()) + len(tactic.split()))


class ScriptedPolicy:
    def __init__(self, world: ScriptedWorld, seed: int = 0, temperature: float = 1.0, sample: bool = False,
                 thoughts: Mapping[str, Mapping[str, str]] | None = None,
                 proofs: Mapping[str, Sequence[tuple[str, float]]] | None = None) -> None:
        if isinstance(temperature, bool) or not isinstance(temperature, int | float) or not temperature >= 0:
            raise ValueError(f"ScriptedPolicy: temperature must be a number >= 0, got {temperature!r}")
        self.world = world
        self.temperature = float(temperature)
        self.sample = sample
        self.thoughts = {g: dict(m) for g, m in (thoughts or {}).items()}
        self.proofs = {name: [(str(s), float(lp)) for s, lp in lst] for name, lst in (proofs or {}).items()}
        self.rng = random.Random(seed)

    @classmethod
    def from_file(cls, path: str | Path, **kw: object) -> ScriptedPolicy:
        """The world file plus its optional "thoughts" and "proofs" keys."""
        world = ScriptedWorld.load(path)
        raw = json.loads(Path(path).read_text(encoding="utf-8"))
        thoughts, proofs = raw.get("thoughts", {}), raw.get("proofs", {})
        if not isinstance(thoughts, dict) or not all(isinstance(v, dict) for v in thoughts.values()):
            raise ValueError(f"{path}: 'thoughts' must be an object of goal -> {{tactic: thought}}")
        try:
            proofs = {str(k): [(str(s), float(lp)) for s, lp in v] for k, v in proofs.items()}
        except (TypeError, ValueError, AttributeError):
            raise ValueError(f"{path}: 'proofs' must be an object of theorem name -> [[script, logprob], ...]") from None
        return cls(world, thoughts=thoughts, proofs=proofs, **kw)  # type: ignore[arg-type]

    @property
    def sampling(self) -> bool:
        return self.sample and self.temperature > 0

    def reseed(self, seed: int) -> None:
        """Restart the RNG (the engine calls this with each search's seed)."""
        self.rng = random.Random(seed)

    def _listed(self, state: State) -> tuple[str, list[tuple[str, float]]]:
        for key in (state.text, *state.goals[:1]):
            if key in self.world.proposals:
                return key, self.world.proposals[key]
        return "", []

    def _pick(self, items: list[tuple[str, float]], n: int) -> list[tuple[str, float]]:
        if not self.sampling:
            return sorted(items, key=lambda x: -x[1])[:n]
        # n draws without replacement, each by exp(logprob / T): the Gumbel top-k trick
        keys = [lp / self.temperature - math.log(-math.log(self.rng.random() or 1e-300)) for _, lp in items]
        order = sorted(range(len(items)), key=lambda i: -keys[i])
        return [items[i] for i in order[:n]]

    def propose(self, states: Sequence[State], n: int) -> list[list[Candidate]]:
        if n < 1:
            raise ValueError(f"ScriptedPolicy.propose: n must be at least 1, got {n}")
        out: list[list[Candidate]] = []
        for s in states:
            key, items = self._listed(s)
            picked = self._pick(items, n)
            th = self.thoughts.get(key, {})
            out.append([Candidate(t, th.get(t, ""), lp, _tokens(th.get(t, ""), t)) for t, lp in picked])
        return out

    def propose_proofs(self, theorems: Sequence[Theorem], n: int) -> list[list[Candidate]]:
        """Whole scripts from "proofs": the top `n` (greedy), or `n` independent draws when sampling."""
        if n < 1:
            raise ValueError(f"ScriptedPolicy.propose_proofs: n must be at least 1, got {n}")
        out: list[list[Candidate]] = []
        for th in theorems:
            out.append(self.propose_proofs_from(self.proofs.get(th.name, []), n))
        return out

    def resume_proofs(self, theorems: Sequence[Theorem], prefixes: Sequence[ProofPrefix],
                      n: int) -> list[list[Candidate]]:
        """Continuations from "proofs": of the scripts whose steps begin with the prefix's tactics, the
        steps after it (picked as `propose_proofs` picks), for truncate-and-resume."""
        if len(prefixes) != len(theorems):
            raise ValueError(f"ScriptedPolicy.resume_proofs: {len(prefixes)} prefixes for {len(theorems)} theorems")
        out: list[list[Candidate]] = []
        for th, prefix in zip(theorems, prefixes, strict=True):
            k = len(prefix.tactics)
            rest = []
            for script, lp in self.proofs.get(th.name, []):
                steps = [t for _, t in proof_steps(script)]
                if tuple(steps[:k]) == prefix.tactics and len(steps) > k:
                    rest.append(("\n".join(steps[k:]), lp))
            out.append(self.propose_proofs_from(rest, n))
        return out

    def propose_proofs_from(self, items: list[tuple[str, float]], n: int) -> list[Candidate]:
        """`n` of `items` (script, logprob), as `propose_proofs` picks them."""
        if not items:
            return []
        if self.sampling:
            top = max(lp for _, lp in items)
            weights = [math.exp((lp - top) / self.temperature) for _, lp in items]
            picked = self.rng.choices(items, weights=weights, k=n)
        else:
            picked = sorted(items, key=lambda x: -x[1])[:n]
        return [Candidate(s, "", lp, _tokens("", s)) for s, lp in picked]
