"""pass@k, its confidence intervals, and miniF2F's problem categories.

pass@k is the unbiased estimator of Chen et al. (2021): with n attempts of which c succeeded,
1 - C(n-c, k) / C(n, k), computed as a running product so large n never overflows.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass

# Longest prefix first: "mathd_algebra" must win over "algebra".
CATEGORIES = ("mathd_algebra", "mathd_numbertheory", "numbertheory", "induction", "algebra", "aime", "amc", "imo")
OTHER = "other"


def pass_at_k(n: int, c: int, k: int) -> float:
    """The probability that at least one of k attempts drawn without replacement from n attempts,
    c of them successful, succeeds."""
    if not (isinstance(n, int) and isinstance(c, int) and isinstance(k, int)):
        raise TypeError(f"pass_at_k takes integers, got n={n!r}, c={c!r}, k={k!r}")
    if n < 1 or k < 1:
        raise ValueError(f"pass_at_k needs n >= 1 and k >= 1, got n={n}, k={k}")
    if not 0 <= c <= n:
        raise ValueError(f"pass_at_k needs 0 <= c <= n, got c={c}, n={n}")
    if k > n:
        raise ValueError(f"pass@{k} needs at least k attempts per theorem, got n={n}")
    if n - c < k:
        return 1.0
    # C(n-c, k) / C(n, k) = prod_{i=n-c+1}^{n} (1 - k / i)
    fail = 1.0
    for i in range(n - c + 1, n + 1):
        fail *= 1.0 - k / i
    return 1.0 - fail


@dataclass(frozen=True)
class Estimate:
    """A rate with a confidence interval [low, high] at level `confidence`."""

    value: float
    low: float
    high: float
    confidence: float = 0.95
    method: str = "bootstrap"

    def to_dict(self) -> dict[str, float | str]:
        return {"value": self.value, "low": self.low, "high": self.high,
                "confidence": self.confidence, "method": self.method}


def pass_at_k_mean(counts: Sequence[tuple[int, int]], k: int) -> float:
    """Mean pass@k over theorems, each given as (n attempts, c successes)."""
    if not counts:
        raise ValueError("pass@k over an empty set of theorems")
    return sum(pass_at_k(n, c, k) for n, c in counts) / len(counts)


def pass_at_k_ci(counts: Sequence[tuple[int, int]], k: int, confidence: float = 0.95,
                 resamples: int = 2000, seed: int = 0) -> Estimate:
    """Mean pass@k with a percentile bootstrap interval over theorems (the theorems are the sample;
    resampling them with replacement, `resamples` times, under `seed`)."""
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    per = [pass_at_k(n, c, k) for n, c in counts]
    if not per:
        raise ValueError("pass@k over an empty set of theorems")
    value = sum(per) / len(per)
    rng = random.Random(seed)
    m = len(per)
    means = sorted(sum(per[rng.randrange(m)] for _ in range(m)) / m for _ in range(resamples))
    alpha = (1 - confidence) / 2
    low = means[max(0, math.floor(alpha * resamples))]
    high = means[min(resamples - 1, math.ceil((1 - alpha) * resamples) - 1)]
    return Estimate(value, min(low, value), max(high, value), confidence, "bootstrap")


def wilson_interval(successes: int, total: int, confidence: float = 0.95) -> Estimate:
    """The Wilson score interval of a binomial proportion (good at small n and at 0 or 1)."""
    if total < 1 or not 0 <= successes <= total:
        raise ValueError(f"wilson_interval needs 0 <= successes <= total and total >= 1, got {successes}/{total}")
    z = _normal_quantile(1 - (1 - confidence) / 2)
    p = successes / total
    denom = 1 + z * z / total
    centre = (p + z * z / (2 * total)) / denom
    half = z * math.sqrt(p * (1 - p) / total + z * z / (4 * total * total)) / denom
    low = 0.0 if successes == 0 else max(0.0, centre - half)
    high = 1.0 if successes == total else min(1.0, centre + half)
    return Estimate(p, low, high, confidence, "wilson")


def _normal_quantile(q: float) -> float:
    """Inverse standard normal CDF by bisection on erf (precise to 1e-10; no scipy needed)."""
    lo, hi = -10.0, 10.0
    for _ in range(100):
        mid = (lo + hi) / 2
        if 0.5 * (1 + math.erf(mid / math.sqrt(2))) < q:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2


def category(name: str) -> str:
    """miniF2F's problem source from a theorem name: aime, amc, imo, mathd_algebra,
    mathd_numbertheory, induction, algebra, numbertheory; anything else is "other"."""
    low = name.lower()
    for cat in CATEGORIES:
        if low.startswith(cat):
            return cat
    return OTHER
