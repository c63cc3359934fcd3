"""Search budgets and the meter that enforces them.

A `Budget` limits any combination of five costs; `None` means unlimited:

- `expansions`: model proposals for one state (best-first / beam: one node expanded; step sampling:
  one sampled step, retries included; whole-proof: one generated proof).
- `env_calls`: tactic applications (each `(state, tactic)` of an `apply_batch` counts one; a whole
  proof applied in one go counts one).  `env.start` and the final `env.check` are not counted (a found
  proof is always checked) but their time is in `lean_seconds`.
- `tokens`: tokens the policy generated.  They are known only after a model call, so the rule is:
  no model call starts once `tokens` is reached; before each later call the meter predicts its cost
  as (most tokens one state has cost so far) x (states in the call) and shrinks the call, or stops,
  when the prediction would exceed the budget.  Every generated token is counted, so only a call
  that costs more than predicted overshoots: the first call (nothing is known yet) or a state that
  costs more than any before.  With a policy whose cost per state is constant, only the first
  call can overshoot.
- `flops`: policy plus evaluator FLOPs (2 x parameters x tokens processed), under the same rule as
  `tokens`: checked before each model call with the cost predicted from the most FLOPs one
  expansion has cost so far (its evaluator calls included), so only a call that costs more than
  any before can overshoot.  A policy that reports no parameters costs 0 FLOPs.
- `seconds`: wall-clock seconds, checked before every model and env call; a running call is not
  interrupted.

Expansions and env calls are honoured exactly: a search never reports more than its budget.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, fields

from core.types import Usage
from search.result import Accounting

_INT_FIELDS = ("expansions", "env_calls", "tokens")


@dataclass(frozen=True)
class Budget:
    expansions: int | None = None
    env_calls: int | None = None
    tokens: int | None = None
    seconds: float | None = None
    flops: float | None = None

    def __post_init__(self) -> None:
        for f in fields(self):
            v = getattr(self, f.name)
            if v is None:
                continue
            if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v) or v < 0:
                raise ValueError(f"budget {f.name}={v!r}: must be a finite non-negative number")
            if f.name in _INT_FIELDS and not isinstance(v, int):
                raise ValueError(f"budget {f.name}={v!r}: must be an integer")

    @classmethod
    def parse(cls, text: str) -> Budget:
        """`"expansions=64,tokens=5000,seconds=30"`; an empty text is no limit."""
        kw: dict[str, int | float] = {}
        names = {f.name for f in fields(cls)}
        for part in (p.strip() for p in text.split(",")):
            if not part:
                continue
            key, sep, value = part.partition("=")
            key = key.strip()
            if not sep or key not in names:
                raise ValueError(
                    f"budget part {part!r}: expected NAME=VALUE with NAME one of {', '.join(sorted(names))}"
                )
            if key in kw:
                raise ValueError(f"budget part {part!r}: {key} given twice")
            try:
                kw[key] = int(value) if key in _INT_FIELDS else float(value)
            except ValueError:
                raise ValueError(f"budget part {part!r}: {value.strip()!r} is not a number") from None
        return cls(**kw)  # type: ignore[arg-type]

    def __str__(self) -> str:
        parts = [f"{f.name}={getattr(self, f.name)}" for f in fields(self) if getattr(self, f.name) is not None]
        return ",".join(parts) or "unlimited"


class Meter:
    """The running accounting of one search and the budget checks.  One per search, never shared."""

    def __init__(self, budget: Budget) -> None:
        self.budget = budget
        self.acc = Accounting()
        self.t0 = time.perf_counter()
        self.max_tokens_per_state = 0
        self.max_flops_per_state = 0.0   # the most model FLOPs one expansion has cost
        self.max_eval_flops_per_state = 0.0  # the most evaluator FLOPs one expansion has caused
        self.exhausted = False  # set once a check refused work

    # --- how much may still be done -------------------------------------------------------------
    def _left(self, used: int, limit: int | None) -> int | None:
        return None if limit is None else max(0, limit - used)

    def out_of_time(self) -> bool:
        return self.budget.seconds is not None and time.perf_counter() - self.t0 >= self.budget.seconds

    def allow_expansions(self, wanted: int) -> int:
        """How many of `wanted` state proposals may run now (0 = stop); shrinks on any budget."""
        allowed = wanted
        if self.out_of_time() or self.budget.env_calls is not None and self.acc.env_calls >= self.budget.env_calls:
            allowed = 0  # a proposal that could not be tried would be wasted
        left = self._left(self.acc.expansions, self.budget.expansions)
        if left is not None:
            allowed = min(allowed, left)
        left_tok = self._left(self.acc.tokens, self.budget.tokens)
        if left_tok is not None:
            if left_tok == 0:
                allowed = 0
            elif self.max_tokens_per_state > 0:
                allowed = min(allowed, left_tok // self.max_tokens_per_state)
        if self.budget.flops is not None:
            left_fl = self.budget.flops - self.acc.flops
            per = self.max_flops_per_state + self.max_eval_flops_per_state
            if left_fl <= 0:
                allowed = 0
            elif per > 0:
                allowed = min(allowed, int(left_fl // per))
        if allowed < wanted:
            self.exhausted = True
        return allowed

    def allow_env_calls(self, wanted: int) -> int:
        """How many of `wanted` tactic applications may run now (0 = stop)."""
        allowed = 0 if self.out_of_time() else wanted
        left = self._left(self.acc.env_calls, self.budget.env_calls)
        if left is not None:
            allowed = min(allowed, left)
        if allowed < wanted:
            self.exhausted = True
        return allowed

    # --- charging ----------------------------------------------------------------------------
    def charge_model(self, seconds: float, tokens_per_state: list[int], usage: Usage | None = None) -> None:
        """One policy call for `len(tokens_per_state)` expansions (the tokens of each state's
        candidates); `usage`, when the policy reports it, adds what the call computed."""
        n = len(tokens_per_state)
        self.acc.model_seconds += seconds
        self.acc.model_calls += 1
        self.acc.expansions += n
        self.acc.tokens += sum(tokens_per_state)
        if tokens_per_state:
            self.max_tokens_per_state = max(self.max_tokens_per_state, *tokens_per_state)
        if usage is None:
            self.acc.generated_tokens += sum(tokens_per_state)
            return
        self.acc.prompt_tokens += usage.prompt_tokens
        self.acc.generated_tokens += usage.generated_tokens
        self.acc.flops += usage.flops
        self.acc.policy_parameters = max(self.acc.policy_parameters, usage.parameters)
        if n:
            self.max_flops_per_state = max(self.max_flops_per_state, usage.flops / n)

    def charge_evaluator(self, seconds: float, states: int, usage: Usage | None, expansions: int) -> None:
        """One evaluator call scoring `states` states, caused by `expansions` expansions."""
        self.acc.evaluator_seconds += seconds
        self.acc.evaluator_calls += 1
        self.acc.evaluator_states += states
        if usage is not None:
            self.acc.evaluator_tokens += usage.prompt_tokens + usage.generated_tokens
            self.acc.flops += usage.flops
            self.acc.evaluator_parameters = max(self.acc.evaluator_parameters, usage.parameters)
            if expansions:
                self.max_eval_flops_per_state = max(self.max_eval_flops_per_state, usage.flops / expansions)

    def charge_env(self, seconds: float, calls: int) -> None:
        self.acc.lean_seconds += seconds
        self.acc.env_calls += calls

    def charge_check(self, seconds: float) -> None:
        self.acc.lean_seconds += seconds
        self.acc.checks += 1

    def charge_lean_time(self, seconds: float) -> None:
        self.acc.lean_seconds += seconds

    def snapshot(self, **override: int) -> Accounting:
        """A copy of the accounting now (wall time filled in); `override` replaces counters."""
        acc = self.acc.copy()
        acc.wall_seconds = time.perf_counter() - self.t0
        for k, v in override.items():
            setattr(acc, k, v)
        return acc
