"""eval.metrics: pass@k against hand-computed values, intervals, categories."""

from __future__ import annotations

import math
from itertools import combinations

import pytest

from eval.metrics import category, pass_at_k, pass_at_k_ci, pass_at_k_mean, wilson_interval


@pytest.mark.parametrize(("n", "c", "k", "expected"), [
    (1, 0, 1, 0.0),
    (1, 1, 1, 1.0),
    (10, 3, 1, 0.3),                       # pass@1 = c/n
    (4, 1, 2, 0.5),                        # 1 - C(3,2)/C(4,2) = 1 - 3/6
    (5, 2, 2, 0.7),                        # 1 - C(3,2)/C(5,2) = 1 - 3/10
    (10, 2, 5, 1 - 56 / 252),              # 1 - C(8,5)/C(10,5)
    (3, 2, 2, 1.0),                        # n - c < k: every 2-subset has a success
    (8, 0, 8, 0.0),
])
def test_pass_at_k_hand_computed(n, c, k, expected):
    assert pass_at_k(n, c, k) == pytest.approx(expected, abs=1e-12)


def test_pass_at_k_equals_subset_enumeration():
    # the definition: the share of k-subsets of the n attempts that contain a success
    for n in range(1, 8):
        for c in range(n + 1):
            attempts = [1] * c + [0] * (n - c)
            for k in range(1, n + 1):
                subsets = list(combinations(attempts, k))
                assert pass_at_k(n, c, k) == pytest.approx(sum(any(s) for s in subsets) / len(subsets))


def test_pass_at_k_is_stable_for_large_n():
    v = pass_at_k(100_000, 3, 1000)
    exact = 1 - math.comb(99_997, 1000) / math.comb(100_000, 1000)
    assert v == pytest.approx(exact, rel=1e-9)


def test_pass_at_k_bad_input():
    with pytest.raises(ValueError, match="at least k attempts"):
        pass_at_k(2, 1, 3)
    with pytest.raises(ValueError, match="0 <= c <= n"):
        pass_at_k(2, 3, 1)
    with pytest.raises(ValueError, match="k >= 1"):
        pass_at_k(2, 1, 0)
    with pytest.raises(TypeError):
        pass_at_k(2.0, 1, 1)  # type: ignore[arg-type]


def test_bootstrap_interval_contains_mean_and_is_seeded():
    counts = [(4, 0), (4, 1), (4, 4), (4, 2), (4, 0), (4, 3)]
    e = pass_at_k_ci(counts, 2, seed=1)
    assert e.value == pytest.approx(pass_at_k_mean(counts, 2))
    assert 0 <= e.low <= e.value <= e.high <= 1 and e.low < e.high
    assert pass_at_k_ci(counts, 2, seed=1) == e
    assert pass_at_k_ci([(4, 4)] * 5, 1).low == 1.0  # no spread, no interval
    with pytest.raises(ValueError, match="empty"):
        pass_at_k_ci([], 1)


def test_wilson_interval_known_values():
    e = wilson_interval(5, 10)
    assert e.value == 0.5
    assert e.low == pytest.approx(0.2366, abs=1e-4) and e.high == pytest.approx(0.7634, abs=1e-4)
    z = wilson_interval(0, 20)
    assert z.low == 0.0 and z.high == pytest.approx(0.1611, abs=1e-4)


@pytest.mark.parametrize(("name", "cat"), [
    ("aime_1983_p9", "aime"), ("aimeII_2001_p3", "aime"), ("aimeI_2000_p7", "aime"),
    ("amc12a_2021_p3", "amc"), ("amc12b_2002_p7", "amc"), ("amc12_2000_p1", "amc"),
    ("imo_1959_p1", "imo"), ("mathd_algebra_478", "mathd_algebra"),
    ("mathd_numbertheory_3", "mathd_numbertheory"), ("induction_12dvd4expnp1p20", "induction"),
    ("algebra_sqineq_at2malt1", "algebra"), ("numbertheory_4x3m7y3neq2003", "numbertheory"),
    ("and_comm_3", "other"), ("Demo.add_zero'", "other"),
])
def test_categories(name, cat):
    assert category(name) == cat
