"""The one configuration every strategy reads (each uses the fields it needs)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any


@dataclass(frozen=True)
class SearchConfig:
    n: int = 8                    # candidates proposed per expansion (best-first, beam)
    expand_batch: int = 1         # best-first: frontier nodes proposed for in one model call
    length_normalize: bool = False  # priority = cumulative logprob / depth instead of the sum
    max_depth: int = 64           # longest proof (steps) any strategy builds
    width: int = 4                # beam width
    samples: int = 8              # step sampling: trajectories K; whole-proof: proofs generated
    retries: int = 2              # step sampling: a failed step is resampled up to R times
    proof_batch: int = 8          # whole-proof: proofs per model call
    stop_at_first: bool = False   # sampling / whole-proof: stop at the first accepted proof
    keep_graph: bool = True       # return the search graph on the result

    def __post_init__(self) -> None:
        for f in fields(self):
            v = getattr(self, f.name)
            if f.type in ("bool", bool):
                if not isinstance(v, bool):
                    raise ValueError(f"search config {f.name}={v!r}: must be true or false")
            elif isinstance(v, bool) or not isinstance(v, int):
                raise ValueError(f"search config {f.name}={v!r}: must be an integer")
            elif v < (0 if f.name == "retries" else 1):
                raise ValueError(f"search config {f.name}={v!r}: must be at least {0 if f.name == 'retries' else 1}")

    @classmethod
    def from_any(cls, config: SearchConfig | Mapping[str, Any] | None = None, **overrides: Any) -> SearchConfig:
        """A config from None, a dict (unknown keys raise ValueError naming them) or a config."""
        if isinstance(config, SearchConfig):
            base: dict[str, Any] = {f.name: getattr(config, f.name) for f in fields(cls)}
        elif config is None:
            base = {}
        elif isinstance(config, Mapping):
            base = dict(config)
        else:
            raise ValueError(f"search config must be a SearchConfig or a dict, got {type(config).__name__}")
        base.update(overrides)
        names = {f.name for f in fields(cls)}
        unknown = sorted(set(base) - names)
        if unknown:
            raise ValueError(f"unknown search config key(s) {', '.join(unknown)}; known: {', '.join(sorted(names))}")
        return cls(**base)
