"""Paired bootstrap comparisons: the numbers benchmarks/rl_compare.py reports as differences with CIs."""

from __future__ import annotations

import pytest

from unitrl.evaluation.compare import mean_over_seeds, paired_bootstrap


def test_identical_results_give_a_zero_interval():
    a = {f"t{i}": float(i % 2) for i in range(50)}
    d = paired_bootstrap(a, dict(a))
    assert (d.delta, d.low, d.high, d.a_only, d.b_only) == (0.0, 0.0, 0.0, 0, 0)
    assert not d.significant


def test_a_clear_win_is_significant_and_the_interval_brackets_the_delta():
    a = {f"t{i}": 1.0 for i in range(100)}
    b = {f"t{i}": 1.0 if i < 60 else 0.0 for i in range(100)}
    d = paired_bootstrap(a, b, resamples=2000)
    assert d.delta == pytest.approx(0.4)
    assert d.low <= 0.4 <= d.high and d.low > 0.25 and d.high < 0.55
    assert d.significant and (d.a_only, d.b_only) == (40, 0)
    assert d.format().startswith("+40.0 [")


def test_two_discordant_tasks_out_of_many_are_not_significant():
    a = {f"t{i}": 1.0 if i in (0, 1, 5) else 0.0 for i in range(100)}
    b = {f"t{i}": 1.0 if i in (5,) else 0.0 for i in range(100)}
    d = paired_bootstrap(a, b)
    assert d.delta == pytest.approx(0.02) and d.low <= 0 and not d.significant


def test_only_shared_tasks_count_and_the_result_is_reproducible():
    a = {"x": 1.0, "y": 0.0, "only_a": 1.0}
    b = {"x": 0.0, "y": 0.0, "only_b": 1.0}
    d = paired_bootstrap(a, b, seed=3)
    assert d.n_tasks == 2 and d.delta == 0.5
    assert d == paired_bootstrap(a, b, seed=3)
    with pytest.raises(ValueError, match="share no task"):
        paired_bootstrap({"p": 1.0}, {"q": 1.0})


def test_mean_over_seeds():
    assert mean_over_seeds([{"a": 1.0, "b": 0.0}, {"a": 0.0, "b": 0.0, "c": 1.0}]) == {
        "a": 0.5,
        "b": 0.0,
        "c": 1.0,
    }
